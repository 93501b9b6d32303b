//! HLS output of live streams: per-stream continuity shared by all cores ([`HlsStore`]), the
//! immutable [`Snapshot`]s it renders, and each core's copy of them ([`HlsView`]).
//!
//! The owning core feeds an [`HlsOutput`] (one per publishing session). When a segment
//! completes, the store (briefly locked, once per segment, never per request) renders a new
//! snapshot: the playlist text and the segments it lists, plus a few older ones so that slow
//! players do not get 404s. The owner hands the resulting [`HlsUpdate`] to every core, which
//! keeps it in its [`HlsView`]; HTTP handlers read only their own core's view, so serving HLS
//! takes no lock shared by cores. Updates carry a version (ordered by the store), so a core
//! that hears of two owners in the wrong order keeps the newer state.
//!
//! Media sequence numbers and discontinuities are kept here per stream, so a publisher that
//! reconnects (on any core) continues the same playlist with `#EXT-X-DISCONTINUITY`. When a
//! session ends the playlist is marked ended (`hls_keep_after_end`) or, after its last
//! segment has had time to play, removed: [`HlsEnd::linger`] says when, and the server's timer
//! calls [`HlsStore::expire`]. Nothing here spawns, sleeps or calls back: no lock is held
//! across code that could run anything else.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::key::StreamKey;
use crate::hls::playlist::{self, SegmentInfo};
use crate::hls::segmenter::{Segmenter, SegmenterConfig};

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

/// A stream's new HLS state, for every core: its snapshot, or `None` when the playlist is gone.
#[derive(Debug, Clone)]
pub struct HlsUpdate {
    pub key: StreamKey,
    /// Orders updates of one stream whichever core sent them (greater is newer).
    pub version: u64,
    pub snapshot: Option<Arc<Snapshot>>,
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
    /// The session that ended last, while its playlist lingers.
    ended: Option<u64>,
}

#[derive(Default)]
struct Streams {
    streams: HashMap<StreamKey, StreamHls>,
    /// The version of the last update handed out.
    version: u64,
}

pub struct HlsStore {
    config: SegmenterConfig,
    inner: Mutex<Streams>,
}

/// What follows the end of a publishing session.
#[derive(Debug)]
pub struct HlsEnd {
    /// The state to hand to every core (the last segment, or the ended playlist).
    pub update: Option<HlsUpdate>,
    /// Call [`HlsStore::expire`] after this long (`None`: the playlist stays).
    pub linger: Option<Duration>,
}

