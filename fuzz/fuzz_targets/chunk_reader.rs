//! RTMP chunk stream layer (src/rtmp/chunk): the reader on hostile bytes, the writer/reader
//! round trip, and the ingest path a publisher's bytes take (chunks -> messages -> frames ->
//! GOP cache).
//!
//! Input: [mode][split][limit][rest]. `mode % 3`:
//! - 0 (decode): `rest` is a peer's chunk stream, fed to a `ChunkReader` in pieces; messages
//!   are read until `Ok(None)` or an error. Asserts: consumed + buffered bytes always equal the
//!   bytes fed, no message is longer than the reader's limit, the reader's chunk size is what
//!   the last Set Chunk Size said.
//! - 1 (round trip): `rest` describes messages and chunk size changes; they are encoded with
//!   `ChunkWriter` and with `encode_independent` (whose length must be `encoded_len`), and both
//!   encodings, fed in pieces, must decode to exactly the messages sent.
//! - 2 (ingest): as decode, then every audio/video/data message becomes a `Frame` (as a
//!   publisher's do, with the RTMP form built as for a player) pushed into a 1-GOP cache,
//!   which is kept until the end: what a publisher can make the server hold.
#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use livego::rtmp::chunk::{
    ChunkReader, ChunkSize, ChunkWriter, control, encode_independent, encoded_len,
};
use livego::rtmp::message::{Message, msg_type};
use livego::stream::gop::GopCache;
use livego::stream::ingest::frame_from_message;
use livego_fuzz::{Bound, Input, bounded, bounded_retained, split};

/// Decoding keeps at most the unconsumed input (a `BytesMut` that may double), partial messages
/// (grown geometrically: at most twice what arrived) and one entry per chunk stream seen (a
/// 12-byte fmt 0 header makes one ~60-byte map entry). Frames on the ingest path cost their body
/// (the FLV tag copy), the RTMP form and ~100 bytes of bookkeeping; a frame made of one 2-byte
/// chunk (fmt 3 header, 1-byte body) or a 1-byte empty one must not cost more than 32 bytes per
/// wire byte, or a publisher sending tiny chunks multiplies its bandwidth into server memory.
const WIRE_PER_BYTE: usize = 32;
/// One 64 KiB socket read buffer's worth, plus maps and the GOP cache's own vectors.
const WIRE_BASE: usize = 128 * 1024;
/// What the ingest path may still hold when the input is consumed (the GOP cache) is bounded
/// by the same per-byte cost, with a smaller base.
const KEPT_BASE: usize = 64 * 1024;
/// Round trip: each described message is kept (a `Message` is 56 bytes and may be described in
/// 4 input bytes) together with its two encodings (a payload byte costs at most 2 encoded bytes
/// at chunk size 1) and what the decoders return.
const ROUND_TRIP_PER_BYTE: usize = 128;
const ROUND_TRIP_BASE: usize = 256 * 1024;

/// Message length limits the reader is tried with; 16 MiB is the server's.
const LIMITS: [usize; 4] = [128, 4096, 65536, 16 << 20];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let (mode, split_mode, limit) = (input.u8(), input.u8(), input.u8());
    let limit = LIMITS[usize::from(limit % 4)];
    let rest = input.rest();
    match mode % 3 {
        0 => bounded(
            "chunk decode",
            data.len(),
            Bound::new(WIRE_PER_BYTE, WIRE_BASE),
            || decode(rest, split_mode, limit, None),
        ),
        1 => {
            let (ops, expected) = ops(rest);
            bounded(
                "chunk round trip",
                data.len(),
                Bound::new(ROUND_TRIP_PER_BYTE, ROUND_TRIP_BASE),
                || round_trip(&ops, &expected, split_mode),
            )
        }
        // The GOP cache outlives the measurement: what it holds counts at its peak.
        _ => {
            let wire = Bound::new(WIRE_PER_BYTE, WIRE_BASE);
            let kept = Bound::new(WIRE_PER_BYTE, KEPT_BASE);
            drop(bounded_retained(
                "chunk ingest",
                data.len(),
                wire,
                Some(kept),
                || {
                    let mut gop = GopCache::new(1);
                    decode(rest, split_mode, limit, Some(&mut gop));
                    gop
                },
            ))
        }
    }
});

