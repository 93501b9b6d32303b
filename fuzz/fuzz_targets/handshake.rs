//! RTMP handshake (src/rtmp/handshake.rs), both roles, fed arbitrary bytes in arbitrary splits.
//!
//! Input: [mode][split][time: 4][rest]. Mode bit 0..1:
//! - 0, 1: server side, `rest` is what a client sends.
//! - 2: client side (digest = split bit 3), `rest` is what a server sends.
//! - 3: a real ClientHandshake (digest from a bit, random from `rest`) against the server: both
//!   must finish, whatever the split.
//!
//! Asserts: errors only for a bad version byte (or a bad S2 signature on a digest client);
//! Done exactly after C0+C1+C2 (client: S0+S1+S2) with the reply of the exact size; bytes
//! after the handshake are left in the buffer untouched; a plain C1 (zero version field) is
//! echoed as S2.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use livego::rtmp::handshake::{
    ClientHandshake, HandshakeError, HandshakeStatus, RANDOM_LEN, ServerHandshake,
};
use livego_fuzz::{Bound, Input, bounded, split};

const PACKET: usize = 1536;
/// C0+C1 (or S0+S1), and a whole side of the handshake (C0+C1+C2 or S0+S1+S2).
const HELLO: usize = 1 + PACKET;
const WHOLE: usize = 1 + 2 * PACKET;
/// The handshake holds the unconsumed input (a `BytesMut` that may double: 2 bytes per input
/// byte) and writes a fixed 3073-byte reply.
const PER_BYTE: usize = 4;
/// The reply (3 KB, maybe doubled once) and the buffers' first allocations.
const BASE: usize = 32 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let (mode, split_mode, time) = (input.u8(), input.u8(), input.u32());
    let rest = input.rest();
    let random = [0xA5; RANDOM_LEN];
    bounded(
        "handshake",
        data.len(),
        Bound::new(PER_BYTE, BASE),
        || match mode & 3 {
            0 | 1 => server(time, &random, rest, split_mode),
            2 => client(time, &random, split_mode & 8 != 0, rest, split_mode),
            _ => both(time, split_mode, rest),
        },
    );
});

fn server(time: u32, random: &[u8; RANDOM_LEN], data: &[u8], split_mode: u8) {
    let mut hs = ServerHandshake::new(time, random);
    let (mut buf, mut out) = (BytesMut::new(), BytesMut::new());
    let mut fed = 0;
    let mut done = false;
    for piece in split(data, split_mode) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        let before = buf.len();
        match hs.feed(&mut buf, &mut out) {
            Err(HandshakeError::UnsupportedVersion { packet, version }) => {
                assert_eq!((packet, Some(version)), ("C0", data.first().copied()));
                assert_ne!(version, 3);
                assert!(!done && out.is_empty());
                return;
            }
            Err(e) => panic!("server handshake error {e:?}"),
            Ok(HandshakeStatus::InProgress) => {
                assert!(fed < WHOLE, "in progress after {fed} bytes");
                let replied = if fed >= HELLO { WHOLE } else { 0 };
                assert_eq!(out.len(), replied);
            }
            Ok(HandshakeStatus::Done) => {
                assert!(fed >= WHOLE);
                if done {
                    assert_eq!(buf.len(), before, "consumed bytes after Done");
                }
                done = true;
                assert_eq!(out.len(), WHOLE);
                assert_eq!(&buf[..], &data[WHOLE..fed]);
                assert_eq!(out[0], 3);
                let c1 = &data[1..HELLO];
                if c1[4..8] == [0; 4] {
                    assert_eq!(&out[HELLO..], c1, "plain C1 must be echoed as S2");
                    assert_eq!(out[1..5], time.to_be_bytes());
                }
            }
        }
    }
}

fn client(time: u32, random: &[u8; RANDOM_LEN], digest: bool, data: &[u8], split_mode: u8) {
    let mut hs = ClientHandshake::new(time, random, digest);
    let (mut buf, mut out) = (BytesMut::new(), BytesMut::new());
    hs.start(&mut out);
    assert_eq!(out.len(), HELLO);
    let mut fed = 0;
    for piece in split(data, split_mode) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        match hs.feed(&mut buf, &mut out) {
            Err(HandshakeError::UnsupportedVersion { packet, version }) => {
                assert_eq!((packet, Some(version)), ("S0", data.first().copied()));
                assert_ne!(version, 3);
                return;
            }
            Err(HandshakeError::S2SignatureMismatch) => {
                assert!(digest, "signature checked without a digest C1");
                return;
            }
            Ok(HandshakeStatus::InProgress) => {
                assert!(fed < WHOLE);
                assert_eq!(out.len(), HELLO);
            }
            Ok(HandshakeStatus::Done) => {
                assert!(fed >= WHOLE);
                assert_eq!(out.len(), WHOLE);
                assert_eq!(&buf[..], &data[WHOLE..fed]);
            }
        }
    }
}

/// A real client against the server: both finish, the server's reply passes the client's
/// S2 check, and the client's C2 completes the server.
fn both(time: u32, split_mode: u8, rest: &[u8]) {
    let mut client_random = [0u8; RANDOM_LEN];
    client_random
        .iter_mut()
        .zip(rest.iter().cycle())
        .for_each(|(r, b)| *r = *b);
    let server_random = [0x3C; RANDOM_LEN];
    let digest = split_mode & 8 != 0;
    let mut client = ClientHandshake::new(time, &client_random, digest);
    let mut server = ServerHandshake::new(time.rotate_left(7), &server_random);
    let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
    client.start(&mut to_server);
    let c0c1 = to_server.split().freeze();
    let mut server_in = BytesMut::new();
    let mut status = HandshakeStatus::InProgress;
    for piece in split(&c0c1, split_mode) {
        server_in.extend_from_slice(piece);
        status = server
            .feed(&mut server_in, &mut to_client)
            .expect("server on C0C1");
    }
    assert_eq!(status, HandshakeStatus::InProgress);
    let reply = to_client.split().freeze();
    assert_eq!(reply.len(), WHOLE);
    let mut client_in = BytesMut::new();
    for piece in split(&reply, split_mode.rotate_left(3)) {
        client_in.extend_from_slice(piece);
        status = client
            .feed(&mut client_in, &mut to_server)
            .expect("client on S0S1S2");
    }
    assert_eq!(status, HandshakeStatus::Done);
    assert_eq!(to_server.len(), PACKET);
    server_in.extend_from_slice(&to_server);
    let status = server
        .feed(&mut server_in, &mut to_client)
        .expect("server on C2");
    assert_eq!(status, HandshakeStatus::Done);
    assert!(server_in.is_empty() && to_client.is_empty());
}
