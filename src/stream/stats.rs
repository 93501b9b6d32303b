//! Who is publishing and playing what, and which relays run, with byte counters, readable
//! from every core (for `/stat/livestat`). A connection registers when it starts publishing
//! or playing and is removed when its [`StatsGuard`] drops; a relay registers when it starts
//! and is removed when its [`RelayGuard`] drops. The registry's locks are taken only then and
//! on reads. Counters are atomics bumped once per frame (publisher, relay) or per write batch
//! (player).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
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
    pub bytes: ByteCounters,
}

/// Audio and video payload bytes (metadata is not counted).
#[derive(Debug, Default)]
pub struct ByteCounters {
    video: AtomicU64,
    audio: AtomicU64,
}

impl ByteCounters {
    pub fn count(&self, kind: FrameKind, bytes: usize) {
        let counter = match kind {
            FrameKind::Video => &self.video,
            FrameKind::Audio => &self.audio,
            FrameKind::Data => return,
        };
        counter.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn video(&self) -> u64 {
        self.video.load(Ordering::Relaxed)
    }

    pub fn audio(&self) -> u64 {
        self.audio.load(Ordering::Relaxed)
    }
}

impl ConnStats {
    pub fn count(&self, kind: FrameKind, bytes: usize) {
        self.bytes.count(kind, bytes);
    }

    pub fn video_bytes(&self) -> u64 {
        self.bytes.video()
    }

    pub fn audio_bytes(&self) -> u64 {
        self.bytes.audio()
    }
}

/// What a relay does, as `/stat/livestat` names it (`relays[].kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    /// `/control/push`.
    Push,
    /// `/control/pull`.
    Pull,
    /// `server[].static_push`.
    StaticPush,
}

impl RelayKind {
    pub fn name(self) -> &'static str {
        match self {
            RelayKind::Push => "push",
            RelayKind::Pull => "pull",
            RelayKind::StaticPush => "static_push",
        }
    }
}

/// Where a relay's connection is (`relays[].state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayState {
    /// Connecting, or waiting for the remote server to accept the publish/play.
    Connecting,
    /// Publishing (push) or playing (pull).
    Live,
    /// The last attempt failed or dropped; waiting before the next one.
    Retrying,
}

impl RelayState {
    pub fn name(self) -> &'static str {
        match self {
            RelayState::Connecting => "connecting",
            RelayState::Live => "live",
            RelayState::Retrying => "retrying",
        }
    }
}

/// One running relay. Counters cover every connection the relay made (bytes sent for a push,
/// received for a pull).
#[derive(Debug)]
pub struct RelayStats {
    pub id: u64,
    pub kind: RelayKind,
    /// The local stream.
    pub key: StreamKey,
    /// The remote stream's URL.
    pub url: String,
    pub started: Instant,
    pub bytes: ByteCounters,
    state: AtomicU8,
}

impl RelayStats {
    pub fn state(&self) -> RelayState {
        match self.state.load(Ordering::Relaxed) {
            0 => RelayState::Connecting,
            1 => RelayState::Live,
            _ => RelayState::Retrying,
        }
    }

    pub fn set_state(&self, state: RelayState) {
        let value = match state {
            RelayState::Connecting => 0,
            RelayState::Live => 1,
            RelayState::Retrying => 2,
        };
        self.state.store(value, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct StatsRegistry {
    conns: Mutex<BTreeMap<u64, Arc<ConnStats>>>,
    relays: Mutex<BTreeMap<u64, Arc<RelayStats>>>,
    next_id: AtomicU64,
}

/// Keeps a relay listed; dropping it removes the entry.
#[derive(Debug)]
pub struct RelayGuard {
    registry: Arc<StatsRegistry>,
    pub stats: Arc<RelayStats>,
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        self.registry.lock_relays().remove(&self.stats.id);
    }
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
            bytes: ByteCounters::default(),
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

    /// Lists a relay (state `connecting`) until the guard drops.
    pub fn register_relay(
        self: &Arc<Self>,
        kind: RelayKind,
        key: StreamKey,
        url: String,
    ) -> RelayGuard {
        let stats = Arc::new(RelayStats {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            kind,
            key,
            url,
            started: Instant::now(),
            bytes: ByteCounters::default(),
            state: AtomicU8::new(0),
        });
        self.lock_relays().insert(stats.id, stats.clone());
        RelayGuard {
            registry: self.clone(),
            stats,
        }
    }

    /// Every running relay, oldest first.
    pub fn relays(&self) -> Vec<Arc<RelayStats>> {
        self.lock_relays().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ConnStats>>> {
        // Entries are inserted and removed whole: a poisoned lock still holds a valid map.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_relays(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<RelayStats>>> {
        // As `lock`.
        self.relays.lock().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn relays_are_listed_with_their_state_until_dropped() {
        let registry = StatsRegistry::new();
        let url = "rtmp://example/live/a".to_string();
        let push = registry.register_relay(RelayKind::Push, StreamKey::new("live", "a"), url);
        assert_eq!(push.stats.state(), RelayState::Connecting);
        push.stats.set_state(RelayState::Live);
        push.stats.bytes.count(FrameKind::Audio, 7);
        let listed = registry.relays();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].state(), RelayState::Live);
        assert_eq!((listed[0].bytes.video(), listed[0].bytes.audio()), (0, 7));
        listed[0].set_state(RelayState::Retrying);
        assert_eq!(push.stats.state(), RelayState::Retrying);
        assert!(
            registry.snapshot().is_empty(),
            "a relay is not a connection"
        );
        drop(push);
        assert!(registry.relays().is_empty());
    }
}
