//! A connection's outgoing queue: shared frames plus per-connection messages, bounded in media
//! time, drained by the connection's writer task.
//!
//! This is where the slow-player policy lives (README "Behaviour"): when the queued
//! frames span more than `limit_ms` of media time, queued video is dropped and further video is
//! skipped up to the next keyframe (audio, data and sequence headers are kept); if the queue is
//! still too long after that, the connection is marked lagging and its writer disconnects it.
//! The GOP cache a player gets when it joins is old by design: while it is being sent, the
//! player may be behind by that burst's span on top of the limit.
//! Pushing never blocks and never waits for the writer.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::Bytes;

use super::frame::SharedFrame;
use super::stats::ConnStats;

/// Safety net independent of media time (e.g. a stream with broken timestamps).
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// Queue slots an emptied queue keeps; what a burst grew beyond this is given back.
pub const IDLE_CAPACITY: usize = 4;

#[derive(Debug, Clone)]
pub enum Delivery {
    /// A frame of the stream, shared with every other player.
    Frame(SharedFrame),
    /// The stream went live (first publish or republish): the next frames are its headers.
    StreamStart,
    /// The publisher left.
    StreamEnd,
    /// Bytes for this connection only (protocol replies).
    Raw(Bytes),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueState {
    Open,
    /// The reader side ended the connection.
    Closed,
    /// The player stayed too far behind: disconnect it.
    Lagging,
}

pub struct Outbox {
    items: RefCell<VecDeque<Delivery>>,
    queued_bytes: Cell<usize>,
    limit_ms: u32,
    skipping_video: Cell<bool>,
    state: Cell<QueueState>,
    waker: Cell<Option<Waker>>,
    started: Cell<bool>,
    /// The join burst: while frames older than `until_ts` are queued, `credit_ms` more lag is
    /// allowed.
    burst: Cell<Option<Burst>>,
    /// Counts what is taken for sending, once the connection is listed in the stats.
    stats: RefCell<Option<Arc<ConnStats>>>,
    /// From a stream start until its first media frame is queued: the metadata and sequence
    /// headers, held back to go out stamped with that frame's timestamp (they carry the time
    /// they were published, often 0, and a late joiner would otherwise see time jump).
    held_headers: RefCell<Option<Vec<SharedFrame>>>,
    /// The stream ended (its last item was [`Delivery::StreamEnd`]) and has not restarted.
    ended: Cell<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Burst {
    until_ts: u32,
    credit_ms: u32,
}

impl Outbox {
    pub fn new(limit_ms: u32) -> Self {
        Outbox {
            items: RefCell::new(VecDeque::new()),
            queued_bytes: Cell::new(0),
            limit_ms,
            skipping_video: Cell::new(false),
            state: Cell::new(QueueState::Open),
            waker: Cell::new(None),
            started: Cell::new(false),
            burst: Cell::new(None),
            stats: RefCell::new(None),
            held_headers: RefCell::new(None),
            ended: Cell::new(false),
        }
    }

    pub fn set_stats(&self, stats: Arc<ConnStats>) {
        *self.stats.borrow_mut() = Some(stats);
    }

    pub fn limit_ms(&self) -> u32 {
        self.limit_ms
    }

    /// Whether the stream was ever live for this player.
    pub fn has_started(&self) -> bool {
        self.started.get()
    }

    pub fn state(&self) -> QueueState {
        self.state.get()
    }

    /// Stop the writer once it has sent what is queued.
    pub fn close(&self) {
        if self.state.get() == QueueState::Open {
            self.state.set(QueueState::Closed);
        }
        self.wake();
    }

    /// The stream (re)starts for this player: the start marker, then `bootstrap` (metadata,
    /// sequence headers, GOP cache), whose span does not count as lag.
    pub fn start_stream(&self, bootstrap: &[SharedFrame]) {
        let mut media = bootstrap.iter().filter(|f| !f.seq_header);
        let burst = media.next().map(|first| {
            let last = bootstrap.last().map_or(first.ts, |f| f.ts);
            Burst {
                until_ts: last,
                credit_ms: ts_diff(last, first.ts),
            }
        });
        self.burst.set(burst);
        self.push(Delivery::StreamStart);
        for frame in bootstrap {
            self.push(Delivery::Frame(frame.clone()));
        }
    }

