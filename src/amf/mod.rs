//! Action Message Format: the [`Value`] model shared by both encodings, the decoding
//! limits, and the RTMP command/data message payload entry point
//! ([`decode_message_values`], RTMP spec §7.1.1–7.1.2). The wire formats live in
//! [`amf0`] (Adobe "Action Message Format -- AMF 0") and [`amf3`] (Adobe "AMF 3").
//! Sans-IO: bytes in, values out, and values in, bytes out.
//!
//! Decoding never panics and never trusts the input: every claimed length or count is
//! checked against the bytes actually present before anything is allocated, nesting is
//! limited to [`MAX_DEPTH`] containers, and reference indexes are checked. A reference
//! is resolved by decoding the referenced bytes again, which keeps the reference tables
//! tiny. What a decode call produces is budgeted: every value, property name and string
//! byte it makes counts against [`decode_budget`] of its input (at most
//! [`DECODED_PER_INPUT_BYTE`] bytes of output per input byte, and [`MAX_DECODED_BYTES`] in
//! all), so neither references nor any other construct can expand a few kilobytes into
//! gigabytes, or into seconds of work. Cyclic references cannot be represented by an owned
//! [`Value`] tree and are rejected. Strings that are not valid
//! UTF-8 are decoded lossily (U+FFFD) rather than rejected.

pub mod amf0;
pub mod amf3;

use std::fmt;
use std::ops::Range;

/// Containers (objects and arrays) may nest at most this deep.
pub const MAX_DEPTH: usize = 64;
/// Output a decode call may make per byte of input. A `Value` is 56 bytes and the smallest
/// encoded value (undefined, null) is one byte, so a plain array of them needs ~56.
pub const DECODED_PER_INPUT_BYTE: usize = 64;
/// Output any input may make, however small.
pub const DECODED_BASE: usize = 4096;
/// Output a decode call may make in all, however large its input.
pub const MAX_DECODED_BYTES: usize = 4 << 20;
/// What a value costs the budget: its own size (strings and names add their bytes).
const VALUE_COST: usize = std::mem::size_of::<Value>();
/// What a property name or AMF3 trait member costs the budget besides its bytes.
const NAME_COST: usize = std::mem::size_of::<String>();

/// Bytes of decoded output (values, names, string bytes) allowed for `input_len` bytes.
pub fn decode_budget(input_len: usize) -> usize {
    input_len
        .saturating_mul(DECODED_PER_INPUT_BYTE)
        .saturating_add(DECODED_BASE)
        .min(MAX_DECODED_BYTES)
}

/// A decoded AMF value. AMF0 and AMF3 share this model; see [`amf0::encode`] and
/// [`amf3::encode`] for how variants without a native marker in one format are written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    /// AMF0 string or long string (picked by length when encoding), AMF3 string.
    String(String),
    /// Anonymous object: ordered properties (AMF3: sealed members, then dynamic ones).
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    /// AMF0 ECMA array, AMF3 array with an associative part.
    EcmaArray(Vec<(String, Value)>),
    /// AMF0 strict array, AMF3 array with only a dense part.
    StrictArray(Vec<Value>),
    /// Milliseconds since the Unix epoch; `timezone` is AMF0's reserved field (AMF3: 0).
    Date {
        millis: f64,
        timezone: i16,
    },
    /// Object with a registered class name (AMF0 typed object, AMF3 typed object).
    TypedObject {
        class: String,
        props: Vec<(String, Value)>,
    },
    /// Legacy XML document (AMF0 0x0F, AMF3 0x07).
    XmlDocument(String),
    /// E4X XML (AMF3 0x0B).
    Xml(String),
    /// AMF3 byte array.
    ByteArray(Vec<u8>),
    /// AMF3 integer (29-bit signed on the wire).
    Integer(i32),
}

