//! One core's server: its executor's state ([`CoreContext`]), its share of the listeners and
//! the task that receives messages from other cores.

use std::cell::RefCell;
use std::net::TcpListener as StdListener;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use futures_lite::future;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::net::{TcpListener, UnixStream};
use glommio::sync::Gate;

use super::conn::{Conn, Transport};
use super::core_threads::CoreThreads;
use super::limit::ConnectionLimit;
use super::mesh::MeshSender;
use super::relay::Relays;
use super::shutdown::Shutdown;
use super::tls::TlsConn;
use super::watchdog::{self, Heartbeats};
use crate::api::keys::ChannelKeys;
use crate::api::routes::Api;
use crate::config::Config;
use crate::net::readiness::Readiness;
use crate::stream::hls::HlsStore;
use crate::stream::hub::{CoreHub, HubConfig};
use crate::stream::link::{CoreLink, CoreMsg};
use crate::stream::registry::Registry;
use crate::stream::stats::StatsRegistry;

/// How long a stopping core waits for its archive writers.
const ARCHIVE_GRACE: std::time::Duration = std::time::Duration::from_millis(1000);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Rtmp,
    /// RTMP over TLS (`enable_rtmps`).
    Rtmps,
    HttpFlv,
    Hls,
    Api,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Rtmp => "rtmp",
            Service::Rtmps => "rtmps",
            Service::HttpFlv => "http-flv",
            Service::Hls => "hls",
            Service::Api => "api",
        })
    }
}

/// What all cores share, made once by the main thread.
pub struct Shared {
    pub config: Arc<Config>,
    pub registry: Arc<Registry>,
    pub keys: Arc<dyn ChannelKeys>,
    pub api: Arc<Api>,
    pub hls: Arc<HlsStore>,
    /// TLS for the HLS listener (`use_hls_https`).
    pub hls_tls: Option<Arc<rustls::ServerConfig>>,
    /// TLS for the RTMPS listener (`enable_rtmps`).
    pub rtmps_tls: Option<Arc<rustls::ServerConfig>>,
    pub connections: Arc<ConnectionLimit>,
    pub stats: Arc<StatsRegistry>,
    pub relays: Arc<Relays>,
    /// Each core's executor thread (for the per-core CPU time in `/metrics`).
    pub threads: CoreThreads,
    /// Each core's last sign of life, for the watchdog.
    pub heartbeats: Arc<Heartbeats>,
    /// When the server started.
    pub started: Instant,
}

/// What every connection task on a core can reach.
pub struct CoreContext {
    pub shared: Arc<Shared>,
    pub hub: Rc<CoreHub>,
    /// FLV archive writers, waited for (briefly) on shutdown so their files are complete.
    pub archive_gate: Gate,
    pub shutdown: Rc<Shutdown>,
    /// Where the core's connections learn that their sockets have data.
    pub readiness: Rc<Readiness>,
    /// Where a writer gathers a batch before sending it; shared by the core's connections (a
    /// batch is sent, or what is left of it copied out, before the next writer runs).
    pub write_scratch: RefCell<Vec<u8>>,
}

impl CoreContext {
    pub fn uptime_ms(&self) -> u32 {
        self.shared.started.elapsed().as_millis() as u32
    }
}

/// Everything a core needs, handed over from the main thread.
pub struct CoreSetup {
    pub core: usize,
    pub shared: Arc<Shared>,
    pub mesh: Option<MeshBuilder<CoreMsg, glommio::channels::channel_mesh::Full>>,
    /// This core's share of every listening address.
    pub listeners: Vec<(Service, StdListener)>,
    /// Readable (a byte or end of stream) when the server must stop.
    pub stop: std::os::unix::net::UnixStream,
}

