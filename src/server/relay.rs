//! Relays through the control API (livego-compatible): `/control/push` sends a local stream to
//! another RTMP server, `/control/pull` plays a remote stream and publishes it here as a local
//! one (players, HLS and the archive see it like any stream). Each relay is a task on the core
//! that got the API request, driving the sans-IO [`ClientSession`].
//!
//! `server[].static_push` pushes every stream of an app while it is live. A relay whose
//! connection fails or drops is retried after 1, 2, 4 … 30 s (1 s again after a connection
//! that went live): a push, static or not, while its local stream is live; a pull until it is
//! stopped (also when the remote stream ends: it may come back).
//!
//! rtmps:// targets get a rustls client session (SNI = the URL's host); with
//! `enable_tls_verify` (the default) the certificate must chain to the system CA bundle and
//! match the host, else any certificate is accepted.
//!
//! `oper=stop` (from any core) raises the relay's stop flag, which its task sees at the next
//! frame it handles (a live relay handles frames many times a second), or within 100 ms while
//! it waits to retry. Every relay is listed in the stats registry (`/stat/livestat` `relays`)
//! with its state while its task runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::future;
use glommio::net::TcpStream;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::ClientConfig;

use super::conn::{BIG_READ, Conn, Transport};
use super::core::CoreContext;
use super::error::ConnError;
use super::publisher::Publisher;
use super::tls::{self, TlsConn};
use crate::api::routes::{Direction, RelayCommand, RelayOutcome};
use crate::rtmp::client::{ClientEvent, ClientSession, Role, setup_outcome};
use crate::rtmp::handshake::RANDOM_LEN;
use crate::rtmp::url::RtmpUrl;
use crate::stream::StreamKey;
use crate::stream::ingest::{self, Skip};
use crate::stream::queue::{Delivery, Outbox};
use crate::stream::registry::SessionId;
use crate::stream::stats::{RelayKind, RelayState, RelayStats};

/// How long connecting and reaching Publishing/Playing may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between static push attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

type RelayId = (Direction, StreamKey, String);

