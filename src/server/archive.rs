//! FLV archive (`flv_archive: true`): each publishing session is recorded to
//! `flv_dir/{app}/{name}_{unixtime}.flv` (FLV header, metadata, sequence headers, then the tags
//! with timestamps rebased to start at 0).
//!
//! Off the hot path: the publisher's core hands each tag to a bounded local channel and never
//! waits; a writer task on the same core writes them through glommio's buffered file stream.
//! Disk errors, or a disk too slow to keep up, stop the archive of that stream (with a log
//! line), never the stream. Dropping the [`Archive`] closes the file cleanly; on shutdown the
//! core waits (briefly) for its writers through the gate.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::io::{BufferedFile, StreamWriterBuilder};
use glommio::sync::Gate;

use crate::flv;
use crate::stream::{Frame, StreamKey};

/// Tags waiting for the disk before the archive gives up.
const QUEUE: usize = 4096;

pub struct Archive {
    key: StreamKey,
    tags: Option<LocalSender<Bytes>>,
    timeline: Timeline,
}

impl Archive {
    /// Start recording `key` under `dir`; the file is created by the writer task.
    pub fn start(dir: &str, key: StreamKey, unix_now: u64, gate: &Gate) -> Archive {
        let path = Path::new(dir)
            .join(&*key.app)
            .join(format!("{}_{unix_now}.flv", key.name));
        let (tx, rx) = local_channel::new_bounded(QUEUE);
        match gate.spawn(write(path, rx)) {
            Ok(task) => drop(task.detach()),
            Err(e) => log::warn!("archive of {key}: not started: {e}"),
        }
        Archive {
            key,
            tags: Some(tx),
            timeline: Timeline::default(),
        }
    }

    pub fn push(&mut self, frame: &Frame) {
        let Some(tags) = &self.tags else { return };
        let ts = self.timeline.rebase(frame);
        let tag = flv::tag::encode_tag(frame.kind.rtmp_type(), ts, frame.body());
        match tags.try_send(tag) {
            Ok(()) => {}
            // The writer failed and said why.
            Err(glommio::GlommioError::Closed(_)) => self.tags = None,
            Err(_) => {
                log::warn!("archive of {}: disk too slow, archive stopped", self.key);
                self.tags = None;
            }
        }
    }
}

/// Rebases timestamps so that the first media frame is at 0; metadata and sequence headers
/// sent before it are at 0 too.
#[derive(Debug, Default)]
struct Timeline {
    base: Cell<Option<u32>>,
}

impl Timeline {
    fn rebase(&self, frame: &Frame) -> u32 {
        if frame.seq_header && self.base.get().is_none() {
            return 0;
        }
        let base = *self.base.get().get_or_insert(frame.ts);
        self.base.set(Some(base));
        let since = frame.ts.wrapping_sub(base);
        // A frame slightly older than the first one (B-frame order, audio interleave).
        if since > u32::MAX / 2 { 0 } else { since }
    }
}

async fn write(path: PathBuf, tags: LocalReceiver<Bytes>) {
    match write_file(&path, &tags).await {
        Ok(()) => log::info!("archive {} closed", path.display()),
        Err(e) => log::warn!("archive {}: {e}: archive stopped", path.display()),
    }
}

async fn write_file(path: &Path, tags: &LocalReceiver<Bytes>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = BufferedFile::create(path).await?;
    let mut out = StreamWriterBuilder::new(file).build();
    out.write_all(&flv::header::file_header(true, true)).await?;
    while let Some(tag) = tags.recv().await {
        out.write_all(&tag).await?;
    }
    out.close().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::FrameKind;

    fn frame(kind: FrameKind, ts: u32, seq: bool) -> Frame {
        Frame::new(
            kind,
            ts,
            false,
            seq,
            Bytes::from_static(&[0x17, 1, 0, 0, 0]),
        )
    }

    #[test]
    fn timestamps_start_at_zero_headers_first() {
        let timeline = Timeline::default();
        assert_eq!(timeline.rebase(&frame(FrameKind::Data, 0, true)), 0);
        assert_eq!(timeline.rebase(&frame(FrameKind::Video, 0, true)), 0);
        assert_eq!(timeline.rebase(&frame(FrameKind::Video, 5000, false)), 0);
        assert_eq!(timeline.rebase(&frame(FrameKind::Audio, 4990, false)), 0);
        assert_eq!(timeline.rebase(&frame(FrameKind::Video, 5040, false)), 40);
        // A sequence header mid-stream keeps its place in time.
        assert_eq!(timeline.rebase(&frame(FrameKind::Video, 6000, true)), 1000);
    }

    #[test]
    fn rebasing_survives_the_timestamp_wrap() {
        let timeline = Timeline::default();
        assert_eq!(
            timeline.rebase(&frame(FrameKind::Video, u32::MAX - 9, false)),
            0
        );
        assert_eq!(timeline.rebase(&frame(FrameKind::Video, 30, false)), 40);
    }
}
