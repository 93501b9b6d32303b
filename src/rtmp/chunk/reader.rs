//! Chunk stream parsing and message reassembly (spec §5.3.1, §5.3.2), applying Set Chunk Size
//! and Abort (§5.4.1, §5.4.2) as they arrive.

use std::collections::HashMap;

use bytes::{Buf, BytesMut};

use super::{ChunkError, ChunkSize, control};
use crate::rtmp::message::{Message, msg_type};

/// Most chunk streams that may hold a partially received message at once.
const MAX_PARTIAL_MESSAGES: usize = 64;
/// Most distinct chunk stream ids a connection may use. Their header state must be kept (later
/// chunks compress against it), so an unbounded peer could make the map grow by 65,599
/// entries; real encoders use fewer than ten.
pub const MAX_CHUNK_STREAMS: usize = 256;
/// Timestamp field value announcing a 4-byte extended timestamp.
const EXTENDED: u32 = 0xFF_FFFF;

/// Message header state of one chunk stream, as of its last header.
#[derive(Debug, Clone, Copy, Default)]
struct Header {
    /// Absolute timestamp of the last message started on this chunk stream.
    timestamp: u32,
    /// Timestamp field of the last fmt 0/1/2 header (absolute for fmt 0, else a delta); a fmt 3
    /// header starting a new message adds it again.
    field: u32,
    /// Whether `field` came as an extended timestamp, so fmt 3 chunks repeat it.
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

#[derive(Debug)]
struct ChunkStream {
    header: Header,
    /// Payload received so far of an incomplete message.
    partial: Option<BytesMut>,
}

/// A complete chunk available at the start of the input, parsed but not yet consumed.
struct Chunk {
    csid: u32,
    header: Header,
    header_len: usize,
    payload_len: usize,
}

/// Reassembles messages from a peer's chunk stream. Only whole chunks are consumed; a partial
/// chunk stays in the caller's buffer until the rest arrives.
#[derive(Debug)]
pub struct ChunkReader {
    max_message_len: usize,
    chunk_size: ChunkSize,
    streams: HashMap<u32, ChunkStream>,
    partial_messages: usize,
    partial_bytes: usize,
    bytes_received: u64,
}

impl ChunkReader {
    /// Messages announcing more than `max_message_len` bytes are rejected; partial messages may
    /// hold at most `2 * max_message_len` bytes together, and their buffers grow only with the
    /// bytes that arrive (at most twice what arrived), never with what a header announces.
    pub fn new(max_message_len: usize) -> Self {
        ChunkReader {
            max_message_len,
            chunk_size: ChunkSize::DEFAULT,
            streams: HashMap::new(),
            partial_messages: 0,
            partial_bytes: 0,
            bytes_received: 0,
        }
    }