/// Running relays, over all cores.
#[derive(Default)]
pub struct Relays {
    running: Mutex<HashMap<RelayId, Arc<AtomicBool>>>,
    /// The rtmps:// client configuration, made (CA bundle read) at the first rtmps relay.
    client_tls: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl Relays {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RelayId, Arc<AtomicBool>>> {
        // Entries are inserted and removed whole: a poisoned lock still holds a valid map.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Made on the executor's blocking thread: reading the system's CA bundle is file I/O.
    async fn client_tls(&self, verify: bool) -> Result<Arc<ClientConfig>, String> {
        if let Some(made) = self.client_tls.get() {
            return made.clone();
        }
        let made = glommio::executor()
            .spawn_blocking(move || tls::client_config(verify))
            .await;
        self.client_tls.get_or_init(|| made).clone()
    }
}

/// Start or stop a relay of `/control/push` or `/control/pull` (on this core).
pub fn command(ctx: &Rc<CoreContext>, command: RelayCommand) -> RelayOutcome {
    let id = (command.direction, command.key, command.url);
    let relays = &ctx.shared.relays;
    if !command.start {
        let Some(stop) = relays.lock().remove(&id) else {
            return RelayOutcome::NotRunning;
        };
        stop.store(true, Ordering::Relaxed);
        return RelayOutcome::Stopped;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut running = relays.lock();
    if running.contains_key(&id) {
        return RelayOutcome::AlreadyRunning;
    }
    let limit = ctx.shared.config.max_relays;
    if running.len() >= limit {
        return RelayOutcome::Full { limit };
    }
    running.insert(id.clone(), stop.clone());
    drop(running);
    spawn(ctx.clone(), id, command.remote, stop);
    RelayOutcome::Started
}

/// Resolves when `stop` is set (checked every 100 ms: a stop may come from any core).
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
}

fn spawn(ctx: Rc<CoreContext>, id: RelayId, remote: RtmpUrl, stop: Arc<AtomicBool>) {
    glommio::spawn_local(async move {
        let (direction, key, url) = &id;
        let kind = match direction {
            Direction::Push => RelayKind::Push,
            Direction::Pull => RelayKind::Pull,
        };
        let listed = ctx
            .shared
            .stats
            .register_relay(kind, key.clone(), url.clone());
        let shutdown = ctx.shutdown.clone();
        let listed = &listed.stats;
        let what = format!("relay {direction} {url} ({key})");
        let run = async {
            match direction {
                Direction::Push => {
                    let live = || ctx.hub.registry().owner(key).is_some();
                    let attempt = || push(&ctx, key, remote.clone(), &stop, listed);
                    retrying(listed, &stop, live, &what, attempt).await
                }
                Direction::Pull => {
                    let attempt = || pull(&ctx, key, remote.clone(), &stop, listed);
                    retrying(listed, &stop, || true, &what, attempt).await
                }
            }
        };
        // A stop ends the relay at once, whatever its connection is waiting for.
        let result = future::or(run, async {
            future::or(shutdown.wait(), stopped(&stop)).await;
            Ok(())
        })
        .await;
        match result {
            Ok(()) => log::info!("{what}: ended"),
            Err(e) => log::warn!("{what}: {}", e),
        }
        // A relay that ended by itself is no longer listed (unless restarted meanwhile).
        let mut running = ctx.shared.relays.lock();
        if running
            .get(&id)
            .is_some_and(|flag| Arc::ptr_eq(flag, &stop))
        {
            running.remove(&id);
        }
    })
    .detach();
}

/// A relay connection that reached Publishing/Playing, with the bytes and events that came
/// after that in the same read (e.g. the stream's first frames).
struct Opened {
    conn: Transport,
    session: RefCell<ClientSession>,
    input: BytesMut,
    pending: Vec<ClientEvent>,
}

/// `server[].static_push`: while session `session` of `key` is live, push it to
/// `{url}/{name}` for each of the app's URLs, reconnecting after 1, 2, 4 … 30 s.
pub fn start_static_pushes(ctx: &Rc<CoreContext>, key: &StreamKey, session: SessionId) {
    let Some(app) = ctx.shared.config.app(&key.app) else {
        return;
    };
    for base in &app.static_push {
        let target = format!("{}/{}", base.trim_end_matches('/'), key.name);
        let remote = match RtmpUrl::parse(&target) {
            Ok(remote) => remote,
            Err(e) => {
                log::warn!("static_push {target}: {e}");
                continue;
            }
        };
        let (ctx, key) = (ctx.clone(), key.clone());
        glommio::spawn_local(async move {
            let shutdown = ctx.shutdown.clone();
            let run = static_push(&ctx, &key, session, remote, &target);
            future::or(run, shutdown.wait()).await;
        })
        .detach();
    }
}

async fn static_push(
    ctx: &Rc<CoreContext>,
    key: &StreamKey,
    session: SessionId,
    remote: RtmpUrl,
    target: &str,
) {
    let listed =
        ctx.shared
            .stats
            .register_relay(RelayKind::StaticPush, key.clone(), target.to_string());
    let never = AtomicBool::new(false);
    let live = || {
        ctx.hub
            .registry()
            .owner(key)
            .is_some_and(|o| o.session == session)
    };
    let what = format!("static_push {key} to {target}");
    let attempt = || push(ctx, key, remote.clone(), &never, &listed.stats);
    match retrying(&listed.stats, &never, live, &what, attempt).await {
        Ok(()) => log::info!("{what}: ended"),
        Err(e) => log::warn!("{what}: {}", e),
    }
}

/// Run a relay's connection `attempt` (a push or a pull): the first at once, then, after a
/// failed or dropped connection (Err), another after 1, 2, 4 … 30 s (1 s again after a
/// connection that went live) as long as `live()` and not `stop`. Ends when an attempt ends
/// for good (Ok: its stream ended, or it was stopped) or with the last error when it gives up;
/// logs each retry.
async fn retrying<Attempt, Connection>(
    listed: &RelayStats,
    stop: &AtomicBool,
    live: impl Fn() -> bool,
    what: &str,
    mut attempt: Attempt,
) -> Result<(), ConnError>
where
    Attempt: FnMut() -> Connection,
    Connection: Future<Output = Result<(), ConnError>>,
{
    let mut backoff = Duration::from_secs(1);
    loop {
        listed.set_state(RelayState::Connecting);
        let result = attempt().await;
        if listed.state() == RelayState::Live {
            backoff = Duration::from_secs(1);
        }
        let error = match result {
            Ok(()) => return Ok(()),
            Err(e) if stop.load(Ordering::Relaxed) || !live() => return Err(e),
            Err(e) => e,
        };
        log::warn!("{what}: {}; retry in {backoff:?}", error);
        listed.set_state(RelayState::Retrying);
        // A stop while waiting ends the relay from outside (`spawn` races it with `stopped`).
        glommio::timer::sleep(backoff).await;
        if !live() {
            return Err(ConnError::StreamEndedAfter(Box::new(error)));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The first address of `HOST:PORT`. A name is resolved on the executor's blocking thread
/// (getaddrinfo may wait seconds for a DNS server), never on the core itself.
async fn resolve(address: &str) -> Result<SocketAddr, ConnError> {
    if let Ok(addr) = address.parse() {
        return Ok(addr);
    }
    let name = address.to_string();
    let resolved = glommio::executor()
        .spawn_blocking(move || name.to_socket_addrs().map(|mut a| a.next()))
        .await;
    match resolved {
        Ok(Some(addr)) => Ok(addr),
        Ok(None) => Err(ConnError::Resolve {
            address: address.to_string(),
            error: None,
        }),
        Err(e) => Err(ConnError::Resolve {
            address: address.to_string(),
            error: Some(e),
        }),
    }
}

/// Connect to `remote` and run the client session until it publishes or plays.
async fn open(ctx: &CoreContext, remote: RtmpUrl, role: Role) -> Result<Opened, ConnError> {
    let address = format!("{}:{}", remote.host, remote.port);
    let addr = resolve(&address).await?;
    let tls = match remote.tls {
        true => Some(
            ctx.shared
                .relays
                .client_tls(ctx.shared.config.enable_tls_verify)
                .await
                .map_err(ConnError::Tls)?,
        ),
        false => None,
    };
    let setup = async {
        let connect_error = |error| ConnError::Connect {
            address: address.clone(),
            error,
        };
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| connect_error(e.into()))?;
        let conn = Conn::new(stream, &ctx.readiness).map_err(connect_error)?;
        let conn = match tls {
            Some(config) => TlsConn::client(conn, config, &remote.host)
                .map(|tls| Transport::Tls(Box::new(tls)))
                .map_err(|e| ConnError::Tls(e.to_string()))?,
            None => Transport::Plain(Rc::new(conn)),
        };
        let mut seed = [0u8; RANDOM_LEN];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| ConnError::Internal("no OS random source"))?;
        let session = RefCell::new(ClientSession::new(remote, role, ctx.uptime_ms(), &seed));
        let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
        session.borrow_mut().start(&mut out);
        loop {
            let events = exchange(&conn, &session, &mut input, &mut out).await?;
            if let Some(pending) = setup_outcome(events).map_err(ConnError::Refused)? {
                conn.write_all(&out).await.map_err(ConnError::Write)?;
                return Ok(Opened {
                    conn,
                    session,
                    input,
                    pending,
                });
            }
        }
    };
    let timeout = async {
        glommio::timer::sleep(SETUP_TIMEOUT).await;
        Err(ConnError::NoAnswer(SETUP_TIMEOUT))
    };
    future::or(setup, timeout).await
}

/// Send the local stream `key` to `remote` until it ends or the relay is stopped.
async fn push(
    ctx: &Rc<CoreContext>,
    key: &StreamKey,
    remote: RtmpUrl,
    stop: &AtomicBool,
    listed: &RelayStats,
) -> Result<(), ConnError> {
    let Opened {
        conn,
        session,
        mut input,
        ..
    } = open(ctx, remote, Role::Publish).await?;
    listed.set_state(RelayState::Live);
    let outbox = Rc::new(Outbox::new(ctx.shared.config.player_queue_ms as u32));
    let _subscription = ctx
        .hub
        .subscribe(key.clone(), outbox.clone())
        .map_err(|_| ConnError::Refused(format!("{key} has too many players")))?;
    let send = async {
        let (mut batch, mut out) = (Vec::new(), BytesMut::new());
        loop {
            outbox.ready().await;
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            outbox.take_batch(super::writer::WRITE_BATCH, &mut batch);
            if batch.is_empty() {
                return Err(ConnError::Lagging(outbox.limit_ms()));
            }
            for item in batch.drain(..) {
                match item {
                    Delivery::Frame(frame) => {
                        let ty = frame.kind.rtmp_type();
                        listed.bytes.count(frame.kind, frame.body().len());
                        session
                            .borrow_mut()
                            .send_media(ty, frame.ts, frame.body_bytes(), &mut out);
                    }
                    Delivery::StreamEnd => return Ok(()),
                    Delivery::StreamStart | Delivery::Raw(_) => {}
                }
            }
            conn.write_all(&out).await.map_err(ConnError::Write)?;
            out.clear();
        }
    };
    // Acknowledgements and pings from the remote server.
    let receive = async {
        let mut out = BytesMut::new();
        loop {
            for event in exchange(&conn, &session, &mut input, &mut out).await? {
                if let ClientEvent::Closed(why) = event {
                    return Err(ConnError::Refused(why));
                }
            }
        }
    };
    future::or(send, receive).await
}

/// Play `remote` and publish it here as `key` until the relay is stopped (Ok), the remote
/// stream ends or the connection fails (Err: [`retrying`] tries again).
async fn pull(
    ctx: &Rc<CoreContext>,
    key: &StreamKey,
    remote: RtmpUrl,
    stop: &AtomicBool,
    listed: &RelayStats,
) -> Result<(), ConnError> {
    let Opened {
        conn,
        session,
        mut input,
        pending,
    } = open(ctx, remote, Role::Play).await?;
    listed.set_state(RelayState::Live);
    let ends = (conn.peer(), conn.local());
    let mut publisher = Publisher::start(ctx, key.clone(), conn.rtmp_protocol(), ends)
        .map_err(|_| ConnError::Refused(format!("{key} is already being published")))?;
    let mut out = BytesMut::new();
    let mut events = pending;
    loop {
        for event in events.drain(..) {
            match event {
                ClientEvent::Media(msg) => {
                    match ingest::frame_from_message(msg.type_id, msg.timestamp, msg.payload) {
                        Ok(frame) => {
                            listed.bytes.count(frame.kind, frame.body().len());
                            publisher.send(frame);
                        }
                        Err(Skip::Malformed(e)) => log::debug!("relay {key}: dropped tag: {e}"),
                        Err(Skip::Ignored | Skip::Empty | Skip::NotMedia) => {}
                    }
                }
                ClientEvent::Closed(why) => return Err(ConnError::Refused(why)),
                ClientEvent::Unpublished => return Err(ConnError::RemoteEnded),
                _ => {}
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        events = exchange(&conn, &session, &mut input, &mut out).await?;
    }
}

/// Send what the session has queued, then wait for the server's next bytes and feed them.
async fn exchange(
    conn: &Transport,
    session: &RefCell<ClientSession>,
    input: &mut BytesMut,
    out: &mut BytesMut,
) -> Result<Vec<ClientEvent>, ConnError> {
    if !out.is_empty() {
        conn.write_all(out).await.map_err(ConnError::Write)?;
        out.clear();
    }
    let read = conn.read(input, BIG_READ).await;
    if read.map_err(|e| match e.kind() {
        // A TLS record or certificate the session refused.
        std::io::ErrorKind::InvalidData => ConnError::Tls(e.to_string()),
        _ => ConnError::Read(e),
    })? == 0
    {
        return Err(ConnError::RemoteClosed);
    }
    session
        .borrow_mut()
        .feed(input, out)
        .map_err(ConnError::protocol)
}
