//! The GOP cache of a live stream: metadata, sequence headers and the last `gop_num` groups of
//! pictures, so that a new player starts on a keyframe at once.
//!
//! Bounded in memory and in frames: the cached GOPs together may cost at most
//! [`MAX_CACHE_BYTES`] ([`Frame::memory_cost`](super::frame::Frame::memory_cost): body copies plus bookkeeping, so a flood of
//! tiny frames counts what it really costs) and hold at most [`MAX_CACHE_FRAMES`] frames. Older
//! GOPs go first; a GOP that alone exceeds a bound (a publisher that never sends keyframes, or
//! floods empty frames) is discarded rather than kept growing.

use std::collections::VecDeque;

use super::frame::{FrameKind, SharedFrame};

/// Upper bound of the memory the cached GOPs of one stream may cost together.
pub const MAX_CACHE_BYTES: usize = 64 << 20;
/// Upper bound of the frames cached for one stream (~2.5 minutes of 60 fps video with audio).
pub const MAX_CACHE_FRAMES: usize = 16 * 1024;

#[derive(Debug, Default)]
struct Gop {
    frames: Vec<SharedFrame>,
    cost: usize,
}

#[derive(Debug, Default)]
pub struct GopCache {
    gop_num: usize,
    metadata: Option<SharedFrame>,
    video_header: Option<SharedFrame>,
    audio_header: Option<SharedFrame>,
    /// Complete and in-progress GOPs, oldest first; each starts with a keyframe.
    gops: VecDeque<Gop>,
    /// What the frames of `gops` cost together, and how many they are.
    cost: usize,
    frames: usize,
}

impl GopCache {
    pub fn new(gop_num: usize) -> Self {
        GopCache {
            gop_num,
            ..Default::default()
        }
    }

    pub fn push(&mut self, frame: &SharedFrame) {
        match frame.kind {
            FrameKind::Data if frame.seq_header => self.metadata = Some(frame.clone()),
            FrameKind::Video if frame.seq_header => self.video_header = Some(frame.clone()),
            FrameKind::Audio if frame.seq_header => self.audio_header = Some(frame.clone()),
            _ if self.gop_num == 0 => {}
            FrameKind::Video if frame.keyframe => {
                self.gops.push_back(Gop::default());
                self.append(frame);
                while self.gops.len() > self.gop_num {
                    self.drop_oldest();
                }
            }
            _ if self.gops.is_empty() => {}
            _ => self.append(frame),
        }
    }

