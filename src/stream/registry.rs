//! The registry of live streams, shared by all cores: for each [`StreamKey`], the core that
//! owns it (its publisher's) and the cores that have players for it.
//!
//! Touched on publish, unpublish and each player's join and leave (it counts the players of
//! a stream for `max_players_per_stream`), under a short lock; never per frame.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::key::StreamKey;

/// One publishing session of a stream; a republish gets a new id.
pub type SessionId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub core: usize,
    pub session: SessionId,
}

#[derive(Debug, Default)]
struct Entry {
    owner: Option<Owner>,
    /// Cores with players of this stream.
    subscribers: BTreeSet<usize>,
    /// Players on all cores.
    players: usize,
}

#[derive(Debug, Default)]
pub struct Registry {
    streams: Mutex<HashMap<StreamKey, Entry>>,
    next_session: AtomicU64,
}

#[derive(Debug, PartialEq, Eq)]
pub struct AlreadyPublishing;

/// `max_players_per_stream` reached.
#[derive(Debug, PartialEq, Eq)]
pub struct StreamFull;

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent (every update is
        // a single insert/remove), so a poisoned lock is still usable.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make `core` the owner of `key`. Returns the new session and the cores already waiting
    /// for the stream, or an error when someone is publishing it.
    pub fn publish(
        &self,
        key: &StreamKey,
        core: usize,
    ) -> Result<(Owner, Vec<usize>), AlreadyPublishing> {
        let mut streams = self.lock();
        let entry = streams.entry(key.clone()).or_default();
        if entry.owner.is_some() {
            return Err(AlreadyPublishing);
        }
        let owner = Owner {
            core,
            session: self.next_session.fetch_add(1, Ordering::Relaxed) + 1,
        };
        entry.owner = Some(owner);
        Ok((owner, entry.subscribers.iter().copied().collect()))
    }

    /// End a publishing session (no-op if `session` no longer owns `key`).
    pub fn unpublish(&self, key: &StreamKey, session: SessionId) {
        let mut streams = self.lock();
        if let Some(entry) = streams.get_mut(key) {
            if entry.owner.map(|o| o.session) == Some(session) {
                entry.owner = None;
            }
            if entry.owner.is_none() && entry.subscribers.is_empty() {
                streams.remove(key);
            }
        }
    }

    /// Count a new player of `key` on `core` (`max` players at most, 0 = unlimited); returns
    /// the current owner, if live.
    pub fn add_player(
        &self,
        key: &StreamKey,
        core: usize,
        max: usize,
    ) -> Result<Option<Owner>, StreamFull> {
        let mut streams = self.lock();
        let entry = streams.entry(key.clone()).or_default();
        if max != 0 && entry.players >= max {
            if entry.owner.is_none() && entry.players == 0 {
                streams.remove(key);
            }
            return Err(StreamFull);
        }
        entry.players += 1;
        entry.subscribers.insert(core);
        Ok(entry.owner)
    }

    /// A player of `key` on `core` left (`last_on_core`: no others remain there); returns the
    /// current owner, if live.
    pub fn remove_player(&self, key: &StreamKey, core: usize, last_on_core: bool) -> Option<Owner> {
        let mut streams = self.lock();
        let entry = streams.get_mut(key)?;
        entry.players = entry.players.saturating_sub(1);
        if last_on_core {
            entry.subscribers.remove(&core);
        }
        let owner = entry.owner;
        if owner.is_none() && entry.subscribers.is_empty() {
            streams.remove(key);
        }
        owner
    }

    pub fn owner(&self, key: &StreamKey) -> Option<Owner> {
        self.lock().get(key).and_then(|e| e.owner)
    }

    /// How many live streams each of `cores` cores owns.
    pub fn streams_per_core(&self, cores: usize) -> Vec<usize> {
        let mut owned = vec![0; cores];
        for owner in self.lock().values().filter_map(|e| e.owner) {
            if let Some(count) = owned.get_mut(owner.core) {
                *count += 1;
            }
        }
        owned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_counted_on_their_owners_core_only_while_live() {
        let registry = Registry::new();
        let (a, b, c) = (
            StreamKey::new("live", "a"),
            StreamKey::new("live", "b"),
            StreamKey::new("live", "c"),
        );
        let (owner_a, _) = registry.publish(&a, 1).expect("publish a");
        registry.publish(&b, 1).expect("publish b");
        registry
            .add_player(&c, 0, 0)
            .expect("a player waiting for c");
        assert_eq!(registry.streams_per_core(2), vec![0, 2]);
        registry.unpublish(&a, owner_a.session);
        assert_eq!(registry.streams_per_core(2), vec![0, 1]);
    }

    #[test]
    fn second_publisher_is_refused_until_unpublish() {
        let reg = Registry::new();
        let key = StreamKey::new("live", "a");
        let (first, waiting) = reg.publish(&key, 0).expect("first publish");
        assert!(waiting.is_empty());
        assert_eq!(reg.publish(&key, 1), Err(AlreadyPublishing));
        reg.unpublish(&key, first.session);
        let (second, _) = reg.publish(&key, 1).expect("republish");
        assert_ne!(first.session, second.session);
        assert_eq!(reg.owner(&key), Some(second));
    }

    #[test]
    fn stale_unpublish_does_not_end_a_new_session() {
        let reg = Registry::new();
        let key = StreamKey::new("live", "a");
        let (first, _) = reg.publish(&key, 0).expect("publish");
        reg.unpublish(&key, first.session);
        let (second, _) = reg.publish(&key, 0).expect("republish");
        reg.unpublish(&key, first.session);
        assert_eq!(reg.owner(&key), Some(second));
    }

    #[test]
    fn publisher_learns_waiting_cores_and_entries_are_freed() {
        let reg = Registry::new();
        let key = StreamKey::new("live", "a");
        assert_eq!(reg.add_player(&key, 1, 0), Ok(None));
        let (owner, waiting) = reg.publish(&key, 0).expect("publish");
        assert_eq!(waiting, vec![1]);
        assert_eq!(reg.add_player(&key, 0, 0), Ok(Some(owner)));
        reg.remove_player(&key, 0, true);
        reg.remove_player(&key, 1, true);
        reg.unpublish(&key, owner.session);
        assert!(reg.lock().is_empty());
    }

    #[test]
    fn players_per_stream_are_limited_over_all_cores() {
        let reg = Registry::new();
        let key = StreamKey::new("live", "a");
        assert!(reg.add_player(&key, 0, 2).is_ok());
        assert!(reg.add_player(&key, 1, 2).is_ok());
        assert_eq!(reg.add_player(&key, 1, 2), Err(StreamFull));
        reg.remove_player(&key, 1, true);
        assert!(reg.add_player(&key, 1, 2).is_ok());
    }
}
