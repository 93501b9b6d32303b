//! Who is publishing and playing what, and which relays run, with byte counters, readable
//! from every core (for `/stat/livestat` and `/metrics`). A connection registers when it
//! starts publishing or playing and is removed when its [`StatsGuard`] drops; a relay
//! registers when it starts and is removed when its [`RelayGuard`] drops, its counts then
//! folded into the registry's running [`Totals`]. The registry's locks are taken only then and
//! on reads. Counters are atomics bumped once per frame (publisher, relay), per write batch
//! (player) or per drop (a slow player's frames, a core's backlog).

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
    /// RTMP over TLS (`enable_rtmps`).
    Rtmps,
    HttpFlv,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Rtmp, Protocol::Rtmps, Protocol::HttpFlv];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Rtmps => "rtmps",
            Protocol::HttpFlv => "http-flv",
        }
    }
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
    /// Frames this player lost for being too slow (dropped to the next keyframe).
    dropped_frames: AtomicU64,
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

    pub fn count_dropped(&self, frames: u64) {
        self.dropped_frames.fetch_add(frames, Ordering::Relaxed);
    }

    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames.load(Ordering::Relaxed)
    }
}

impl Counted for ConnStats {
    /// A publisher's bytes are received, a player's sent.
    fn add_to(&self, totals: &mut Totals) {
        let traffic = match self.role {
            Role::Publisher => &mut totals.received,
            Role::Player => &mut totals.sent,
        };
        traffic.add(&self.bytes);
        totals.slow_player_dropped_frames += self.dropped_frames();
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
    pub const ALL: [RelayKind; 3] = [RelayKind::Push, RelayKind::Pull, RelayKind::StaticPush];

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
    pub const ALL: [RelayState; 3] = [
        RelayState::Connecting,
        RelayState::Live,
        RelayState::Retrying,
    ];

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

impl Counted for RelayStats {
    /// A push's bytes are sent. A pull's are not added: what it receives is counted by the
    /// publisher it feeds.
    fn add_to(&self, totals: &mut Totals) {
        if self.kind != RelayKind::Pull {
            totals.sent.add(&self.bytes);
        }
    }
}

/// Media payload bytes (metadata not counted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub video: u64,
    pub audio: u64,
}

impl Traffic {
    fn add(&mut self, bytes: &ByteCounters) {
        self.video += bytes.video();
        self.audio += bytes.audio();
    }
}

/// What every connection and relay since the start counted, ended or not (`/metrics`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// From publishers (pull relays included).
    pub received: Traffic,
    /// To players and push relays.
    pub sent: Traffic,
    /// Frames slow players lost (dropped to the next keyframe).
    pub slow_player_dropped_frames: u64,
    /// Frames a core could not pass to another core whose backlog was full.
    pub core_backlog_dropped_frames: u64,
    /// HLS playlists served (HLS players are not connections: requests are what there is).
    pub hls_playlists: u64,
    /// HLS segments served.
    pub hls_segments: u64,
}

/// What an HLS request fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsFile {
    Playlist,
    Segment,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        for (sum, part) in [
            (&mut self.received, other.received),
            (&mut self.sent, other.sent),
        ] {
            sum.video += part.video;
            sum.audio += part.audio;
        }
        self.slow_player_dropped_frames += other.slow_player_dropped_frames;
        self.core_backlog_dropped_frames += other.core_backlog_dropped_frames;
        self.hls_playlists += other.hls_playlists;
        self.hls_segments += other.hls_segments;
    }
}

/// A registry entry whose counts go into [`Totals`].
trait Counted {
    fn add_to(&self, totals: &mut Totals);
}

/// The live entries of one kind, and the counts of those that ended.
#[derive(Debug)]
struct Listed<T> {
    live: BTreeMap<u64, Arc<T>>,
    ended: Totals,
}

impl<T: Counted> Listed<T> {
    fn add_to(&self, totals: &mut Totals) {
        totals.add(&self.ended);
        self.live.values().for_each(|entry| entry.add_to(totals));
    }
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            live: BTreeMap::new(),
            ended: Totals::default(),
        }
    }
}

