//! Turns a publisher's RTMP media and data messages into [`Frame`]s: classifies keyframes and
//! sequence headers from the FLV tag headers, and turns `@setDataFrame` into the plain
//! `onMetaData` message players expect.

use bytes::Bytes;

use super::frame::{Frame, FrameKind};
use crate::flv::tag::{AudioTagHeader, VideoTagHeader};
use crate::rtmp::message::msg_type;

/// AMF0 encoding of the string "@setDataFrame" (marker, u16 length, bytes).
const SET_DATA_FRAME: &[u8] = b"\x02\x00\x0d@setDataFrame";
/// AMF0 encoding of the string "onMetaData".
const ON_META_DATA: &[u8] = b"\x02\x00\x0aonMetaData";

/// Why a message is not turned into a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not a media or data message.
    NotMedia,
    /// An empty or undecodable tag: dropped, the stream goes on.
    Malformed(String),
    /// Valid but not forwarded (AVC end of sequence, video info frames).
    Ignored,
    /// A message with nothing past its tag header (or nothing at all): no media to forward,
    /// and a flood of them would cost a frame's bookkeeping per byte or two received.
    Empty,
}

pub fn frame_from_message(type_id: u8, ts: u32, payload: Bytes) -> Result<Frame, Skip> {
    match type_id {
        msg_type::AUDIO => {
            let header = AudioTagHeader::parse(&payload).map_err(malformed)?;
            if payload.len() <= header.header_len() {
                return Err(Skip::Empty);
            }
            let seq = header.is_sequence_header();
            Ok(Frame::new(FrameKind::Audio, ts, false, seq, payload))
        }
        msg_type::VIDEO => {
            let header = VideoTagHeader::parse(&payload).map_err(malformed)?;
            if header.frame_type == 5 || header.avc_packet_type == Some(2) {
                return Err(Skip::Ignored);
            }
            if payload.len() <= header.header_len() {
                return Err(Skip::Empty);
            }
            let seq = header.is_sequence_header();
            let key = header.is_keyframe() && !seq;
            Ok(Frame::new(FrameKind::Video, ts, key, seq, payload))
        }
        msg_type::DATA_AMF0 | msg_type::DATA_AMF3 if payload.len() <= 1 => Err(Skip::Empty),
        msg_type::DATA_AMF0 => Ok(data_frame(ts, payload)),
        // AMF3 data messages carry a format byte, then AMF0 values.
        msg_type::DATA_AMF3 => Ok(data_frame(ts, payload.slice(1..))),
        _ => Err(Skip::NotMedia),
    }
}

fn data_frame(ts: u32, payload: Bytes) -> Frame {
    let payload = match payload.strip_prefix(SET_DATA_FRAME) {
        Some(rest) => payload.slice(payload.len() - rest.len()..),
        None => payload,
    };
    let metadata = payload.starts_with(ON_META_DATA);
    Frame::new(FrameKind::Data, ts, false, metadata, payload)
}

fn malformed(e: impl std::fmt::Display) -> Skip {
    Skip::Malformed(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_data_frame_becomes_on_meta_data() {
        let mut payload = SET_DATA_FRAME.to_vec();
        payload.extend_from_slice(ON_META_DATA);
        payload.extend_from_slice(b"\x08\x00\x00\x00\x00\x00\x00\x09");
        let frame = frame_from_message(msg_type::DATA_AMF0, 0, payload.into()).expect("frame");
        assert!(frame.seq_header);
        assert_eq!(
            frame.body(),
            b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09"
        );
    }

    #[test]
    fn video_keyframes_and_sequence_headers_are_told_apart() {
        let seq = frame_from_message(
            msg_type::VIDEO,
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        );
        let seq = seq.expect("sequence header");
        assert!(seq.seq_header && !seq.keyframe);
        let key = frame_from_message(
            msg_type::VIDEO,
            0,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 1]),
        );
        assert!(key.expect("keyframe").keyframe);
        let inter = frame_from_message(
            msg_type::VIDEO,
            0,
            Bytes::from_static(&[0x27, 1, 0, 0, 0, 1]),
        );
        assert!(!inter.expect("inter frame").keyframe);
        let eos = frame_from_message(msg_type::VIDEO, 0, Bytes::from_static(&[0x17, 2, 0, 0, 0]));
        assert_eq!(eos.err(), Some(Skip::Ignored));
    }

    #[test]
    fn empty_media_is_malformed_not_a_panic() {
        let r = frame_from_message(msg_type::VIDEO, 0, Bytes::new());
        assert!(matches!(r, Err(Skip::Malformed(_))));
        let r = frame_from_message(msg_type::AUDIO, 0, Bytes::new());
        assert!(matches!(r, Err(Skip::Malformed(_))));
        assert_eq!(
            frame_from_message(20, 0, Bytes::new()).err(),
            Some(Skip::NotMedia)
        );
    }

    #[test]
    fn messages_with_nothing_past_the_tag_header_are_dropped() {
        for (type_id, payload) in [
            (msg_type::VIDEO, &[0x17, 1, 0, 0, 0][..]),
            (msg_type::VIDEO, &[0x12][..]),
            (msg_type::AUDIO, &[0xAF, 1][..]),
            (msg_type::AUDIO, &[0x2F][..]),
            (msg_type::DATA_AMF0, &[][..]),
            (msg_type::DATA_AMF0, &[0x05][..]),
            (msg_type::DATA_AMF3, &[0][..]),
        ] {
            let r = frame_from_message(type_id, 0, Bytes::copy_from_slice(payload));
            assert_eq!(r.err(), Some(Skip::Empty), "{type_id} {payload:?}");
        }
    }
}
