//! Response writing: status line and header fields (RFC 9112 §4, §5), framing by
//! `Content-Length` or, for endless HTTP-FLV streams, by the chunked transfer coding
//! (RFC 9112 §7.1) or connection close, the `Date` field in IMF-fixdate (RFC 9110 §5.6.7)
//! and reason phrases (RFC 9110 §15). Responses allow any origin (CORS), since players are
//! usually served from other sites, unless made [`Response::same_origin_only`] (the control
//! API: a web page from anywhere must not read channel keys through a browser on the LAN).

use std::fmt::{self, Write as _};

use bytes::{Bytes, BytesMut};

/// The last chunk of a chunked body, with no trailer fields.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Fields the encoders write themselves, which [`Response::header`] therefore refuses.
const MANAGED: [&str; 6] = [
    "date",
    "server",
    "access-control-allow-origin",
    "content-length",
    "connection",
    "transfer-encoding",
];

/// A response under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// Sends `Access-Control-Allow-Origin: *`.
    any_origin: bool,
}

impl Response {
    pub fn new(status: u16) -> Self {
        debug_assert!((100..1000).contains(&status), "bad status {status}");
        Response {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            any_origin: true,
        }
    }

    /// No `Access-Control-Allow-Origin`: browsers keep other sites' pages from reading it.
    pub fn same_origin_only(mut self) -> Self {
        self.any_origin = false;
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body (shared, not copied): a driver may send it itself after the head (encoded
    /// with `head_only`), so large bodies are never copied per response.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// Adds a header field. A name that is not a token or that the encoders write
    /// themselves, or a value with CR, LF or NUL, is a bug: it asserts in debug builds and
    /// the field is dropped in release builds.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        let valid = is_token(name)
            && !MANAGED.iter().any(|m| m.eq_ignore_ascii_case(name))
            && !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
        debug_assert!(valid, "invalid response header {name}: {value:?}");
        if valid {
            self.headers.push((name.to_owned(), value));
        }
        self
    }

    /// Sets the body and its `Content-Type` (replacing any set before).
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        self.body = body.into();
        self.header("Content-Type", content_type)
    }

    /// Appends head and body to `out`. Adds `Date`, `Server`,
    /// `Access-Control-Allow-Origin: *` (unless same origin only), `Content-Length` and
    /// `Connection`. For HEAD
    /// (`head_only`) the body is left out but `Content-Length` still gives its size.
    /// 1xx, 204 and 304 responses carry neither (RFC 9110 §8.6, §15.4.5).
    pub fn encode(
        &self,
        now_unix_secs: u64,
        keep_alive: bool,
        head_only: bool,
        out: &mut BytesMut,
    ) {
        let bodyless = matches!(self.status, 100..=199 | 204 | 304);
        debug_assert!(
            !bodyless || self.body.is_empty(),
            "body on a {}",
            self.status
        );
        self.encode_fields(now_unix_secs, out);
        if !bodyless {
            put(out, format_args!("Content-Length: {}\r\n", self.body.len()));
        }
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
        if !head_only && !bodyless {
            out.extend_from_slice(&self.body);
        }
    }