#[derive(Debug, Default)]
pub struct StatsRegistry {
    conns: Mutex<Listed<ConnStats>>,
    relays: Mutex<Listed<RelayStats>>,
    core_backlog_dropped_frames: AtomicU64,
    hls_playlists: AtomicU64,
    hls_segments: AtomicU64,
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
        let mut relays = self.registry.lock_relays();
        relays.live.remove(&self.stats.id);
        self.stats.add_to(&mut relays.ended);
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
            dropped_frames: AtomicU64::new(0),
        });
        self.lock().live.insert(stats.id, stats.clone());
        StatsGuard {
            registry: self.clone(),
            stats,
        }
    }

    /// Every registered connection, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<ConnStats>> {
        self.lock().live.values().cloned().collect()
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
        self.lock_relays().live.insert(stats.id, stats.clone());
        RelayGuard {
            registry: self.clone(),
            stats,
        }
    }

    /// Every running relay, oldest first.
    pub fn relays(&self) -> Vec<Arc<RelayStats>> {
        self.lock_relays().live.values().cloned().collect()
    }

    /// A core dropped a frame meant for another core (its backlog was full); returns how many
    /// were dropped so far.
    pub fn count_core_backlog_drop(&self) -> u64 {
        self.core_backlog_dropped_frames
            .fetch_add(1, Ordering::Relaxed)
            + 1
    }

    pub fn count_hls(&self, file: HlsFile) {
        let counter = match file {
            HlsFile::Playlist => &self.hls_playlists,
            HlsFile::Segment => &self.hls_segments,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts of every connection and relay since the start. Monotonic: an entry's counts
    /// move from live to ended under the lock they are read with.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            core_backlog_dropped_frames: self.core_backlog_dropped_frames.load(Ordering::Relaxed),
            hls_playlists: self.hls_playlists.load(Ordering::Relaxed),
            hls_segments: self.hls_segments.load(Ordering::Relaxed),
            ..Totals::default()
        };
        self.lock().add_to(&mut totals);
        self.lock_relays().add_to(&mut totals);
        totals
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Listed<ConnStats>> {
        // Entries are inserted and removed whole: a poisoned lock still holds a valid map.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_relays(&self) -> std::sync::MutexGuard<'_, Listed<RelayStats>> {
        // As `lock`.
        self.relays.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StatsGuard {
    fn drop(&mut self) {
        let mut conns = self.registry.lock();
        conns.live.remove(&self.stats.id);
        self.stats.add_to(&mut conns.ended);
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
    fn totals_keep_what_ended_connections_and_relays_counted() {
        let registry = StatsRegistry::new();
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        let key = StreamKey::new("live", "a");
        let ends = (peer, peer);
        let publisher = registry.register(Role::Publisher, Protocol::Rtmp, key.clone(), ends);
        let player = registry.register(Role::Player, Protocol::HttpFlv, key.clone(), ends);
        let url = "rtmp://example/live/a".to_string();
        let push = registry.register_relay(RelayKind::Push, key.clone(), url.clone());
        let pull = registry.register_relay(RelayKind::Pull, key, url);
        publisher.stats.count(FrameKind::Video, 100);
        player.stats.count(FrameKind::Audio, 10);
        player.stats.count_dropped(3);
        push.stats.bytes.count(FrameKind::Video, 1000);
        pull.stats.bytes.count(FrameKind::Video, 5); // counted by its publisher instead
        registry.count_core_backlog_drop();
        registry.count_hls(HlsFile::Segment);
        let expected = Totals {
            received: Traffic {
                video: 100,
                audio: 0,
            },
            sent: Traffic {
                video: 1000,
                audio: 10,
            },
            slow_player_dropped_frames: 3,
            core_backlog_dropped_frames: 1,
            hls_playlists: 0,
            hls_segments: 1,
        };
        assert_eq!(registry.totals(), expected);
        drop((publisher, player, push, pull));
        assert_eq!(registry.totals(), expected, "ended entries still count");
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