    /// Changes the largest message accepted from now on: a server keeps it small until the peer
    /// is authorised to publish.
    pub fn set_max_message_len(&mut self, max_message_len: usize) {
        self.max_message_len = max_message_len;
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> ChunkSize {
        self.chunk_size
    }

    /// Total bytes consumed from the input, for acknowledgements.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Consumes whole chunks from `buf` until a message completes (returned) or `buf` holds no
    /// complete chunk (`Ok(None)`: append more bytes and call again). Set Chunk Size and Abort
    /// are applied before any further chunk is parsed, and returned like any other message.
    pub fn read_message(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ChunkError> {
        while let Some(chunk) = self.parse_chunk(buf)? {
            if let Some(msg) = self.consume(chunk, buf) {
                self.apply_control(&msg)?;
                return Ok(Some(msg));
            }
        }
        Ok(None)
    }

    /// Parses the chunk at the start of `b` if all of it is there.
    fn parse_chunk(&self, b: &[u8]) -> Result<Option<Chunk>, ChunkError> {
        let Some(&b0) = b.first() else {
            return Ok(None);
        };
        let fmt = b0 >> 6;
        let (csid, mut pos) = match (b0 & 0x3F, b.get(1), b.get(2)) {
            (0, Some(&b1), _) => (64 + u32::from(b1), 2),
            (1, Some(&b1), Some(&b2)) => (64 + u32::from(b1) + 256 * u32::from(b2), 3),
            (0 | 1, _, _) => return Ok(None),
            (id, _, _) => (u32::from(id), 1),
        };
        let stream = self.streams.get(&csid);
        // Bytes already received of an incomplete message on this chunk stream.
        let partial = stream.and_then(|s| s.partial.as_ref()).map(BytesMut::len);
        let mut h = match (stream, fmt) {
            (Some(s), _) => s.header,
            (None, 0) => Header::default(),
            // librtmp's first acknowledgement / ping response on csid 2 uses fmt 1.
            (None, 1) if csid == 2 => Header::default(),
            (None, _) => return Err(ChunkError::NoPreviousHeader { csid, fmt }),
        };
        if stream.is_none() && self.streams.len() >= MAX_CHUNK_STREAMS {
            let limit = MAX_CHUNK_STREAMS;
            return Err(ChunkError::TooManyChunkStreams { limit });
        }
        if let Some(got) = partial
            && fmt < 3
        {
            let missing = (h.length as usize).saturating_sub(got);
            return Err(ChunkError::InterruptedMessage { csid, fmt, missing });
        }

        let fields_len = [11, 7, 3, 0][usize::from(fmt)];
        let Some(m) = b.get(pos..pos + fields_len) else {
            return Ok(None);
        };
        pos += fields_len;
        if fmt < 3 {
            let field = u32::from_be_bytes([0, m[0], m[1], m[2]]);
            if fmt < 2 {
                h.length = u32::from_be_bytes([0, m[3], m[4], m[5]]);
                h.type_id = m[6];
            }
            if fmt == 0 {
                h.stream_id = u32::from_le_bytes([m[7], m[8], m[9], m[10]]);
            }
            h.extended = field == EXTENDED;
            h.field = field;
            if h.extended {
                let Some(&[e0, e1, e2, e3]) = b.get(pos..pos + 4) else {
                    return Ok(None);
                };
                h.field = u32::from_be_bytes([e0, e1, e2, e3]);
                pos += 4;
            }
        } else if h.extended {
            // The spec repeats the extended timestamp here; some encoders omit it. Consume it
            // only if it matches, waiting while the bytes present are a prefix of it.
            let expected = h.field.to_be_bytes();
            let present = &b[pos..b.len().min(pos + 4)];
            if present == &expected[..present.len()] {
                if present.len() < 4 {
                    return Ok(None);
                }
                pos += 4;
            }
        }

        if partial.is_none() {
            h.timestamp = if fmt == 0 {
                h.field
            } else {
                h.timestamp.wrapping_add(h.field)
            };
            if h.length as usize > self.max_message_len {
                return Err(ChunkError::MessageTooLong {
                    len: h.length,
                    limit: self.max_message_len,
                });
            }
        }
        let remaining = (h.length as usize).saturating_sub(partial.unwrap_or(0));
        let payload_len = remaining.min(self.chunk_size.get() as usize);
        if payload_len < remaining {
            if partial.is_none() && self.partial_messages >= MAX_PARTIAL_MESSAGES {
                let limit = MAX_PARTIAL_MESSAGES;
                return Err(ChunkError::TooManyPartialMessages { limit });
            }
            let limit = self.max_message_len.saturating_mul(2);
            if self.partial_bytes + payload_len > limit {
                return Err(ChunkError::PartialBytesExceeded { limit });
            }
        }
        if b.len() < pos + payload_len {
            return Ok(None);
        }
        Ok(Some(Chunk {
            csid,
            header: h,
            header_len: pos,
            payload_len,
        }))
    }

    /// Consumes a parsed chunk from `buf`, returning the message it completes.
    fn consume(&mut self, chunk: Chunk, buf: &mut BytesMut) -> Option<Message> {
        buf.advance(chunk.header_len);
        let data = buf.split_to(chunk.payload_len);
        self.bytes_received += (chunk.header_len + chunk.payload_len) as u64;
        let h = chunk.header;
        let length = h.length as usize;
        let stream = self.streams.entry(chunk.csid).or_insert(ChunkStream {
            header: h,
            partial: None,
        });
        stream.header = h;
        let payload = match stream.partial.take() {
            None if data.len() == length => data.freeze(),
            partial => {
                let mut p = partial.unwrap_or_else(|| {
                    self.partial_messages += 1;
                    BytesMut::new()
                });
                append(&mut p, &data, length);
                self.partial_bytes += data.len();
                if p.len() < length {
                    stream.partial = Some(p);
                    return None;
                }
                self.partial_messages -= 1;
                self.partial_bytes -= p.len();
                p.freeze()
            }
        };
        Some(Message {
            csid: chunk.csid,
            timestamp: h.timestamp,
            type_id: h.type_id,
            stream_id: h.stream_id,
            payload,
        })
    }

    fn apply_control(&mut self, msg: &Message) -> Result<(), ChunkError> {
        match msg.type_id {
            msg_type::SET_CHUNK_SIZE => {
                self.chunk_size = ChunkSize::new(control::parse_u32(&msg.payload)?)?;
            }
            msg_type::ABORT => {
                let csid = control::parse_u32(&msg.payload)?;
                if let Some(p) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
                    self.partial_messages -= 1;
                    self.partial_bytes -= p.len();
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Appends `data`, growing `buf` geometrically but never beyond the message length `total`.
fn append(buf: &mut BytesMut, data: &[u8], total: usize) {
    if buf.capacity() - buf.len() < data.len() {
        let capacity = (buf.capacity() * 2).clamp(buf.len() + data.len(), total);
        let mut grown = BytesMut::with_capacity(capacity);
        grown.extend_from_slice(buf);
        *buf = grown;
    }
    buf.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 16 * 1024 * 1024;

    fn read_all(r: &mut ChunkReader, bytes: &[u8]) -> Result<Vec<Message>, ChunkError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(m) = r.read_message(&mut buf)? {
            out.push(m);
        }
        Ok(out)
    }

    fn summary(msgs: &[Message]) -> Vec<(u32, u32, u8, u32, usize)> {
        let f = |m: &Message| (m.csid, m.timestamp, m.type_id, m.stream_id, m.payload.len());
        msgs.iter().map(f).collect()
    }

    #[test]
    fn spec_example_same_size_audio() {
        // §5.3.2.1: fmt 0, fmt 2 (delta 20), then fmt 3 headers reusing the delta.
        let mut b = vec![0x03, 0, 0x03, 0xE8, 0, 0, 32, 8, 0x39, 0x30, 0, 0];
        b.extend([7; 32]);
        b.extend([0x83, 0, 0, 20]);
        b.extend([7; 32]);
        for _ in 0..2 {
            b.push(0xC3);
            b.extend([7; 32]);
        }
        let msgs = read_all(&mut ChunkReader::new(MAX), &b).unwrap();
        let s = |ts| (3, ts, 8, 12345, 32);
        assert_eq!(summary(&msgs), [s(1000), s(1020), s(1040), s(1060)]);
        assert_eq!(msgs[3].payload[..], [7; 32]);
    }

    #[test]
    fn spec_example_continuation_chunks() {
        // §5.3.2.2: one 307-byte message split at chunk size 128.
        let mut b = vec![0x04, 0, 0x03, 0xE8, 0, 0x01, 0x33, 9, 1, 0, 0, 0];
        b.extend([1; 128]);
        b.push(0xC4);
        b.extend([2; 128]);
        b.push(0xC4);
        b.extend([3; 51]);
        let mut r = ChunkReader::new(MAX);
        let msgs = read_all(&mut r, &b).unwrap();
        assert_eq!(summary(&msgs), [(4, 1000, 9, 1, 307)]);
        assert_eq!(msgs[0].payload[128..256], [2; 128]);
        assert_eq!(r.bytes_received(), b.len() as u64);
        assert_eq!((r.partial_messages, r.partial_bytes), (0, 0));
    }

    #[test]
    fn fmt3_after_fmt0_adds_the_absolute_timestamp() {
        let b = [0x05, 0, 0, 100, 0, 0, 0, 8, 1, 0, 0, 0, 0xC5];
        let msgs = read_all(&mut ChunkReader::new(MAX), &b).unwrap();
        assert_eq!(summary(&msgs), [(5, 100, 8, 1, 0), (5, 200, 8, 1, 0)]);
    }

    #[test]
    fn timestamps_wrap() {
        let b = [
            0x05, 0xFF, 0xFF, 0xFF, 0, 0, 0, 8, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0, //
            0x85, 0, 0, 0x20,
        ];
        let msgs = read_all(&mut ChunkReader::new(MAX), &b).unwrap();
        assert_eq!(
            summary(&msgs),
            [(5, 0xFFFF_FFF0, 8, 1, 0), (5, 0x10, 8, 1, 0)]
        );
    }

    #[test]
    fn extended_timestamp_on_fmt3_present_or_omitted() {
        let first = [0x04, 0xFF, 0xFF, 0xFF, 0, 0, 130, 8, 1, 0, 0, 0, 1, 2, 3, 4];
        let mut with = first.to_vec();
        with.extend([9; 128]);
        with.extend([0xC4, 1, 2, 3, 4, 9, 9]);
        let mut without = first.to_vec();
        without.extend([9; 128]);
        without.extend([0xC4, 9, 9]);
        for b in [with, without] {
            let msgs = read_all(&mut ChunkReader::new(MAX), &b).unwrap();
            assert_eq!(summary(&msgs), [(4, 0x0102_0304, 8, 1, 130)]);
            assert_eq!(msgs[0].payload[..], [9; 130]);
        }
        // A prefix of the extended timestamp is not enough to decide: wait.
        let mut r = ChunkReader::new(MAX);
        let mut b = BytesMut::from(&first[..]);
        b.extend([9; 128]);
        b.extend([0xC4, 1, 2]);
        assert_eq!(r.read_message(&mut b), Ok(None));
        b.extend([3, 4, 9, 9]);
        assert_eq!(
            r.read_message(&mut b).unwrap().unwrap().payload[..],
            [9; 130]
        );
    }

    #[test]
    fn single_chunk_message_is_not_copied() {
        let mut buf = BytesMut::from(&[0x03, 0, 0, 0, 0, 0, 3, 20, 0, 0, 0, 0, 7, 8, 9][..]);
        let start = buf.as_ptr() as usize;
        let msg = ChunkReader::new(MAX)
            .read_message(&mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(msg.payload.as_ptr() as usize, start + 12);
        assert!(buf.is_empty());
    }

    fn set_chunk_size(csid: u8, size: u32) -> Vec<u8> {
        let mut b = vec![csid, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
        b.extend(size.to_be_bytes());
        b
    }

    #[test]
    fn set_chunk_size_applies_on_any_csid() {
        let mut b = set_chunk_size(3, 200);
        b.extend([0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0]);
        b.extend([5; 200]);
        let mut r = ChunkReader::new(MAX);
        let msgs = read_all(&mut r, &b).unwrap();
        assert_eq!(summary(&msgs), [(3, 0, 1, 0, 4), (4, 0, 9, 1, 200)]);
        assert_eq!(r.chunk_size().get(), 200);
    }

    #[test]
    fn invalid_chunk_sizes() {
        let mut r = ChunkReader::new(MAX);
        let err = read_all(&mut r, &set_chunk_size(2, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chunk size 0 is invalid (must be 1..=2147483647)"
        );
        let err = read_all(&mut r, &set_chunk_size(2, 0x8000_0000)).unwrap_err();
        assert_eq!(err, ChunkError::InvalidChunkSize(0x8000_0000));
        let mut short = set_chunk_size(2, 1);
        short[6] = 2;
        short.truncate(14);
        let err = read_all(&mut ChunkReader::new(MAX), &short).unwrap_err();
        assert_eq!(
            err,
            ChunkError::ShortControlPayload {
                needed: 4,
                actual: 2
            }
        );
    }

    #[test]
    fn oversized_message() {
        let b = [0x03, 0, 0, 0, 0x13, 0x12, 0xD0, 9, 1, 0, 0, 0];
        let err = read_all(&mut ChunkReader::new(1_000_000), &b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "message length 1250000 exceeds limit 1000000"
        );
    }

    #[test]
    fn header_without_previous_type0() {
        let err = read_all(&mut ChunkReader::new(MAX), &[0xC7]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chunk stream 7 continues (fmt 3) before any type-0 header"
        );
        let err = read_all(&mut ChunkReader::new(MAX), &[0x43, 0, 0, 0, 0, 0, 0, 8]);
        assert_eq!(err, Err(ChunkError::NoPreviousHeader { csid: 3, fmt: 1 }));
        let err = read_all(&mut ChunkReader::new(MAX), &[0x80, 0, 0, 0, 0]);
        assert_eq!(err, Err(ChunkError::NoPreviousHeader { csid: 64, fmt: 2 }));
        // librtmp's fmt 1 acknowledgement on a fresh csid 2 is accepted.
        let ack = [0x42, 0, 0, 5, 0, 0, 4, 3, 0, 0, 1, 0];
        let msgs = read_all(&mut ChunkReader::new(MAX), &ack).unwrap();
        assert_eq!(summary(&msgs), [(2, 5, 3, 0, 4)]);
    }

    #[test]
    fn new_header_inside_a_message() {
        let mut b = vec![0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
        b.extend([0; 128]);
        b.extend([0x84, 0, 0, 0]);
        let err = read_all(&mut ChunkReader::new(MAX), &b).unwrap_err();
        assert_eq!(
            err,
            ChunkError::InterruptedMessage {
                csid: 4,
                fmt: 2,
                missing: 72
            }
        );
    }

    #[test]
    fn abort_discards_the_partial_message() {
        let mut b = vec![0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
        b.extend([0; 128]);
        b.extend([0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 4]);
        b.extend([0x44, 0, 0, 10, 0, 0, 1, 9, 0xAA]);
        let mut r = ChunkReader::new(MAX);
        let msgs = read_all(&mut r, &b).unwrap();
        assert_eq!(summary(&msgs), [(2, 0, 2, 0, 4), (4, 10, 9, 1, 1)]);
        assert_eq!(msgs[1].payload[..], [0xAA]);
        assert_eq!((r.partial_messages, r.partial_bytes), (0, 0));
    }

    /// First chunk of a 200-byte message on csid `64 + x` (2-byte basic header).
    fn first_chunk_of_200_bytes(x: u8) -> Vec<u8> {
        let mut b = vec![0, x, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
        b.extend([0; 128]);
        b
    }

    #[test]
    fn partial_message_limits() {
        let b: Vec<u8> = (0..MAX_PARTIAL_MESSAGES as u8)
            .flat_map(first_chunk_of_200_bytes)
            .collect();
        let mut r = ChunkReader::new(MAX);
        assert_eq!(read_all(&mut r, &b), Ok(vec![]));
        let err = read_all(&mut r, &first_chunk_of_200_bytes(64)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "more than 64 chunk streams have partial messages in flight"
        );

        let mut r = ChunkReader::new(300);
        let b: Vec<u8> = (0..4).flat_map(first_chunk_of_200_bytes).collect();
        assert_eq!(read_all(&mut r, &b), Ok(vec![]));
        let err = read_all(&mut r, &first_chunk_of_200_bytes(4)).unwrap_err();
        assert_eq!(err, ChunkError::PartialBytesExceeded { limit: 600 });
    }

    #[test]
    fn chunk_stream_ids_are_limited() {
        // One empty message on each of csids 64..: a 3-byte basic header (fmt 0, id 1).
        let empty_message = |csid: u32| {
            let id = (csid - 64).to_le_bytes();
            vec![0x01, id[0], id[1], 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0]
        };
        let b: Vec<u8> = (64..64 + MAX_CHUNK_STREAMS as u32)
            .flat_map(empty_message)
            .collect();
        let mut r = ChunkReader::new(MAX);
        assert_eq!(read_all(&mut r, &b).map(|m| m.len()), Ok(MAX_CHUNK_STREAMS));
        let next = empty_message(64 + MAX_CHUNK_STREAMS as u32);
        let err = read_all(&mut r, &next).unwrap_err();
        assert_eq!(err.to_string(), "more than 256 chunk streams in use");
        // Ids already in use go on working.
        assert_eq!(read_all(&mut r, &empty_message(64)).map(|m| m.len()), Ok(1));
    }

    #[test]
    fn reassembly_grows_only_as_bytes_arrive() {
        let mut r = ChunkReader::new(MAX);
        let b = [0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0, 0];
        let mut buf = BytesMut::from(&b[..]);
        buf.extend([0; 127]);
        assert_eq!(r.read_message(&mut buf), Ok(None));
        let partial = r.streams[&4].partial.as_ref().unwrap();
        assert_eq!((partial.len(), partial.capacity()), (128, 128));
        let mut p = BytesMut::with_capacity(2);
        append(&mut p, &[1, 2, 3], 5);
        assert_eq!(p.capacity(), 4);
        append(&mut p, &[4, 5], 5);
        assert_eq!((&p[..], p.capacity()), (&[1, 2, 3, 4, 5][..], 5));
    }
}