impl Value {
    /// First property named `key` of an object, ECMA array or typed object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props) | Value::EcmaArray(props) | Value::TypedObject { props, .. } => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// What kind of value this is, for messages that must not print the value itself.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Number(_) => "a number",
            Value::Boolean(_) => "a boolean",
            Value::String(_) => "a string",
            Value::Object(_) => "an object",
            Value::Null => "null",
            Value::Undefined => "undefined",
            Value::EcmaArray(_) => "an ECMA array",
            Value::StrictArray(_) => "a strict array",
            Value::Date { .. } => "a date",
            Value::TypedObject { .. } => "a typed object",
            Value::XmlDocument(_) | Value::Xml(_) => "XML",
            Value::ByteArray(_) => "a byte array",
            Value::Integer(_) => "an integer",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a `Number` or an AMF3 `Integer`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Integer(i) => Some(f64::from(*i)),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

/// Why an AMF payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A fixed-size field runs past the end of the input.
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// A length or element count claims more than the input still holds.
    TooLong {
        what: &'static str,
        len: usize,
        remaining: usize,
    },
    UnknownMarker {
        format: &'static str,
        marker: u8,
    },
    /// A type the spec defines that this decoder does not handle (reserved AMF0 markers,
    /// AMF3 externalizable objects, vectors and dictionaries).
    Unsupported(String),
    /// AMF0 object-end marker where a value was expected.
    UnexpectedObjectEnd,
    TooDeep,
    BadReference {
        table: &'static str,
        index: usize,
        len: usize,
    },
    CyclicReference {
        table: &'static str,
        index: usize,
    },
    /// The decoded values would take more than [`decode_budget`] of the input.
    OverBudget {
        budget: usize,
    },
    /// An AMF3 command/data message whose first byte is not 0x00.
    FormatByte(u8),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated {
                what,
                needed,
                remaining,
            } => {
                write!(
                    f,
                    "truncated {what}: needs {needed} bytes, {remaining} remain"
                )
            }
            Error::TooLong {
                what,
                len,
                remaining,
            } => {
                write!(f, "{what} {len} exceeds remaining {remaining} bytes")
            }
            Error::UnknownMarker { format, marker } => {
                write!(f, "unknown {format} type marker {marker:#04x}")
            }
            Error::Unsupported(what) => write!(f, "{what} is not supported"),
            Error::UnexpectedObjectEnd => {
                f.write_str("AMF0 object-end marker 0x09 where a value was expected")
            }
            Error::TooDeep => write!(f, "values nested deeper than {MAX_DEPTH} levels"),
            Error::BadReference { table, index, len } => {
                write!(
                    f,
                    "{table} reference {index} out of range ({len} entries so far)"
                )
            }
            Error::CyclicReference { table, index } => write!(
                f,
                "{table} reference {index} points to a value still being decoded \
                 (cyclic references are not supported)"
            ),
            Error::OverBudget { budget } => write!(
                f,
                "decoded values would take more than {budget} bytes (references or a bomb?)"
            ),
            Error::FormatByte(b) => write!(
                f,
                "AMF3 command/data message must start with format byte 0x00, found {b:#04x}"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Payload of an RTMP command/data message: type 20/18 are AMF0 values; type 17/15 (AMF3
/// variants) start with a 0x00 format byte followed by AMF0 values (which may switch to
/// AMF3 with 0x11). All values share one AMF0 reference context.
pub fn decode_message_values(amf3_message: bool, payload: &[u8]) -> Result<Vec<Value>, Error> {
    let values = match (amf3_message, payload) {
        (false, values) | (true, [0, values @ ..]) => values,
        (true, [b, ..]) => return Err(Error::FormatByte(*b)),
        (true, []) => {
            let what = "AMF3 message format byte";
            return Err(Error::Truncated {
                what,
                needed: 1,
                remaining: 0,
            });
        }
    };
    amf0::decode_all(values)
}

/// Decoding state shared by AMF0 and the AMF3 values embedded in it: the whole payload
/// (references re-decode the referenced bytes), the read position, and the limits.
struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// Bytes of output still allowed ([`decode_budget`]).
    budget: usize,
    /// The budget this decode started with, for the error.
    initial_budget: usize,
}

impl<'a> Input<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Input {
            bytes,
            pos: 0,
            depth: 0,
            budget: decode_budget(bytes.len()),
            initial_budget: decode_budget(bytes.len()),
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Takes `len` bytes claimed by a length field named `what`.
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], Error> {
        self.check_len(len, what)?;
        let taken = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(taken)
    }

