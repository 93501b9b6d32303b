//! The latency probe: the publisher records when it sent each video and audio message, keyed
//! by a hash of the message's tag type and payload (which the server passes through untouched
//! while it may rewrite timestamps), and players look up what they receive. The table keeps the
//! last [`CAPACITY`] messages, so it never grows with the run.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Messages remembered per process: ~56 s of 30 fps video and 44.1 kHz AAC audio (~73
/// messages a second) for one publisher.
pub const CAPACITY: usize = 4096;

/// A cheap, well-mixed key for a message: FNV-1a over its FLV tag type (so that an audio and a
/// video message never share a key), its payload's length, first 64 and last 64 bytes, and the
/// publisher's index (publishers of the same file send the same payloads).
pub fn payload_key(publisher: usize, tag_type: u8, payload: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (publisher as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    eat(&[tag_type]);
    eat(&(payload.len() as u64).to_le_bytes());
    eat(&payload[..payload.len().min(64)]);
    eat(&payload[payload.len().saturating_sub(64)..]);
    h
}

/// When a message was sent, and its timestamp as the publisher sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub at: Instant,
    pub ts_ms: u64,
}

#[derive(Default)]
pub struct Probe {
    sent: HashMap<u64, Sent>,
    order: VecDeque<u64>,
}

impl Probe {
    /// Remembers a sent message, forgetting the oldest beyond [`CAPACITY`]. A repeated key (a
    /// looped file) takes the newer send time.
    pub fn record(&mut self, key: u64, sent: Sent) {
        if self.sent.insert(key, sent).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.sent.remove(&old);
            }
        }
    }

    pub fn lookup(&self, key: u64) -> Option<Sent> {
        self.sent.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livego::flv::tag::{TAG_AUDIO as A, TAG_VIDEO as V};

    #[test]
    fn keys_differ_by_content_length_publisher_and_tag_type() {
        let a = payload_key(0, V, b"frame one");
        assert_eq!(a, payload_key(0, V, b"frame one"));
        assert_ne!(a, payload_key(0, V, b"frame two"));
        assert_ne!(a, payload_key(1, V, b"frame one"));
        assert_ne!(a, payload_key(0, A, b"frame one"));
        assert_ne!(payload_key(0, V, &[0; 200]), payload_key(0, V, &[0; 201]));
        assert_ne!(payload_key(0, V, b""), payload_key(1, V, b""));
        assert_ne!(payload_key(0, V, b""), payload_key(0, A, b""));
    }

    #[test]
    fn bounded() {
        let mut probe = Probe::default();
        let at = Instant::now();
        for i in 0..(CAPACITY as u64 + 10) {
            probe.record(i, Sent { at, ts_ms: i });
            probe.record(i, Sent { at, ts_ms: i + 1 }); // a repeat does not add
        }
        assert_eq!(probe.lookup(0), None);
        assert_eq!(probe.lookup(9), None);
        assert_eq!(probe.lookup(10).map(|s| s.ts_ms), Some(11));
        assert_eq!(probe.sent.len(), CAPACITY);
        assert_eq!(probe.order.len(), CAPACITY);
    }
}
