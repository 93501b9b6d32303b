//! Players: RTMP (through the sans-IO [`ClientSession`](crate::rtmp::client::ClientSession))
//! and HTTP-FLV (a plain HTTP/1.0 GET, so the body is the bare FLV stream, parsed with
//! [`FlvReader`]). Each counts what it receives into its [`PlayerStats`]; slow players read
//! through a [`TokenBucket`].

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::hist::Histogram;
use super::net::{Conn, connect, open_rtmp, resolve};
use super::probe::Probe;
use super::stats::PlayerStats;
use crate::flv::reader::FlvReader;
use crate::flv::tag::{TAG_AUDIO, TAG_VIDEO};
use crate::rtmp::client::{ClientEvent, Role, RtmpUrl};
use crate::rtmp::message::msg_type;
use crate::server::readiness::Readiness;

/// Largest single read.
const READ: usize = 32 * 1024;
/// A slow player waits until it may read at least this much.
const MIN_READ: usize = 4096;

/// What all players share (one thread: plain `RefCell`s).
pub struct Shared {
    pub probe: Rc<RefCell<Probe>>,
    pub latency: RefCell<Histogram>,
    /// Where players wait for data. Run with [`Readiness::run_every`] (`--tick-ms`), the
    /// server under test sends to a ready socket without interrupting the load generator (a
    /// real player on another machine costs it nothing of the kind); measured times then gain
    /// up to a tick.
    pub ready: Rc<Readiness>,
}

impl Shared {
    pub fn new() -> Result<Shared, String> {
        Ok(Shared {
            probe: Rc::default(),
            latency: RefCell::default(),
            ready: Readiness::new().map_err(|e| format!("epoll: {e}"))?,
        })
    }
}

/// How one player behaves.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Which publisher's stream it plays (for probe keys).
    pub publisher: usize,
    /// Records latency samples.
    pub probe: bool,
    /// Slow players: read at most this many bytes per second.
    pub rate_limit: Option<f64>,
}

/// Read budget of a slow player: refills at `rate` bytes/s up to a quarter second's worth.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, now: Instant) -> Self {
        TokenBucket {
            rate,
            tokens: 0.0,
            last: now,
        }
    }

    fn cap(&self) -> f64 {
        (self.rate / 4.0).max(MIN_READ as f64)
    }

    /// How much may be read now, or how long to wait first.
    pub fn allow(&mut self, now: Instant) -> Result<usize, Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.cap());
        if self.tokens >= MIN_READ as f64 {
            Ok((self.tokens as usize).min(READ))
        } else {
            Err(Duration::from_secs_f64(
                (MIN_READ as f64 - self.tokens) / self.rate,
            ))
        }
    }

    pub fn spend(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
}

/// Reads up to [`READ`] bytes (or what the bucket allows) into `buf`.
async fn read(
    sock: &Conn,
    buf: &mut BytesMut,
    bucket: &mut Option<TokenBucket>,
) -> Result<usize, String> {
    let max = match bucket {
        None => READ,
        Some(b) => loop {
            match b.allow(Instant::now()) {
                Ok(n) => break n,
                Err(wait) => glommio::timer::sleep(wait).await,
            }
        },
    };
    let n = sock
        .read(buf, max)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if let Some(b) = bucket {
        b.spend(n);
    }
    match n {
        0 => Err("server closed the connection".into()),
        n => Ok(n),
    }
}

fn on_media(
    stats: &mut PlayerStats,
    shared: &Shared,
    spec: &Spec,
    tag_type: u8,
    ts: u32,
    body: &[u8],
) {
    match tag_type {
        TAG_VIDEO => {
            let probe = shared.probe.borrow();
            let mut latency = shared.latency.borrow_mut();
            let hist = spec.probe.then_some(&mut *latency);
            stats.on_video(Instant::now(), ts, body, spec.publisher, &probe, hist);
        }
        TAG_AUDIO => stats.audio_frames += 1,
        _ => {}
    }
}

