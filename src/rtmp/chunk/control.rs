//! Protocol control messages (spec §5.4) and user control messages (§7.1.7): builders for
//! messages to send (csid 2, message stream id 0, timestamp 0) and parsers for received payloads.

use bytes::{BufMut, Bytes, BytesMut};

use super::{ChunkError, ChunkSize};
use crate::rtmp::message::{Message, msg_type, user_control as event};

/// Chunk stream id reserved for protocol control messages.
const CONTROL_CSID: u32 = 2;

fn control(type_id: u8, payload: Bytes) -> Message {
    Message {
        csid: CONTROL_CSID,
        timestamp: 0,
        type_id,
        stream_id: 0,
        payload,
    }
}

fn u32_message(type_id: u8, value: u32) -> Message {
    control(type_id, Bytes::copy_from_slice(&value.to_be_bytes()))
}

pub fn set_chunk_size(size: ChunkSize) -> Message {
    u32_message(msg_type::SET_CHUNK_SIZE, size.get())
}

/// Tells the peer to discard the partially received message on chunk stream `csid`.
pub fn abort(csid: u32) -> Message {
    u32_message(msg_type::ABORT, csid)
}

/// `sequence` is the number of bytes received so far (wrapping).
pub fn acknowledgement(sequence: u32) -> Message {
    u32_message(msg_type::ACKNOWLEDGEMENT, sequence)
}

pub fn window_ack_size(size: u32) -> Message {
    u32_message(msg_type::WINDOW_ACK_SIZE, size)
}

/// `limit_type`: 0 hard, 1 soft, 2 dynamic.
pub fn set_peer_bandwidth(size: u32, limit_type: u8) -> Message {
    let mut payload = BytesMut::with_capacity(5);
    payload.put_u32(size);
    payload.put_u8(limit_type);
    control(msg_type::SET_PEER_BANDWIDTH, payload.freeze())
}

/// A user control message: 2-byte event type followed by the event data.
pub fn user_control(event: u16, data: &[u8]) -> Message {
    let mut payload = BytesMut::with_capacity(2 + data.len());
    payload.put_u16(event);
    payload.put_slice(data);
    control(msg_type::USER_CONTROL, payload.freeze())
}

pub fn stream_begin(stream_id: u32) -> Message {
    user_control(event::STREAM_BEGIN, &stream_id.to_be_bytes())
}

pub fn stream_eof(stream_id: u32) -> Message {
    user_control(event::STREAM_EOF, &stream_id.to_be_bytes())
}

pub fn stream_is_recorded(stream_id: u32) -> Message {
    user_control(event::STREAM_IS_RECORDED, &stream_id.to_be_bytes())
}

pub fn ping_request(timestamp: u32) -> Message {
    user_control(event::PING_REQUEST, &timestamp.to_be_bytes())
}

pub fn ping_response(timestamp: u32) -> Message {
    user_control(event::PING_RESPONSE, &timestamp.to_be_bytes())
}

/// The big-endian u32 leading a Set Chunk Size, Abort, Acknowledgement or Window Acknowledgement
/// Size payload (also the size field of Set Peer Bandwidth). Trailing bytes are ignored.
pub fn parse_u32(payload: &[u8]) -> Result<u32, ChunkError> {
    match payload {
        [a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(ChunkError::ShortControlPayload {
            needed: 4,
            actual: payload.len(),
        }),
    }
}

/// Splits a user control payload into its event type and event data.
pub fn parse_user_control(payload: &[u8]) -> Result<(u16, &[u8]), ChunkError> {
    match payload {
        [a, b, data @ ..] => Ok((u16::from_be_bytes([*a, *b]), data)),
        _ => Err(ChunkError::ShortControlPayload {
            needed: 2,
            actual: payload.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let m = set_chunk_size(ChunkSize::new(4096).unwrap());
        assert_eq!((m.csid, m.timestamp, m.type_id, m.stream_id), (2, 0, 1, 0));
        assert_eq!(&m.payload[..], [0, 0, 0x10, 0]);
        assert_eq!(&abort(7).payload[..], [0, 0, 0, 7]);
        assert_eq!(
            acknowledgement(0x0102_0304).type_id,
            msg_type::ACKNOWLEDGEMENT
        );
        assert_eq!(&acknowledgement(0x0102_0304).payload[..], [1, 2, 3, 4]);
        assert_eq!(
            &window_ack_size(2_500_000).payload[..],
            [0, 0x26, 0x25, 0xA0]
        );
        let bw = set_peer_bandwidth(2_500_000, 2);
        assert_eq!(
            (bw.type_id, &bw.payload[..]),
            (6, &[0, 0x26, 0x25, 0xA0, 2][..])
        );
        let begin = stream_begin(1);
        assert_eq!((begin.csid, begin.type_id), (2, msg_type::USER_CONTROL));
        assert_eq!(&begin.payload[..], [0, 0, 0, 0, 0, 1]);
        assert_eq!(&stream_eof(1).payload[..], [0, 1, 0, 0, 0, 1]);
        assert_eq!(&stream_is_recorded(1).payload[..], [0, 4, 0, 0, 0, 1]);
        assert_eq!(&ping_request(9).payload[..], [0, 6, 0, 0, 0, 9]);
        assert_eq!(&ping_response(9).payload[..], [0, 7, 0, 0, 0, 9]);
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_u32(&[0, 0, 1, 0, 99]), Ok(256));
        assert_eq!(
            parse_u32(&[1, 2]).unwrap_err().to_string(),
            "control message payload has 2 bytes, needs at least 4"
        );
        let ping = ping_request(5);
        assert_eq!(
            parse_user_control(&ping.payload),
            Ok((6, &[0, 0, 0, 5][..]))
        );
        assert!(parse_user_control(&[0]).is_err());
    }
}
