//! HLS for the tests: a media-playlist parser that keeps every syntax problem it meets
//! (RFC 8216 §4), the project's stricter playlist contract on top of it (README "Behaviour":
//! version 3, `#EXTINF:x.xxx,`, TARGETDURATION never below an EXTINF, relative
//! `.ts` URIs), a poller that waits for a live playlist to fill, and a segment judge (TS
//! structure, then ffprobe and a full decode).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::http::{Response, http_request, parse_head};
use super::media::{MediaReport, analyze};
use super::{poll_until, run, ts, unique_suffix};

/// One media segment of a playlist.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Media sequence number (MEDIA-SEQUENCE + index).
    pub seq: u64,
    pub duration: f64,
    /// The EXTINF duration exactly as written.
    pub duration_text: String,
    pub uri: String,
    /// An `#EXT-X-DISCONTINUITY` stands before it.
    pub discontinuity: bool,
}

/// A media playlist as written, with the syntax problems met while parsing.
#[derive(Clone, Debug, Default)]
pub struct Playlist {
    pub text: String,
    pub version: Option<u64>,
    pub target_duration: Option<u64>,
    pub media_sequence: Option<u64>,
    pub discontinuity_sequence: Option<u64>,
    pub endlist: bool,
    pub segments: Vec<Segment>,
    /// RFC 8216 violations found by [`Playlist::parse`].
    pub syntax: Vec<String>,
}

fn parse_int(tag: &str, value: &str, syntax: &mut Vec<String>) -> Option<u64> {
    match value.trim().parse::<u64>() {
        Ok(v) => Some(v),
        Err(_) => {
            syntax.push(format!("{tag} has a non-integer value {value:?}"));
            None
        }
    }
}

