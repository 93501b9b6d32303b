//! AMF0 decoding (src/amf/amf0.rs, src/amf/mod.rs) of arbitrary bytes, and the round trip of
//! whatever decodes.
//!
//! Input: [mode][rest]. `mode % 3`: 0 `amf0::decode_all`, 1 `decode_message_values` of an AMF0
//! command (type 20), 2 of an AMF3 command (type 17: format byte, then AMF0 values that may
//! switch to AMF3 with 0x11).
//!
//! Asserts: decoding never panics and stays within the memory bound; values that decode are
//! encoded with `amf0::encode_all` and decode again to the same values (bit-exact numbers, NaN
//! included) up to what AMF0 cannot carry (`Integer` becomes `Number`), and encoding that result
//! once more gives the same bytes. Allowed: `OverBudget` on re-decoding an encoding shorter
//! than the input (the decoder's budget is per input byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use livego::amf::{self, Value, amf0};
use livego_fuzz::amf::{amf0_normal, same};
use livego_fuzz::{Bound, Input, bounded, short};

/// A decoded `Value` is 56 bytes and the smallest AMF0 value (undefined, null) is 1 byte, so a
/// strict array of undefineds is ~56 bytes of values per input byte; the decoder's own budget
/// allows 64 (amf::DECODED_PER_INPUT_BYTE). Vectors grow by doubling, so their capacity can be
/// twice that: 128. What is left for reference tables (24 bytes per object, at least 4 input
/// bytes each) must fit in the base.
const PER_BYTE: usize = 128;
/// The decoder's fixed allowance (amf::DECODED_BASE = 4 KiB, doubled) plus tables.
const BASE: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8() % 3;
    let payload = input.rest();
    let decoded = bounded(
        "amf0 decode",
        data.len(),
        Bound::new(PER_BYTE, BASE),
        || match mode {
            0 => amf0::decode_all(payload),
            m => amf::decode_message_values(m == 2, payload),
        },
    );
    let Ok(values) = decoded else { return };

    let mut bytes = Vec::new();
    amf0::encode_all(&values, &mut bytes);
    let again = match amf0::decode_all(&bytes) {
        Ok(again) => again,
        // Fewer bytes for the same values (e.g. a long string re-encoded as a short one) may
        // exceed the decoder's per-input-byte budget: by design, not a round-trip failure.
        Err(amf::Error::OverBudget { .. }) if bytes.len() < payload.len() => return,
        Err(e) => panic!("re-decoding our encoding of {} failed: {e}", short(&values)),
    };
    let expected: Vec<Value> = values.iter().map(amf0_normal).collect();
    assert_eq!(again.len(), expected.len(), "value count");
    for (a, b) in again.iter().zip(&expected) {
        assert!(
            same(a, b),
            "round trip changed {} into {}",
            short(b),
            short(a)
        );
    }
    let mut bytes2 = Vec::new();
    amf0::encode_all(&again, &mut bytes2);
    assert_eq!(bytes, bytes2, "encoding is not stable");
});