    /// Fails unless `len` (bytes, or elements of at least one byte each) can still follow.
    fn check_len(&self, len: usize, what: &'static str) -> Result<(), Error> {
        let remaining = self.remaining();
        if len > remaining {
            return Err(Error::TooLong {
                what,
                len,
                remaining,
            });
        }
        Ok(())
    }

    /// A string of `len` bytes, charged to the budget.
    fn utf8(&mut self, len: usize, what: &'static str) -> Result<String, Error> {
        self.check_len(len, what)?;
        self.charge(len)?;
        Ok(String::from_utf8_lossy(self.take(len, what)?).into_owned())
    }

    /// `len` bytes copied out (a byte array), charged to the budget.
    fn bytes_owned(&mut self, len: usize, what: &'static str) -> Result<Vec<u8>, Error> {
        self.check_len(len, what)?;
        self.charge(len)?;
        Ok(self.take(len, what)?.to_vec())
    }

    fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let remaining = self.remaining();
        let bytes = self.take(N, what).map_err(|_| Error::Truncated {
            what,
            needed: N,
            remaining,
        })?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(u8::from_be_bytes(self.fixed(what)?))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.fixed(what)?))
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, Error> {
        Ok(i16::from_be_bytes(self.fixed(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.fixed(what)?))
    }

    fn f64(&mut self, what: &'static str) -> Result<f64, Error> {
        Ok(f64::from_be_bytes(self.fixed(what)?))
    }

    /// Consumes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(next);
        next
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Accounts for `len` bytes of output.
    fn charge(&mut self, len: usize) -> Result<(), Error> {
        self.budget = self.budget.checked_sub(len).ok_or(Error::OverBudget {
            budget: self.initial_budget,
        })?;
        Ok(())
    }

    /// Accounts for one decoded value.
    fn charge_value(&mut self) -> Result<(), Error> {
        self.charge(VALUE_COST)
    }

    /// Accounts for a property or member name of `len` bytes (the bytes themselves are
    /// charged where they are read or copied).
    fn charge_name(&mut self) -> Result<(), Error> {
        self.charge(NAME_COST)
    }

    /// Moves to a referenced value's bytes; returns the position to come back to. What the
    /// replay makes is charged as it is made.
    fn jump(&mut self, span: Range<usize>) -> usize {
        std::mem::replace(&mut self.pos, span.start)
    }
}

/// Byte spans of the complex values decoded so far (AMF0 references, AMF3 object
/// references). A slot is reserved when a value starts, so indexes follow the specs'
/// order, and filled once the value is complete; a reference to an unfilled slot is a
/// cycle.
struct RefTable {
    name: &'static str,
    spans: Vec<Option<Range<usize>>>,
    /// Set while a referenced value is decoded again: everything in it is registered
    /// already, so no table of this context may grow.
    replaying: bool,
}

impl RefTable {
    fn new(name: &'static str) -> Self {
        RefTable {
            name,
            spans: Vec::new(),
            replaying: false,
        }
    }

    fn open(&mut self) -> Option<usize> {
        (!self.replaying).then(|| {
            self.spans.push(None);
            self.spans.len() - 1
        })
    }

    fn close(&mut self, slot: Option<usize>, span: Range<usize>) {
        if let Some(entry) = slot.and_then(|i| self.spans.get_mut(i)) {
            *entry = Some(span);
        }
    }

    fn get(&self, index: usize) -> Result<Range<usize>, Error> {
        let table = self.name;
        match self.spans.get(index) {
            Some(Some(span)) => Ok(span.clone()),
            Some(None) => Err(Error::CyclicReference { table, index }),
            None => Err(Error::BadReference {
                table,
                index,
                len: self.spans.len(),
            }),
        }
    }
}

#[cfg(test)]
mod test_support {
    use super::Value;
    use proptest::prelude::*;

