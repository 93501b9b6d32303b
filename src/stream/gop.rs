//! The GOP cache of a live stream: metadata, sequence headers and the last `gop_num` groups of
//! pictures, so that a new player starts on a keyframe at once.
//!
//! Bounded: a GOP that grows past [`MAX_GOP_BYTES`] (a publisher that never sends keyframes)
//! is discarded rather than kept growing.

use std::collections::VecDeque;

use super::frame::{FrameKind, SharedFrame};

/// Upper bound of the bytes one cached GOP may hold.
pub const MAX_GOP_BYTES: usize = 64 << 20;

#[derive(Debug, Default)]
pub struct GopCache {
    gop_num: usize,
    metadata: Option<SharedFrame>,
    video_header: Option<SharedFrame>,
    audio_header: Option<SharedFrame>,
    /// Complete and in-progress GOPs, oldest first; each starts with a keyframe.
    gops: VecDeque<Vec<SharedFrame>>,
    open_gop_bytes: usize,
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
                self.gops.push_back(vec![frame.clone()]);
                self.open_gop_bytes = frame.body().len();
                while self.gops.len() > self.gop_num {
                    self.gops.pop_front();
                }
            }
            _ => {
                let Some(gop) = self.gops.back_mut() else {
                    return;
                };
                self.open_gop_bytes += frame.body().len();
                if self.open_gop_bytes > MAX_GOP_BYTES {
                    log::warn!("GOP over {MAX_GOP_BYTES} bytes without a keyframe: cache dropped");
                    self.gops.clear();
                } else {
                    gop.push(frame.clone());
                }
            }
        }
    }

    /// What a new player receives before live frames: metadata, sequence headers, then the
    /// cached GOPs starting at a keyframe.
    pub fn bootstrap(&self) -> Vec<SharedFrame> {
        let headers = [&self.metadata, &self.video_header, &self.audio_header];
        let frames = self.gops.iter().flatten();
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
