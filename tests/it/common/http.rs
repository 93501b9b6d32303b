//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, for the HTTP-FLV and control
//! API tests: every request has an overall deadline, responses are read exactly as RFC 9112
//! frames them (§6.3: no body for HEAD, 1xx, 204 and 304; then chunked; then
//! Content-Length; else until the server closes), and a streaming body reader decodes chunked
//! transfer coding (§7.1) for live HTTP-FLV. Raw access (`write` bytes, read one response from
//! a buffered stream) is there for hostile and pipelined requests.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Deadline of [`http_get`] and [`http_request`] for the whole exchange.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

/// `http://host:port/target` taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(url: &str) -> io::Result<Url> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid(format!("not an http:// URL: {url}")))?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| invalid(format!("bad port in {url}")))?,
            ),
            None => (authority, 80),
        };
        Ok(Url {
            host: host.to_string(),
            port,
            target: target.to_string(),
        })
    }

    pub fn addr(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| invalid(format!("{} resolves to nothing", self.host)))
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.into())
}

/// A `TcpStream` whose reads and writes all end at one deadline (`TimedOut` after it).
pub struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<DeadlineStream> {
        let deadline = Instant::now() + timeout;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(DeadlineStream { stream, deadline })
    }
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
    /// Runs one read or write (`op`) with the time left as its socket timeout (set by
    /// `set_timeout`); `TimedOut` once the deadline has passed.
    fn before_deadline<T>(
        &mut self,
        set_timeout: fn(&TcpStream, Option<Duration>) -> io::Result<()>,
        op: impl FnOnce(&mut TcpStream) -> io::Result<T>,
    ) -> io::Result<T> {
        let passed = || io::Error::new(ErrorKind::TimedOut, "deadline passed");
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(passed());
        }
        set_timeout(&self.stream, Some(left))?;
        op(&mut self.stream).map_err(|e| {
            if e.kind() == ErrorKind::WouldBlock {
                passed()
            } else {
                e
            }
        })
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.before_deadline(TcpStream::set_read_timeout, |s| s.read(buf))
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.before_deadline(TcpStream::set_write_timeout, |s| s.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Status line and headers of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Whether the last transfer coding is `chunked`.
    pub fn is_chunked(&self) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .flat_map(|(_, v)| v.split(','))
            .last()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
    }
    pub fn content_length(&self) -> io::Result<Option<u64>> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| invalid(format!("bad Content-Length {v:?}"))),
        }
    }
    /// Whether a response to `method` with this head carries a body at all.
    pub fn has_body(&self, method: &str) -> bool {
        !(method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&self.status)
            || self.status == 204
            || self.status == 304)
    }
    /// Whether the server keeps the connection open after this response.
    pub fn keeps_alive(&self) -> bool {
        let close = self
            .header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        self.version == "HTTP/1.1" && !close
    }
}

/// Parses a head (status line and header lines, without the blank line).
pub fn parse_head(text: &str) -> io::Result<Head> {
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(invalid(format!("not an HTTP status line: {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| invalid(format!("bad status in {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Head {
        version: version.to_string(),
        status,
        reason,
        headers,
    })
}

/// Reads one response head from `r`, leaving the body (and anything after it) unread.
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Head> {
    let mut raw = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                format!(
                    "connection closed after {} bytes of a response head",
                    raw.len()
                ),
            ));
        }
        // take bytes up to and including the blank line, never past it
        let before = raw.len();
        let mut used = 0;
        for &b in buf {
            raw.push(b);
            used += 1;
            if raw.ends_with(b"\r\n\r\n") {
                break;
            }
        }
        r.consume(used);
        if raw.ends_with(b"\r\n\r\n") {
            break;
        }
        if raw.len() > MAX_HEAD {
            return Err(invalid(format!(
                "response head longer than {MAX_HEAD} bytes (read {before})"
            )));
        }
    }
    let text = String::from_utf8_lossy(&raw[..raw.len() - 4]).into_owned();
    parse_head(&text)
}

