//! Percent-decoding (RFC 3986 §2.1) of request paths and query strings, and splitting of
//! queries into key/value pairs the way HTML forms encode them
//! (`application/x-www-form-urlencoded`: `&`-separated, `+` for space). Decoded text must be
//! UTF-8 without NUL, so nothing downstream has to handle either.

use super::Error;

/// Decodes `%XX` escapes. Rejects truncated or non-hex escapes, decoded bytes that are not
/// UTF-8, and NUL (literal or escaped). `+` stays `+`: this is for paths.
pub fn percent_decode(s: &str) -> Result<String, Error> {
    decode(s, false)
}

/// Splits a query string (without the `?`) into decoded `(key, value)` pairs in order.
/// Empty pieces (`a=1&&b=2`) are skipped, a piece without `=` has an empty value, and `+`
/// means space in keys and values (`%2B` is a literal `+`). Repeated keys are all kept.
pub fn parse_query(q: &str) -> Result<Vec<(String, String)>, Error> {
    q.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((decode(key, true)?, decode(value, true)?))
        })
        .collect()
}

fn decode(s: &str, plus_is_space: bool) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&h| hex(h));
                let lo = bytes.get(i + 2).and_then(|&l| hex(l));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(Error::BadRequest("bad percent-encoding"));
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    if memchr::memchr(0, &out).is_some() {
        return Err(Error::BadRequest("NUL in request target"));
    }
    String::from_utf8(out).map_err(|_| Error::BadRequest("percent-encoded bytes are not UTF-8"))
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Escapes everything but RFC 3986 unreserved characters.
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(percent_decode("/live/a%20b%2Fc").unwrap(), "/live/a b/c");
        assert_eq!(percent_decode("%e2%82%ac+").unwrap(), "€+");
        assert_eq!(percent_decode("plain").unwrap(), "plain");
    }

    #[test]
    fn rejects_bad_escapes() {
        for bad in ["%zz", "%4", "%", "a%g1", "%00", "a\0b", "%ff", "%c3"] {
            assert_eq!(
                percent_decode(bad).unwrap_err().status(),
                400,
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn query_pairs() {
        let q = parse_query("app=live%2Fx&name=a+b&empty=&flag&k=1&&k=2&plus=%2B").unwrap();
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("app", "live/x"),
                ("name", "a b"),
                ("empty", ""),
                ("flag", ""),
                ("k", "1"),
                ("k", "2"),
                ("plus", "+"),
            ]
        );
        assert_eq!(parse_query("").unwrap(), []);
        assert_eq!(parse_query("a=%zz").unwrap_err().status(), 400);
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(s in "[^\u{0}]*") {
            prop_assert_eq!(percent_decode(&encode(&s)).unwrap(), s);
        }

        #[test]
        fn query_roundtrip(pairs in proptest::collection::vec(("[^\u{0}]*", "[^\u{0}]*"), 0..5)) {
            let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            prop_assert_eq!(parse_query(&q.join("&")).unwrap(), pairs);
        }

        #[test]
        fn decode_never_panics(s in ".*") {
            let _ = percent_decode(&s);
            let _ = parse_query(&s);
        }
    }
}
