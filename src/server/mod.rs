//! The server: one pinned glommio executor per core, each with its own SO_REUSEPORT listeners
//! (the kernel spreads connections over cores), a full channel mesh between the cores, and
//! orderly shutdown on SIGINT/SIGTERM.

mod archive;
mod conn;
mod core;
mod core_threads;
mod error;
mod hls;
mod http;
mod httpflv;
mod limit;
mod mesh;
mod metrics;
mod publisher;
mod relay;
mod rtmp;
mod shutdown;
mod signals;
mod stoppable;
mod tls;
mod watchdog;
mod writer;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, Socket, Type};

use crate::api::keys::KeyStore;
use crate::api::routes::Api;
use crate::config::Config;
use crate::hls::segmenter::SegmenterConfig;
use crate::stream::hls::HlsStore;
use crate::stream::registry::Registry;
use crate::stream::stats::StatsRegistry;
use core::{CoreSetup, Service, Shared};
use core_threads::CoreThreads;
use mesh::CHANNEL_CAPACITY;

/// How long cores get to close their connections after a stop signal.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// Bind `cores` SO_REUSEPORT listeners on `addr` (port 0 is resolved once, so all cores share
/// the same port). Fails if anything listens on `addr` already ([`ensure_not_listened_on`]).
fn bind_listeners(addr: SocketAddr, cores: usize) -> std::io::Result<Vec<StdListener>> {
    ensure_not_listened_on(addr)?;
    let mut addr = addr;
    let mut listeners = Vec::with_capacity(cores);
    for _ in 0..cores {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        let listener: StdListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Fails with `AddrInUse` when a socket listens on `addr`. Our listeners share their port with
/// SO_REUSEPORT, which alone would let a second server (another livego, say) bind the same port
/// silently and take a share of its connections. A plain bind finds any listener; with
/// SO_REUSEADDR, connections of an earlier run still in TIME_WAIT do not count.
fn ensure_not_listened_on(addr: SocketAddr) -> std::io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())
}

/// The CPUs this process may run on (its affinity mask: `taskset`, systemd's `CPUAffinity=`),
/// in order; core k is pinned to the k-th of them (wrapping). Falls back to 0..n.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it for this
    // thread (pid 0) and reads nothing else.
    let allowed: Vec<usize> = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            Vec::new()
        } else {
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect()
        }
    };
    if allowed.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    }
    allowed
}

/// Run the server until SIGINT/SIGTERM. Errors are startup errors (e.g. a port in use).
pub fn run(config: Config) -> Result<(), String> {
    let cpus = allowed_cpus();
    let cores = if config.cores == 0 {
        cpus.len()
    } else {
        config.cores
    };
    let config = Arc::new(config);
    let keys = KeyStore::open(config.key_store.as_ref()).map_err(|e| e.to_string())?;
    let keys = Arc::new(keys);
    let hls_tls = match config.use_hls_https {
        true => Some(tls::server_config(
            ("hls_server_crt", &config.hls_server_crt),
            ("hls_server_key", &config.hls_server_key),
        )?),
        false => None,
    };
    let rtmps_tls = match config.enable_rtmps {
        true => Some(tls::server_config(
            ("rtmps_cert", &config.rtmps_cert),
            ("rtmps_key", &config.rtmps_key),
        )?),
        false => None,
    };
    let hls = HlsStore::new(SegmenterConfig {
        fragment_ms: (config.hls_fragment * 1000.0).round() as u32,
        window: config.hls_window,
        keep_after_end: config.hls_keep_after_end,
    });
    let mut listeners = Vec::new();
    let rtmps = config
        .enable_rtmps
        .then_some((Service::Rtmps, &config.rtmps_addr, "rtmps_addr"));
    for (service, addr, key) in [
        (Service::Rtmp, &config.rtmp_addr, "rtmp_addr"),
        (Service::HttpFlv, &config.httpflv_addr, "httpflv_addr"),
        (Service::Hls, &config.hls_addr, "hls_addr"),
        (Service::Api, &config.api_addr, "api_addr"),
    ]
    .into_iter()
    .chain(rtmps)
    {
        let bound = bind_listeners(addr.0, cores)
            .map_err(|e| format!("cannot listen on {key} {addr}: {e}"))?;
        if let Some(first) = bound.first() {
            let local = first.local_addr().map_err(|e| e.to_string())?;
            log::info!("{service} listening on {local} with {cores} cores");
        }
        listeners.push((service, bound));
    }
    let signals = signals::block_stop_signals()?;
    let stats = StatsRegistry::new();
    let api = Arc::new(Api {
        keys: keys.clone(),
        stats: stats.clone(),
        jwt_secret: config.jwt.secret.clone(),
    });
    let shared = Arc::new(Shared {
        connections: limit::ConnectionLimit::new(config.max_connections),
        config,
        registry: Arc::new(Registry::new()),
        keys,
        api,
        hls,
        hls_tls,
        rtmps_tls,
        stats,
        relays: Arc::new(relay::Relays::default()),
        threads: CoreThreads::new(cores),
        heartbeats: watchdog::Heartbeats::new(cores),
        started: Instant::now(),
    });
    watchdog::exit_on_panic();
    let mesh = (cores > 1).then(|| MeshBuilder::full(cores, CHANNEL_CAPACITY));
    let mut stops = Vec::with_capacity(cores);
    let mut executors = Vec::with_capacity(cores);
    for core in 0..cores {
        let core_listeners = listeners
            .iter_mut()
            .filter_map(|(service, bound)| Some((*service, bound.pop()?)))
            .collect();
        let (stop_tx, stop_rx) = UnixStream::pair()
            .map_err(|e| format!("cannot create the stop socket for core {core}: {e}"))?;
        stops.push(stop_tx);
        let setup = CoreSetup {
            core,
            shared: shared.clone(),
            mesh: mesh.clone(),
            listeners: core_listeners,
            stop: stop_rx,
        };
        let executor = LocalExecutorBuilder::new(Placement::Fixed(cpus[core % cpus.len()]))
            .name(&format!("livego-core-{core}"))
            .spawn(move || core::run(setup))
            .map_err(|e| format!("cannot start executor for core {core}: {e}"))?;
        executors.push(executor);
    }
    watchdog::spawn_watchdog(shared.heartbeats.clone())
        .map_err(|e| format!("cannot start the watchdog thread: {e}"))?;

    let signal = signals.wait();
    log::info!("{signal}: stopping");
    shared.heartbeats.stop_watching();
    let deadline = Instant::now() + STOP_GRACE;
    // Closing our ends wakes every core's stop task.
    drop(stops);
    for executor in executors {
        if Instant::now() >= deadline || executor.join().is_err() {
            break;
        }
    }
    Ok(())
}
