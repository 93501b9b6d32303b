//! A media or data message of a live stream, serialised once for every output format.
//!
//! The owner core builds a [`Frame`] per incoming message: the FLV tag bytes and, once some
//! core has players of the stream, the RTMP chunk bytes (first chunk with a type-0 header, so
//! any player can receive them whatever it saw before; docs/ARCHITECTURE.md). Both are
//! shared, refcounted, by every player on every core. A stream nobody plays yet (most of a
//! busy ingest server's) skips the RTMP form; a frame cached then gets it from the first
//! player that needs it.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};

use crate::flv;
use crate::rtmp::chunk;
use crate::rtmp::message::msg_type;
use crate::rtmp::session::{MEDIA_STREAM_ID, player_chunk_size};

/// Chunk stream ids of shared media. Per-player messages use csid 2 and 3 only.
pub const CSID_AUDIO: u32 = 4;
pub const CSID_DATA: u32 = 5;
pub const CSID_VIDEO: u32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Audio,
    Video,
    /// Script data (onMetaData).
    Data,
}

impl FrameKind {
    pub fn rtmp_type(self) -> u8 {
        match self {
            FrameKind::Audio => msg_type::AUDIO,
            FrameKind::Video => msg_type::VIDEO,
            FrameKind::Data => msg_type::DATA_AMF0,
        }
    }

    fn csid(self) -> u32 {
        match self {
            FrameKind::Audio => CSID_AUDIO,
            FrameKind::Video => CSID_VIDEO,
            FrameKind::Data => CSID_DATA,
        }
    }
}

/// One message of a live stream in all its output forms.
#[derive(Debug)]
pub struct Frame {
    /// Media timestamp in milliseconds, as published.
    pub ts: u32,
    pub kind: FrameKind,
    /// A video keyframe (a GOP starts here).
    pub keyframe: bool,
    /// AVC decoder configuration, AAC AudioSpecificConfig or onMetaData: never dropped, cached
    /// apart.
    pub seq_header: bool,
    /// Length of the message body as published (the FLV tag's body: [`Frame::body`]).
    body_len: usize,
    /// The whole message as RTMP chunks for a player (chunk size
    /// [`PLAYER_CHUNK_SIZE`](crate::rtmp::session::PLAYER_CHUNK_SIZE)), once built
    /// ([`Frame::rtmp`]).
    rtmp: OnceLock<Bytes>,
    /// The FLV tag: 11-byte header, body, PreviousTagSize.
    pub flv: Bytes,
}

/// Bytes a frame costs beyond its two copies of the body (see [`Frame::memory_cost`]).
pub const FRAME_OVERHEAD: usize = 200;

/// Frames travel between cores and players as one refcounted allocation.
pub type SharedFrame = Arc<Frame>;

impl Frame {
    pub fn new(kind: FrameKind, ts: u32, keyframe: bool, seq_header: bool, body: Bytes) -> Frame {
        // The body is read from the FLV tag: a frame holds its payload once, and never pins the
        // (much larger) socket read buffer the payload was sliced from, which a GOP cache of
        // small frames would otherwise keep alive block by block. It is not a `Bytes` of its
        // own: slicing the tag would allocate a shared header per frame.
        let flv = flv::tag::encode_tag(kind.rtmp_type(), ts, &body);
        Frame {
            ts,
            kind,
            keyframe,
            seq_header,
            body_len: body.len(),
            rtmp: OnceLock::new(),
            flv,
        }
    }

    /// The memory a cached frame costs: its FLV tag and its RTMP chunks (each about the body)
    /// and [`FRAME_OVERHEAD`] of allocation headers, refcounts and slots.
    pub fn memory_cost(&self) -> usize {
        2 * self.body_len + FRAME_OVERHEAD
    }

    /// The same frame at another timestamp (a header sent to a late joiner).
    pub fn restamped(&self, ts: u32) -> Frame {
        Frame::new(
            self.kind,
            ts,
            self.keyframe,
            self.seq_header,
            self.body_bytes(),
        )
    }

    /// The message body as published (the FLV tag's body).
    pub fn body(&self) -> &[u8] {
        &self.flv[self.body_range()]
    }

    /// [`Frame::body`] as shared bytes of its own.
    pub fn body_bytes(&self) -> Bytes {
        self.flv.slice(self.body_range())
    }

    /// Where the body sits in the FLV tag.
    fn body_range(&self) -> Range<usize> {
        let start = flv::tag::TAG_HEADER_LEN;
        start..start + self.body_len
    }

    /// The whole message as RTMP chunks, built by the first caller and shared from then on.
    pub fn rtmp(&self) -> &Bytes {
        self.rtmp.get_or_init(|| {
            let (kind, ts) = (self.kind, self.ts);
            let chunk_size = player_chunk_size();
            let len = chunk::encoded_len(self.body_len, kind.csid(), ts, chunk_size);
            let mut rtmp = BytesMut::with_capacity(len);
            chunk::encode_independent(
                kind.csid(),
                ts,
                kind.rtmp_type(),
                MEDIA_STREAM_ID,
                self.body(),
                chunk_size,
                &mut rtmp,
            );
            rtmp.freeze()
        })
    }

    /// Video that may be skipped when a player falls behind (not a sequence header).
    pub fn is_droppable_video(&self) -> bool {
        self.kind == FrameKind::Video && !self.seq_header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_a_view_into_the_flv_tag_not_the_input_buffer() {
        let read_buffer = Bytes::from(vec![0xAF; 64 * 1024]);
        let payload = read_buffer.slice(100..400);
        let frame = Frame::new(FrameKind::Audio, 7, false, false, payload.clone());
        assert_eq!(frame.body(), &payload[..]);
        assert_eq!(frame.body_bytes(), payload);
        let tag_body = &frame.flv[flv::tag::TAG_HEADER_LEN..];
        assert_eq!(frame.body().as_ptr(), tag_body.as_ptr());
        let buffer_range = read_buffer.as_ptr_range();
        assert!(!buffer_range.contains(&frame.body().as_ptr()));
    }

    #[test]
    fn the_rtmp_form_is_built_on_first_use_as_type_0_then_type_3_chunks() {
        let body: Vec<u8> = (0..4100u32).map(|i| i as u8).collect();
        let frame = Frame::new(
            FrameKind::Video,
            0x12_3456,
            true,
            false,
            Bytes::from(body.clone()),
        );
        assert!(frame.rtmp.get().is_none(), "nobody asked for it yet");
        let mut expected = vec![
            0x06, // fmt 0, csid 6 (video)
            0x12, 0x34, 0x56, // timestamp
            0x00, 0x10, 0x04, // length 4100
            0x09, // video
            0x01, 0x00, 0x00, 0x00, // message stream id 1, little-endian
        ];
        expected.extend_from_slice(&body[..4096]);
        expected.push(0xC6); // fmt 3, csid 6
        expected.extend_from_slice(&body[4096..]);
        assert_eq!(&frame.rtmp()[..], &expected[..]);
        // Built once: the second use shares the same bytes.
        assert_eq!(frame.rtmp().as_ptr(), frame.rtmp().as_ptr());
    }
}
