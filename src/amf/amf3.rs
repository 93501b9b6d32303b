//! AMF3 encoding and decoding (Adobe "Action Message Format -- AMF 3": §1.3.1 U29
//! integers, §3.2–3.14 data types), reached from RTMP through AMF0's 0x11 switch.
//!
//! One [`decode`] or [`encode`] call is one AMF3 context: its string, object and traits
//! reference tables (§2.1) start empty. Decoding maps an array with only a dense part to
//! [`Value::StrictArray`]; any associative part gives a [`Value::EcmaArray`] whose dense
//! elements follow as properties "0", "1", ... Objects with an empty class name are
//! [`Value::Object`]. Externalizable objects (§3.12), vectors (§3.15) and dictionaries
//! (§3.16) are rejected: their bodies are class-specific and cannot be skipped. Dates carry
//! no timezone (decoded as 0).
//!
//! Encoding writes every object with sealed traits (so any property name, even "",
//! survives), and references repeated strings and repeated traits (same class, same
//! names in the same order); it never emits object references. [`Value::Integer`]
//! outside the 29-bit range is written as a double. An `EcmaArray` property named ""
//! cannot be expressed (it ends the associative part) and is skipped. Lengths and
//! counts beyond the U29 limits (2^28 - 1 bytes or elements) are cut to the limit.

use std::collections::HashMap;
use std::ops::Range;

use super::{Error, Input, NAME_COST, RefTable, Value};

const UNDEFINED: u8 = 0x00;
const NULL: u8 = 0x01;
const FALSE: u8 = 0x02;
const TRUE: u8 = 0x03;
const INTEGER: u8 = 0x04;
const DOUBLE: u8 = 0x05;
const STRING: u8 = 0x06;
const XML_DOCUMENT: u8 = 0x07;
const DATE: u8 = 0x08;
const ARRAY: u8 = 0x09;
const OBJECT: u8 = 0x0A;
const XML: u8 = 0x0B;
const BYTE_ARRAY: u8 = 0x0C;
const VECTOR_INT: u8 = 0x0D;
const DICTIONARY: u8 = 0x11;

/// Largest length, count or reference index an inline U29 header can carry (28 bits).
const MAX_LEN: usize = (1 << 28) - 1;
/// AMF3 integers are 29-bit signed.
const INTEGER_RANGE: std::ops::Range<i32> = -(1 << 28)..(1 << 28);

/// Decodes one value and advances `buf` past it (on error `buf` is left unchanged).
pub fn decode(buf: &mut &[u8]) -> Result<Value, Error> {
    let mut input = Input::new(buf);
    let value = Decoder::new(&mut input).value()?;
    *buf = &buf[input.pos..];
    Ok(value)
}

pub fn encode(v: &Value, out: &mut Vec<u8>) {
    Encoder::default().value(v, out);
}

/// U29 (§1.3.1): 7 bits per byte with a continuation flag, the fourth byte carries 8 bits.
/// Only the low 29 bits of `v` are written.
fn write_u29(v: u32, out: &mut Vec<u8>) {
    let v = v & 0x1FFF_FFFF;
    match v {
        0..=0x7F => out.push(v as u8),
        0x80..=0x3FFF => out.extend([(v >> 7) as u8 | 0x80, v as u8 & 0x7F]),
        0x4000..=0x1F_FFFF => out.extend([
            (v >> 14) as u8 | 0x80,
            (v >> 7) as u8 | 0x80,
            v as u8 & 0x7F,
        ]),
        _ => out.extend([
            (v >> 22) as u8 | 0x80,
            (v >> 15) as u8 | 0x80,
            (v >> 8) as u8 | 0x80,
            v as u8,
        ]),
    }
}

/// U29 header `len << 1 | 1` followed by the bytes (strings, XML, byte arrays).
fn write_inline(bytes: &[u8], out: &mut Vec<u8>) {
    let bytes = &bytes[..bytes.len().min(MAX_LEN)];
    write_u29((bytes.len() as u32) << 1 | 1, out);
    out.extend(bytes);
}

