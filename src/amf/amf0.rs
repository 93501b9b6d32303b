//! AMF0 encoding and decoding (Adobe "Action Message Format -- AMF 0", §2 data types and
//! §3.1 the AVM+ switch to AMF3), as used by RTMP command and data messages.
//!
//! Decoding: the unsupported marker 0x0D (§2.15) decodes as [`Value::Undefined`]; the
//! reserved movieclip (0x04) and recordset (0x0E) markers are errors. An ECMA array's
//! count is advisory, properties are read up to the object end. References (§2.9)
//! resolve against the objects, typed objects, ECMA and strict arrays decoded so far in
//! the same call ([`decode_all`] shares one context across the payload). Each 0x11
//! switch decodes one AMF3 value with fresh AMF3 reference tables.
//!
//! Encoding never emits references. Strings longer than 65535 bytes use the long string
//! marker; [`Value::Integer`] is written as a number; [`Value::Xml`] and
//! [`Value::ByteArray`], which AMF0 lacks, are written as AMF3 after a 0x11 switch.
//! Property names and class names are cut (at a character boundary) to 65535 bytes.

use std::ops::Range;

use super::{Error, Input, RefTable, Value, amf3};

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const MOVIECLIP: u8 = 0x04;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const REFERENCE: u8 = 0x07;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0A;
const DATE: u8 = 0x0B;
const LONG_STRING: u8 = 0x0C;
const UNSUPPORTED: u8 = 0x0D;
const RECORDSET: u8 = 0x0E;
const XML_DOCUMENT: u8 = 0x0F;
const TYPED_OBJECT: u8 = 0x10;
const AVMPLUS: u8 = 0x11;

/// Decodes one value and advances `buf` past it (on error `buf` is left unchanged).
pub fn decode(buf: &mut &[u8]) -> Result<Value, Error> {
    let mut decoder = Decoder::new(buf);
    let value = decoder.value()?;
    *buf = &buf[decoder.input.pos..];
    Ok(value)
}

/// Decodes every value in `buf`, sharing one reference context.
pub fn decode_all(buf: &[u8]) -> Result<Vec<Value>, Error> {
    let mut decoder = Decoder::new(buf);
    let mut values = Vec::new();
    while decoder.input.remaining() > 0 {
        values.push(decoder.value()?);
    }
    Ok(values)
}

pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Number(n) => number(*n, out),
        Value::Integer(i) => number(f64::from(*i), out),
        Value::Boolean(b) => out.extend([BOOLEAN, u8::from(*b)]),
        Value::String(s) if s.len() <= usize::from(u16::MAX) => {
            out.push(STRING);
            short_string(s, out);
        }
        Value::String(s) => {
            out.push(LONG_STRING);
            long_string(s, out);
        }
        Value::Object(props) => {
            out.push(OBJECT);
            properties(props, out);
        }
        Value::Null => out.push(NULL),
        Value::Undefined => out.push(UNDEFINED),
        Value::EcmaArray(props) => {
            out.push(ECMA_ARRAY);
            out.extend(u32::try_from(props.len()).unwrap_or(u32::MAX).to_be_bytes());
            properties(props, out);
        }
        Value::StrictArray(items) => {
            let items = &items[..items.len().min(u32::MAX as usize)];
            out.push(STRICT_ARRAY);
            out.extend((items.len() as u32).to_be_bytes());
            items.iter().for_each(|item| encode(item, out));
        }
        Value::Date { millis, timezone } => {
            out.push(DATE);
            out.extend(millis.to_be_bytes());
            out.extend(timezone.to_be_bytes());
        }
        Value::XmlDocument(s) => {
            out.push(XML_DOCUMENT);
            long_string(s, out);
        }
        Value::TypedObject { class, props } => {
            out.push(TYPED_OBJECT);
            short_string(class, out);
            properties(props, out);
        }
        Value::Xml(_) | Value::ByteArray(_) => {
            out.push(AVMPLUS);
            amf3::encode(v, out);
        }
    }
}

pub fn encode_all(vs: &[Value], out: &mut Vec<u8>) {
    vs.iter().for_each(|v| encode(v, out));
}

fn number(n: f64, out: &mut Vec<u8>) {
    out.push(NUMBER);
    out.extend(n.to_be_bytes());
}

