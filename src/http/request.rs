//! Request parsing: one HTTP/1.0 or HTTP/1.1 request at a time from the front of a
//! connection's read buffer (RFC 9112 §2–§6 message syntax and framing, RFC 9110 §9
//! methods). The head goes through `httparse`; on top of it we enforce size limits as bytes
//! arrive (so an oversized head is refused without waiting for its end), accept origin-form,
//! absolute-form and, for OPTIONS, asterisk-form targets, require `Host` on HTTP/1.1, and
//! frame bodies by `Content-Length` only: `Transfer-Encoding` on a request is refused. An
//! `application/x-www-form-urlencoded` body is decoded into form parameters, which
//! [`Request::param`] looks up before the query, as Go's `Request.Form` does (livego's API
//! reads its parameters that way).

use bytes::{Bytes, BytesMut};
use memchr::memchr;

use super::{Error, url};

/// Bounds on what one request may occupy before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header fields plus the empty line (431 above).
    pub max_head_bytes: usize,
    /// Header fields (431 above).
    pub max_headers: usize,
    /// Request target, as sent, before decoding (414 above).
    pub max_uri_len: usize,
    /// `Content-Length` (413 above).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 8192,
            max_headers: 64,
            max_uri_len: 4096,
            max_body: 4096,
        }
    }
}

/// Request method (RFC 9110 §9); method names are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Post,
    /// Any other method token, for the router to answer 405.
    Other(String),
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "POST" => Method::Post,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Other(token) => token,
        }
    }
}

/// A complete request, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Percent-decoded path without the query, e.g. `/live/x.flv`; `*` for `OPTIONS *`.
    pub path: String,
    /// Decoded query pairs in order, see [`url::parse_query`].
    pub query: Vec<(String, String)>,
    /// Header fields in order, names lowercased, values trimmed (non-UTF-8 bytes replaced).
    pub headers: Vec<(String, String)>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// The `Content-Length` bytes; empty without one.
    pub body: Bytes,
    /// The body's decoded pairs when it is `application/x-www-form-urlencoded`, else empty.
    pub form: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `name` (case-sensitive).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first value of parameter `name` from the form body, else from the query (Go's
    /// `Request.Form.Get`).
    pub fn param(&self, name: &str) -> Option<&str> {
        first(&self.form, name).or_else(|| first(&self.query, name))
    }

    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`
    /// (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let has_option = |option: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n == "connection")
                .flat_map(|(_, v)| v.split(','))
                .any(|o| o.trim().eq_ignore_ascii_case(option))
        };
        !has_option("close") && (self.version_minor == 1 || has_option("keep-alive"))
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses one request from the front of `buf`. `Ok(None)`: more bytes are needed (and what
/// has arrived is within `limits`). On success the request's head and body are removed from
/// `buf`; pipelined bytes after them stay.
pub fn parse_request(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Request>, Error> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut head = httparse::Request::new(&mut slots);
    let head_len = match head.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if partial_target_len(buf) > limits.max_uri_len {
                return Err(Error::UriTooLong);
            }
            if buf.len() > limits.max_head_bytes {
                return Err(Error::HeadTooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Error::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(Error::Version),
        Err(_) => return Err(Error::BadRequest("malformed request head")),
    };
    if head_len > limits.max_head_bytes {
        return Err(Error::HeadTooLarge);
    }
    let (Some(method), Some(target), Some(version_minor)) = (head.method, head.path, head.version)
    else {
        return Err(Error::BadRequest("malformed request line"));
    };
    if target.len() > limits.max_uri_len {
        return Err(Error::UriTooLong);
    }
    let method = Method::from_token(method);
    let (path, query) = split_target(&method, target)?;
    let path = url::percent_decode(path)?;
    if path.split('/').any(|segment| segment == "..") {
        return Err(Error::BadRequest("'..' segment in path"));
    }
    let query = url::parse_query(query)?;
    let headers: Vec<(String, String)> = head
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value);
            (
                h.name.to_ascii_lowercase(),
                value.trim_matches([' ', '\t']).to_owned(),
            )
        })
        .collect();

    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if values("transfer-encoding").next().is_some() {
        return Err(Error::TransferEncoding);
    }
    let hosts = values("host").count();
    if hosts > 1 || (version_minor == 1 && hosts == 0) {
        return Err(Error::BadRequest("HTTP/1.1 needs exactly one Host"));
    }
    let body_len = content_length(values("content-length"), limits.max_body)?;
    if body_len > 0 && matches!(method, Method::Get | Method::Head) {
        return Err(Error::BadRequest("body on a GET or HEAD request"));
    }
    if buf.len() - head_len < body_len {
        return Ok(None);
    }
    let is_form = values("content-type").next().is_some_and(|t| {
        let media_type = t.split(';').next().unwrap_or_default().trim();
        media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    let mut message = buf.split_to(head_len + body_len);
    let body = message.split_off(head_len).freeze();
    let form = match is_form {
        true => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| Error::BadRequest("form body is not UTF-8"))?;
            url::parse_query(text)?
        }
        false => Vec::new(),
    };
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        version_minor,
        body,
        form,
    }))
}

/// Whether `buf` holds the complete head of an HTTP/1.1 request with `Expect: 100-continue`:
/// once [`parse_request`] has asked for more bytes, that client is waiting for
/// `100 Continue` before it sends the body (RFC 9110 §10.1.1).
pub fn awaits_continue(buf: &[u8], limits: &Limits) -> bool {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut head = httparse::Request::new(&mut slots);
    matches!(head.parse(buf), Ok(httparse::Status::Complete(_)))
        && head.version == Some(1)
        && head.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("expect")
                && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
        })
}

/// Length of the request target received so far in an incomplete head, so that an
/// overlong target is refused before its end arrives.
fn partial_target_len(buf: &[u8]) -> usize {
    // httparse skips empty lines before the request line (RFC 9112 §2.2).
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let line = &line[..memchr(b'\n', line).unwrap_or(line.len())];
    match memchr(b' ', line) {
        Some(sp) => {
            let target = &line[sp + 1..];
            memchr(b' ', target).unwrap_or(target.len())
        }
        None => 0,
    }
}

/// Splits a request target (RFC 9112 §3.2) into its raw path and query. Absolute-form
/// (`http://host/path`) keeps only the path; `*` is allowed for OPTIONS alone.
fn split_target<'a>(method: &Method, target: &'a str) -> Result<(&'a str, &'a str), Error> {
    let origin = if target.starts_with('/') || (target == "*" && *method == Method::Options) {
        target
    } else if let Some(rest) = strip_scheme(target) {
        rest.find(['/', '?']).map_or("", |i| &rest[i..])
    } else {
        return Err(Error::BadRequest("unsupported request target form"));
    };
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    Ok((if path.is_empty() { "/" } else { path }, query))
}

fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        target
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .and_then(|_| target.get(scheme.len()..))
    })
}

/// The body length from all `Content-Length` fields (RFC 9112 §6.3): digits only, repeated
/// fields must agree, and a length above `max_body` is refused before the body arrives.
fn content_length<'a>(
    values: impl Iterator<Item = &'a str>,
    max_body: usize,
) -> Result<usize, Error> {
    let mut length = None;
    for value in values {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::BadRequest("invalid Content-Length"));
        }
        // Only digits, so parsing fails only on overflow: a length no limit admits.
        let n = value.parse::<usize>().unwrap_or(usize::MAX);
        if length.is_some_and(|l| l != n) {
            return Err(Error::BadRequest("conflicting Content-Length fields"));
        }
        length = Some(n);
    }
    match length {
        Some(n) if n > max_body => Err(Error::BodyTooLarge),
        n => Ok(n.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(raw: &[u8]) -> Result<Option<Request>, Error> {
        parse_request(&mut BytesMut::from(raw), &Limits::default())
    }

    fn parse_one(raw: &[u8]) -> Request {
        let mut buf = BytesMut::from(raw);
        let req = parse_request(&mut buf, &Limits::default())
            .unwrap()
            .expect("complete request");
        assert!(buf.is_empty(), "left over: {buf:?}");
        req
    }

    fn status(raw: &[u8]) -> u16 {
        parse(raw).expect_err("accepted").status()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn simple_get() {
        let req = parse_one(b"GET /live/x.flv HTTP/1.1\r\nHost: a:8080\r\nUser-Agent:  t \r\n\r\n");
        assert_eq!(
            req,
            Request {
                method: Method::Get,
                path: "/live/x.flv".into(),
                query: vec![],
                headers: pairs(&[("host", "a:8080"), ("user-agent", "t")]),
                version_minor: 1,
                body: Bytes::new(),
                form: vec![],
            }
        );
        assert_eq!(req.header("USER-AGENT"), Some("t"));
        assert_eq!(req.header("accept"), None);
    }

    #[test]
    fn head_and_options() {
        let req = parse_one(b"HEAD /hls/x.m3u8 HTTP/1.0\r\n\r\n");
        assert_eq!((req.method, req.version_minor), (Method::Head, 0));
        let req = parse_one(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((req.method, req.path.as_str()), (Method::Options, "*"));
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        let req = parse_one(b"DELETE /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(req.method, Method::Other("DELETE".into()));
        assert_eq!(req.method.as_str(), "DELETE");
    }

    #[test]
    fn target_forms() {
        let req = parse_one(b"GET http://example.com/live/x.flv?a=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (req.path.as_str(), req.query_param("a")),
            ("/live/x.flv", Some("1"))
        );
        let req = parse_one(b"GET HTTPS://example.com?a=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((req.path.as_str(), req.query_param("a")), ("/", Some("1")));
        assert_eq!(
            status(b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET ftp://h/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn query_decoding() {
        let req = parse_one(
            b"GET /live/a%20b.flv?app=live%2Fx&name=a+b&empty=&flag&k=1&k=2 HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert_eq!(req.path, "/live/a b.flv");
        assert_eq!(
            req.query,
            pairs(&[
                ("app", "live/x"),
                ("name", "a b"),
                ("empty", ""),
                ("flag", ""),
                ("k", "1"),
                ("k", "2"),
            ])
        );
        assert_eq!(req.query_param("k"), Some("1"));
        assert_eq!(req.query_param("flag"), Some(""));
        assert_eq!(req.query_param("missing"), None);
    }

    #[test]
    fn pipelined_requests() {
        let mut buf = BytesMut::from(
            &b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET"[..],
        );
        let limits = Limits::default();
        let first = parse_request(&mut buf, &limits).unwrap().unwrap();
        assert_eq!((first.method, first.path.as_str()), (Method::Get, "/a"));
        let second = parse_request(&mut buf, &limits).unwrap().unwrap();
        assert_eq!((second.method, second.path.as_str()), (Method::Post, "/b"));
        assert_eq!(&second.body[..], b"hello");
        assert_eq!(parse_request(&mut buf, &limits), Ok(None));
        assert_eq!(&buf[..], b"GET");
    }

    #[test]
    fn form_bodies_are_parameters_before_the_query() {
        let req = parse_one(
            b"POST /control/get?room=q&only=query HTTP/1.1\r\nHost: h\r\n\
              Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
              Content-Length: 20\r\n\r\nroom=from+body&k=%41",
        );
        assert_eq!(req.form, pairs(&[("room", "from body"), ("k", "A")]));
        assert_eq!(req.param("room"), Some("from body"));
        assert_eq!(req.param("only"), Some("query"));
        assert_eq!(req.query_param("room"), Some("q"));
        assert_eq!(req.param("missing"), None);

        let json = parse_one(
            b"POST /x?room=q HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\
              Content-Length: 6\r\n\r\nroom=b",
        );
        assert!(json.form.is_empty());
        assert_eq!(json.param("room"), Some("q"));

        let bad = |body: &[u8]| {
            let mut raw = format!(
                "POST /x HTTP/1.1\r\nHost: h\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            raw.extend_from_slice(body);
            status(&raw)
        };
        assert_eq!(bad(b"room=%zz"), 400);
        assert_eq!(bad(b"room=\xff"), 400);
        assert_eq!(bad(b"room=%00"), 400);
    }

    #[test]
    fn a_complete_head_with_expect_100_continue_awaits_continue() {
        let limits = Limits::default();
        let head =
            b"POST /x HTTP/1.1\r\nHost: h\r\nExpect:  100-Continue \r\nContent-Length: 4\r\n\r\n";
        assert!(awaits_continue(head, &limits));
        assert!(
            !awaits_continue(&head[..head.len() - 2], &limits),
            "head incomplete"
        );
        let http10 = b"POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
        assert!(!awaits_continue(http10, &limits));
        let plain = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
        assert!(!awaits_continue(plain, &limits));
        assert!(!awaits_continue(b"\x00\xffgarbage\r\n\r\n", &limits));
    }

    #[test]
    fn split_at_every_offset() {
        let raw: &[u8] =
            b"POST /api/x?k=%41 HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}";
        let whole = parse_one(raw);
        assert_eq!(&whole.body[..], b"{\"a\":1}");
        for at in 0..raw.len() {
            let mut buf = BytesMut::from(&raw[..at]);
            assert_eq!(
                parse_request(&mut buf, &Limits::default()),
                Ok(None),
                "at {at}"
            );
            assert_eq!(buf.len(), at);
            buf.extend_from_slice(&raw[at..]);
            let req = parse_request(&mut buf, &Limits::default());
            assert_eq!(req, Ok(Some(whole.clone())), "at {at}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn keep_alive_rules() {
        let cases: [(&[u8], bool); 7] = [
            (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
                true,
            ),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
                false,
            ),
        ];
        for (raw, keep) in cases {
            assert_eq!(
                parse_one(raw).keep_alive(),
                keep,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn malformed_heads() {
        assert_eq!(status(b"\x00\x01garbage\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nNo colon\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400); // no Host
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    }

    #[test]
    fn long_uri_refused_before_its_end() {
        let mut raw = b"GET /".to_vec();
        raw.resize(100 * 1024, b'a');
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        for chunk_len in [10 * 1024, 1024] {
            let mut buf = BytesMut::new();
            let mut fed = 0;
            let err = loop {
                let chunk = &raw[fed..raw.len().min(fed + chunk_len)];
                buf.extend_from_slice(chunk);
                fed += chunk.len();
                match parse_request(&mut buf, &Limits::default()) {
                    Ok(None) => assert!(fed < raw.len()),
                    Ok(Some(_)) => panic!("accepted"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err, Error::UriTooLong);
            assert!(fed <= 4096 + chunk_len, "refused only after {fed} bytes");
        }
        // A complete request line over the limit, too.
        let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(4096));
        assert_eq!(status(long.as_bytes()), 414);
    }

    #[test]
    fn oversized_heads() {
        let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..10_000 {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status(&many), 431);

        let long_line = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
            "v".repeat(20 * 1024)
        );
        assert_eq!(status(long_line.as_bytes()), 431);
        // Refused while still incomplete, too.
        assert_eq!(status(&long_line.as_bytes()[..9000]), 431);
    }

    #[test]
    fn content_length_rules() {
        let post = |fields: &str| format!("POST /api HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        // Refused from the head alone: no body bytes have arrived.
        assert_eq!(
            status(post("Content-Length: 99999999999\r\n").as_bytes()),
            413
        );
        assert_eq!(
            status(post("Content-Length: 99999999999999999999999\r\n").as_bytes()),
            413
        );
        assert_eq!(status(post("Content-Length: 4097\r\n").as_bytes()), 413);
        for bad in ["-1", "12abc", "", "+5", "5, 5", "0x10"] {
            let raw = post(&format!("Content-Length: {bad}\r\n"));
            assert_eq!(status(raw.as_bytes()), 400, "{bad:?}");
        }
        let two = post("Content-Length: 3\r\nContent-Length: 4\r\n");
        assert_eq!(status(two.as_bytes()), 400);
        let same = post("Content-Length: 3\r\nContent-Length: 3\r\n") + "abc";
        assert_eq!(&parse_one(same.as_bytes()).body[..], b"abc");
        // The body waits for its bytes.
        assert_eq!(parse(post("Content-Length: 3\r\n").as_bytes()), Ok(None));
        let get_body = b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(status(get_body), 400);
        assert_eq!(
            parse_one(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
                .body
                .len(),
            0
        );
    }

    #[test]
    fn transfer_encoding_refused() {
        let raw = b"POST /api HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(raw), 501);
    }

    #[test]
    fn bad_paths() {
        for target in [
            "/live/%zz",
            "/live/%4",
            "/live/x?a=%4",
            "/../etc/passwd",
            "/hls/%2e%2e/secret",
            "/hls/..%2Fsecret",
            "/live/x%00.flv",
            "/live/%ff",
        ] {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(status(raw.as_bytes()), 400, "{target}");
        }
        assert_eq!(
            parse_one(b"GET /a..b/.%2e. HTTP/1.0\r\n\r\n").path,
            "/a..b/..."
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut buf = BytesMut::from(&data[..]);
            if let Ok(Some(_)) = parse_request(&mut buf, &Limits::default()) {
                prop_assert!(buf.len() < data.len());
            }
        }

        #[test]
        fn http_like_bytes_never_panic(parts in proptest::collection::vec(prop::sample::select(&[
            "GET ", "OPTIONS ", "POST ", "/", "*", "http://h", "%", "%2e", "%00", "..", "?", "&",
            "=", "+", "a", " ", " HTTP/1.1", " HTTP/1.0", " HTTP/2.0", "\r\n", "\n", "Host: h",
            "Content-Length: ", "0", "3", "99999999999", "Transfer-Encoding: chunked",
            "Connection: close", ":", "\0", "\u{e9}",
        ][..]), 0..40)) {
            let data = parts.concat();
            let limits = Limits { max_head_bytes: 64, max_headers: 3, max_uri_len: 16, max_body: 8 };
            let mut buf = BytesMut::from(data.as_bytes());
            while let Ok(Some(_)) = parse_request(&mut buf, &limits) {}
        }
    }
}