fn text(s: &str) -> &str {
    &s[..s.floor_char_boundary(MAX_LEN)]
}

#[derive(Default)]
struct Encoder<'v> {
    strings: HashMap<&'v str, usize>,
    traits: HashMap<(&'v str, Vec<&'v str>), usize>,
}

impl<'v> Encoder<'v> {
    fn value(&mut self, v: &'v Value, out: &mut Vec<u8>) {
        match v {
            Value::Undefined => out.push(UNDEFINED),
            Value::Null => out.push(NULL),
            Value::Boolean(b) => out.push(if *b { TRUE } else { FALSE }),
            Value::Integer(i) if INTEGER_RANGE.contains(i) => {
                out.push(INTEGER);
                write_u29(*i as u32, out);
            }
            Value::Integer(i) => double(f64::from(*i), out),
            Value::Number(n) => double(*n, out),
            Value::String(s) => {
                out.push(STRING);
                self.string(s, out);
            }
            Value::XmlDocument(s) => {
                out.push(XML_DOCUMENT);
                write_inline(text(s).as_bytes(), out);
            }
            Value::Date { millis, .. } => {
                out.extend([DATE, 0x01]);
                out.extend(millis.to_be_bytes());
            }
            Value::StrictArray(items) => {
                let items = &items[..items.len().min(MAX_LEN)];
                out.push(ARRAY);
                write_u29((items.len() as u32) << 1 | 1, out);
                out.push(0x01); // empty associative part
                items.iter().for_each(|item| self.value(item, out));
            }
            Value::EcmaArray(props) => {
                out.extend([ARRAY, 0x01]); // no dense part
                for (key, value) in props.iter().filter(|(key, _)| !key.is_empty()) {
                    self.string(key, out);
                    self.value(value, out);
                }
                out.push(0x01);
            }
            Value::Object(props) => self.object("", props, out),
            Value::TypedObject { class, props } => self.object(class, props, out),
            Value::Xml(s) => {
                out.push(XML);
                write_inline(text(s).as_bytes(), out);
            }
            Value::ByteArray(bytes) => {
                out.push(BYTE_ARRAY);
                write_inline(bytes, out);
            }
        }
    }

    /// String reference if written before, else inline (§3.8; "" is never referenced).
    fn string(&mut self, s: &'v str, out: &mut Vec<u8>) {
        match self.strings.get(s) {
            Some(&index) if index <= MAX_LEN => write_u29((index as u32) << 1, out),
            _ => {
                if !s.is_empty() {
                    let next = self.strings.len();
                    self.strings.entry(s).or_insert(next);
                }
                write_inline(text(s).as_bytes(), out);
            }
        }
    }

    /// Object with sealed traits, referenced if this class and member list was written before.
    fn object(&mut self, class: &'v str, props: &'v [(String, Value)], out: &mut Vec<u8>) {
        // Sealed member counts have 25 bits in the traits header.
        let props = &props[..props.len().min(MAX_LEN >> 3)];
        out.push(OBJECT);
        let traits = (
            class,
            props.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        );
        match self.traits.get(&traits) {
            Some(&index) if index <= MAX_LEN >> 1 => write_u29((index as u32) << 2 | 0b01, out),
            _ => {
                write_u29((props.len() as u32) << 4 | 0b0011, out);
                self.string(class, out);
                traits.1.iter().for_each(|name| self.string(name, out));
                let next = self.traits.len();
                self.traits.entry(traits).or_insert(next);
            }
        }
        props.iter().for_each(|(_, value)| self.value(value, out));
    }
}

fn double(n: f64, out: &mut Vec<u8>) {
    out.push(DOUBLE);
    out.extend(n.to_be_bytes());
}

#[derive(Clone)]
struct Traits {
    class: String,
    dynamic: bool,
    members: Vec<String>,
}

/// One AMF3 context (reference tables) reading from a shared [`Input`].
pub(super) struct Decoder<'i, 'a> {
    input: &'i mut Input<'a>,
    strings: Vec<String>,
    objects: RefTable,
    traits: Vec<Traits>,
}