fn short_string(s: &str, out: &mut Vec<u8>) {
    let s = &s[..s.floor_char_boundary(u16::MAX.into())];
    out.extend((s.len() as u16).to_be_bytes());
    out.extend(s.as_bytes());
}

fn long_string(s: &str, out: &mut Vec<u8>) {
    let s = &s[..s.floor_char_boundary(u32::MAX as usize)];
    out.extend((s.len() as u32).to_be_bytes());
    out.extend(s.as_bytes());
}

/// Properties followed by the object end (an empty name and 0x09).
fn properties(props: &[(String, Value)], out: &mut Vec<u8>) {
    for (key, value) in props {
        short_string(key, out);
        encode(value, out);
    }
    out.extend([0, 0, OBJECT_END]);
}

struct Decoder<'a> {
    input: Input<'a>,
    refs: RefTable,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Decoder {
            input: Input::new(bytes),
            refs: RefTable::new("AMF0 object"),
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        let start = self.input.pos;
        self.input.charge_value()?;
        Ok(match self.input.u8("AMF0 type marker")? {
            NUMBER => Value::Number(self.input.f64("AMF0 number")?),
            BOOLEAN => Value::Boolean(self.input.u8("AMF0 boolean")? != 0),
            STRING => Value::String(self.short_string("AMF0 string length")?),
            OBJECT => self.complex(start, |d| Ok(Value::Object(d.properties()?)))?,
            NULL => Value::Null,
            UNDEFINED | UNSUPPORTED => Value::Undefined,
            REFERENCE => {
                let span = self.refs.get(self.input.u16("AMF0 reference")?.into())?;
                self.replay(span)?
            }
            ECMA_ARRAY => self.complex(start, |d| {
                d.input.u32("AMF0 ECMA array count")?;
                Ok(Value::EcmaArray(d.properties()?))
            })?,
            OBJECT_END => return Err(Error::UnexpectedObjectEnd),
            STRICT_ARRAY => self.complex(start, |d| {
                let count = d.input.u32("AMF0 strict array count")? as usize;
                d.input.check_len(count, "AMF0 strict array count")?;
                // Grown as values come (each charged), not reserved for the claimed count.
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(d.value()?);
                }
                Ok(Value::StrictArray(items))
            })?,
            DATE => Value::Date {
                millis: self.input.f64("AMF0 date")?,
                timezone: self.input.i16("AMF0 date timezone")?,
            },
            LONG_STRING => Value::String(self.long_string("AMF0 string length")?),
            XML_DOCUMENT => Value::XmlDocument(self.long_string("AMF0 XML document length")?),
            TYPED_OBJECT => self.complex(start, |d| {
                let class = d.short_string("AMF0 class name length")?;
                Ok(Value::TypedObject {
                    class,
                    props: d.properties()?,
                })
            })?,
            AVMPLUS => amf3::Decoder::new(&mut self.input).value()?,
            marker @ (MOVIECLIP | RECORDSET) => {
                return Err(Error::Unsupported(format!(
                    "reserved AMF0 type marker {marker:#04x}"
                )));
            }
            marker => {
                return Err(Error::UnknownMarker {
                    format: "AMF0",
                    marker,
                });
            }
        })
    }

    /// Decodes an object or array with `f`, recording it for references.
    fn complex(
        &mut self,
        start: usize,
        f: impl FnOnce(&mut Self) -> Result<Value, Error>,
    ) -> Result<Value, Error> {
        let slot = self.refs.open();
        self.input.enter()?;
        let value = f(self)?;
        self.input.leave();
        self.refs.close(slot, start..self.input.pos);
        Ok(value)
    }

    /// Decodes a referenced value again from its bytes.
    fn replay(&mut self, span: Range<usize>) -> Result<Value, Error> {
        let (pos, replaying) = (self.input.jump(span), self.refs.replaying);
        self.refs.replaying = true;
        let value = self.value()?;
        (self.input.pos, self.refs.replaying) = (pos, replaying);
        Ok(value)
    }

    /// Name/value pairs up to the object end.
    fn properties(&mut self) -> Result<Vec<(String, Value)>, Error> {
        let mut props = Vec::new();
        loop {
            let key = self.short_string("AMF0 property name length")?;
            if key.is_empty() && self.input.eat(OBJECT_END) {
                return Ok(props);
            }
            self.input.charge_name()?;
            props.push((key, self.value()?));
        }
    }

    fn short_string(&mut self, what: &'static str) -> Result<String, Error> {
        let len = self.input.u16(what)?;
        self.input.utf8(len.into(), what)
    }

    fn long_string(&mut self, what: &'static str) -> Result<String, Error> {
        let len = self.input.u32(what)?;
        self.input.utf8(len as usize, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf::test_support::{same, value};
    use crate::amf::{MAX_DECODED_BYTES, MAX_DEPTH, decode_budget};
    use proptest::prelude::*;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    fn props(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// AMF0 string body: u16 length then the bytes.
    fn utf8(text: &str) -> Vec<u8> {
        [&(text.len() as u16).to_be_bytes()[..], text.as_bytes()].concat()
    }

    fn encoded(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    /// Every strict prefix of a single value's encoding must fail, never panic.
    fn assert_prefixes_fail(bytes: &[u8]) {
        for len in 0..bytes.len() {
            assert!(
                decode(&mut &bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }

    fn connect() -> Vec<Value> {
        vec![
            s("connect"),
            Value::Number(1.0),
            Value::Object(props(&[
                ("app", s("live")),
                ("type", s("nonprivate")),
                ("flashVer", s("FMLE/3.0 (compatible; FMSc/1.0)")),
                ("tcUrl", s("rtmp://127.0.0.1:1935/live")),
            ])),
        ]
    }

    #[test]
    fn connect_command_bytes() {
        let expected = [
            &[0x02, 0x00, 0x07][..],
            b"connect",
            &[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0],
            &[0x03],
            &[0x00, 0x03],
            b"app",
            &[0x02, 0x00, 0x04],
            b"live",
            &[0x00, 0x04],
            b"type",
            &[0x02, 0x00, 0x0A],
            b"nonprivate",
            &[0x00, 0x08],
            b"flashVer",
            &[0x02, 0x00, 0x1F],
            b"FMLE/3.0 (compatible; FMSc/1.0)",
            &[0x00, 0x05],
            b"tcUrl",
            &[0x02, 0x00, 0x1A],
            b"rtmp://127.0.0.1:1935/live",
            &[0x00, 0x00, 0x09],
        ]
        .concat();
        let mut out = Vec::new();
        encode_all(&connect(), &mut out);
        assert_eq!(out, expected);
        assert_eq!(decode_all(&expected).unwrap(), connect());

        let mut buf = &expected[..];
        assert_eq!(decode(&mut buf).unwrap(), s("connect"));
        assert_eq!(buf.len(), expected.len() - 10);
        assert_prefixes_fail(&encoded(&connect()[2]));
    }

    #[test]
    fn on_metadata_ecma_array() {
        let metadata = Value::EcmaArray(props(&[
            ("duration", Value::Number(0.0)),
            ("width", Value::Number(1280.0)),
            ("stereo", Value::Boolean(true)),
            ("encoder", s("Lavf60")),
        ]));
        let values = [s("@setDataFrame"), s("onMetaData"), metadata];
        let expected = [
            &[0x02][..],
            &utf8("@setDataFrame"),
            &[0x02],
            &utf8("onMetaData"),
            &[0x08, 0, 0, 0, 4],
            &utf8("duration"),
            &[0x00, 0, 0, 0, 0, 0, 0, 0, 0],
            &utf8("width"),
            &[0x00, 0x40, 0x94, 0, 0, 0, 0, 0, 0],
            &utf8("stereo"),
            &[0x01, 0x01],
            &utf8("encoder"),
            &[0x02],
            &utf8("Lavf60"),
            &[0x00, 0x00, 0x09],
        ]
        .concat();
        let mut out = Vec::new();
        encode_all(&values, &mut out);
        assert_eq!(out, expected);
        let decoded = decode_all(&expected).unwrap();
        assert_eq!(decoded, values);
        assert_eq!(
            decoded[2].get("width").and_then(Value::as_f64),
            Some(1280.0)
        );
        assert_prefixes_fail(&encoded(&values[2]));

        // The count is advisory: 0 announced, one property present.
        let mut advisory = vec![0x08, 0, 0, 0, 0];
        advisory.extend(utf8("a"));
        advisory.extend([0x05, 0x00, 0x00, 0x09]);
        let decoded = decode(&mut &advisory[..]).unwrap();
        assert_eq!(decoded, Value::EcmaArray(props(&[("a", Value::Null)])));
    }

    #[test]
    fn scalars_and_special_markers() {
        let date = Value::Date {
            millis: 1.5e12,
            timezone: -60,
        };
        let mut date_bytes = vec![0x0B];
        date_bytes.extend(1.5e12f64.to_be_bytes());
        date_bytes.extend([0xFF, 0xC4]);
        assert_eq!(encoded(&date), date_bytes);
        assert_eq!(decode(&mut &date_bytes[..]).unwrap(), date);

        let long = s(&"é".repeat(40_000));
        let bytes = encoded(&long);
        assert_eq!(bytes[..5], [0x0C, 0x00, 0x01, 0x38, 0x80]);
        assert_eq!(decode(&mut &bytes[..]).unwrap(), long);

        let typed = Value::TypedObject {
            class: "Pt".into(),
            props: props(&[("x", Value::Number(1.0))]),
        };
        let bytes = encoded(&typed);
        assert_eq!(bytes[..5], [0x10, 0x00, 0x02, b'P', b't']);
        assert_eq!(decode(&mut &bytes[..]).unwrap(), typed);

        assert_eq!(encoded(&Value::Integer(2)), encoded(&Value::Number(2.0)));
        assert_eq!(
            encoded(&Value::ByteArray(vec![7])),
            [0x11, 0x0C, 0x03, 0x07]
        );
        assert_eq!(decode(&mut &[0x0D][..]), Ok(Value::Undefined));
        assert_eq!(decode(&mut &[0x01, 0x02][..]), Ok(Value::Boolean(true)));
        assert!(matches!(
            decode(&mut &[0x04][..]),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            decode(&mut &[0x0E][..]),
            Err(Error::Unsupported(_))
        ));
        assert_eq!(decode(&mut &[0x09][..]), Err(Error::UnexpectedObjectEnd));
        assert_eq!(
            decode(&mut &[0x12][..]),
            Err(Error::UnknownMarker {
                format: "AMF0",
                marker: 0x12
            })
        );
        // An empty-named property is not the object end unless 0x09 follows.
        let odd = [0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x09];
        assert_eq!(
            decode(&mut &odd[..]),
            Ok(Value::Object(props(&[("", Value::Null)])))
        );
    }

    #[test]
    fn references() {
        // {a: 1}, then [ref 0, ref 0]: the strict array is entry 1.
        let mut payload = encoded(&Value::Object(props(&[("a", Value::Number(1.0))])));
        payload.extend([0x0A, 0, 0, 0, 2, 0x07, 0x00, 0x00, 0x07, 0x00, 0x00]);
        let values = decode_all(&payload).unwrap();
        assert_eq!(
            values[1],
            Value::StrictArray(vec![values[0].clone(), values[0].clone()])
        );

        // Re-decoding a referenced object re-reads its AMF3 part in a fresh AMF3 context,
        // whose own string reference must still resolve: {x: AMF3 ["abc", string ref 0]}.
        let mut payload = vec![0x03, 0x00, 0x01, b'x', 0x11, 0x09, 0x05, 0x01];
        payload.extend([0x06, 0x07, b'a', b'b', b'c', 0x06, 0x00, 0x00, 0x00, 0x09]);
        payload.extend([0x07, 0x00, 0x00]);
        let values = decode_all(&payload).unwrap();
        assert_eq!(
            values[0].get("x"),
            Some(&Value::StrictArray(vec![s("abc"), s("abc")]))
        );
        assert_eq!(values[1], values[0]);

        assert_eq!(
            decode(&mut &[0x07, 0x00, 0x05][..]),
            Err(Error::BadReference {
                table: "AMF0 object",
                index: 5,
                len: 0
            })
        );
        let cyclic = [0x03, 0x00, 0x01, b's', 0x07, 0x00, 0x00, 0x00, 0x00, 0x09];
        assert_eq!(
            decode(&mut &cyclic[..]),
            Err(Error::CyclicReference {
                table: "AMF0 object",
                index: 0
            })
        );

        // A 60 kB object referenced 1000 times would copy 60 MB.
        let big = Value::Object(props(&[("s", s(&"x".repeat(60_000)))]));
        let mut bomb = encoded(&big);
        bomb.extend([0x0A, 0, 0, 0x03, 0xE8]);
        bomb.extend([0x07, 0x00, 0x00].repeat(1000));
        const { assert!(1000 * 60_000 > MAX_DECODED_BYTES) };
        let budget = decode_budget(bomb.len());
        assert_eq!(decode_all(&bomb), Err(Error::OverBudget { budget }));
    }

    /// 66 KB that took 1 GB and 3 s to decode: a strict array of 256 elements, the first an
    /// array of 65,536 undefineds, the other 255 references to it.
    #[test]
    fn a_reference_bomb_is_refused_within_its_budget() {
        let mut bomb = vec![STRICT_ARRAY];
        bomb.extend(256u32.to_be_bytes());
        bomb.push(STRICT_ARRAY);
        bomb.extend(65_536u32.to_be_bytes());
        bomb.extend([UNDEFINED].repeat(65_536));
        bomb.extend([REFERENCE, 0x00, 0x01].repeat(255));
        let started = std::time::Instant::now();
        let budget = decode_budget(bomb.len());
        assert_eq!(decode_all(&bomb), Err(Error::OverBudget { budget }));
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        // The array alone decodes: a plain value is always within the budget.
        let plain = &bomb[5..5 + 5 + 65_536];
        assert_eq!(decode_all(plain).map(|v| v.len()), Ok(1));
    }

    #[test]
    fn the_budget_covers_the_densest_plain_values() {
        // Every one-byte value, in arrays and objects with one-byte names, fits.
        let mut dense = vec![STRICT_ARRAY];
        dense.extend(10_000u32.to_be_bytes());
        dense.extend([NULL].repeat(10_000));
        assert!(decode_all(&dense).is_ok());
        let mut object = vec![OBJECT];
        for _ in 0..10_000 {
            object.extend([0x00, 0x01, b'k', UNDEFINED]);
        }
        object.extend([0x00, 0x00, OBJECT_END]);
        assert!(decode_all(&object).is_ok());
    }

    #[test]
    fn malformed_input() {
        let huge_array = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05];
        assert_eq!(
            decode(&mut &huge_array[..]),
            Err(Error::TooLong {
                what: "AMF0 strict array count",
                len: u32::MAX as usize,
                remaining: 1
            })
        );
        assert!(matches!(
            decode(&mut &[0x02, 0xFF, 0xFF, b'a'][..]),
            Err(Error::TooLong { .. })
        ));
        assert!(matches!(
            decode(&mut &[0x0F, 0xFF, 0xFF, 0xFF, 0xFF][..]),
            Err(Error::TooLong { .. })
        ));
        assert!(decode_all(&[0x05, 0x00, 0x3F]).is_err());
        let mut buf = &[0x02, 0x00, 0x05, b'a'][..];
        assert!(decode(&mut buf).is_err());
        assert_eq!(buf.len(), 4, "slice is not advanced on error");

        let nested_ok = [[0x0A, 0, 0, 0, 1].repeat(MAX_DEPTH), vec![0x05]].concat();
        assert!(decode(&mut &nested_ok[..]).is_ok());
        for unit in [
            vec![0x0A, 0, 0, 0, 1],
            vec![0x03, 0x00, 0x01, b'k'],
            vec![0x08, 0, 0, 0, 1, 0x00, 0x01, b'k'],
            vec![0x10, 0x00, 0x01, b'C', 0x00, 0x01, b'k'],
        ] {
            let bomb = [unit.repeat(10_000), vec![0x05]].concat();
            assert_eq!(decode(&mut &bomb[..]), Err(Error::TooDeep));
        }
        // The depth carries across the switch to AMF3: 40 objects, then 30 AMF3 arrays.
        let object = [0x03, 0x00, 0x01, b'k'];
        let bomb = [
            object.repeat(40),
            vec![0x11],
            [0x09, 0x03, 0x01].repeat(30),
            vec![0x01],
        ]
        .concat();
        assert_eq!(decode(&mut &bomb[..]), Err(Error::TooDeep));
    }

    proptest! {
        #[test]
        fn round_trip(v in value(false)) {
            let bytes = encoded(&v);
            let mut buf = &bytes[..];
            let back = decode(&mut buf).unwrap();
            prop_assert!(buf.is_empty());
            prop_assert!(same(&back, &v), "{back:?} != {v:?}");
            assert_prefixes_fail(&bytes);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_all(&bytes);
        }

        #[test]
        fn corrupted_never_panics(v in value(false), at: prop::sample::Index, byte: u8) {
            let mut bytes = encoded(&v);
            let at = at.index(bytes.len());
            bytes[at] = byte;
            let _ = decode_all(&bytes);
        }
    }
}
