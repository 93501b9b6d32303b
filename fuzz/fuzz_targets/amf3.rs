//! AMF3 decoding (src/amf/amf3.rs) of arbitrary bytes, and the round trip of whatever decodes.
//!
//! Input: the bytes of one AMF3 value (trailing bytes are left unread).
//!
//! Asserts: decoding never panics, stays within the memory bound, and consumes no more than the
//! input; a decoded value is encoded with `amf3::encode`, which decodes again (consuming exactly
//! the encoding) to the same value, bit-exact numbers and NaN included. The one allowed failure
//! is `OverBudget` when our encoding is shorter than the input was: the encoder writes string
//! and traits references, so the same values can come from fewer bytes than the decoder's
//! per-byte budget allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livego::amf::{Error, amf3};
use livego_fuzz::amf::same;
use livego_fuzz::{Bound, bounded, short};

/// As for AMF0: 56-byte values from 1-byte inputs (undefined, null, false, true), budgeted by
/// the decoder at 64 bytes per input byte, doubled for vector growth. The string table keeps a
/// copy of each distinct inline string (at most the input again, plus 24 bytes per string).
const PER_BYTE: usize = 128;
const BASE: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let decoded = bounded(
        "amf3 decode",
        data.len(),
        Bound::new(PER_BYTE, BASE),
        || amf3::decode(&mut rest),
    );
    let Ok(value) = decoded else { return };
    let consumed = data.len() - rest.len();
    assert!(consumed > 0);

    let mut bytes = Vec::new();
    amf3::encode(&value, &mut bytes);
    let mut slice = &bytes[..];
    match amf3::decode(&mut slice) {
        Ok(again) => {
            assert!(
                slice.is_empty(),
                "{} bytes of our encoding left unread",
                slice.len()
            );
            assert!(
                same(&again, &value),
                "round trip changed {} into {}",
                short(&value),
                short(&again)
            );
        }
        Err(Error::OverBudget { .. }) if bytes.len() < data.len() => {}
        Err(e) => panic!(
            "re-decoding our encoding ({} bytes) of {} failed: {e}",
            bytes.len(),
            short(&value)
        ),
    }
});
