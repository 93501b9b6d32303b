//! `rtmp://` and `rtmps://` URLs as relays use them: host, port, app and stream name.

use std::net::Ipv6Addr;

/// A parsed `rtmp[s]://host[:port]/app/stream[?query]` URL.
///
/// The stream is the last path segment (its query string kept, as servers read tokens from
/// it); the app is everything between the host and the stream, so `rtmp://h/a/b/s` has app
/// `a/b`. `tc_url` is what `connect` announces: scheme, host, port if given, app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    pub tls: bool,
    /// Host name or IP address; IPv6 without brackets.
    pub host: String,
    pub port: u16,
    pub app: String,
    /// Stream name with its `?query`, if any.
    pub stream: String,
    pub tc_url: String,
}

impl RtmpUrl {
    pub fn parse(url: &str) -> Result<RtmpUrl, String> {
        let bad = |why: &str| Err(format!("invalid RTMP URL {url:?}: {why}"));
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("contains whitespace or control characters");
        }
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest)) => (s.to_ascii_lowercase(), rest),
            None => return bad("expected rtmp:// or rtmps://"),
        };
        let (tls, default_port) = match scheme.as_str() {
            "rtmp" => (false, 1935),
            "rtmps" => (true, 443),
            _ => return bad(&format!("scheme {scheme:?} is not rtmp or rtmps")),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return bad("user credentials in the URL are not supported");
        }
        let (host, port_text, host_in_url) = if let Some(inner) = authority.strip_prefix('[') {
            let Some((host, after)) = inner.split_once(']') else {
                return bad("IPv6 address without a closing ']'");
            };
            if host.parse::<Ipv6Addr>().is_err() {
                return bad(&format!("{host:?} is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return bad("unexpected characters after ']'"),
                },
            };
            (host, port, format!("[{host}]"))
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            if host.contains(':') || port.is_some_and(|p| p.contains(':')) {
                return bad("an IPv6 address must be in brackets, e.g. rtmp://[::1]/app/stream");
            }
            (host, port, host.to_string())
        };
        if host.is_empty() {
            return bad("no host");
        }
        let port = match port_text {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port != 0 && p.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return bad(&format!("port {p:?} is not a number in 1..=65535")),
            },
        };
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let Some((app, name)) = path.rsplit_once('/') else {
            return bad(if path.is_empty() {
                "no app and stream name (expected /app/stream)"
            } else {
                "no stream name after the app (expected /app/stream)"
            });
        };
        if app.is_empty() || app.split('/').any(str::is_empty) {
            return bad("empty app name");
        }
        if name.is_empty() {
            return bad("empty stream name");
        }
        let stream = match query {
            Some(q) => format!("{name}?{q}"),
            None => name.to_string(),
        };
        let port_part = port_text.map(|p| format!(":{p}")).unwrap_or_default();
        let tc_url = format!("{scheme}://{host_in_url}{port_part}/{app}");
        Ok(RtmpUrl {
            tls,
            host: host.to_string(),
            port,
            app: app.to_string(),
            stream,
            tc_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> RtmpUrl {
        RtmpUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn parses_host_port_app_stream() {
        let u = ok("rtmp://example.com/live/cam");
        assert_eq!(
            u,
            RtmpUrl {
                tls: false,
                host: "example.com".into(),
                port: 1935,
                app: "live".into(),
                stream: "cam".into(),
                tc_url: "rtmp://example.com/live".into(),
            }
        );
        let u = ok("rtmps://example.com:8443/live/cam?token=a&b=c");
        assert!(u.tls);
        assert_eq!((u.port, u.app.as_str()), (8443, "live"));
        assert_eq!(u.stream, "cam?token=a&b=c");
        assert_eq!(u.tc_url, "rtmps://example.com:8443/live");
        assert_eq!(ok("rtmps://h/a/s").port, 443);
        assert_eq!(ok("RTMP://h/a/s").tc_url, "rtmp://h/a");
        let u = ok("rtmp://h/a/b/s");
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("a/b", "s"));
        let u = ok("rtmp://[::1]:1936/live/s");
        assert_eq!((u.host.as_str(), u.port), ("::1", 1936));
        assert_eq!(u.tc_url, "rtmp://[::1]:1936/live");
        assert_eq!(ok("rtmp://[fe80::1]/live/s").port, 1935);
        assert_eq!(ok("rtmp://127.0.0.1:19350/live/s").host, "127.0.0.1");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("http://h/a/s", "scheme"),
            ("h/a/s", "rtmp://"),
            ("rtmp:///a/s", "no host"),
            ("rtmp://h:0/a/s", "port"),
            ("rtmp://h:70000/a/s", "port"),
            ("rtmp://h:+5/a/s", "port"),
            ("rtmp://h:/a/s", "port"),
            ("rtmp://h", "no app and stream"),
            ("rtmp://h/live", "no stream name"),
            ("rtmp://h/live/", "empty stream name"),
            ("rtmp://h//s", "empty app"),
            ("rtmp://[::1/a/s", "closing"),
            ("rtmp://[zz]/a/s", "IPv6"),
            ("rtmp://[::1]x/a/s", "after ']'"),
            ("rtmp://::1/a/s", "brackets"),
            ("rtmp://u:p@h/a/s", "credentials"),
            ("rtmp://h/a/s x", "whitespace"),
        ];
        for (url, needle) in cases {
            let err = RtmpUrl::parse(url).expect_err(url);
            assert!(err.contains(needle), "{url}: {err:?} lacks {needle:?}");
        }
    }
}
