//! The server's NetConnection/NetStream session (src/rtmp/session.rs) fed a sequence of decoded
//! messages built from the input, driven the way server/rtmp.rs drives it.
//!
//! Input: messages, each `[k][len: u8, or u16 if k & 0x20][payload]`; `k & 0x0f` picks the type
//! (commands AMF0/AMF3, data AMF0/AMF3, audio, video, window ack size, user control, set chunk
//! size, abort, ack, peer bandwidth, aggregate, shared objects, or a raw type byte that follows),
//! `k & 0x10` stream id 1 (else 0), `k & 0x40` the driver's answer to a publish (accept, else
//! refuse and close), `k & 0x80` an acknowledgement check after the message. Publish is accepted,
//! play is accepted, media while publishing becomes frames in a 1-GOP cache (as a publisher's
//! do), and a session error ends the connection.
//!
//! Asserts: no panic; everything the session writes is a valid chunk stream for the client
//! (decoded by a `ChunkReader` that follows our Set Chunk Size), whose command and data
//! messages are valid AMF0; events only come in the states that allow them; memory bound.
#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use livego::amf;
use livego::rtmp::chunk::ChunkReader;
use livego::rtmp::message::{Message, msg_type};
use livego::rtmp::session::{Event, Session};
use livego::stream::gop::GopCache;
use livego::stream::ingest::frame_from_message;
use livego_fuzz::{Bound, Input, bounded_retained, short};

/// Kept after the input (the GOP cache), as chunk_reader's ingest path: a frame must not cost
/// more than 32 bytes of heap per byte the publisher sent. Here a message takes at least 2
/// input bytes (k and length) where the wire needs 1 (a fmt 3 chunk header), so this is the
/// looser of the two.
const KEPT_PER_BYTE: usize = 32;
const KEPT_BASE: usize = 64 * 1024;
/// Peak: what is kept, plus decoding one command, which the AMF decoder's budget allows 64
/// bytes of values per payload byte, up to twice that while vectors grow (see the amf0 target).
const PEAK_PER_BYTE: usize = KEPT_PER_BYTE + 128;
/// Replies (a few hundred bytes each, drained after every message), the client-side reader,
/// the AMF decoder's fixed allowance and the GOP cache's vectors.
const PEAK_BASE: usize = 128 * 1024;

const TYPES: [u8; 15] = [
    msg_type::COMMAND_AMF0,
    msg_type::COMMAND_AMF3,
    msg_type::DATA_AMF0,
    msg_type::DATA_AMF3,
    msg_type::AUDIO,
    msg_type::VIDEO,
    msg_type::WINDOW_ACK_SIZE,
    msg_type::USER_CONTROL,
    msg_type::SET_CHUNK_SIZE,
    msg_type::ABORT,
    msg_type::ACKNOWLEDGEMENT,
    msg_type::SET_PEER_BANDWIDTH,
    msg_type::AGGREGATE,
    msg_type::SHARED_OBJECT_AMF0,
    msg_type::SHARED_OBJECT_AMF3,
];

fuzz_target!(|data: &[u8]| {
    let (peak, kept) = (
        Bound::new(PEAK_PER_BYTE, PEAK_BASE),
        Bound::new(KEPT_PER_BYTE, KEPT_BASE),
    );
    let gop = bounded_retained("rtmp session", data.len(), peak, Some(kept), || {
        let mut gop = GopCache::new(1);
        run(data, &mut gop);
        gop
    });
    drop(gop);
});

fn run(data: &[u8], gop: &mut GopCache) {
    let mut input = Input::new(data);
    let mut session = Session::new();
    let mut client = ChunkReader::new(16 << 20);
    let mut out = BytesMut::new();
    let (mut publishing, mut playing) = (false, false);
    let mut timestamp = 0u32;
    while !input.is_empty() {
        let k = input.u8();
        let type_id = match usize::from(k & 0x0f) {
            15 => input.u8(),
            i => TYPES[i],
        };
        let len = if k & 0x20 != 0 {
            usize::from(input.u16())
        } else {
            usize::from(input.u8())
        };
        let payload = Bytes::copy_from_slice(input.bytes(len));
        timestamp = timestamp.wrapping_add(len as u32);
        let msg = Message {
            csid: if type_id == msg_type::COMMAND_AMF0 {
                3
            } else {
                4
            },
            timestamp,
            type_id,
            stream_id: u32::from(k & 0x10 != 0),
            payload,
        };
        let is_media = matches!(
            type_id,
            msg_type::AUDIO | msg_type::VIDEO | msg_type::DATA_AMF0 | msg_type::DATA_AMF3
        );
        let result = session.handle(msg, &mut out);
        check_replies(&mut client, &mut out);
        let event = match result {
            Ok(event) => event,
            Err(_) => return, // the server closes the connection
        };
        match event {
            None => {}
            Some(Event::Publish { app, name, .. }) => {
                assert!(!publishing && !playing, "publish while active");
                check_name(&app, true);
                check_name(&name, false);
                if k & 0x40 == 0 {
                    session.reject_publish("NetStream.Publish.BadName", "refused", &mut out);
                    check_replies(&mut client, &mut out);
                    return;
                }
                session.accept_publish(&name, &mut out);
                publishing = true;
            }
            Some(Event::Play { app, name, .. }) => {
                assert!(!publishing && !playing, "play while active");
                check_name(&app, true);
                check_name(&name, false);
                session.accept_play(&name, &mut out);
                playing = true;
            }
            Some(Event::Media(msg)) => {
                assert!(publishing && is_media, "media event while not publishing");
                if let Ok(frame) = frame_from_message(msg.type_id, msg.timestamp, msg.payload) {
                    gop.push(&Arc::new(frame));
                }
            }
            Some(Event::Stop) => {
                assert!(publishing || playing, "stop while idle");
                (publishing, playing) = (false, false);
            }
        }
        if k & 0x80 != 0 {
            session.acknowledge((data.len() - input.len()) as u64, &mut out);
        }
        check_replies(&mut client, &mut out);
    }
}

/// App and stream names reach URLs, file names and logs: bounded, no control characters, and a
/// stream name has no path separators.
fn check_name(name: &str, app: bool) {
    assert!(name.len() <= 256, "name of {} bytes", name.len());
    assert!(
        !name.chars().any(char::is_control),
        "control character in {name:?}"
    );
    if !app {
        assert!(
            !name.is_empty() && !name.contains(['/', '\\']),
            "stream name {name:?}"
        );
    }
}

/// What the session wrote is sent as is (server/rtmp.rs flushes after every message): it must
/// decode, whole, as the client would read it.
fn check_replies(client: &mut ChunkReader, out: &mut BytesMut) {
    let mut buf = std::mem::take(out);
    while let Some(m) = client
        .read_message(&mut buf)
        .unwrap_or_else(|e| panic!("the session wrote an invalid chunk stream: {e}"))
    {
        if matches!(m.type_id, msg_type::COMMAND_AMF0 | msg_type::DATA_AMF0)
            && let Err(e) = amf::decode_message_values(false, &m.payload)
        {
            panic!(
                "the session wrote bad AMF0 ({e}): {}",
                short(&&m.payload[..])
            );
        }
    }
    assert!(
        buf.is_empty(),
        "the session wrote {} bytes of a partial chunk",
        buf.len()
    );
}
