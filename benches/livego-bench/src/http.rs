//! The little HTTP client the generator needs (HTTP-FLV players, the HLS probe): `http://` URLs,
//! GET requests and response heads. livego's own `http` module is the server's side (it parses
//! requests and writes responses), so the generator parses response heads with `httparse`, the
//! parser that module uses for requests. Sans-IO: the drivers read and send.

/// Response heads larger than this are refused.
pub const MAX_HEAD: usize = 8 * 1024;

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// The path with its query, `/` when the URL has none.
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: expected http://HOST[:PORT]/PATH"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("{url:?}: bad port"))?),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let path = if path.is_empty() { "/" } else { path };
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// A GET request for this URL. HTTP/1.0 for an endless HTTP-FLV stream (so the body is
    /// the bare FLV stream, not chunked); HTTP/1.1 to poll a playlist over one connection.
    pub fn get(&self, version: &str) -> Vec<u8> {
        let HttpUrl { host, port, path } = self;
        format!("GET {path} HTTP/{version}\r\nHost: {host}:{port}\r\n\r\n").into_bytes()
    }
}

/// What a response head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// The status line's reason phrase, for error messages.
    pub reason: String,
    /// Its length in bytes: the body starts there.
    pub len: usize,
    pub content_length: Option<usize>,
}

/// The head of the response at the start of `buf`, or None while it is incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(format!("response head over {MAX_HEAD} bytes"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad HTTP response: {e}")),
    };
    let content_length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
    Ok(Some(Head {
        status: response.code.unwrap_or(0),
        reason: response.reason.unwrap_or_default().to_string(),
        len,
        content_length,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = HttpUrl::parse("http://127.0.0.1:7001/live/a.flv").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("127.0.0.1", 7001, "/live/a.flv")
        );
        assert_eq!(
            url.get("1.0"),
            b"GET /live/a.flv HTTP/1.0\r\nHost: 127.0.0.1:7001\r\n\r\n"
        );
        let bare = HttpUrl::parse("http://h").unwrap();
        assert_eq!((bare.port, bare.path.as_str()), (80, "/"));
        assert!(HttpUrl::parse("https://h/x").is_err());
        assert!(HttpUrl::parse("http://h:x/").is_err());
        assert!(HttpUrl::parse("http:///x").is_err());
    }

    #[test]
    fn heads_need_all_their_bytes() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let head = parse_head(ok).unwrap().unwrap();
        assert_eq!(
            (head.status, head.len, head.content_length),
            (200, 38, Some(5))
        );
        assert_eq!(parse_head(&ok[..20]).unwrap(), None);
        let stream = parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((stream.status, stream.reason.as_str()), (404, "Not Found"));
        assert_eq!(stream.content_length, None);
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
        let endless = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert!(parse_head(&endless).is_err());
    }
}