/// Feeds `data` in pieces; messages go to `gop` as frames when given.
fn decode(data: &[u8], split_mode: u8, limit: usize, mut gop: Option<&mut GopCache>) {
    let mut reader = ChunkReader::new(limit);
    let mut buf = BytesMut::new();
    let mut fed = 0u64;
    for piece in split(data, split_mode) {
        buf.extend_from_slice(piece);
        fed += piece.len() as u64;
        loop {
            match reader.read_message(&mut buf) {
                Ok(Some(msg)) => {
                    assert!(msg.payload.len() <= limit, "message over the limit");
                    assert_eq!(reader.bytes_received() + buf.len() as u64, fed);
                    if msg.type_id == msg_type::SET_CHUNK_SIZE {
                        let size = control::parse_u32(&msg.payload).expect("applied, so valid");
                        assert_eq!(reader.chunk_size().get(), size);
                    }
                    if let Some(gop) = gop.as_deref_mut() {
                        ingest(msg, gop);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert_eq!(reader.bytes_received() + buf.len() as u64, fed);
    }
}

/// What a publishing session does with a media or data message (server/publisher.rs).
fn ingest(msg: Message, gop: &mut GopCache) {
    if let Ok(frame) = frame_from_message(msg.type_id, msg.timestamp, msg.payload) {
        let frame = Arc::new(frame);
        frame.rtmp(); // a player is watching
        gop.push(&frame);
    }
}

/// What to send: a message, or a chunk size change (announced with Set Chunk Size first).
enum Op {
    Send(Message),
    ChunkSize(ChunkSize),
}

const CSIDS: [u32; 8] = [2, 3, 4, 63, 64, 319, 320, 65599];
const STEPS: [u32; 5] = [0, 20, 0xFF_FFFF, 0x100_0000, 0xFFFF_FFF0];
const CHUNK_SIZES: [u32; 6] = [1, 2, 128, 4096, 65536, 0x7FFF_FFFF];

/// Parses the op list (and the messages a reader must deliver) out of `data`.
fn ops(data: &[u8]) -> (Vec<Op>, Vec<Message>) {
    let mut input = Input::new(data);
    let (mut ops, mut expected) = (Vec::new(), Vec::new());
    let mut timestamp = 0u32;
    while !input.is_empty() {
        let k = input.u8();
        if k.is_multiple_of(8) {
            let size = match k >> 3 {
                n @ 0..=5 => CHUNK_SIZES[usize::from(n)],
                _ => u32::from(input.u16()).max(1),
            };
            let size = ChunkSize::new(size).expect("valid chunk size");
            expected.push(control::set_chunk_size(size));
            ops.push(Op::ChunkSize(size));
            continue;
        }
        let csid = match k >> 3 & 7 {
            // Any id in 2..=129: with the eight above, fewer than the reader's 256-stream limit.
            7 => 2 + u32::from(input.u8() % 128),
            i => CSIDS[usize::from(i)],
        };
        let c = input.u8();
        let step = match c & 7 {
            5..=7 => input.u32(),
            i => STEPS[usize::from(i)],
        };
        timestamp = if c & 8 != 0 {
            step
        } else {
            timestamp.wrapping_add(step)
        };
        let type_id = match c >> 4 & 3 {
            0 => msg_type::AUDIO,
            1 => msg_type::VIDEO,
            2 => msg_type::DATA_AMF0,
            // Set Chunk Size and Abort would act on the reader: sent only as chunk size ops.
            _ => match input.u8() {
                t @ (msg_type::SET_CHUNK_SIZE | msg_type::ABORT) => t | 0x80,
                t => t,
            },
        };
        let stream_id = if c & 0x40 != 0 { input.u32() } else { 1 };
        let len = if c & 0x80 != 0 {
            usize::from(input.u16())
        } else {
            usize::from(input.u8() % 32)
        };
        let payload = Bytes::copy_from_slice(input.bytes(len));
        let msg = Message {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        };
        expected.push(msg.clone());
        ops.push(Op::Send(msg));
    }
    (ops, expected)
}

fn round_trip(ops: &[Op], expected: &[Message], split_mode: u8) {
    let mut writer = ChunkWriter::new();
    let (mut stateful, mut independent) = (BytesMut::new(), BytesMut::new());
    let mut size = ChunkSize::DEFAULT;
    for op in ops {
        let announce;
        let m = match op {
            Op::Send(m) => m,
            Op::ChunkSize(s) => {
                announce = control::set_chunk_size(*s);
                &announce
            }
        };
        writer.write(m, &mut stateful);
        let before = independent.len();
        encode_independent(
            m.csid,
            m.timestamp,
            m.type_id,
            m.stream_id,
            &m.payload,
            size,
            &mut independent,
        );
        let len = encoded_len(m.payload.len(), m.csid, m.timestamp, size);
        assert_eq!(independent.len() - before, len, "encoded_len");
        if let Op::ChunkSize(s) = op {
            writer.set_chunk_size(*s);
            size = *s;
        }
    }
    for (name, bytes) in [("writer", &stateful), ("independent", &independent)] {
        let mut reader = ChunkReader::new(16 << 20);
        let mut buf = BytesMut::new();
        let mut got = 0;
        for piece in split(bytes, split_mode) {
            buf.extend_from_slice(piece);
            while let Some(m) = reader.read_message(&mut buf).unwrap_or_else(|e| {
                panic!("{name}: decoding what we encoded failed after {got} messages: {e}")
            }) {
                assert!(got < expected.len(), "{name}: more messages than sent");
                assert_eq!(m, expected[got], "{name}: message {got}");
                got += 1;
            }
        }
        assert_eq!(got, expected.len(), "{name}: messages lost");
        assert!(buf.is_empty(), "{name}: {} bytes left undecoded", buf.len());
        assert_eq!(reader.bytes_received(), bytes.len() as u64);
    }
}