/// Decodes chunked transfer coding (RFC 9112 §7.1) from a buffered reader: chunk extensions
/// are ignored, trailers read and dropped; EOF before the last chunk is an error.
pub struct ChunkedReader<R: BufRead> {
    inner: R,
    /// Data bytes left in the current chunk.
    left: u64,
    /// The current chunk's data is followed by a CRLF not read yet.
    crlf_due: bool,
    done: bool,
}

impl<R: BufRead> ChunkedReader<R> {
    pub fn new(inner: R) -> Self {
        ChunkedReader {
            inner,
            left: 0,
            crlf_due: false,
            done: false,
        }
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "chunked body ends before its last chunk",
                ));
            }
            let (take, found) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..take]);
            self.inner.consume(take);
            if line.len() > 4096 {
                return Err(invalid("chunk-size line longer than 4 KiB"));
            }
            if found {
                if !line.ends_with(b"\r\n") {
                    return Err(invalid("chunked line ends in a bare LF"));
                }
                line.truncate(line.len() - 2);
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
        }
    }

    /// Reads the next chunk-size line (after the previous chunk's CRLF); sets `done` on the
    /// last chunk, after its trailers.
    fn next_chunk(&mut self) -> io::Result<()> {
        if self.crlf_due {
            let end = self.line()?;
            if !end.is_empty() {
                return Err(invalid(format!(
                    "chunk data not followed by CRLF (found {} more bytes)",
                    end.len()
                )));
            }
            self.crlf_due = false;
        }
        let line = self.line()?;
        let size = line.split(';').next().unwrap_or("").trim();
        if size.is_empty() || size.len() > 15 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!("bad chunk size line {line:?}")));
        }
        let size = u64::from_str_radix(size, 16).map_err(|e| invalid(e.to_string()))?;
        if size == 0 {
            // trailer fields up to the blank line
            while !self.line()?.is_empty() {}
            self.done = true;
        } else {
            self.left = size;
            self.crlf_due = true;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.left == 0 {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                format!(
                    "connection closed with {} bytes of a chunk missing",
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A response body as it arrives, framed per the head.
pub enum Body<R: BufRead> {
    Empty,
    Length {
        inner: R,
        left: u64,
    },
    Chunked(ChunkedReader<R>),
    /// Until the server closes.
    Close(R),
}

impl<R: BufRead> Body<R> {
    pub fn new(inner: R, head: &Head, method: &str) -> io::Result<Body<R>> {
        if !head.has_body(method) {
            return Ok(Body::Empty);
        }
        if head.is_chunked() {
            return Ok(Body::Chunked(ChunkedReader::new(inner)));
        }
        Ok(match head.content_length()? {
            Some(left) => Body::Length { inner, left },
            None => Body::Close(inner),
        })
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Empty => Ok(0),
            Body::Length { left: 0, .. } => Ok(0),
            Body::Length { inner, left } => {
                let want = buf.len().min(*left as usize);
                let n = inner.read(&mut buf[..want])?;
                if n == 0 && want > 0 {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!("connection closed with {left} bytes of the body missing"),
                    ));
                }
                *left -= n as u64;
                Ok(n)
            }
            Body::Chunked(c) => c.read(buf),
            Body::Close(inner) => inner.read(buf),
        }
    }
}

/// Reads one whole response (head and body) for a request with `method` from `r`; what follows
/// it (a pipelined response) stays in `r`.
pub fn read_response<R: BufRead>(r: &mut R, method: &str) -> io::Result<Response> {
    let head = read_head(r)?;
    let mut body = Vec::new();
    Body::new(&mut *r, &head, method)?.read_to_end(&mut body)?;
    Ok(Response { head, body })
}

/// A whole response.
#[derive(Clone, Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body as JSON; panics (with the body) if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response {} is not JSON ({e}): {:?}",
                self.head.status,
                self.text()
            )
        })
    }
}

