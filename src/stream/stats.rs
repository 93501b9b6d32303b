//! Who is publishing and playing what, with byte counters, readable from every core (for
//! `/stat/livestat`). A connection registers when it starts publishing or playing and is
//! removed when its [`StatsGuard`] drops; the registry's lock is taken only then and on reads.
//! Counters are atomics bumped once per frame (publisher) or per write batch (player).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::frame::FrameKind;
use super::key::StreamKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publisher,
    Player,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    HttpFlv,
}

#[derive(Debug)]
pub struct ConnStats {
    pub id: u64,
    pub role: Role,
    pub protocol: Protocol,
    pub key: StreamKey,
    /// The client's address.
    pub peer: SocketAddr,
    /// Our address the client connected to.
    pub local: SocketAddr,
    pub started: Instant,
    video_bytes: AtomicU64,
    audio_bytes: AtomicU64,
}

impl ConnStats {
    pub fn count(&self, kind: FrameKind, bytes: usize) {
        let counter = match kind {
            FrameKind::Video => &self.video_bytes,
            FrameKind::Audio => &self.audio_bytes,
            FrameKind::Data => return,
        };
        counter.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn video_bytes(&self) -> u64 {
        self.video_bytes.load(Ordering::Relaxed)
    }

    pub fn audio_bytes(&self) -> u64 {
        self.audio_bytes.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct StatsRegistry {
    conns: Mutex<BTreeMap<u64, Arc<ConnStats>>>,
    next_id: AtomicU64,
}

/// Keeps a connection listed; dropping it removes the entry.
#[derive(Debug)]
pub struct StatsGuard {
    registry: Arc<StatsRegistry>,
    pub stats: Arc<ConnStats>,
}

impl StatsRegistry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn register(
        self: &Arc<Self>,
        role: Role,
        protocol: Protocol,
        key: StreamKey,
        (peer, local): (SocketAddr, SocketAddr),
    ) -> StatsGuard {
        let stats = Arc::new(ConnStats {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            role,
            protocol,
            key,
            peer,
            local,
            started: Instant::now(),
            video_bytes: AtomicU64::new(0),
            audio_bytes: AtomicU64::new(0),
        });
        self.lock().insert(stats.id, stats.clone());
        StatsGuard {
            registry: self.clone(),
            stats,
        }
    }

    /// Every registered connection, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<ConnStats>> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ConnStats>>> {
        // Entries are inserted and removed whole: a poisoned lock still holds a valid map.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StatsGuard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.stats.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_connections_are_listed_until_dropped() {
        let registry = StatsRegistry::new();
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        let key = StreamKey::new("live", "a");
        let ends = (peer, peer);
        let publisher = registry.register(Role::Publisher, Protocol::Rtmp, key.clone(), ends);
        let player = registry.register(Role::Player, Protocol::HttpFlv, key, ends);
        publisher.stats.count(FrameKind::Video, 100);
        publisher.stats.count(FrameKind::Audio, 10);
        publisher.stats.count(FrameKind::Data, 1000);
        let listed = registry.snapshot();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            (listed[0].video_bytes(), listed[0].audio_bytes()),
            (100, 10)
        );
        drop(player);
        assert_eq!(registry.snapshot().len(), 1);
    }
}