impl HlsStore {
    pub fn new(config: SegmenterConfig) -> Arc<Self> {
        Arc::new(HlsStore {
            config,
            inner: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        // Each update replaces whole values: a poisoned lock still holds a consistent map.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start HLS output for a publishing session of `key`.
    pub fn start(self: &Arc<Self>, key: StreamKey, session: u64) -> HlsOutput {
        self.lock().streams.entry(key.clone()).or_default().session = Some(session);
        HlsOutput {
            store: self.clone(),
            key,
            session,
            segmenter: Segmenter::new(self.config.clone()),
            first_of_session: true,
        }
    }

    /// Adds a finished segment of `session` and renders the new snapshot.
    fn add_segment(&self, key: &StreamKey, session: u64, segment: NewSegment) -> Option<HlsUpdate> {
        let mut inner = self.lock();
        let stream = inner.streams.get_mut(key)?;
        if stream.session != Some(session) {
            return None;
        }
        self.append(stream, segment);
        let snapshot = self.render(stream, key, false);
        Some(inner.update(key, Some(snapshot)))
    }

    fn append(&self, stream: &mut StreamHls, segment: NewSegment) {
        let discontinuity = segment.first_of_session && stream.next_sequence > 0;
        stream.discontinuities += u64::from(discontinuity);
        let info = SegmentInfo {
            sequence: stream.next_sequence,
            duration_ms: segment.duration_ms,
            discontinuity,
            discontinuity_sequence: stream.discontinuities,
        };
        stream.next_sequence += 1;
        stream.segments.push_back((info, segment.data));
        while stream.segments.len() > self.config.window + RETAINED_EXTRA {
            stream.segments.pop_front();
        }
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

    /// The session ended, after its `last` segment: mark the playlist ended
    /// (`hls_keep_after_end`) or have it expire once its last segment has had time to play.
    fn end(&self, key: &StreamKey, session: u64, last: Option<NewSegment>) -> HlsEnd {
        let none = HlsEnd {
            update: None,
            linger: None,
        };
        let mut inner = self.lock();
        let Some(stream) = inner.streams.get_mut(key) else {
            return none;
        };
        if stream.session != Some(session) {
            return none;
        }
        stream.session = None;
        stream.ended = Some(session);
        let added = last.is_some();
        if let Some(segment) = last {
            self.append(stream, segment);
        }
        let keep = self.config.keep_after_end;
        let snapshot = (keep || added).then(|| self.render(stream, key, keep));
        let linger = (!keep).then(|| {
            let last_ms = stream.segments.back().map_or(0, |(i, _)| i.duration_ms);
            Duration::from_millis(u64::from(last_ms))
        });
        let update = snapshot.map(|s| inner.update(key, Some(s)));
        HlsEnd { update, linger }
    }

    /// The playlist of ended `session` has lingered long enough: remove it, unless the stream
    /// was published again meanwhile. Returns the removal to hand to every core.
    pub fn expire(&self, key: &StreamKey, session: u64) -> Option<HlsUpdate> {
        let mut inner = self.lock();
        let stream = inner.streams.get(key)?;
        if stream.session.is_some() || stream.ended != Some(session) {
            return None;
        }
        inner.streams.remove(key);
        Some(inner.update(key, None))
    }
}

impl Streams {
    fn update(&mut self, key: &StreamKey, snapshot: Option<Snapshot>) -> HlsUpdate {
        self.version += 1;
        HlsUpdate {
            key: key.clone(),
            version: self.version,
            snapshot: snapshot.map(Arc::new),
        }
    }
}

/// A finished segment on its way into the store.
struct NewSegment {
    data: Bytes,
    duration_ms: u32,
    /// The session's first segment (a discontinuity unless the stream's first).
    first_of_session: bool,
}

/// A publishing session's HLS output, on the owning core. [`HlsOutput::finish`] ends it.
pub struct HlsOutput {
    store: Arc<HlsStore>,
    key: StreamKey,
    session: u64,
    segmenter: Segmenter,
    first_of_session: bool,
}

impl HlsOutput {
    /// Feed an FLV tag body (see [`Segmenter::push`]); a completed segment yields the new
    /// state for every core.
    pub fn push(&mut self, tag_type: u8, timestamp_ms: u32, body: &Bytes) -> Option<HlsUpdate> {
        let segment = self.segmenter.push(tag_type, timestamp_ms, body)?;
        let segment = self.new_segment(segment.data, segment.duration_ms);
        self.store.add_segment(&self.key, self.session, segment)
    }

    fn new_segment(&mut self, data: Bytes, duration_ms: u32) -> NewSegment {
        NewSegment {
            data,
            duration_ms,
            first_of_session: std::mem::replace(&mut self.first_of_session, false),
        }
    }

    /// The publisher left: close the open segment and end the session.
    pub fn finish(mut self) -> HlsEnd {
        let last = self
            .segmenter
            .end_session()
            .map(|s| self.new_segment(s.data, s.duration_ms));
        self.store.end(&self.key, self.session, last)
    }
}

/// One core's copy of every stream's current HLS snapshot, read by its HTTP handlers and fed
/// with [`HlsUpdate`]s from the owners. Not shared between cores.
#[derive(Default)]
pub struct HlsView {
    streams: RefCell<HashMap<StreamKey, (u64, Arc<Snapshot>)>>,
}

impl HlsView {
    /// Take `update` unless this core already holds a newer state of its stream.
    pub fn apply(&self, update: HlsUpdate) {
        let mut streams = self.streams.borrow_mut();
        if streams
            .get(&update.key)
            .is_some_and(|(version, _)| *version >= update.version)
        {
            return;
        }
        match update.snapshot {
            Some(snapshot) => {
                streams.insert(update.key, (update.version, snapshot));
            }
            None => {
                streams.remove(&update.key);
            }
        }
    }

    /// The current snapshot of `key`, if it has a playlist.
    pub fn snapshot(&self, key: &StreamKey) -> Option<Arc<Snapshot>> {
        self.streams.borrow().get(key).map(|(_, s)| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(keep_after_end: bool) -> Arc<HlsStore> {
        HlsStore::new(SegmenterConfig {
            fragment_ms: 2000,
            window: 2,
            keep_after_end,
        })
    }

    fn segment(first_of_session: bool) -> NewSegment {
        NewSegment {
            data: Bytes::from_static(b"ts"),
            duration_ms: 2000,
            first_of_session,
        }
    }

    fn key() -> StreamKey {
        StreamKey::new("live", "a")
    }

    #[test]
    fn a_session_without_segments_expires_at_once_and_is_removed_everywhere() {
        let store = store(false);
        let output = store.start(key(), 1);
        let end = output.finish();
        assert!(end.update.is_none());
        assert_eq!(end.linger, Some(Duration::ZERO));
        let removal = store.expire(&key(), 1).expect("removal");
        assert!(removal.snapshot.is_none());
        assert!(store.lock().streams.is_empty());
    }

    #[test]
    fn a_republish_during_the_linger_keeps_the_playlist_and_continues_it() {
        let store = store(false);
        let first = store.start(key(), 1);
        store
            .add_segment(&key(), 1, segment(true))
            .expect("segment");
        let end = first.finish();
        assert_eq!(end.linger, Some(Duration::from_millis(2000)));
        let _second = store.start(key(), 2);
        assert!(store.expire(&key(), 1).is_none(), "a live stream expired");
        let update = store
            .add_segment(&key(), 2, segment(true))
            .expect("segment");
        let text = update.snapshot.expect("snapshot").playlist.clone();
        let text = std::str::from_utf8(&text).expect("utf-8");
        assert!(
            text.contains("#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\na/1.ts"),
            "{text}"
        );
    }

    #[test]
    fn an_old_session_cannot_expire_a_later_one() {
        let store = store(false);
        store.start(key(), 1).finish();
        store.start(key(), 2).finish();
        assert!(store.expire(&key(), 1).is_none());
        assert!(store.expire(&key(), 2).is_some());
    }

    #[test]
    fn kept_playlists_end_with_endlist_and_never_linger() {
        let store = store(true);
        let end = store.start(key(), 1).finish();
        assert!(end.linger.is_none());
        let snapshot = end.update.and_then(|u| u.snapshot).expect("ended snapshot");
        assert!(snapshot.playlist.ends_with(b"#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn a_view_keeps_the_newest_version_whatever_the_order() {
        let view = HlsView::default();
        let update = |version, snapshot: Option<Snapshot>| HlsUpdate {
            key: key(),
            version,
            snapshot: snapshot.map(Arc::new),
        };
        let newer = Snapshot {
            target_duration_s: 2,
            ..Snapshot::default()
        };
        view.apply(update(5, Some(newer)));
        view.apply(update(4, Some(Snapshot::default())));
        view.apply(update(3, None));
        assert_eq!(view.snapshot(&key()).map(|s| s.target_duration_s), Some(2));
        view.apply(update(6, None));
        assert!(view.snapshot(&key()).is_none());
    }
}
