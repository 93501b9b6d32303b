//! Chunk stream encoding (spec §5.3.1): the stateful per-connection [`ChunkWriter`] and the
//! stateless [`encode_independent`].

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};

use super::ChunkSize;
use crate::rtmp::message::Message;

/// Timestamp field value announcing a 4-byte extended timestamp.
const EXTENDED: u32 = 0xFF_FFFF;
/// Largest payload a 24-bit message length field can announce.
const MAX_PAYLOAD: usize = 0xFF_FFFF;

/// Header fields of the last message written on a chunk stream.
#[derive(Debug, Clone, Copy)]
struct Sent {
    timestamp: u32,
    /// Timestamp delta sent in the last fmt 1/2/3 header; `None` after fmt 0, so a following
    /// message never relies on how peers interpret fmt 3 after fmt 0.
    delta: Option<u32>,
    length: usize,
    type_id: u8,
    stream_id: u32,
}

/// Per-connection encoder: compresses message headers against the previous message on the same
/// chunk stream, so its output is only valid for the one peer that received everything before.
#[derive(Debug)]
pub struct ChunkWriter {
    chunk_size: ChunkSize,
    last: HashMap<u32, Sent>,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    pub fn new() -> Self {
        ChunkWriter {
            chunk_size: ChunkSize::DEFAULT,
            last: HashMap::new(),
        }
    }

    pub fn chunk_size(&self) -> ChunkSize {
        self.chunk_size
    }

    /// Applies to messages written from now on; send [`super::control::set_chunk_size`] first.
    pub fn set_chunk_size(&mut self, size: ChunkSize) {
        self.chunk_size = size;
    }

    /// Appends `msg` as chunks to `out`. fmt 0 when first on its chunk stream, when the stream id
    /// changed or the timestamp went backwards; else fmt 1 if length or type changed, fmt 3 if the
    /// delta repeats the previous fmt 1/2/3 delta, fmt 2 otherwise. Messages that cannot be
    /// represented (csid outside 2..=65599, payload over 0xFFFFFF bytes) are dropped with an
    /// error log.
    pub fn write(&mut self, msg: &Message, out: &mut BytesMut) {
        if !encodable(msg.csid, msg.payload.len()) {
            return;
        }
        let length = msg.payload.len();
        let prev = self
            .last
            .get(&msg.csid)
            .filter(|p| p.stream_id == msg.stream_id && msg.timestamp >= p.timestamp);
        let (fmt, field) = match prev {
            None => (0, msg.timestamp),
            Some(p) => {
                let delta = msg.timestamp - p.timestamp;
                let fmt = if p.length != length || p.type_id != msg.type_id {
                    1
                } else if p.delta == Some(delta) {
                    3
                } else {
                    2
                };
                (fmt, delta)
            }
        };
        self.last.insert(
            msg.csid,
            Sent {
                timestamp: msg.timestamp,
                delta: (fmt != 0).then_some(field),
                length,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        );
        let header = FirstHeader {
            csid: msg.csid,
            fmt,
            field,
            type_id: msg.type_id,
            stream_id: msg.stream_id,
        };
        write_chunks(&header, &msg.payload, self.chunk_size, out);
    }
}

/// Appends one message as a fmt 0 chunk (absolute timestamp) followed by fmt 3 continuation
/// chunks that repeat the extended timestamp when `timestamp >= 0xFFFFFF`. The bytes depend on
/// nothing sent before, so they can be shared by every player using `chunk_size`. Do not send
/// them on a csid a [`ChunkWriter`] also uses for that peer: its next header there would be
/// relative to its own previous message, not to this one.
/// Unrepresentable messages (see [`ChunkWriter::write`]) are dropped with an error log.
pub fn encode_independent(
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: ChunkSize,
    out: &mut BytesMut,
) {
    if encodable(csid, payload.len()) {
        let header = FirstHeader {
            csid,
            fmt: 0,
            field: timestamp,
            type_id,
            stream_id,
        };
        write_chunks(&header, payload, chunk_size, out);
    }
}

/// Exact number of bytes [`encode_independent`] appends for these arguments (0 if it drops them).
pub fn encoded_len(payload_len: usize, csid: u32, timestamp: u32, chunk_size: ChunkSize) -> usize {
    if !representable(csid, payload_len) {
        return 0;
    }
    let extended = if timestamp >= EXTENDED { 4 } else { 0 };
    let continuations = payload_len
        .div_ceil(chunk_size.get() as usize)
        .saturating_sub(1);
    let basic = basic_header_len(csid);
    basic + 11 + extended + continuations * (basic + extended) + payload_len
}

fn representable(csid: u32, payload_len: usize) -> bool {
    (2..=65599).contains(&csid) && payload_len <= MAX_PAYLOAD
}

/// [`representable`], logging the messages that are dropped.
fn encodable(csid: u32, payload_len: usize) -> bool {
    let ok = representable(csid, payload_len);
    if !ok {
        log::error!("cannot encode a {payload_len}-byte message on chunk stream {csid}: dropped");
    }
    ok
}

/// Fields of the header that starts a message.
struct FirstHeader {
    csid: u32,
    fmt: u8,
    /// Absolute timestamp (fmt 0) or delta (fmt 1/2/3).
    field: u32,
    type_id: u8,
    stream_id: u32,
}

fn write_chunks(h: &FirstHeader, payload: &[u8], chunk_size: ChunkSize, out: &mut BytesMut) {
    // Upper bound: headers after fmt 0 are only shorter, and a delta is at most the timestamp.
    out.reserve(encoded_len(payload.len(), h.csid, h.field, chunk_size));
    let extended = h.field >= EXTENDED;
    put_basic_header(out, h.fmt, h.csid);
    if h.fmt < 3 {
        put_u24(out, h.field.min(EXTENDED));
    }
    if h.fmt < 2 {
        // encodable() guarantees the length fits 24 bits.
        put_u24(out, payload.len() as u32);
        out.put_u8(h.type_id);
    }
    if h.fmt == 0 {
        out.put_u32_le(h.stream_id);
    }
    if extended {
        out.put_u32(h.field);
    }
    let mut chunks = payload.chunks(chunk_size.get() as usize);
    out.put_slice(chunks.next().unwrap_or_default());
    for chunk in chunks {
        put_basic_header(out, 3, h.csid);
        if extended {
            out.put_u32(h.field);
        }
        out.put_slice(chunk);
    }
}

fn basic_header_len(csid: u32) -> usize {
    match csid {
        ..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

/// `csid` must be in 2..=65599 (checked by `encodable`).
fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match csid {
        ..=63 => out.put_u8(fmt | csid as u8),
        64..=319 => out.put_slice(&[fmt, (csid - 64) as u8]),
        _ => {
            out.put_u8(fmt | 1);
            out.put_u16_le((csid - 64) as u16);
        }
    }
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::message::msg_type;
    use bytes::Bytes;

    fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, len: usize) -> Message {
        Message {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload: Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>()),
        }
    }