    /// Adds `frame` to the open GOP, then drops old GOPs until the cache is within its bounds.
    fn append(&mut self, frame: &SharedFrame) {
        let cost = frame.memory_cost();
        let Some(open) = self.gops.back_mut() else {
            return;
        };
        open.frames.push(frame.clone());
        open.cost += cost;
        self.cost += cost;
        self.frames += 1;
        while self.cost > MAX_CACHE_BYTES || self.frames > MAX_CACHE_FRAMES {
            if self.gops.len() == 1 {
                log::warn!(
                    "GOP of {} frames costing {} bytes without a keyframe: cache dropped",
                    self.frames,
                    self.cost
                );
            }
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some(gop) = self.gops.pop_front() {
            self.cost -= gop.cost;
            self.frames -= gop.frames.len();
        }
    }

    /// What a new player receives before live frames: metadata, sequence headers, then the
    /// cached GOPs starting at a keyframe.
    pub fn bootstrap(&self) -> Vec<SharedFrame> {
        let headers = [&self.metadata, &self.video_header, &self.audio_header];
        let frames = self.gops.iter().flat_map(|gop| &gop.frames);
        headers
            .into_iter()
            .flatten()
            .chain(frames)
            .cloned()
            .collect()
    }

    /// Rebuild from a bootstrap sequence received from the owner core.
    pub fn load(&mut self, frames: &[SharedFrame]) {
        self.clear();
        for frame in frames {
            self.push(frame);
        }
    }

    pub fn clear(&mut self) {
        *self = GopCache::new(self.gop_num);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::stream::frame::Frame;

    fn frame(kind: FrameKind, ts: u32, key: bool, seq: bool) -> SharedFrame {
        Arc::new(Frame::new(
            kind,
            ts,
            key,
            seq,
            Bytes::from_static(&[0x17, 1, 0, 0, 0]),
        ))
    }

    fn timestamps(frames: &[SharedFrame]) -> Vec<(u32, bool)> {
        frames.iter().map(|f| (f.ts, f.keyframe)).collect()
    }

    #[test]
    fn bootstrap_is_headers_then_last_gops_from_a_keyframe() {
        let mut cache = GopCache::new(2);
        cache.push(&frame(FrameKind::Video, 0, false, false)); // before any keyframe: not cached
        cache.push(&frame(FrameKind::Data, 0, false, true));
        cache.push(&frame(FrameKind::Video, 0, true, true));
        cache.push(&frame(FrameKind::Audio, 0, false, true));
        for gop in 0..3u32 {
            cache.push(&frame(FrameKind::Video, gop * 100, true, false));
            cache.push(&frame(FrameKind::Audio, gop * 100 + 10, false, false));
            cache.push(&frame(FrameKind::Video, gop * 100 + 33, false, false));
        }
        let boot = cache.bootstrap();
        assert_eq!(boot[0].kind, FrameKind::Data);
        assert!(boot[1].seq_header && boot[1].kind == FrameKind::Video);
        assert!(boot[2].seq_header && boot[2].kind == FrameKind::Audio);
        assert_eq!(
            timestamps(&boot[3..]),
            vec![
                (100, true),
                (110, false),
                (133, false),
                (200, true),
                (210, false),
                (233, false)
            ]
        );
    }

    #[test]
    fn the_cache_is_bounded_in_frames() {
        let mut cache = GopCache::new(2);
        cache.push(&frame(FrameKind::Video, 0, true, false));
        for ts in 1..MAX_CACHE_FRAMES as u32 {
            cache.push(&frame(FrameKind::Audio, ts, false, false));
        }
        cache.push(&frame(FrameKind::Video, 1_000_000, true, false));
        // The new GOP pushed the cache over the bound: the old one went.
        assert_eq!(timestamps(&cache.bootstrap()), vec![(1_000_000, true)]);
        for ts in 1..=MAX_CACHE_FRAMES as u32 {
            cache.push(&frame(FrameKind::Audio, 1_000_000 + ts, false, false));
        }
        // One GOP over the bound alone: dropped, until the next keyframe.
        assert!(cache.bootstrap().is_empty());
        assert_eq!((cache.cost, cache.frames), (0, 0));
    }

    #[test]
    fn the_cache_is_bounded_in_bytes_with_per_frame_costs() {
        let big = |ts, key| {
            Arc::new(Frame::new(
                FrameKind::Video,
                ts,
                key,
                false,
                Bytes::from(vec![0x17; 8 << 20]),
            ))
        };
        let mut cache = GopCache::new(4);
        for ts in 0..4 {
            cache.push(&big(ts, true));
        }
        // Each costs 16 MiB and its overhead: three fit in 64 MiB, the oldest goes.
        assert_eq!(
            timestamps(&cache.bootstrap()),
            vec![(1, true), (2, true), (3, true)]
        );
        assert!(cache.cost <= MAX_CACHE_BYTES);
    }

    #[test]
    fn gop_num_zero_keeps_only_headers() {
        let mut cache = GopCache::new(0);
        cache.push(&frame(FrameKind::Video, 0, true, true));
        cache.push(&frame(FrameKind::Video, 0, true, false));
        assert_eq!(cache.bootstrap().len(), 1);
    }

    #[test]
    fn load_rebuilds_the_same_bootstrap() {
        let mut cache = GopCache::new(1);
        cache.push(&frame(FrameKind::Video, 0, true, true));
        cache.push(&frame(FrameKind::Video, 40, true, false));
        cache.push(&frame(FrameKind::Video, 80, false, false));
        let mut copy = GopCache::new(1);
        copy.load(&cache.bootstrap());
        assert_eq!(
            timestamps(&copy.bootstrap()),
            timestamps(&cache.bootstrap())
        );
    }
}