    pub fn push(&self, item: Delivery) {
        if self.state.get() != QueueState::Open {
            return;
        }
        match item {
            Delivery::StreamStart => {
                self.started.set(true);
                self.ended.set(false);
                *self.held_headers.borrow_mut() = Some(Vec::new());
            }
            Delivery::StreamEnd => self.ended.set(true),
            _ => {}
        }
        if let Delivery::Frame(frame) = &item
            && frame.is_droppable_video()
            && self.skipping_video.get()
        {
            if !frame.keyframe {
                self.count_dropped(1);
                return;
            }
            self.skipping_video.set(false);
        }
        if let Delivery::Frame(frame) = &item
            && self.hold_or_release_headers(frame)
        {
            return;
        }
        self.queued_bytes
            .set(self.queued_bytes.get() + item_len(&item));
        let is_seq_header = matches!(&item, Delivery::Frame(f) if f.seq_header);
        let newest_frame_ts = match &item {
            Delivery::Frame(f) => Some(f.ts),
            _ => None,
        };
        self.items.borrow_mut().push_back(item);
        if let Some(ts) = newest_frame_ts.filter(|_| !is_seq_header) {
            self.enforce_limit(ts);
        }
        self.wake();
    }

    /// While headers are held: holds `frame` if it is one (true), or queues them restamped
    /// ahead of `frame`, the first media frame (false).
    fn hold_or_release_headers(&self, frame: &SharedFrame) -> bool {
        let mut held = self.held_headers.borrow_mut();
        let Some(headers) = held.as_mut() else {
            return false;
        };
        if frame.seq_header {
            headers.retain(|h| h.kind != frame.kind);
            headers.push(frame.clone());
            return true;
        }
        let headers = held.take().unwrap_or_default();
        drop(held);
        for header in headers {
            let header = if header.ts == frame.ts {
                header
            } else {
                Arc::new(header.restamped(frame.ts))
            };
            self.push(Delivery::Frame(header));
        }
        false
    }

    fn enforce_limit(&self, newest_ts: u32) {
        if self.within_limits(newest_ts) {
            return;
        }
        let mut items = self.items.borrow_mut();
        let before = items.len();
        items.retain(|item| !matches!(item, Delivery::Frame(f) if f.is_droppable_video()));
        let dropped = (before - items.len()) as u64;
        self.queued_bytes.set(items.iter().map(item_len).sum());
        drop(items);
        self.count_dropped(dropped);
        self.skipping_video.set(true);
        if !self.within_limits(newest_ts) {
            self.state.set(QueueState::Lagging);
            self.items.borrow_mut().clear();
            self.queued_bytes.set(0);
        }
    }

    fn within_limits(&self, newest_ts: u32) -> bool {
        if self.queued_bytes.get() > MAX_QUEUED_BYTES {
            return false;
        }
        let Some(oldest_ts) = self.oldest_media_ts() else {
            return true;
        };
        let allowed = match self.burst.get() {
            Some(burst) if ts_diff(burst.until_ts, oldest_ts) > 0 => {
                self.limit_ms.saturating_add(burst.credit_ms)
            }
            _ => {
                self.burst.set(None);
                self.limit_ms
            }
        };
        ts_diff(newest_ts, oldest_ts) <= allowed
    }

    /// Timestamp of the oldest queued media frame. Metadata and sequence headers do not count:
    /// they carry the stream's first timestamp, however long ago that was.
    fn oldest_media_ts(&self) -> Option<u32> {
        let items = self.items.borrow();
        items.iter().find_map(|item| match item {
            Delivery::Frame(f) if !f.seq_header => Some(f.ts),
            _ => None,
        })
    }

    /// Wait until there is something to send or the queue stopped being open.
    /// Whether the stream this queue plays has ended and not come back.
    pub fn stream_ended(&self) -> bool {
        self.ended.get()
    }