impl<'i, 'a> Decoder<'i, 'a> {
    pub(super) fn new(input: &'i mut Input<'a>) -> Self {
        Decoder {
            input,
            strings: Vec::new(),
            objects: RefTable::new("AMF3 object"),
            traits: Vec::new(),
        }
    }

    pub(super) fn value(&mut self) -> Result<Value, Error> {
        let start = self.input.pos;
        self.input.charge_value()?;
        Ok(match self.input.u8("AMF3 type marker")? {
            UNDEFINED => Value::Undefined,
            NULL => Value::Null,
            FALSE => Value::Boolean(false),
            TRUE => Value::Boolean(true),
            // Sign-extend the 29-bit integer.
            INTEGER => Value::Integer(((self.u29()? << 3) as i32) >> 3),
            DOUBLE => Value::Number(self.input.f64("AMF3 double")?),
            STRING => Value::String(self.string()?),
            XML_DOCUMENT => self.complex(start, |d, len| {
                Ok(Value::XmlDocument(d.input.utf8(len, "AMF3 XML length")?))
            })?,
            DATE => self.complex(start, |d, _| {
                Ok(Value::Date {
                    millis: d.input.f64("AMF3 date")?,
                    timezone: 0,
                })
            })?,
            ARRAY => self.complex(start, Self::array)?,
            OBJECT => self.complex(start, Self::object)?,
            XML => self.complex(start, |d, len| {
                Ok(Value::Xml(d.input.utf8(len, "AMF3 XML length")?))
            })?,
            BYTE_ARRAY => self.complex(start, |d, len| {
                Ok(Value::ByteArray(
                    d.input.bytes_owned(len, "AMF3 byte array length")?,
                ))
            })?,
            marker @ VECTOR_INT..=DICTIONARY => {
                return Err(Error::Unsupported(format!(
                    "AMF3 vector/dictionary (marker {marker:#04x})"
                )));
            }
            marker => {
                return Err(Error::UnknownMarker {
                    format: "AMF3",
                    marker,
                });
            }
        })
    }