    /// Appends the head of an endless response (HTTP-FLV): no `Content-Length`; with
    /// `chunked` (HTTP/1.1 clients) `Transfer-Encoding: chunked`, and the body follows as
    /// [`write_chunk`]s ended by [`LAST_CHUNK`]; otherwise `Connection: close` and the body
    /// ends when the connection does. The body set with [`Response::body`] is not used.
    pub fn encode_stream_head(&self, now_unix_secs: u64, chunked: bool, out: &mut BytesMut) {
        debug_assert!(self.body.is_empty(), "stream head with a body");
        self.encode_fields(now_unix_secs, out);
        out.extend_from_slice(if chunked {
            b"Transfer-Encoding: chunked\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
    }

    /// Status line, the fields every response has, and the caller's fields.
    fn encode_fields(&self, now_unix_secs: u64, out: &mut BytesMut) {
        put(
            out,
            format_args!(
                "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: livego\r\n",
                self.status,
                reason_phrase(self.status),
                http_date(now_unix_secs)
            ),
        );
        if self.any_origin {
            out.extend_from_slice(b"Access-Control-Allow-Origin: *\r\n");
        }
        for (name, value) in &self.headers {
            put(out, format_args!("{name}: {value}\r\n"));
        }
    }
}

/// A short `text/plain` error, e.g. `404 Not Found: no live stream live/x\n`.
pub fn error_response(status: u16, message: &str) -> Response {
    let reason = reason_phrase(status);
    let text = if message.is_empty() {
        format!("{status} {reason}\n")
    } else {
        format!("{status} {reason}: {message}\n")
    };
    Response::new(status).body("text/plain; charset=utf-8", text)
}

/// The answer to a CORS preflight (`OPTIONS`) request.
pub fn preflight_response() -> Response {
    Response::new(204)
        .header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        .header(
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, Range",
        )
        .header("Access-Control-Max-Age", "86400")
}

/// The reason phrase of the statuses we send; empty (which RFC 9112 §4 allows) for others.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Appends one chunk of the chunked transfer coding: size in hex, CRLF, data, CRLF. Empty
/// data appends nothing, since an empty chunk would end the body.
pub fn write_chunk(data: &[u8], out: &mut BytesMut) {
    if data.is_empty() {
        return;
    }
    put(out, format_args!("{:x}\r\n", data.len()));
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `now_unix_secs` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(now_unix_secs: u64) -> String {
    // 1970-01-01 was a Thursday.
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = now_unix_secs / 86_400;
    let secs = now_unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[month - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (year, month 1..=12, day 1..=31) of a count of days since 1970-01-01, after Howard
/// Hinnant's `civil_from_days`: years are counted from March so that the leap day ends
/// the year, in 400-year eras of 146097 days starting 0000-03-01.
fn civil_from_days(days: u64) -> (u64, usize, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month as usize, day)
}

/// RFC 9110 §5.6.2 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn put(out: &mut BytesMut, args: fmt::Arguments<'_>) {
    // BytesMut's fmt::Write grows the buffer and fails only beyond usize::MAX bytes.
    let _ = out.write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(r: &Response, keep_alive: bool, head_only: bool) -> String {
        let mut out = BytesMut::new();
        r.encode(784111777, keep_alive, head_only, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn dates() {
        for (t, date) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784111777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951782400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (4107542399, "Sun, 28 Feb 2100 23:59:59 GMT"),
            (4107542400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(http_date(t), date, "{t}");
        }
        http_date(u64::MAX); // must not panic
    }

    #[test]
    fn ok_with_body() {
        let r = Response::new(200)
            .header("Cache-Control", "no-cache")
            .body("application/json", "{}");
        assert_eq!(
            encoded(&r, true, false),
            "HTTP/1.1 200 OK\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Server: livego\r\n\
             Access-Control-Allow-Origin: *\r\n\
             Cache-Control: no-cache\r\n\
             Content-Type: application/json\r\n\
             Content-Length: 2\r\n\
             Connection: keep-alive\r\n\
             \r\n\
             {}"
        );
        let head = encoded(&r, false, true);
        assert!(
            head.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
    }

    #[test]
    fn body_replaces_content_type() {
        let r = Response::new(200)
            .header("Content-Type", "a/b")
            .body("text/plain", "x");
        let text = encoded(&r, true, false);
        assert_eq!(text.matches("Content-Type").count(), 1);
        assert!(text.contains("Content-Type: text/plain\r\n"));
    }

    #[test]
    fn stream_heads() {
        let r = Response::new(200).header("Content-Type", "video/x-flv");
        let fields = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: livego\r\n\
                      Access-Control-Allow-Origin: *\r\nContent-Type: video/x-flv\r\n";
        let mut out = BytesMut::new();
        r.encode_stream_head(784111777, true, &mut out);
        assert_eq!(
            &out[..],
            format!("HTTP/1.1 200 OK\r\n{fields}Transfer-Encoding: chunked\r\n\r\n").as_bytes()
        );
        out.clear();
        r.encode_stream_head(784111777, false, &mut out);
        assert_eq!(
            &out[..],
            format!("HTTP/1.1 200 OK\r\n{fields}Connection: close\r\n\r\n").as_bytes()
        );
    }

    #[test]
    fn chunks() {
        let mut out = BytesMut::new();
        write_chunk(b"hello", &mut out);
        write_chunk(b"", &mut out);
        write_chunk(&[7; 300], &mut out);
        out.extend_from_slice(LAST_CHUNK);
        let mut expected = b"5\r\nhello\r\n12c\r\n".to_vec();
        expected.extend_from_slice(&[7; 300]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn errors_and_preflight() {
        let text = encoded(&error_response(404, "no live stream live/x"), false, false);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.ends_with(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 37\r\n\
             Connection: close\r\n\r\n404 Not Found: no live stream live/x\n"
        ));
        assert_eq!(error_response(503, "").body, "503 Service Unavailable\n");

        assert_eq!(
            encoded(&preflight_response(), true, false),
            "HTTP/1.1 204 No Content\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Server: livego\r\n\
             Access-Control-Allow-Origin: *\r\n\
             Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n\
             Access-Control-Allow-Headers: Authorization, Content-Type, Range\r\n\
             Access-Control-Max-Age: 86400\r\n\
             Connection: keep-alive\r\n\r\n"
        );
        assert_eq!(reason_phrase(299), "");
        assert!(encoded(&Response::new(299), true, false).starts_with("HTTP/1.1 299 \r\n"));
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "invalid response header"))]
    fn header_injection_refused() {
        let r = Response::new(200).header("X-A", "a\r\nSet-Cookie: x");
        assert!(!encoded(&r, true, false).contains("Set-Cookie"));
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "invalid response header"))]
    fn managed_header_refused() {
        let r = Response::new(200).header("content-length", "5");
        assert_eq!(
            encoded(&r, true, false).matches("Content-Length").count(),
            1
        );
    }
}
