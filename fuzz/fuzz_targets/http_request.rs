//! HTTP/1.1 request parsing (src/http/request.rs) with the default `Limits` over arbitrary bytes
//! in arbitrary pieces (pipelined requests included), and percent/form decoding
//! (src/http/url.rs).
//!
//! Input: [mode][rest]. `mode & 1 == 0`: `rest` is what a client sends, in pieces picked by
//! `mode >> 1`, parsed as server/http.rs does (parse; while incomplete, ask `awaits_continue`).
//! `mode & 1 == 1`: `rest` (as UTF-8, lossy) goes through `percent_decode` and `parse_query`,
//! and is used as text for encode/decode round trips.
//!
//! Asserts: errors map to the documented statuses; while a request is incomplete the buffer
//! never holds more than head limit + body limit (+ the piece just read); a parsed request
//! honours the limits and invariants its fields document (path absolute or `*`, no `..`
//! segment, no NUL, lowercase header names, one Host on HTTP/1.1, no body on GET/HEAD, the
//! body as long as Content-Length); percent-encoding any NUL-free text decodes back to it, and
//! form-encoding any pairs parses back to them.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use livego::http::{self, Limits, Method, Request};
use livego_fuzz::{Bound, Input, bounded, split};

/// A request keeps its head as strings: header fields cost their bytes plus 48 bytes for the
/// (name, value) pair, at least 4 input bytes each ("a:\r\n"), and query pairs 48 bytes for a
/// 2-byte "a&": ~24 bytes per input byte, doubled while vectors grow.
const PER_BYTE: usize = 64;
/// httparse's 64 header slots (2 KiB per call) and the buffers' first allocations.
const BASE: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    let rest = input.rest();
    if mode & 1 == 0 {
        bounded("http parse", data.len(), Bound::new(PER_BYTE, BASE), || {
            requests(rest, mode >> 1)
        });
    } else {
        let text = String::from_utf8_lossy(rest);
        bounded("url decode", data.len(), Bound::new(PER_BYTE, BASE), || {
            let _ = http::percent_decode(&text);
            let _ = http::parse_query(&text);
        });
        url_round_trips(&text);
    }
});

fn requests(data: &[u8], split_mode: u8) {
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    for piece in split(data, split_mode) {
        buf.extend_from_slice(piece);
        loop {
            match http::parse_request(&mut buf, &limits) {
                Ok(Some(request)) => check(&request, &limits),
                Ok(None) => {
                    let _ = http::awaits_continue(&buf, &limits);
                    let most = limits.max_head_bytes + limits.max_body + piece.len();
                    assert!(
                        buf.len() <= most,
                        "{} bytes buffered for an incomplete request",
                        buf.len()
                    );
                    break;
                }
                Err(e) => {
                    assert!(
                        [400, 413, 414, 431, 501, 505].contains(&e.status()),
                        "{e:?}"
                    );
                    return;
                }
            }
        }
    }
}

fn check(r: &Request, limits: &Limits) {
    assert!(
        r.path.starts_with('/') || (r.path == "*" && r.method == Method::Options),
        "path {:?}",
        r.path
    );
    assert!(
        !r.path.split('/').any(|s| s == ".."),
        "'..' in {:?}",
        r.path
    );
    let texts = std::iter::once(&r.path)
        .chain(r.query.iter().flat_map(|(k, v)| [k, v]))
        .chain(r.form.iter().flat_map(|(k, v)| [k, v]));
    for t in texts {
        assert!(!t.contains('\0'), "NUL in {t:?}");
    }
    assert!(r.headers.len() <= limits.max_headers);
    for (name, value) in &r.headers {
        assert!(
            !name.is_empty() && *name == name.to_ascii_lowercase(),
            "header name {name:?}"
        );
        assert_eq!(value, value.trim_matches([' ', '\t']));
    }
    let hosts = r.headers.iter().filter(|(n, _)| n == "host").count();
    assert!(
        hosts <= 1 && (r.version_minor == 0 || hosts == 1),
        "{hosts} Host fields"
    );
    assert!(r.version_minor <= 1);
    assert!(r.body.len() <= limits.max_body);
    if matches!(r.method, Method::Get | Method::Head) {
        assert!(r.body.is_empty(), "body on {:?}", r.method);
    }
    let length = r
        .header("content-length")
        .map(|v| v.parse::<usize>().expect("digits"));
    assert_eq!(length.unwrap_or(0), r.body.len(), "body length");
    assert!(r.header("transfer-encoding").is_none());
    let _ = r.keep_alive();
}

/// Escapes every byte but RFC 3986 unreserved characters (space as `+` in forms).
fn encode(s: &str, form: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn url_round_trips(text: &str) {
    let clean: String = text.chars().filter(|&c| c != '\0').collect();
    assert_eq!(
        http::percent_decode(&encode(&clean, false)).as_deref(),
        Ok(clean.as_str())
    );
    // Pairs: split the text at '\u{1}' into keys and values, alternately.
    let parts: Vec<&str> = clean.split('\u{1}').collect();
    let pairs: Vec<(String, String)> = parts
        .chunks(2)
        .map(|kv| {
            (
                kv[0].to_string(),
                kv.get(1).copied().unwrap_or("").to_string(),
            )
        })
        .collect();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, true), encode(v, true)))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        http::parse_query(&query).as_ref(),
        Ok(&pairs),
        "query {query:?}"
    );
    // Decoding is a left inverse only: whatever decodes must decode the same once re-encoded.
    if let Ok(decoded) = http::percent_decode(text) {
        assert_eq!(http::percent_decode(&encode(&decoded, false)), Ok(decoded));
    }
}