    fn u29(&mut self) -> Result<u32, Error> {
        let mut v = 0;
        for _ in 0..3 {
            let byte = self.input.u8("AMF3 U29 integer")?;
            v = v << 7 | u32::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Ok(v << 8 | u32::from(self.input.u8("AMF3 U29 integer")?))
    }

    /// UTF-8-vr (§3.8): a string reference or an inline string, which joins the table.
    fn string(&mut self) -> Result<String, Error> {
        let header = self.u29()?;
        let index = (header >> 1) as usize;
        if header & 1 == 0 {
            let len = self.strings.len();
            let s = self.strings.get(index).ok_or(Error::BadReference {
                table: "AMF3 string",
                index,
                len,
            })?;
            self.input.charge(s.len())?;
            return Ok(s.clone());
        }
        let s = self.input.utf8(index, "AMF3 string length")?;
        if !s.is_empty() && !self.objects.replaying {
            self.strings.push(s.clone());
        }
        Ok(s)
    }

    /// An object-table type: the U29 header either references an earlier value (decoded
    /// again from its bytes) or `inline(self, header >> 1)` reads a new one.
    fn complex(
        &mut self,
        start: usize,
        inline: impl FnOnce(&mut Self, usize) -> Result<Value, Error>,
    ) -> Result<Value, Error> {
        let header = self.u29()?;
        if header & 1 == 0 {
            let span = self.objects.get((header >> 1) as usize)?;
            return self.replay(span);
        }
        let slot = self.objects.open();
        let value = inline(self, (header >> 1) as usize)?;
        self.objects.close(slot, start..self.input.pos);
        Ok(value)
    }

    /// Decodes a referenced value again from its bytes.
    fn replay(&mut self, span: Range<usize>) -> Result<Value, Error> {
        let (pos, replaying) = (self.input.jump(span), self.objects.replaying);
        self.objects.replaying = true;
        let value = self.value()?;
        (self.input.pos, self.objects.replaying) = (pos, replaying);
        Ok(value)
    }

    /// Array body (§3.11): associative pairs up to "", then `dense` values.
    fn array(&mut self, dense: usize) -> Result<Value, Error> {
        self.input.check_len(dense, "AMF3 array dense count")?;
        self.input.enter()?;
        let mut assoc = Vec::new();
        self.named_values(&mut assoc)?;
        // Grown as values come (each charged), not reserved for the claimed count.
        let mut items = Vec::new();
        for _ in 0..dense {
            items.push(self.value()?);
        }
        self.input.leave();
        if assoc.is_empty() {
            return Ok(Value::StrictArray(items));
        }
        assoc.extend(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v)),
        );
        Ok(Value::EcmaArray(assoc))
    }

    /// Name/value pairs up to the empty name (array associative part, dynamic members).
    fn named_values(&mut self, props: &mut Vec<(String, Value)>) -> Result<(), Error> {
        loop {
            let key = self.string()?;
            if key.is_empty() {
                return Ok(());
            }
            self.input.charge_name()?;
            let value = self.value()?;
            props.push((key, value));
        }
    }

    /// Object body (§3.12); `header` is the U29O header without its inline-object bit.
    fn object(&mut self, header: usize) -> Result<Value, Error> {
        let traits = if header & 1 == 0 {
            let (index, len) = (header >> 1, self.traits.len());
            let traits = self.traits.get(index).ok_or(Error::BadReference {
                table: "AMF3 traits",
                index,
                len,
            })?;
            let names = traits.members.iter().map(|m| m.len() + NAME_COST);
            self.input
                .charge(traits.class.len() + names.sum::<usize>())?;
            traits.clone()
        } else {
            let class = self.string()?;
            if header & 0b10 != 0 {
                return Err(Error::Unsupported(format!(
                    "AMF3 externalizable object of class {class:?}"
                )));
            }
            let count = header >> 3;
            self.input.check_len(count, "AMF3 sealed member count")?;
            let mut members = Vec::new();
            for _ in 0..count {
                self.input.charge_name()?;
                members.push(self.string()?);
            }
            let traits = Traits {
                class,
                dynamic: header & 0b100 != 0,
                members,
            };
            if !self.objects.replaying {
                self.traits.push(traits.clone());
            }
            traits
        };
        self.input.enter()?;
        let mut props = Vec::new();
        for name in traits.members {
            props.push((name, self.value()?));
        }
        if traits.dynamic {
            self.named_values(&mut props)?;
        }
        self.input.leave();
        Ok(match traits.class {
            class if class.is_empty() => Value::Object(props),
            class => Value::TypedObject { class, props },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf::test_support::{same, value};
    use crate::amf::{MAX_DECODED_BYTES, MAX_DEPTH, decode_budget};
    use proptest::prelude::*;

    fn encoded(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    fn decoded(bytes: &[u8]) -> Result<Value, Error> {
        let mut buf = bytes;
        let value = decode(&mut buf)?;
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        Ok(value)
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn assert_prefixes_fail(bytes: &[u8]) {
        for len in 0..bytes.len() {
            assert!(
                decode(&mut &bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }

    fn int(i: i32) -> Value {
        Value::Integer(i)
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn u29_vectors() {
        let vectors: [(i32, &[u8]); 11] = [
            (0x00, &[0x00]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (0x3FFF, &[0xFF, 0x7F]),
            (0x4000, &[0x81, 0x80, 0x00]),
            (0x1F_FFFF, &[0xFF, 0xFF, 0x7F]),
            (0x20_0000, &[0x80, 0xC0, 0x80, 0x00]),
            (0x0FFF_FFFF, &[0xBF, 0xFF, 0xFF, 0xFF]),
            (-1, &[0xFF, 0xFF, 0xFF, 0xFF]),
            (-2, &[0xFF, 0xFF, 0xFF, 0xFE]),
            (-(1 << 28), &[0xC0, 0x80, 0x80, 0x00]),
        ];
        for (n, u29) in vectors {
            let bytes = [&[INTEGER][..], u29].concat();
            assert_eq!(encoded(&int(n)), bytes, "{n:#x}");
            assert_eq!(decoded(&bytes), Ok(int(n)));
            assert_prefixes_fail(&bytes);
        }
        // Outside 29 bits: a double.
        assert_eq!(encoded(&int(1 << 28)), [0x05, 0x41, 0xB0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn string_references() {
        let v = Value::StrictArray(vec![s("abc"), s("abc"), s(""), s("")]);
        let bytes = [
            0x09, 0x09, 0x01, 0x06, 0x07, b'a', b'b', b'c', 0x06, 0x00, 0x06, 0x01, 0x06, 0x01,
        ];
        assert_eq!(encoded(&v), bytes);
        assert_eq!(decoded(&bytes), Ok(v));
        assert_prefixes_fail(&bytes);
        assert_eq!(
            decoded(&[0x06, 0x02]),
            Err(Error::BadReference {
                table: "AMF3 string",
                index: 1,
                len: 0
            })
        );
    }

    #[test]
    fn traits_references() {
        let pt = |x, y| Value::TypedObject {
            class: "Pt".into(),
            props: vec![("x".into(), int(x)), ("y".into(), int(y))],
        };
        let v = Value::StrictArray(vec![pt(1, 2), pt(3, 4)]);
        let bytes = [
            0x09, 0x05, 0x01, // array, 2 dense
            0x0A, 0x23, 0x05, b'P', b't', 0x03, b'x', 0x03, b'y', 0x04, 0x01, 0x04,
            0x02, // inline traits
            0x0A, 0x01, 0x04, 0x03, 0x04, 0x04, // traits reference 0
        ];
        assert_eq!(encoded(&v), bytes);
        assert_eq!(decoded(&bytes), Ok(v));
        assert_prefixes_fail(&bytes);
        assert_eq!(
            decoded(&[0x0A, 0x05]),
            Err(Error::BadReference {
                table: "AMF3 traits",
                index: 1,
                len: 0
            })
        );
    }

    #[test]
    fn objects_as_other_encoders_write_them() {
        // Dynamic anonymous {prop: {a: 1}}, the inner object referencing the outer's traits.
        let nested = Value::Object(vec![(
            "prop".into(),
            Value::Object(vec![("a".into(), int(1))]),
        )]);
        assert_eq!(
            decoded(&hex("0a0b010970726f700a01036104010101")),
            Ok(nested)
        );

        // [t, t2, t], t of class "test1" with sealed a, b, c; the last entry is an object
        // reference to the first, member value "a" a string reference.
        let t = |a: &str, b: &str, c: &str| Value::TypedObject {
            class: "test1".into(),
            props: vec![("a".into(), s(a)), ("b".into(), s(b)), ("c".into(), s(c))],
        };
        let bytes = hex(
            "0907010a330b746573743103610362036306020605626206076363630a01060561320607626232\
             0609636363320a02",
        );
        let v = Value::StrictArray(vec![
            t("a", "bb", "ccc"),
            t("a2", "bb2", "ccc2"),
            t("a", "bb", "ccc"),
        ]);
        assert_eq!(decoded(&bytes), Ok(v));
        assert_prefixes_fail(&bytes);

        // Array with associative and dense parts.
        let mixed = [
            0x09, 0x05, 0x03, b'k', 0x06, 0x03, b'v', 0x01, 0x04, 0x01, 0x04, 0x02,
        ];
        let expected = vec![
            ("k".into(), s("v")),
            ("0".into(), int(1)),
            ("1".into(), int(2)),
        ];
        assert_eq!(decoded(&mixed), Ok(Value::EcmaArray(expected)));
    }

    #[test]
    fn other_types() {
        let date = Value::Date {
            millis: 1.5e12,
            timezone: 0,
        };
        let bytes = [&[DATE, 0x01][..], &1.5e12f64.to_be_bytes()].concat();
        assert_eq!(encoded(&date), bytes);
        assert_eq!(decoded(&bytes), Ok(date));
        assert_eq!(
            encoded(&Value::Xml("<a/>".into())),
            [0x0B, 0x09, b'<', b'a', b'/', b'>']
        );
        assert_eq!(
            encoded(&Value::XmlDocument("<a/>".into())),
            [0x07, 0x09, b'<', b'a', b'/', b'>']
        );
        assert_eq!(encoded(&Value::ByteArray(vec![1, 2])), [0x0C, 0x05, 1, 2]);
        assert_eq!(
            encoded(&Value::EcmaArray(vec![("".into(), int(1))])),
            [0x09, 0x01, 0x01]
        );
        // A referenced byte array (object reference 1; the array is entry 0).
        let bytes = [0x09, 0x05, 0x01, 0x0C, 0x03, 0xAA, 0x0C, 0x02];
        let blob = Value::ByteArray(vec![0xAA]);
        assert_eq!(
            decoded(&bytes),
            Ok(Value::StrictArray(vec![blob.clone(), blob]))
        );
    }

    #[test]
    fn malformed_input() {
        assert!(matches!(
            decoded(&[0x0A, 0x07, 0x03, b'C']),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(decoded(&[0x10]), Err(Error::Unsupported(_))));
        assert_eq!(
            decoded(&[0x12]),
            Err(Error::UnknownMarker {
                format: "AMF3",
                marker: 0x12
            })
        );
        assert_eq!(
            decoded(&[0x0A, 0x00]),
            Err(Error::BadReference {
                table: "AMF3 object",
                index: 0,
                len: 0
            })
        );
        assert_eq!(
            decoded(&[0x09, 0x03, 0x01, 0x09, 0x00]),
            Err(Error::CyclicReference {
                table: "AMF3 object",
                index: 0
            })
        );
        assert!(matches!(
            decoded(&[0x06, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Error::TooLong { .. })
        ));
        assert!(matches!(
            decoded(&[0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(Error::TooLong { .. })
        ));
        assert!(matches!(
            decoded(&[0x0A, 0xFF, 0xFF, 0xFF, 0xF3, 0x01]),
            Err(Error::TooLong { .. })
        ));

        let nested_ok = [[0x09, 0x03, 0x01].repeat(MAX_DEPTH), vec![0x01]].concat();
        assert!(decoded(&nested_ok).is_ok());
        let arrays = [[0x09, 0x03, 0x01].repeat(10_000), vec![0x01]].concat();
        assert_eq!(decoded(&arrays), Err(Error::TooDeep));
        let objects = [[0x0A, 0x13, 0x01, 0x03, b'k'].repeat(10_000), vec![0x01]].concat();
        assert_eq!(decoded(&objects), Err(Error::TooDeep));

        // A 100 kB string referenced 200 times would copy 20 MB.
        let mut bomb = vec![0x09, 0x83, 0x13, 0x01, 0x06];
        write_u29(100_000 << 1 | 1, &mut bomb);
        bomb.extend(vec![b'x'; 100_000]);
        bomb.extend([0x06, 0x00].repeat(200));
        const { assert!(200 * 100_000 > MAX_DECODED_BYTES) };
        let budget = decode_budget(bomb.len());
        assert_eq!(decoded(&bomb), Err(Error::OverBudget { budget }));
    }

    proptest! {
        #[test]
        fn round_trip(v in value(true)) {
            let bytes = encoded(&v);
            let back = decoded(&bytes).unwrap();
            prop_assert!(same(&back, &v), "{back:?} != {v:?}");
            assert_prefixes_fail(&bytes);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&mut &bytes[..]);
        }

        #[test]
        fn corrupted_never_panics(v in value(true), at: prop::sample::Index, byte: u8) {
            let mut bytes = encoded(&v);
            let at = at.index(bytes.len());
            bytes[at] = byte;
            let _ = decode(&mut &bytes[..]);
        }
    }
}