    /// Strings from a tiny alphabet (so AMF3 string and traits references occur) or anything.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[ab]{0,2}", any::<String>()]
    }

    /// Nested values (bounded size) that survive an encode/decode round trip in AMF3
    /// (`amf3`) or AMF0: AMF0 writes `Integer` as a number; AMF3 drops the date's
    /// timezone, reads an empty array as strict, cannot carry the array key "" and has
    /// no marker for an unnamed typed object.
    pub(crate) fn value(amf3: bool) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<f64>().prop_map(Value::Number),
            any::<bool>().prop_map(Value::Boolean),
            text().prop_map(Value::String),
            Just(Value::Null),
            Just(Value::Undefined),
            (any::<f64>(), any::<i16>()).prop_map(move |(millis, timezone)| Value::Date {
                millis,
                timezone: if amf3 { 0 } else { timezone },
            }),
            text().prop_map(Value::XmlDocument),
            text().prop_map(Value::Xml),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::ByteArray),
            (-(1 << 28)..(1 << 28)).prop_map(move |i| if amf3 {
                Value::Integer(i)
            } else {
                Value::Number(f64::from(i))
            }),
        ];
        leaf.prop_recursive(4, 48, 4, move |inner| {
            let props = || prop::collection::vec((text(), inner.clone()), 0..4);
            let ecma_props = if amf3 {
                prop::collection::vec(("[ab]{1,2}", inner.clone()), 1..4).boxed()
            } else {
                props().boxed()
            };
            prop_oneof![
                props().prop_map(Value::Object),
                ecma_props.prop_map(Value::EcmaArray),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::StrictArray),
                ("[A-Za-z.]{1,8}", props())
                    .prop_map(|(class, props)| Value::TypedObject { class, props }),
            ]
        })
    }

    /// Structural equality with NaN equal to NaN (their Debug forms compare equal).
    pub(crate) fn same(a: &Value, b: &Value) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_values_amf0_and_amf3() {
        let mut amf0 = Vec::new();
        amf0::encode_all(
            &[
                Value::String("play".into()),
                Value::Number(0.0),
                Value::Null,
            ],
            &mut amf0,
        );
        let values = decode_message_values(false, &amf0).unwrap();
        assert_eq!(values[0].as_str(), Some("play"));

        // Format byte, AMF0 "play", AMF0 0.0, then 0x11 and an AMF3 dynamic object {a: 1}.
        let mut amf3 = vec![0x00];
        amf3.extend_from_slice(&amf0[..16]);
        amf3.extend_from_slice(&[0x11, 0x0A, 0x0B, 0x01, 0x03, b'a', 0x04, 0x01, 0x01]);
        let values = decode_message_values(true, &amf3).unwrap();
        assert_eq!(values.len(), 3);
        assert_eq!(values[2].get("a").and_then(Value::as_f64), Some(1.0));

        assert_eq!(
            decode_message_values(true, &amf0),
            Err(Error::FormatByte(0x02))
        );
        assert!(decode_message_values(true, &[]).is_err());
    }

    #[test]
    fn accessors() {
        let v = Value::TypedObject {
            class: "C".into(),
            props: vec![
                ("n".into(), Value::Integer(3)),
                ("b".into(), Value::Boolean(true)),
            ],
        };
        assert_eq!(v.get("n").and_then(Value::as_f64), Some(3.0));
        assert_eq!(v.get("b").and_then(Value::as_bool), Some(true));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Value::Null.get("n"), None);
        assert_eq!(Value::Number(1.0).as_str(), None);
    }

    #[test]
    fn error_messages() {
        let mut long = vec![0x0C, 0x00, 0x01, 0x11, 0x70];
        long.extend_from_slice(&[b'x'; 12]);
        let err = amf0::decode(&mut &long[..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AMF0 string length 70000 exceeds remaining 12 bytes"
        );
        let err = amf0::decode(&mut &[0x42][..]).unwrap_err();
        assert_eq!(err.to_string(), "unknown AMF0 type marker 0x42");
        let err = amf0::decode(&mut &[0x00, 1, 2, 3][..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated AMF0 number: needs 8 bytes, 3 remain"
        );
    }
}
