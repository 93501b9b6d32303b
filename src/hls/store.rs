//! HLS output of live streams, readable from every core: for each stream an immutable
//! [`Snapshot`] (playlist text and the segments it lists, plus a few older ones so that slow
//! players do not get 404s) swapped whole when a segment completes. HTTP handlers clone the
//! `Arc` and serve without holding any lock.
//!
//! The owning core feeds an [`HlsOutput`] (one per publishing session); media sequence numbers
//! and discontinuities are kept here per stream, so a publisher that reconnects (on any core)
//! continues the same playlist with `#EXT-X-DISCONTINUITY`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::playlist::{self, SegmentInfo};
use super::segmenter::{Segmenter, SegmenterConfig};
use crate::stream::{Frame, StreamKey};

/// Segments kept past the playlist window, for players that fetched an older playlist.
pub const RETAINED_EXTRA: usize = 3;

#[derive(Debug, Default)]
pub struct Snapshot {
    pub playlist: Bytes,
    /// (media sequence number, TS bytes), oldest first.
    pub segments: Vec<(u64, Bytes)>,
    /// Longest segment listed, for cache lifetimes.
    pub target_duration_s: u32,
}

impl Snapshot {
    pub fn segment(&self, sequence: u64) -> Option<&Bytes> {
        self.segments
            .iter()
            .find(|(s, _)| *s == sequence)
            .map(|(_, data)| data)
    }
}

/// Per-stream state that outlives a publishing session.
#[derive(Default)]
struct StreamHls {
    /// Finished segments, oldest first: the window plus [`RETAINED_EXTRA`].
    segments: VecDeque<(SegmentInfo, Bytes)>,
    next_sequence: u64,
    /// Discontinuities so far (publisher reconnects).
    discontinuities: u64,
    /// The current session (None between sessions).
    session: Option<u64>,
    snapshot: Option<Arc<Snapshot>>,
}

pub struct HlsStore {
    config: SegmenterConfig,
    streams: Mutex<HashMap<StreamKey, StreamHls>>,
}

impl HlsStore {
    pub fn new(config: SegmenterConfig) -> Arc<Self> {
        Arc::new(HlsStore {
            config,
            streams: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, StreamHls>> {
        // Each update replaces whole values: a poisoned lock still holds a consistent map.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current snapshot of `key`, if it has a playlist.
    pub fn snapshot(&self, key: &StreamKey) -> Option<Arc<Snapshot>> {
        self.lock().get(key).and_then(|s| s.snapshot.clone())
    }

    /// Start HLS output for a publishing session of `key`.
    pub fn start(self: &Arc<Self>, key: StreamKey, session: u64) -> HlsOutput {
        self.lock().entry(key.clone()).or_default().session = Some(session);
        HlsOutput {
            store: self.clone(),
            key,
            session,
            segmenter: Segmenter::new(self.config.clone()),
            first_of_session: true,
        }
    }

    fn add_segment(&self, key: &StreamKey, data: Bytes, duration_ms: u32, first: bool) {
        let mut streams = self.lock();
        let Some(stream) = streams.get_mut(key) else {
            return;
        };
        let discontinuity = first && stream.next_sequence > 0;
        stream.discontinuities += u64::from(discontinuity);
        let info = SegmentInfo {
            sequence: stream.next_sequence,
            duration_ms,
            discontinuity,
            discontinuity_sequence: stream.discontinuities,
        };
        stream.next_sequence += 1;
        stream.segments.push_back((info, data));
        while stream.segments.len() > self.config.window + RETAINED_EXTRA {
            stream.segments.pop_front();
        }
        stream.snapshot = Some(Arc::new(self.render(stream, key, false)));
    }

    fn render(&self, stream: &StreamHls, key: &StreamKey, ended: bool) -> Snapshot {
        let infos: Vec<SegmentInfo> = stream.segments.iter().map(|(i, _)| *i).collect();
        let listed = &infos[infos.len().saturating_sub(self.config.window)..];
        let prefix = format!("{}/", key.name);
        let text = playlist::render(listed, &prefix, ended);
        let longest = listed.iter().map(|i| i.duration_ms).max().unwrap_or(0);
        Snapshot {
            playlist: Bytes::from(text),
            segments: stream
                .segments
                .iter()
                .map(|(i, d)| (i.sequence, d.clone()))
                .collect(),
            target_duration_s: longest.div_ceil(1000),
        }
    }

    /// The session ended: mark the playlist ended (`hls_keep_after_end`) or remove it once its
    /// last segment has had time to be played (unless a new session started meanwhile).
    fn end(self: &Arc<Self>, key: &StreamKey, session: u64) {
        let mut streams = self.lock();
        let Some(stream) = streams.get_mut(key) else {
            return;
        };
        if stream.session != Some(session) {
            return;
        }
        stream.session = None;
        if self.config.keep_after_end {
            stream.snapshot = Some(Arc::new(self.render(stream, key, true)));
            return;
        }
        let linger = stream.segments.back().map_or(0, |(i, _)| i.duration_ms);
        let (store, key) = (self.clone(), key.clone());
        glommio::spawn_local(async move {
            glommio::timer::sleep(Duration::from_millis(u64::from(linger))).await;
            let mut streams = store.lock();
            if streams.get(&key).is_some_and(|s| s.session.is_none()) {
                streams.remove(&key);
            }
        })
        .detach();
    }
}

/// A publishing session's HLS output, on the owning core. Dropping it ends the session.
pub struct HlsOutput {
    store: Arc<HlsStore>,
    key: StreamKey,
    session: u64,
    segmenter: Segmenter,
    first_of_session: bool,
}

impl HlsOutput {
    pub fn push(&mut self, frame: &Frame) {
        let tag_type = frame.kind.rtmp_type();
        if let Some(segment) = self.segmenter.push(tag_type, frame.ts, &frame.body_bytes()) {
            self.publish(segment.data, segment.duration_ms);
        }
    }

    fn publish(&mut self, data: Bytes, duration_ms: u32) {
        let first = std::mem::replace(&mut self.first_of_session, false);
        self.store.add_segment(&self.key, data, duration_ms, first);
    }
}

impl Drop for HlsOutput {
    fn drop(&mut self) {
        if let Some(segment) = self.segmenter.end_session() {
            self.publish(segment.data, segment.duration_ms);
        }
        self.store.end(&self.key, self.session);
    }
}
