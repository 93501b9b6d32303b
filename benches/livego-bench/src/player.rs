//! Players: RTMP (through livego's sans-IO [`ClientSession`](livego::rtmp::client::ClientSession))
//! and HTTP-FLV (a plain HTTP/1.0 GET, so the body is the bare FLV stream, parsed with
//! [`FlvReader`]). Each counts what it receives into its [`PlayerStats`]; slow players read
//! through a [`TokenBucket`].

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use livego::flv::reader::FlvReader;
use livego::flv::tag::{TAG_AUDIO, TAG_VIDEO};
use livego::rtmp::client::{ClientEvent, Role, RtmpUrl};
use livego::rtmp::message::msg_type;

use crate::hist::Histogram;
use crate::http::{HttpUrl, parse_head};
use crate::net::{connect, open_rtmp, resolve};
use crate::probe::Probe;
use crate::stats::PlayerStats;
use livego::net::conn::Conn;
use livego::net::readiness::Readiness;

/// Largest single read.
const READ: usize = 32 * 1024;
/// A slow player waits until it may read at least this much.
const MIN_READ: usize = 4096;

/// What all players share (one thread: plain `RefCell`s).
pub struct Shared {
    pub probe: Rc<RefCell<Probe>>,
    /// Probe players' video latency samples.
    pub latency: RefCell<Histogram>,
    /// Probe players' audio latency samples.
    pub audio_latency: RefCell<Histogram>,
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
            audio_latency: RefCell::default(),
            ready: Readiness::new().map_err(|e| format!("epoll: {e}"))?,
        })
    }
}

/// How one player behaves.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Which publisher's stream it plays (for probe keys).
    pub publisher: usize,
    /// Records latency samples (video and audio).
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
    let probe = shared.probe.borrow();
    let now = Instant::now();
    match tag_type {
        TAG_VIDEO => {
            let mut latency = shared.latency.borrow_mut();
            let hist = spec.probe.then_some(&mut *latency);
            stats.on_video(now, ts, body, spec.publisher, &probe, hist);
        }
        TAG_AUDIO => {
            let mut latency = shared.audio_latency.borrow_mut();
            let hist = spec.probe.then_some(&mut *latency);
            stats.on_audio(now, body, spec.publisher, &probe, hist);
        }
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
    stats.borrow_mut().playing_since = Some(Instant::now());
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
            events = session
                .feed(&mut input, &mut out)
                .map_err(|e| e.to_string())?;
        }
    }
    .await;
    if let Err(e) = result {
        stats.borrow_mut().disconnected = Some(e);
    }
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
        let url = HttpUrl::parse(&url)?;
        let sock = connect(resolve(&url.host, url.port)?, &shared.ready)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        sock.write_all(&url.get("1.0"))
            .await
            .map_err(|e| format!("write: {e}"))?;
        loop {
            if let Some(head) = parse_head(&buf)? {
                if head.status != 200 {
                    return Err(format!("HTTP {} {}", head.status, head.reason));
                }
                buf.advance(head.len);
                return Ok(sock);
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
    stats.borrow_mut().playing_since = Some(Instant::now());
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
}