impl Playlist {
    /// Parses any text: what is not a well-formed media playlist is noted in `syntax`.
    pub fn parse(text: &str) -> Playlist {
        let mut p = Playlist {
            text: text.to_string(),
            ..Playlist::default()
        };
        let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
        if lines.next() != Some("#EXTM3U") {
            p.syntax
                .push("the first line is not #EXTM3U (RFC 8216 §4.3.1.1)".into());
        }
        let mut pending: Option<(f64, String)> = None;
        let mut discontinuity = false;
        let once = |tag: &str, seen: bool, syntax: &mut Vec<String>| {
            if seen {
                syntax.push(format!("{tag} appears more than once"));
            }
        };
        for (n, line) in text.lines().map(|l| l.trim_end_matches('\r')).enumerate() {
            if n == 0 || line.trim().is_empty() {
                continue;
            }
            let before_segments = p.segments.is_empty() && pending.is_none();
            if let Some(rest) = line.strip_prefix("#EXT-X-VERSION:") {
                once("#EXT-X-VERSION", p.version.is_some(), &mut p.syntax);
                p.version = parse_int("#EXT-X-VERSION", rest, &mut p.syntax);
            } else if let Some(rest) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                once(
                    "#EXT-X-TARGETDURATION",
                    p.target_duration.is_some(),
                    &mut p.syntax,
                );
                p.target_duration = parse_int("#EXT-X-TARGETDURATION", rest, &mut p.syntax);
            } else if let Some(rest) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                once(
                    "#EXT-X-MEDIA-SEQUENCE",
                    p.media_sequence.is_some(),
                    &mut p.syntax,
                );
                if !before_segments {
                    p.syntax
                        .push("#EXT-X-MEDIA-SEQUENCE after the first segment (§4.3.3.2)".into());
                }
                p.media_sequence = parse_int("#EXT-X-MEDIA-SEQUENCE", rest, &mut p.syntax);
            } else if let Some(rest) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
                p.discontinuity_sequence =
                    parse_int("#EXT-X-DISCONTINUITY-SEQUENCE", rest, &mut p.syntax);
            } else if line == "#EXT-X-DISCONTINUITY" {
                discontinuity = true;
            } else if line == "#EXT-X-ENDLIST" {
                p.endlist = true;
            } else if let Some(rest) = line.strip_prefix("#EXTINF:") {
                if pending.is_some() {
                    p.syntax
                        .push(format!("line {}: #EXTINF without a URI", n + 1));
                }
                let value = rest.split(',').next().unwrap_or("").trim();
                if !rest.contains(',') {
                    p.syntax
                        .push(format!("line {}: #EXTINF without a comma: {line:?}", n + 1));
                }
                match value.parse::<f64>() {
                    Ok(d) if d.is_finite() && d >= 0.0 => pending = Some((d, value.to_string())),
                    _ => {
                        p.syntax
                            .push(format!("line {}: bad #EXTINF duration {value:?}", n + 1));
                        pending = Some((f64::NAN, value.to_string()));
                    }
                }
            } else if line.starts_with('#') {
                // other tags and comments are allowed
            } else {
                let Some((duration, duration_text)) = pending.take() else {
                    p.syntax
                        .push(format!("line {}: URI {line:?} without #EXTINF", n + 1));
                    continue;
                };
                if p.endlist {
                    p.syntax.push("a segment after #EXT-X-ENDLIST".into());
                }
                p.segments.push(Segment {
                    seq: 0,
                    duration,
                    duration_text,
                    uri: line.trim().to_string(),
                    discontinuity: std::mem::take(&mut discontinuity),
                });
            }
        }
        if pending.is_some() {
            p.syntax.push("the last #EXTINF has no URI".into());
        }
        if discontinuity {
            p.syntax
                .push("#EXT-X-DISCONTINUITY not followed by a segment".into());
        }
        let first = p.media_sequence.unwrap_or(0);
        for (i, s) in p.segments.iter_mut().enumerate() {
            s.seq = first + i as u64;
        }
        p
    }

    /// Everything that breaks this project's playlist contract (syntax problems included).
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.syntax.clone();
        if self.version != Some(3) {
            p.push(format!("#EXT-X-VERSION is {:?}, want 3", self.version));
        }
        if self.media_sequence.is_none() {
            p.push("no #EXT-X-MEDIA-SEQUENCE".into());
        }
        match self.target_duration {
            None => p.push("no #EXT-X-TARGETDURATION".into()),
            Some(target) => {
                for s in &self.segments {
                    if s.duration > target as f64 + 1e-9 {
                        p.push(format!(
                            "segment {} lasts {} s, more than #EXT-X-TARGETDURATION {target}",
                            s.uri, s.duration_text
                        ));
                    }
                }
            }
        }
        for s in &self.segments {
            let three_decimals = s.duration_text.split_once('.').is_some_and(|(i, f)| {
                !i.is_empty()
                    && i.bytes().all(|b| b.is_ascii_digit())
                    && f.len() == 3
                    && f.bytes().all(|b| b.is_ascii_digit())
            });
            if !three_decimals {
                p.push(format!(
                    "#EXTINF:{}, is not written with 3 decimals (x.xxx)",
                    s.duration_text
                ));
            }
            if s.uri.contains("://") || s.uri.starts_with('/') {
                p.push(format!("segment URI {:?} is not relative", s.uri));
            }
            if !s.uri.split('?').next().unwrap_or("").ends_with(".ts") {
                p.push(format!("segment URI {:?} does not end in .ts", s.uri));
            }
        }
        for (i, a) in self.segments.iter().enumerate() {
            if self.segments[..i].iter().any(|b| b.uri == a.uri) {
                p.push(format!("segment URI {:?} listed twice", a.uri));
            }
        }
        p
    }

    pub fn durations(&self) -> Vec<f64> {
        self.segments.iter().map(|s| s.duration).collect()
    }

    pub fn discontinuities(&self) -> usize {
        self.segments.iter().filter(|s| s.discontinuity).count()
    }
}

/// `uri` resolved against `base` (RFC 3986 §5.2 for the references playlists use: absolute
/// URLs, absolute paths and relative paths with `./` and `../` segments).
pub fn resolve(base: &str, uri: &str) -> String {
    if uri.contains("://") {
        return uri.to_string();
    }
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let origin = &base[..path_start];
    let base_path = base[path_start..].split(['?', '#']).next().unwrap_or("");
    let joined = if uri.starts_with('/') {
        uri.to_string()
    } else {
        let dir = match base_path.rfind('/') {
            Some(i) => &base_path[..=i],
            None => "/",
        };
        format!("{dir}{uri}")
    };
    let (path, query) = match joined.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (joined, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match *part {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            p => out.push(p),
        }
    }
    let mut url = format!("{origin}/{}", out.join("/"));
    if let Some(q) = query {
        url.push('?');
        url.push_str(&q);
    }
    url
}

/// One `GET`/`HEAD` within 5 s; `Err` with the reason if there is no well-formed response.
pub fn fetch(method: &str, url: &str) -> Result<Response, String> {
    http_request(method, url, &[], Duration::from_secs(5))
        .map_err(|e| format!("{method} {url}: {e}"))
}

