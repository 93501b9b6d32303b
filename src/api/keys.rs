//! Channel keys: with `rtmp_noauth: false`, a publisher uses a room's secret key as the stream
//! name, and the stream is published under the room's name (SPEC.md "Channel keys").
//!
//! [`ChannelKeys`] is the lookup the RTMP side needs; the persistent store behind the control
//! API implements it. Comparison never short-circuits on the first differing byte.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::crypto::hmac::constant_time_eq;

pub trait ChannelKeys: Send + Sync {
    /// The room a channel key publishes to, if the key is valid.
    fn room_for_key(&self, key: &str) -> Option<String>;
}

/// Keys held in memory (room → key).
#[derive(Debug, Default)]
pub struct MemoryKeys {
    rooms: RwLock<HashMap<String, String>>,
}

impl MemoryKeys {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, room: &str, key: &str) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        rooms.insert(room.to_string(), key.to_string());
    }

    pub fn remove(&self, room: &str) -> bool {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        rooms.remove(room).is_some()
    }
}

impl ChannelKeys for MemoryKeys {
    fn room_for_key(&self, key: &str) -> Option<String> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        // Visit every entry so the time taken does not depend on which key matched.
        let mut found = None;
        for (room, candidate) in rooms.iter() {
            if constant_time_eq(candidate.as_bytes(), key.as_bytes()) {
                found = Some(room.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_maps_to_its_room_and_others_do_not() {
        let keys = MemoryKeys::new();
        keys.set("room1", "k1abc");
        keys.set("room2", "k2abc");
        assert_eq!(keys.room_for_key("k1abc").as_deref(), Some("room1"));
        assert_eq!(keys.room_for_key("k2abc").as_deref(), Some("room2"));
        assert_eq!(
            keys.room_for_key("room1"),
            None,
            "a bare room name is not a key"
        );
        assert_eq!(keys.room_for_key("k1ab"), None);
        assert_eq!(keys.room_for_key(""), None);
    }

    #[test]
    fn a_replaced_or_removed_key_stops_working() {
        let keys = MemoryKeys::new();
        keys.set("room", "old");
        keys.set("room", "new");
        assert_eq!(keys.room_for_key("old"), None);
        assert_eq!(keys.room_for_key("new").as_deref(), Some("room"));
        assert!(keys.remove("room"));
        assert_eq!(keys.room_for_key("new"), None);
    }
}
