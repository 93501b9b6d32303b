//! The figures of `GET /metrics`: a [`Snapshot`] of the whole server (every core's
//! connections, streams, relays and counters, each core's CPU time, the heap), which
//! `api::metrics` renders.

use super::core::CoreContext;
use crate::api::metrics::{CoreLoad, Snapshot};
use crate::stream::stats::{Protocol, RelayKind, RelayState, Role};

pub fn snapshot(ctx: &CoreContext) -> Snapshot {
    let shared = &ctx.shared;
    let conns = shared.stats.snapshot();
    let count = |role: Role, protocol: Protocol| {
        conns
            .iter()
            .filter(|c| c.role == role && c.protocol == protocol)
            .count()
    };
    let protocols = Protocol::ALL
        .iter()
        .map(|&p| (p.name(), count(Role::Publisher, p), count(Role::Player, p)))
        .collect();
    let relays_now = shared.stats.relays();
    let mut relays = Vec::new();
    for kind in RelayKind::ALL {
        for state in RelayState::ALL {
            let n = relays_now
                .iter()
                .filter(|r| r.kind == kind && r.state() == state)
                .count();
            relays.push((kind.name(), state.name(), n));
        }
    }
    let cpu_seconds = shared.threads.cpu_seconds();
    let streams = shared.registry.streams_per_core(cpu_seconds.len());
    let cores = streams
        .into_iter()
        .zip(cpu_seconds)
        .map(|(streams, cpu_seconds)| CoreLoad {
            streams,
            cpu_seconds,
        })
        .collect();
    Snapshot {
        uptime_seconds: shared.started.elapsed().as_secs_f64(),
        heap_bytes: heap_bytes(),
        connections: shared.connections.open(),
        protocols,
        relays,
        totals: shared.stats.totals(),
        cores,
    }
}

/// Bytes glibc's allocator has handed out and not got back, over every arena (mmapped chunks
/// included).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_bytes() -> Option<u64> {
    // SAFETY: mallinfo2 has no preconditions; it locks each arena while it reads it.
    let info = unsafe { libc::mallinfo2() };
    Some((info.uordblks + info.hblkhd) as u64)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_bytes() -> Option<u64> {
    None
}