/// The request bytes: `METHOD target HTTP/1.1`, `Host`, the given headers, `Content-Length`
/// when there is a body.
pub fn request_bytes(method: &str, url: &Url, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {} HTTP/1.1\r\n", url.target);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {}\r\n", url.authority()));
    }
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One request on a fresh connection (`Connection: close` unless `headers` say otherwise);
/// the whole exchange must end within `timeout`.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> io::Result<Response> {
    let parsed = Url::parse(url)?;
    let mut stream = DeadlineStream::connect(parsed.addr()?, timeout)?;
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
    {
        all.push(("Connection", "close"));
    }
    stream.write_all(&request_bytes(method, &parsed, &all, &[]))?;
    read_response(&mut BufReader::new(stream), method)
}

/// `GET url` with extra `headers`, within [`DEFAULT_TIMEOUT`]; panics (naming the URL) if
/// there is no well-formed response.
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> Response {
    http_request("GET", url, headers, DEFAULT_TIMEOUT).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// The status of `METHOD url` (no extra headers) within 5 s; panics (naming the request) if
/// there is no well-formed response.
pub fn http_status(method: &str, url: &str) -> u16 {
    http_request(method, url, &[], Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
        .status()
}

/// A response whose body is read as it arrives (a live HTTP-FLV stream).
pub struct HttpStream {
    pub head: Head,
    body: Body<BufReader<DeadlineStream>>,
}

impl HttpStream {
    /// Sends `GET url` and reads the head within `connect_timeout`; the body then has until
    /// `deadline` (after which reads fail with `TimedOut`).
    pub fn open(
        url: &str,
        headers: &[(&str, &str)],
        connect_timeout: Duration,
        deadline: Instant,
    ) -> io::Result<HttpStream> {
        let parsed = Url::parse(url)?;
        let mut stream = DeadlineStream::connect(parsed.addr()?, connect_timeout)?;
        stream.write_all(&request_bytes("GET", &parsed, headers, &[]))?;
        let mut reader = BufReader::with_capacity(64 * 1024, stream);
        let head = read_head(&mut reader)?;
        reader.get_mut().set_deadline(deadline);
        let body = Body::new(reader, &head, "GET")?;
        Ok(HttpStream { head, body })
    }
    pub fn is_chunked(&self) -> bool {
        matches!(self.body, Body::Chunked(_))
    }
}

impl Read for HttpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
}

/// What a server did with a (possibly hostile) request, see [`exchange`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// A response head with this status.
    Status(u16),
    /// Closed (EOF or reset) without a byte of response.
    Closed,
    /// Sent something that is not an HTTP response head (the first bytes, lossy).
    Garbage(String),
    /// Neither answered nor closed before the deadline.
    StillOpen,
}

/// Connects to `addr`, writes `bytes` (a write error — the server hung up on us — is not a
/// failure) and reports the first thing the server does within `limit`.
pub fn exchange(addr: SocketAddr, bytes: &[u8], limit: Duration) -> io::Result<Reaction> {
    let mut stream = DeadlineStream::connect(addr, Duration::from_secs(3))?;
    stream.set_deadline(Instant::now() + limit);
    let _ = stream.write_all(bytes);
    Ok(reaction(&mut stream))
}

/// The first thing the server does on `stream`: a response head, a close, other bytes, or
/// nothing until the stream's deadline.
pub fn reaction(stream: &mut DeadlineStream) -> Reaction {
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(&got, b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&got[..end]).into_owned();
            return match parse_head(&text) {
                Ok(head) => Reaction::Status(head.status),
                Err(_) => Reaction::Garbage(lossy_prefix(&got)),
            };
        }
        if got.len() >= 12 && !got.starts_with(b"HTTP/1.") {
            return Reaction::Garbage(lossy_prefix(&got));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                return if got.is_empty() {
                    Reaction::StillOpen
                } else {
                    Reaction::Garbage(lossy_prefix(&got))
                };
            }
            Err(_) => break, // reset
        }
    }
    if got.is_empty() {
        Reaction::Closed
    } else {
        Reaction::Garbage(lossy_prefix(&got))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn lossy_prefix(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned()
}