    pub async fn ready(&self) {
        poll_fn(|cx| {
            if !self.items.borrow().is_empty() || self.state.get() != QueueState::Open {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }

    fn count_dropped(&self, frames: u64) {
        if let Some(stats) = &*self.stats.borrow() {
            stats.count_dropped(frames);
        }
    }

    /// Take queued items, oldest first, until `budget` bytes are taken (at least one item).
    pub fn take_batch(&self, budget: usize, out: &mut Vec<Delivery>) {
        let mut items = self.items.borrow_mut();
        let mut taken = 0;
        while let Some(item) = items.front() {
            let len = item_len(item);
            if taken > 0 && taken + len > budget {
                break;
            }
            taken += len;
            if let (Delivery::Frame(frame), Some(stats)) = (item, &*self.stats.borrow()) {
                stats.count(frame.kind, frame.body().len());
            }
            out.extend(items.pop_front());
        }
        if items.is_empty() && items.capacity() > IDLE_CAPACITY {
            // A join burst (the GOP cache) grew the queue; an idle player keeps little.
            items.shrink_to(IDLE_CAPACITY);
        }
        self.queued_bytes
            .set(self.queued_bytes.get().saturating_sub(taken));
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// `newer - older` in media time; 0 when `newer` is not newer (timestamp reset).
fn ts_diff(newer: u32, older: u32) -> u32 {
    (newer.wrapping_sub(older) as i32).max(0) as u32
}

fn item_len(item: &Delivery) -> usize {
    match item {
        // The FLV form: always built, and within a few bytes of the RTMP one.
        Delivery::Frame(f) => f.flv.len(),
        Delivery::Raw(b) => b.len(),
        Delivery::StreamStart | Delivery::StreamEnd => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::stream::frame::{Frame, FrameKind};
    use crate::stream::key::StreamKey;
    use crate::stream::stats::{Protocol, Role, StatsGuard, StatsRegistry};

    fn frame(kind: FrameKind, ts: u32, key: bool) -> Delivery {
        Delivery::Frame(Arc::new(Frame::new(
            kind,
            ts,
            key,
            false,
            Bytes::from_static(b"x"),
        )))
    }

    /// An outbox listed in a stats registry, so that its drops are counted.
    fn counted_outbox(limit_ms: u32) -> (Outbox, StatsGuard) {
        let outbox = Outbox::new(limit_ms);
        let peer = "127.0.0.1:5000".parse().expect("address");
        let key = StreamKey::new("live", "a");
        let guard = StatsRegistry::new().register(Role::Player, Protocol::Rtmp, key, (peer, peer));
        outbox.set_stats(guard.stats.clone());
        (outbox, guard)
    }

    fn queued(outbox: &Outbox) -> Vec<(u32, bool)> {
        let mut out = Vec::new();
        outbox.take_batch(usize::MAX, &mut out);
        out.iter()
            .filter_map(|d| match d {
                Delivery::Frame(f) => Some((f.ts, f.kind == FrameKind::Video)),
                _ => None,
            })
            .collect()
    }

    fn header(kind: FrameKind, ts: u32) -> SharedFrame {
        Arc::new(Frame::new(kind, ts, false, true, Bytes::from_static(b"h")))
    }

    /// (timestamp, is a header) of every queued frame.
    fn stamps(outbox: &Outbox) -> Vec<(u32, bool)> {
        let mut out = Vec::new();
        outbox.take_batch(usize::MAX, &mut out);
        out.iter()
            .filter_map(|d| match d {
                Delivery::Frame(f) => Some((f.ts, f.seq_header)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_late_joiner_gets_headers_at_the_time_of_its_first_frame() {
        let outbox = Outbox::new(3000);
        let Delivery::Frame(key) = frame(FrameKind::Video, 8000, true) else {
            unreachable!()
        };
        let bootstrap = [
            header(FrameKind::Data, 0),
            header(FrameKind::Video, 0),
            header(FrameKind::Audio, 0),
            key,
        ];
        outbox.start_stream(&bootstrap);
        outbox.push(frame(FrameKind::Audio, 8010, false));
        assert_eq!(
            stamps(&outbox),
            [
                (8000, true),
                (8000, true),
                (8000, true),
                (8000, false),
                (8010, false)
            ]
        );
        // A header published later goes out as it came.
        outbox.push(Delivery::Frame(header(FrameKind::Video, 9000)));
        assert_eq!(stamps(&outbox), [(9000, true)]);
    }

    #[test]
    fn without_a_cached_gop_headers_wait_for_the_first_live_frame() {
        let outbox = Outbox::new(3000);
        outbox.start_stream(&[header(FrameKind::Video, 0), header(FrameKind::Audio, 0)]);
        // A newer video header replaces the held one.
        outbox.push(Delivery::Frame(header(FrameKind::Video, 5000)));
        assert_eq!(stamps(&outbox), []);
        outbox.push(frame(FrameKind::Audio, 6000, false));
        assert_eq!(stamps(&outbox), [(6000, true), (6000, true), (6000, false)]);
    }

    #[test]
    fn an_emptied_queue_gives_back_what_a_burst_grew() {
        let outbox = Outbox::new(3000);
        for ts in 0..200 {
            outbox.push(frame(FrameKind::Audio, ts, false));
        }
        assert!(outbox.items.borrow().capacity() >= 200);
        let mut batch = Vec::new();
        outbox.take_batch(usize::MAX, &mut batch);
        assert_eq!(batch.len(), 200);
        assert!(outbox.items.borrow().capacity() <= IDLE_CAPACITY);
    }

    #[test]
    fn falling_behind_drops_video_to_next_keyframe_keeps_audio() {
        let (outbox, stats) = counted_outbox(1000);
        outbox.push(frame(FrameKind::Video, 0, true));
        outbox.push(frame(FrameKind::Audio, 500, false));
        outbox.push(frame(FrameKind::Video, 900, false));
        outbox.push(frame(FrameKind::Audio, 1000, false));
        outbox.push(frame(FrameKind::Video, 1100, false)); // span 1100 > 1000: video dropped
        outbox.push(frame(FrameKind::Video, 1200, false)); // still skipping
        outbox.push(frame(FrameKind::Video, 1300, true)); // keyframe resumes video
        assert_eq!(outbox.state(), QueueState::Open);
        assert_eq!(
            queued(&outbox),
            vec![(500, false), (1000, false), (1300, true)]
        );
        assert_eq!(stats.stats.dropped_frames(), 4);
    }

    #[test]
    fn still_behind_after_dropping_video_means_lagging() {
        let outbox = Outbox::new(1000);
        outbox.push(frame(FrameKind::Audio, 0, false));
        outbox.push(frame(FrameKind::Audio, 1500, false));
        assert_eq!(outbox.state(), QueueState::Lagging);
        assert!(queued(&outbox).is_empty());
    }

    #[test]
    fn batches_respect_the_budget_but_take_at_least_one() {
        let outbox = Outbox::new(1000);
        outbox.push(Delivery::Raw(Bytes::from(vec![0u8; 10])));
        outbox.push(Delivery::Raw(Bytes::from(vec![0u8; 10])));
        let mut out = Vec::new();
        outbox.take_batch(5, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        outbox.take_batch(100, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn headers_from_the_stream_start_do_not_count_as_lag() {
        let outbox = Outbox::new(1000);
        let header = Frame::new(FrameKind::Video, 0, false, true, Bytes::from_static(b"x"));
        outbox.push(Delivery::Frame(Arc::new(header)));
        outbox.push(frame(FrameKind::Video, 60_000, true));
        outbox.push(frame(FrameKind::Video, 60_500, false));
        assert_eq!(outbox.state(), QueueState::Open);
        assert_eq!(queued(&outbox).len(), 3);
    }

    fn frames(spec: &[(FrameKind, u32, bool)]) -> Vec<SharedFrame> {
        let new =
            |&(kind, ts, key)| Arc::new(Frame::new(kind, ts, key, false, Bytes::from_static(b"x")));
        spec.iter().map(new).collect()
    }

    #[test]
    fn the_join_burst_is_not_lag_but_falling_further_behind_is() {
        let (outbox, stats) = counted_outbox(1000);
        let gop = frames(&[
            (FrameKind::Video, 10_000, true),
            (FrameKind::Video, 11_000, false),
            (FrameKind::Video, 11_900, false),
        ]);
        outbox.start_stream(&gop);
        outbox.push(frame(FrameKind::Video, 12_000, false));
        assert_eq!(
            outbox.state(),
            QueueState::Open,
            "a 2 s GOP burst with a 1 s limit"
        );
        outbox.push(frame(FrameKind::Video, 13_100, false));
        assert!(
            queued(&outbox).is_empty(),
            "3.1 s behind: queued video dropped"
        );
        assert_eq!(stats.stats.dropped_frames(), 5);
        assert_eq!(outbox.state(), QueueState::Open);
    }

    #[test]
    fn the_burst_credit_ends_once_the_burst_is_sent() {
        let outbox = Outbox::new(1000);
        outbox.start_stream(&frames(&[
            (FrameKind::Video, 0, true),
            (FrameKind::Video, 1900, false),
        ]));
        outbox.take_batch(usize::MAX, &mut Vec::new());
        outbox.push(frame(FrameKind::Audio, 2000, false));
        outbox.push(frame(FrameKind::Audio, 3500, false));
        assert_eq!(outbox.state(), QueueState::Lagging);
    }

    #[test]
    fn timestamp_reset_is_not_lag() {
        let outbox = Outbox::new(1000);
        outbox.push(frame(FrameKind::Audio, 90_000, false));
        outbox.push(frame(FrameKind::Audio, 0, false));
        assert_eq!(outbox.state(), QueueState::Open);
    }
}