/// Polls `url` until it is a 200 playlist with at least `min_segments` segments; panics with
/// the last answer after `timeout`.
pub fn wait_playlist(url: &str, min_segments: usize, timeout: Duration) -> (Response, Playlist) {
    let mut last = String::new();
    poll_until(timeout, || {
        last = match fetch("GET", url) {
            Ok(resp) if resp.status() == 200 => {
                let playlist = Playlist::parse(&resp.text());
                if playlist.segments.len() >= min_segments {
                    return Some((resp, playlist));
                }
                format!(
                    "200 with {} segment(s):\n{}",
                    playlist.segments.len(),
                    resp.text()
                )
            }
            Ok(resp) => format!("{} {:?}", resp.status(), resp.text()),
            Err(e) => e,
        };
        None
    })
    .unwrap_or_else(|| {
        panic!("{url} has no {min_segments} segments after {timeout:?}; last answer: {last}")
    })
}

/// What a segment is, judged from its bytes (see [`ts::check`]) and by ffprobe and a full
/// decode of a copy written to `path`.
pub struct SegmentCheck {
    pub ts: ts::TsReport,
    pub media: MediaReport,
}

impl SegmentCheck {
    pub fn new(bytes: &[u8], path: &Path) -> SegmentCheck {
        std::fs::write(path, bytes).expect("write segment copy");
        SegmentCheck {
            ts: ts::check(bytes),
            media: analyze(path),
        }
    }

    /// The media's duration as the segment's timestamps tell it (video if any, else audio).
    pub fn media_duration(&self) -> Option<f64> {
        self.media
            .video
            .as_ref()
            .or(self.media.audio.as_ref())
            .map(|s| s.duration_s)
    }

    /// Everything wrong with a segment that should hold `video`/`audio` (`None`: no such
    /// stream) and start with a keyframe: TS structure, codecs, keyframe first (ffprobe),
    /// lost frames, decode errors.
    pub fn problems(&self, video: Option<&str>, audio: Option<&str>) -> Vec<String> {
        let mut p = self.ts.problems_for(video, audio);
        p.extend(self.media.problems_want(video, audio, 0.0));
        p
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "  TS: {}", self.ts.summary());
        s.push_str(&self.media.summary());
        s
    }
}

/// A self-signed certificate for `127.0.0.1` (CN and subjectAltName IP) and its key, made by
/// the openssl CLI in `dir`: `(cert.pem, key.pem)`.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        // An end-entity certificate, so that clients may also trust it as its own root.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"]);
    let ran = run(&mut cmd, Duration::from_secs(60));
    assert!(ran.success(), "openssl req: {}", ran.stderr);
    (cert, key)
}

/// `curl -sS --http1.1 --max-time 5 [--cacert CA] -X METHOD URL`, the response read back from
/// curl's header dump and output file; `Err` with curl's exit code and message if it fails.
pub fn curl(method: &str, url: &str, cacert: Option<&Path>) -> Result<Response, String> {
    let tmp = std::env::temp_dir();
    let tag = unique_suffix();
    let (head_file, body_file) = (
        tmp.join(format!("livego-curl-{tag}.head")),
        tmp.join(format!("livego-curl-{tag}.body")),
    );
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--http1.1", "--max-time", "5"]);
    if method == "HEAD" {
        cmd.arg("-I");
    } else {
        cmd.args(["-X", method]);
    }
    if let Some(ca) = cacert {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.arg("-D")
        .arg(&head_file)
        .arg("-o")
        .arg(&body_file)
        .arg(url);
    let ran = run(&mut cmd, Duration::from_secs(10));
    let head = std::fs::read_to_string(&head_file).unwrap_or_default();
    // with -I curl writes the head to the output file too: a HEAD response has no body
    let body = match method {
        "HEAD" => Vec::new(),
        _ => std::fs::read(&body_file).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(&head_file);
    let _ = std::fs::remove_file(&body_file);
    if !ran.success() {
        return Err(format!(
            "curl {method} {url}: {:?} {}",
            ran.status.and_then(|s| s.code()),
            ran.stderr.trim()
        ));
    }
    let head = parse_head(head.trim_end()).map_err(|e| format!("curl {url}: {e}: {head:?}"))?;
    Ok(Response { head, body })
}