/// Plays over RTMP until an error (recorded in `stats`); the caller bounds it in time.
pub async fn rtmp(url: RtmpUrl, spec: Spec, shared: Rc<Shared>, stats: Rc<RefCell<PlayerStats>>) {
    stats.borrow_mut().connect_at = Some(Instant::now());
    let opened = match open_rtmp(url, Role::Play, 4096, &shared.ready).await {
        Ok(opened) => opened,
        Err(e) => {
            stats.borrow_mut().failed = Some(e);
            return;
        }
    };
    stats.borrow_mut().playing = true;
    let (sock, mut session, mut input) = (opened.sock, opened.session, opened.input);
    let mut bucket = spec.rate_limit.map(|r| TokenBucket::new(r, Instant::now()));
    let mut out = BytesMut::new();
    let mut events = opened.pending;
    let result: Result<(), String> = async {
        loop {
            for event in events.drain(..) {
                match event {
                    ClientEvent::Media(m)
                        if m.type_id == msg_type::VIDEO || m.type_id == msg_type::AUDIO =>
                    {
                        let mut stats = stats.borrow_mut();
                        on_media(
                            &mut stats,
                            &shared,
                            &spec,
                            m.type_id,
                            m.timestamp,
                            &m.payload,
                        );
                    }
                    ClientEvent::Closed(why) => return Err(why),
                    _ => {}
                }
            }
            if !out.is_empty() {
                sock.write_all(&out)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                out.clear();
            }
            let n = read(&sock, &mut input, &mut bucket).await?;
            stats.borrow_mut().bytes += n as u64;
            events = session.feed(&mut input, &mut out)?;
        }
    }
    .await;
    if let Err(e) = result {
        stats.borrow_mut().disconnected = Some(e);
    }
}

/// `http://host[:port]/path` → (host, port, path).
pub fn parse_http_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: expected http://HOST[:PORT]/PATH"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| format!("{url:?}: bad port"))?),
        None => (authority, 80),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok((host.to_string(), port, path.to_string()))
}

/// Plays over HTTP-FLV until an error (recorded in `stats`); the caller bounds it in time.
pub async fn http_flv(
    url: String,
    spec: Spec,
    shared: Rc<Shared>,
    stats: Rc<RefCell<PlayerStats>>,
) {
    stats.borrow_mut().connect_at = Some(Instant::now());
    let mut buf = BytesMut::new();
    let setup = async {
        let (host, port, path) = parse_http_url(&url)?;
        let sock = connect(resolve(&host, port)?, &shared.ready)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n");
        sock.write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = buf.split_to(end + 4);
                let status = head[..].split(|&b| b == b' ').nth(1).unwrap_or_default();
                if status != b"200" {
                    let line = head[..].split(|&b| b == b'\r').next().unwrap_or_default();
                    return Err(format!("HTTP {}", String::from_utf8_lossy(line)));
                }
                return Ok(sock);
            }
            if buf.len() > 8192 {
                return Err("response head over 8 KiB".into());
            }
            read(&sock, &mut buf, &mut None).await?;
        }
    };
    let sock = match setup.await {
        Ok(opened) => opened,
        Err(e) => {
            stats.borrow_mut().failed = Some(e);
            return;
        }
    };
    stats.borrow_mut().playing = true;
    let mut bucket = spec.rate_limit.map(|r| TokenBucket::new(r, Instant::now()));
    let mut flv = FlvReader::new();
    let result: Result<(), String> = async {
        loop {
            flv.push(&buf);
            buf.clear();
            while let Some(tag) = flv.next_tag().map_err(|e| e.to_string())? {
                let mut stats = stats.borrow_mut();
                on_media(
                    &mut stats,
                    &shared,
                    &spec,
                    tag.tag_type,
                    tag.timestamp,
                    &tag.body,
                );
            }
            let n = read(&sock, &mut buf, &mut bucket).await?;
            stats.borrow_mut().bytes += n as u64;
        }
    }
    .await;
    if let Err(e) = result {
        stats.borrow_mut().disconnected = Some(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_paces_reads() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(16_384.0, t0);
        assert_eq!(b.allow(t0), Err(Duration::from_millis(250)));
        let n = b.allow(t0 + Duration::from_millis(250)).unwrap();
        assert_eq!(n, 4096);
        b.spend(n);
        // Long idle: capped at a quarter second's worth (here the 4 KiB minimum).
        assert_eq!(b.allow(t0 + Duration::from_secs(10)), Ok(4096));
    }

    #[test]
    fn http_urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:7001/live/a.flv").unwrap(),
            ("127.0.0.1".into(), 7001, "/live/a.flv".into())
        );
        assert_eq!(
            parse_http_url("http://h").unwrap(),
            ("h".into(), 80, "/".into())
        );
        assert!(parse_http_url("https://h/x").is_err());
        assert!(parse_http_url("http://h:x/").is_err());
    }
}