    fn write(w: &mut ChunkWriter, m: &Message) -> Vec<u8> {
        let mut out = BytesMut::new();
        w.write(m, &mut out);
        out.to_vec()
    }

    #[test]
    fn video_300_bytes_on_csid_6() {
        let m = msg(6, 0x0A0B0C, msg_type::VIDEO, 1, 300);
        let mut expected = vec![0x06, 0x0A, 0x0B, 0x0C, 0x00, 0x01, 0x2C, 0x09, 1, 0, 0, 0];
        expected.extend_from_slice(&m.payload[..128]);
        expected.push(0xC6);
        expected.extend_from_slice(&m.payload[128..256]);
        expected.push(0xC6);
        expected.extend_from_slice(&m.payload[256..]);
        assert_eq!(write(&mut ChunkWriter::new(), &m), expected);
        let mut out = BytesMut::new();
        encode_independent(6, 0x0A0B0C, 9, 1, &m.payload, ChunkSize::DEFAULT, &mut out);
        assert_eq!(out.to_vec(), expected);
        assert_eq!(
            encoded_len(300, 6, 0x0A0B0C, ChunkSize::DEFAULT),
            expected.len()
        );
    }

    #[test]
    fn control_messages() {
        let mut w = ChunkWriter::new();
        let size = super::super::control::set_chunk_size(ChunkSize::new(4096).unwrap());
        assert_eq!(
            write(&mut w, &size),
            [2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0]
        );
        let ack = super::super::control::window_ack_size(2_500_000);
        assert_eq!(
            write(&mut ChunkWriter::new(), &ack),
            [2, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0x26, 0x25, 0xA0]
        );
        let bw = super::super::control::set_peer_bandwidth(2_500_000, 2);
        assert_eq!(
            write(&mut ChunkWriter::new(), &bw),
            [2, 0, 0, 0, 0, 0, 5, 6, 0, 0, 0, 0, 0, 0x26, 0x25, 0xA0, 2]
        );
        let begin = super::super::control::stream_begin(1);
        assert_eq!(
            write(&mut ChunkWriter::new(), &begin),
            [2, 0, 0, 0, 0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn extended_timestamp_repeated_on_fmt3() {
        let m = msg(4, 0x0100_0000, msg_type::AUDIO, 1, 200);
        let mut expected = vec![0x04, 0xFF, 0xFF, 0xFF, 0, 0, 200, 8, 1, 0, 0, 0, 1, 0, 0, 0];
        expected.extend_from_slice(&m.payload[..128]);
        expected.extend_from_slice(&[0xC4, 1, 0, 0, 0]);
        expected.extend_from_slice(&m.payload[128..]);
        assert_eq!(write(&mut ChunkWriter::new(), &m), expected);
        let mut out = BytesMut::new();
        encode_independent(
            4,
            0x0100_0000,
            8,
            1,
            &m.payload,
            ChunkSize::DEFAULT,
            &mut out,
        );
        assert_eq!(out.to_vec(), expected);
        // 0xFFFFFF itself already needs the extended field.
        let mut out = BytesMut::new();
        encode_independent(4, EXTENDED, 8, 1, &[], ChunkSize::DEFAULT, &mut out);
        assert_eq!(
            out.to_vec(),
            [
                4, 0xFF, 0xFF, 0xFF, 0, 0, 0, 8, 1, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF
            ]
        );
    }

    #[test]
    fn basic_header_forms() {
        let cases: [(u32, &[u8], &[u8]); 5] = [
            (63, &[0x3F], &[0xFF]),
            (64, &[0x00, 0x00], &[0xC0, 0x00]),
            (319, &[0x00, 0xFF], &[0xC0, 0xFF]),
            (320, &[0x01, 0x00, 0x01], &[0xC1, 0x00, 0x01]),
            (65599, &[0x01, 0xFF, 0xFF], &[0xC1, 0xFF, 0xFF]),
        ];
        for (csid, first, cont) in cases {
            let m = msg(csid, 0, msg_type::VIDEO, 1, 129);
            let out = write(&mut ChunkWriter::new(), &m);
            let b = first.len();
            assert_eq!(&out[..b], first, "csid {csid}");
            assert_eq!(&out[b + 11 + 128..b + 11 + 128 + b], cont, "csid {csid}");
            assert_eq!(out.len(), encoded_len(129, csid, 0, ChunkSize::DEFAULT));
        }
    }

    #[test]
    fn header_compression() {
        let mut w = ChunkWriter::new();
        let mut first = |m: Message| write(&mut w, &m)[0] >> 6;
        assert_eq!(first(msg(4, 1000, 8, 1, 10)), 0);
        assert_eq!(first(msg(4, 1020, 8, 1, 10)), 2); // no delta to repeat after fmt 0
        assert_eq!(first(msg(4, 1040, 8, 1, 10)), 3);
        assert_eq!(first(msg(4, 1060, 8, 1, 12)), 1); // length changed
        assert_eq!(first(msg(4, 1080, 9, 1, 12)), 1); // type changed
        assert_eq!(first(msg(4, 1100, 9, 1, 12)), 3);
        assert_eq!(first(msg(4, 1000, 9, 1, 12)), 0); // backwards
        assert_eq!(first(msg(4, 1010, 9, 2, 12)), 0); // stream id changed
        assert_eq!(first(msg(5, 1010, 9, 2, 12)), 0); // other chunk stream
        // fmt 2 header: basic header + 3-byte delta; fmt 3: basic header only.
        let mut w = ChunkWriter::new();
        write(&mut w, &msg(4, 0, 8, 1, 10));
        assert_eq!(write(&mut w, &msg(4, 20, 8, 1, 10))[..4], [0x84, 0, 0, 20]);
        assert_eq!(write(&mut w, &msg(4, 40, 8, 1, 10)).len(), 1 + 10);
    }

    #[test]
    fn unrepresentable_messages_are_dropped() {
        let mut out = BytesMut::new();
        ChunkWriter::new().write(&msg(1, 0, 8, 1, 3), &mut out);
        ChunkWriter::new().write(&msg(65600, 0, 8, 1, 3), &mut out);
        encode_independent(0, 0, 8, 1, &[1], ChunkSize::DEFAULT, &mut out);
        assert!(out.is_empty());
        assert_eq!(encoded_len(MAX_PAYLOAD + 1, 3, 0, ChunkSize::DEFAULT), 0);
    }
}
