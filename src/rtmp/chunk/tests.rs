//! Round trips through [`ChunkWriter`] / [`encode_independent`] and [`ChunkReader`], and
//! malformed input.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::rtmp::message::{Message, msg_type};

const MAX: usize = 16 * 1024 * 1024;

/// Deterministic pseudo-random bytes to slice payloads from.
fn pool() -> Bytes {
    let mut x = 0x9E37_79B9u32;
    (0..140_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn msg(csid: u32, timestamp: u32, type_id: u8, payload: Bytes) -> Message {
    Message {
        csid,
        timestamp,
        type_id,
        stream_id: 1,
        payload,
    }
}

/// Decodes `bytes` fed in pieces of the given sizes (cycled), checking nothing is left over.
fn decode(bytes: &[u8], pieces: &[usize]) -> Result<Vec<Message>, ChunkError> {
    let mut reader = ChunkReader::new(MAX);
    let mut buf = BytesMut::new();
    let mut msgs = Vec::new();
    let mut rest = bytes;
    for &piece in pieces.iter().cycle() {
        let (now, later) = rest.split_at(piece.min(rest.len()));
        buf.extend_from_slice(now);
        rest = later;
        while let Some(m) = reader.read_message(&mut buf)? {
            msgs.push(m);
        }
        if rest.is_empty() {
            break;
        }
    }
    assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    assert_eq!(reader.bytes_received(), bytes.len() as u64);
    Ok(msgs)
}

/// What to send: a message, or a chunk size change announced with Set Chunk Size first.
#[derive(Debug, Clone)]
enum Op {
    Send(Message),
    ChunkSize(ChunkSize),
}

/// Encodes `ops` with a [`ChunkWriter`] and with [`encode_independent`]; returns both encodings
/// and the messages a reader should deliver.
fn encode(ops: &[Op]) -> (BytesMut, BytesMut, Vec<Message>) {
    let mut writer = ChunkWriter::new();
    let (mut stateful, mut independent) = (BytesMut::new(), BytesMut::new());
    let mut size = ChunkSize::DEFAULT;
    let mut expected = Vec::new();
    for op in ops {
        let m = match op {
            Op::Send(m) => m.clone(),
            Op::ChunkSize(s) => control::set_chunk_size(*s),
        };
        writer.write(&m, &mut stateful);
        let before = independent.len();
        let Message {
            csid,
            timestamp,
            type_id,
            stream_id,
            ref payload,
        } = m;
        encode_independent(
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
            size,
            &mut independent,
        );
        let len = encoded_len(payload.len(), csid, timestamp, size);
        assert_eq!(independent.len() - before, len);
        if let Op::ChunkSize(s) = op {
            writer.set_chunk_size(*s);
            size = *s;
        }
        expected.push(m);
    }
    (stateful, independent, expected)
}

#[test]
fn every_chunk_size_round_trips_a_message_set() {
    let pool = pool();
    let p = |len: usize| pool.slice(..len);
    for cs in 1..=65536u32 {
        let size = ChunkSize::new(cs).unwrap();
        let n = cs as usize;
        let ops = [
            Op::ChunkSize(size),
            Op::Send(msg(3, 0, msg_type::COMMAND_AMF0, p(0))),
            Op::Send(msg(3, 0, msg_type::COMMAND_AMF0, p(1))),
            Op::Send(msg(4, 1000, msg_type::VIDEO, p(n - 1))),
            Op::Send(msg(4, 1033, msg_type::VIDEO, p(n))),
            Op::Send(msg(4, 1066, msg_type::VIDEO, p(n + 1))),
            Op::Send(msg(320, 0xFF_FFFF, msg_type::AUDIO, p(n.min(40) * 2 + 1))),
            Op::Send(msg(320, 0x1FF_FFFE, msg_type::AUDIO, p(n.min(40) * 2 + 1))),
            Op::Send(msg(320, 0x2FF_FFFD, msg_type::AUDIO, p(n.min(40) * 2 + 1))),
            Op::Send(msg(70, 0x1234_5678, msg_type::DATA_AMF0, p(n.min(40) + 3))),
        ];
        let (stateful, independent, expected) = encode(&ops);
        assert_eq!(
            decode(&stateful, &[usize::MAX]).unwrap(),
            expected,
            "writer, cs {cs}"
        );
        assert_eq!(
            decode(&independent, &[usize::MAX]).unwrap(),
            expected,
            "independent, cs {cs}"
        );
    }
}

#[test]
fn truncated_input_waits_then_completes() {
    let pool = pool();
    let ops = [
        Op::Send(msg(3, 5, msg_type::COMMAND_AMF0, pool.slice(..40))),
        Op::Send(msg(4, 0x0100_0000, msg_type::VIDEO, pool.slice(..300))),
        Op::ChunkSize(ChunkSize::new(50).unwrap()),
        Op::Send(msg(4, 0x0100_0000, msg_type::VIDEO, pool.slice(..120))),
        Op::Send(msg(400, 7, msg_type::AUDIO, pool.slice(..60))),
    ];
    let (stateful, independent, expected) = encode(&ops);
    for bytes in [stateful, independent] {
        for cut in 0..=bytes.len() {
            let mut reader = ChunkReader::new(MAX);
            let mut buf = BytesMut::from(&bytes[..cut]);
            let mut got = Vec::new();
            while let Some(m) = reader.read_message(&mut buf).unwrap() {
                got.push(m);
            }
            assert_eq!(got[..], expected[..got.len()], "cut at {cut}");
            buf.extend_from_slice(&bytes[cut..]);
            while let Some(m) = reader.read_message(&mut buf).unwrap() {
                got.push(m);
            }
            assert_eq!(got, expected, "cut at {cut}");
        }
    }
}

fn timestamp_step() -> impl Strategy<Value = (bool, u32)> {
    let value = prop_oneof![
        Just(0u32),
        Just(20),
        Just(0xFF_FFFF),
        Just(0x100_0000),
        any::<u32>()
    ];
    (prop::bool::weighted(0.2), value)
}

/// csid, (absolute?, timestamp or delta), type id, stream id, length, offset into the pool.
type RawSend = (u32, (bool, u32), u8, u32, usize, usize);

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let csid = prop_oneof![
        3..6u32,
        Just(64),
        Just(319),
        Just(320),
        Just(65599),
        3..=65599u32
    ];
    let len = prop_oneof![Just(0usize), Just(10), 0..300usize, 0..70_000usize];
    let type_id = prop::sample::select(vec![msg_type::AUDIO, msg_type::VIDEO, msg_type::DATA_AMF0]);
    let size = prop_oneof![1..200u32, 1..70_000u32, Just(0x7FFF_FFFF)];
    let op = (
        csid,
        timestamp_step(),
        type_id,
        1..3u32,
        len,
        0..70_000usize,
    );
    let op = prop_oneof![
        9 => op.prop_map(Ok),
        1 => size.prop_map(Err),
    ];
    prop::collection::vec(op, 0..20).prop_map(|ops| {
        let pool = pool();
        let mut timestamp = 0u32;
        let to_op = |op: Result<RawSend, u32>| match op {
            Ok((csid, (absolute, t), type_id, stream_id, len, offset)) => {
                timestamp = if absolute {
                    t
                } else {
                    timestamp.wrapping_add(t)
                };
                let offset = offset.min(pool.len() - len);
                let payload = pool.slice(offset..offset + len);
                Op::Send(Message {
                    csid,
                    timestamp,
                    type_id,
                    stream_id,
                    payload,
                })
            }
            Err(size) => Op::ChunkSize(ChunkSize::new(size).unwrap()),
        };
        ops.into_iter().map(to_op).collect()
    })
}

proptest! {
    #[test]
    fn random_messages_round_trip_with_random_splits(
        ops in ops(),
        pieces in prop::collection::vec(1..5000usize, 1..20),
    ) {
        let (stateful, independent, expected) = encode(&ops);
        prop_assert_eq!(decode(&stateful, &pieces).unwrap(), expected.clone());
        prop_assert_eq!(decode(&independent, &pieces).unwrap(), expected);
    }

    #[test]
    fn encoded_len_is_exact(
        csid in 2..=65599u32,
        timestamp in prop_oneof![0..0x100_0000u32, any::<u32>()],
        len in 0..5000usize,
        size in prop_oneof![1..300u32, 1..=0x7FFF_FFFFu32],
    ) {
        let size = ChunkSize::new(size).unwrap();
        let mut out = BytesMut::new();
        encode_independent(csid, timestamp, 8, 1, &vec![0; len], size, &mut out);
        prop_assert_eq!(out.len(), encoded_len(len, csid, timestamp, size));
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..4000)) {
        let mut reader = ChunkReader::new(4096);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = reader.read_message(&mut buf) {}
    }

    #[test]
    fn garbage_after_valid_headers_never_panics(
        sizes in prop::collection::vec(any::<u32>(), 0..3),
        bytes in prop::collection::vec(any::<u8>(), 0..4000),
    ) {
        // Set Chunk Size messages with arbitrary values, then garbage at that chunk size.
        let mut buf = BytesMut::new();
        for s in sizes {
            let mut m = control::set_chunk_size(ChunkSize::DEFAULT);
            m.payload = Bytes::copy_from_slice(&s.to_be_bytes());
            ChunkWriter::new().write(&m, &mut buf);
        }
        buf.extend_from_slice(&bytes);
        let mut reader = ChunkReader::new(4096);
        while let Ok(Some(_)) = reader.read_message(&mut buf) {}
    }
}