pub async fn run(setup: CoreSetup) {
    let core = setup.core;
    setup.shared.threads.record_current(core);
    glommio::spawn_local(watchdog::beat(setup.shared.heartbeats.clone(), core)).detach();
    glommio::spawn_local(watchdog::inject_fault(core)).detach();
    let (mesh, receivers) = match setup.mesh {
        Some(builder) => match builder.join().await {
            Ok((senders, receivers)) => {
                let link: Rc<dyn CoreLink> = MeshSender::new(senders, setup.shared.stats.clone());
                (Some(link), Some(receivers))
            }
            Err(e) => {
                log::error!("core {core}: joining the channel mesh failed: {e}");
                return;
            }
        },
        None => (None, None),
    };
    let readiness = match Readiness::new() {
        Ok(readiness) => readiness,
        Err(e) => return log::error!("core {core}: epoll: {e}"),
    };
    glommio::spawn_local(readiness.clone().run()).detach();
    let config = &setup.shared.config;
    let hub = CoreHub::new(
        core,
        setup.shared.registry.clone(),
        mesh,
        HubConfig {
            gop_num: config.gop_num,
            max_players_per_stream: config.max_players_per_stream,
            audio_waits: config.audio_wait_ms > 0,
        },
    );
    if config.audio_wait_ms > 0 {
        let period = Duration::from_millis(config.audio_wait_ms).div_f64(2.0);
        glommio::spawn_local(release_held_frames(hub.clone(), period)).detach();
    }
    let ctx = Rc::new(CoreContext {
        shared: setup.shared,
        hub: hub.clone(),
        archive_gate: Gate::new(),
        shutdown: Rc::new(Shutdown::default()),
        readiness,
        write_scratch: RefCell::new(Vec::new()),
    });
    if let Some(mut receivers) = receivers {
        for (_, receiver) in receivers.streams() {
            let hub = hub.clone();
            glommio::spawn_local(async move {
                while let Some(msg) = receiver.recv().await {
                    hub.handle(msg);
                }
            })
            .detach();
        }
    }
    // SAFETY: the descriptor comes from a std socket we own and give up here.
    let mut stop = unsafe { UnixStream::from_raw_fd(setup.stop.into_raw_fd()) };
    let shutdown = ctx.shutdown.clone();
    glommio::spawn_local(async move {
        let _ = stop.read(&mut [0u8; 1]).await;
        shutdown.fire();
    })
    .detach();

    for (service, listener) in setup.listeners {
        // SAFETY: the descriptor comes from a listening std socket we own and give up here.
        let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
        let ctx = ctx.clone();
        glommio::spawn_local(async move {
            let shutdown = ctx.shutdown.clone();
            future::or(accept_loop(service, &listener, &ctx), shutdown.wait()).await;
        })
        .detach();
    }
    ctx.shutdown.wait().await;
    // Connections are dropped as their tasks see the signal; archive writers then close
    // their files.
    let archives = async {
        let _ = ctx.archive_gate.close().await;
    };
    future::or(archives, glommio::timer::sleep(ARCHIVE_GRACE)).await;
    log::debug!("core {core}: stopped");
}

/// `audio_wait_ms`: while any stream of this core holds audio back waiting for video, tick
/// the hub every half `audio_wait_ms` so that nothing waits longer than that.
async fn release_held_frames(hub: Rc<CoreHub>, period: Duration) {
    loop {
        hub.frames_held().await;
        glommio::timer::sleep(period).await;
        hub.tick();
    }
}

async fn accept_loop(service: Service, listener: &TcpListener, ctx: &Rc<CoreContext>) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                log::warn!("{service} accept: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = ctx.shared.connections.try_acquire() else {
            log::warn!("{service} accept: max_connections reached, connection refused");
            continue;
        };
        let conn = match Conn::new(stream, &ctx.readiness) {
            Ok(conn) => conn,
            Err(e) => {
                log::debug!("{service} accept: {e}");
                continue;
            }
        };
        let ctx = ctx.clone();
        glommio::spawn_local(async move {
            let _slot = slot;
            let shutdown = ctx.shutdown.clone();
            let serve = async {
                match service {
                    Service::Rtmp => super::rtmp::serve(Transport::Plain(Rc::new(conn)), ctx).await,
                    // Boxed: a connection's future is as large as its largest branch, and a
                    // TLS session's setup is large.
                    Service::Rtmps => Box::pin(serve_rtmps(conn, ctx)).await,
                    // Boxed too: RTMP connections, the most numerous, then carry only
                    // their own state.
                    Service::HttpFlv | Service::Hls | Service::Api => {
                        Box::pin(super::http::serve(conn, ctx, service)).await
                    }
                }
            };
            future::or(serve, shutdown.wait()).await;
        })
        .detach();
    }
}

/// An RTMPS connection: TLS, then RTMP over it.
async fn serve_rtmps(conn: Conn, ctx: Rc<CoreContext>) {
    let Some(config) = &ctx.shared.rtmps_tls else {
        return log::error!("{}: no TLS configuration", Service::Rtmps);
    };
    match TlsConn::server(conn, Arc::clone(config)) {
        Ok(tls) => super::rtmp::serve(Transport::Tls(Box::new(tls)), ctx.clone()).await,
        Err(e) => log::warn!("{}: TLS session: {e}", Service::Rtmps),
    }
}
