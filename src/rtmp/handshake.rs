//! RTMP handshake, server and client roles, sans-IO: callers feed received bytes and send
//! what is appended to `out`; time and randomness are passed in, never read here.
//!
//! The wire format is Adobe's RTMP specification §5.2 (C0/S0 version byte 3, then 1536-byte
//! C1/S1 and C2/S2 packets). On top of that we speak the de-facto "digest" handshake used by
//! Flash Player, FMLE, librtmp and ffmpeg: a C1 with a non-zero version field carries an
//! HMAC-SHA256 digest at a position derived from four of its own bytes (schema 1: base 8,
//! schema 0: base 772), keyed with "Genuine Adobe Flash Player 001"; the server answers with
//! an S1 digest at the same schema (Flash Media Server key) and an S2 signed with a key
//! derived from the client's digest. Clients that send a version but no valid digest get the
//! plain echo handshake. RTMPE (C0 = 6/8/9) is not supported.

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};

use ring::hmac;

/// Length of C1/S1/C2/S2.
const PACKET_LEN: usize = 1536;
/// Length of the random part of C1/S1 (after the 4-byte time and 4-byte version fields).
pub const RANDOM_LEN: usize = PACKET_LEN - 8;
const DIGEST_LEN: usize = 32;
/// Length of the random part of a digest-mode C2/S2, which ends with a 32-byte signature.
const SIGNED_LEN: usize = PACKET_LEN - DIGEST_LEN;
const RTMP_VERSION: u8 = 3;

/// Flash Player key; the first 30 bytes (the text) key the C1 digest.
const FP_KEY: &[u8; 62] = b"Genuine Adobe Flash Player 001\
    \xf0\xee\xc2\x4a\x80\x68\xbe\xe8\x2e\x00\xd0\xd1\x02\x9e\x7e\x57\
    \x6e\xec\x5d\x2d\x29\x80\x6f\xab\x93\xb8\xe6\x36\xcf\xeb\x31\xae";
const FP_KEY_TEXT_LEN: usize = 30;
/// Flash Media Server key; the first 36 bytes (the text) key the S1 digest.
const FMS_KEY: &[u8; 68] = b"Genuine Adobe Flash Media Server 001\
    \xf0\xee\xc2\x4a\x80\x68\xbe\xe8\x2e\x00\xd0\xd1\x02\x9e\x7e\x57\
    \x6e\xec\x5d\x2d\x29\x80\x6f\xab\x93\xb8\xe6\x36\xcf\xeb\x31\xae";
const FMS_KEY_TEXT_LEN: usize = 36;

/// Version field we put in a digest S1 (FMS 4.5.0.1, as nginx-rtmp and others do).
const SERVER_VERSION: [u8; 4] = [4, 5, 0, 1];
/// Version field we put in a digest C1 (Flash 9.0.124.2, what ffmpeg sends).
const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];

/// Offsets of the 4 bytes from which each schema derives its digest position:
/// schema 1 (digest in the first half, used by ffmpeg/librtmp for plain RTMP) and schema 0.
const SCHEMA_BASES: [usize; 2] = [8, 772];

type Packet = [u8; PACKET_LEN];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStatus {
    InProgress,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The first byte (C0 or S0) was not RTMP version 3.
    UnsupportedVersion { packet: &'static str, version: u8 },
    /// The server's S1 carried a valid digest but its S2 was not signed with our C1 digest.
    S2SignatureMismatch,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HandshakeError::UnsupportedVersion { packet, version } => {
                write!(
                    f,
                    "unsupported RTMP version {version:#04x} in {packet} (expected 3)"
                )?;
                let hint = match version {
                    6 | 8 | 9 => "; RTMPE (encrypted RTMP) is not supported",
                    0x16 => "; this looks like TLS: use rtmp://, not rtmps://",
                    b'G' | b'P' | b'H' => "; this looks like HTTP: use the HTTP port for HTTP",
                    _ => "",
                };
                f.write_str(hint)
            }
            HandshakeError::S2SignatureMismatch => f.write_str(
                "server S2 signature does not match our C1 digest: the server's digest \
                 handshake is broken; retry with a plain (non-digest) client handshake",
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Digest position for the schema whose offset bytes start at `base`.
fn digest_pos(packet: &Packet, base: usize) -> usize {
    let sum: usize = packet[base..base + 4].iter().map(|&b| usize::from(b)).sum();
    sum % 728 + base + 4
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key`.
fn hmac_sha256_parts(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for part in parts {
        context.update(part);
    }
    let mut out = [0; DIGEST_LEN];
    out.copy_from_slice(context.sign().as_ref());
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256_parts(key, &[data])
}

/// HMAC over the packet minus the 32 digest bytes at `pos`.
fn packet_digest(packet: &Packet, pos: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256_parts(key, &[&packet[..pos], &packet[pos + DIGEST_LEN..]])
}

/// Finds a valid digest under `key` in either schema; returns (schema base, digest position).
fn find_digest(packet: &Packet, key: &[u8]) -> Option<(usize, usize)> {
    SCHEMA_BASES
        .into_iter()
        .map(|base| (base, digest_pos(packet, base)))
        // The keys are the public Adobe constants: no secret to keep from timing.
        .find(|&(_, pos)| packet_digest(packet, pos, key) == packet[pos..pos + DIGEST_LEN])
}

/// Writes the digest for schema `base` into `packet`; returns its position.
fn imprint_digest(packet: &mut Packet, base: usize, key: &[u8]) -> usize {
    let pos = digest_pos(packet, base);
    let digest = packet_digest(packet, pos, key);
    packet[pos..pos + DIGEST_LEN].copy_from_slice(&digest);
    pos
}

/// Signature ending a digest-mode S2/C2: HMAC keyed by HMAC(`full_key`, peer's digest).
fn signature(signed: &[u8], peer_digest: &[u8], full_key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256(&hmac_sha256(full_key, peer_digest), signed)
}

/// Digest-mode S2/C2: random bytes followed by their signature.
fn signed_response(random: &[u8; RANDOM_LEN], peer_digest: &[u8], full_key: &[u8]) -> Packet {
    let mut packet = [0; PACKET_LEN];
    packet[..SIGNED_LEN].copy_from_slice(&random[..SIGNED_LEN]);
    let sig = signature(&packet[..SIGNED_LEN], peer_digest, full_key);
    packet[SIGNED_LEN..].copy_from_slice(&sig);
    packet
}

/// C1/S1 skeleton: time, version, random.
fn hello_packet(time: u32, version: [u8; 4], random: &[u8; RANDOM_LEN]) -> Packet {
    let mut packet = [0; PACKET_LEN];
    packet[..4].copy_from_slice(&time.to_be_bytes());
    packet[4..8].copy_from_slice(&version);
    packet[8..].copy_from_slice(random);
    packet
}

/// Checks the version byte at the front of `input` as soon as it is there.
fn check_version(input: &BytesMut, packet: &'static str) -> Result<(), HandshakeError> {
    match input.first() {
        Some(&version) if version != RTMP_VERSION => {
            Err(HandshakeError::UnsupportedVersion { packet, version })
        }
        _ => Ok(()),
    }
}

/// Removes one 1536-byte packet from the front of `input` (which must hold at least that).
fn take_packet(input: &mut BytesMut) -> Packet {
    let mut packet = [0; PACKET_LEN];
    input.copy_to_slice(&mut packet);
    packet
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    AwaitC0C1,
    AwaitC2,
    Done,
}

/// Server side: reads C0+C1, answers S0+S1+S2, then reads C2.
pub struct ServerHandshake {
    time: u32,
    random: [u8; RANDOM_LEN],
    state: ServerState,
}

impl ServerHandshake {
    /// `time` goes into S1's time field; `random` fills the random parts of S1 and S2.
    pub fn new(time: u32, random: &[u8; RANDOM_LEN]) -> Self {
        ServerHandshake {
            time,
            random: *random,
            state: ServerState::AwaitC0C1,
        }
    }

    /// Consumes what is available of C0/C1/C2 from `input`, leaving any bytes after C2 (chunk
    /// data) in place, and appends S0+S1+S2 to `out` once C0+C1 are complete.
    pub fn feed(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<HandshakeStatus, HandshakeError> {
        if self.state == ServerState::AwaitC0C1 {
            check_version(input, "C0")?;
            if input.len() < 1 + PACKET_LEN {
                return Ok(HandshakeStatus::InProgress);
            }
            input.advance(1);
            let c1 = take_packet(input);
            self.respond(&c1, out);
            self.state = ServerState::AwaitC2;
        }
        if self.state == ServerState::AwaitC2 {
            if input.len() < PACKET_LEN {
                return Ok(HandshakeStatus::InProgress);
            }
            input.advance(PACKET_LEN);
            self.state = ServerState::Done;
        }
        Ok(HandshakeStatus::Done)
    }

    fn respond(&self, c1: &Packet, out: &mut BytesMut) {
        let client_digest = match c1[4..8] {
            [0, 0, 0, 0] => None,
            _ => find_digest(c1, &FP_KEY[..FP_KEY_TEXT_LEN]),
        };
        out.reserve(1 + 2 * PACKET_LEN);
        out.put_u8(RTMP_VERSION);
        match client_digest {
            Some((base, pos)) => {
                let mut s1 = hello_packet(self.time, SERVER_VERSION, &self.random);
                imprint_digest(&mut s1, base, &FMS_KEY[..FMS_KEY_TEXT_LEN]);
                out.put_slice(&s1);
                out.put_slice(&signed_response(
                    &self.random,
                    &c1[pos..pos + DIGEST_LEN],
                    FMS_KEY,
                ));
            }
            None => {
                out.put_slice(&hello_packet(self.time, [0; 4], &self.random));
                out.put_slice(c1);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Initial,
    AwaitS0S1S2,
    Done,
}

/// Client side: sends C0+C1, reads S0+S1+S2, answers C2.
pub struct ClientHandshake {
    c1: Packet,
    /// Position of our C1 digest when `digest` was requested.
    digest_pos: Option<usize>,
    random: [u8; RANDOM_LEN],
    state: ClientState,
}

impl ClientHandshake {
    /// `digest = true` sends a Flash-Player-style C1 (version 9.0.124.2, schema-1 digest),
    /// which digest servers answer with a signed S1/S2; `false` sends a plain C1.
    pub fn new(time: u32, random: &[u8; RANDOM_LEN], digest: bool) -> Self {
        let version = if digest { CLIENT_VERSION } else { [0; 4] };
        let mut c1 = hello_packet(time, version, random);
        let digest_pos =
            digest.then(|| imprint_digest(&mut c1, SCHEMA_BASES[0], &FP_KEY[..FP_KEY_TEXT_LEN]));
        ClientHandshake {
            c1,
            digest_pos,
            random: *random,
            state: ClientState::Initial,
        }
    }

    /// Appends C0+C1 to `out`. Only the first call (or `feed` before any call) emits them.
    pub fn start(&mut self, out: &mut BytesMut) {
        if self.state == ClientState::Initial {
            out.reserve(1 + PACKET_LEN);
            out.put_u8(RTMP_VERSION);
            out.put_slice(&self.c1);
            self.state = ClientState::AwaitS0S1S2;
        }
    }

    /// Consumes S0+S1+S2 from `input` (leaving anything after them) and appends C2 to `out`.
    /// Calls [`start`](Self::start) first if that has not happened yet.
    pub fn feed(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<HandshakeStatus, HandshakeError> {
        self.start(out);
        if self.state == ClientState::AwaitS0S1S2 {
            check_version(input, "S0")?;
            if input.len() < 1 + 2 * PACKET_LEN {
                return Ok(HandshakeStatus::InProgress);
            }
            input.advance(1);
            let s1 = take_packet(input);
            let s2 = take_packet(input);
            out.put_slice(&self.c2(&s1, &s2)?);
            self.state = ClientState::Done;
        }
        Ok(HandshakeStatus::Done)
    }

    /// Signed C2 if we sent a digest and S1 carries a valid server digest; else echo S1.
    fn c2(&self, s1: &Packet, s2: &Packet) -> Result<Packet, HandshakeError> {
        let Some(our_pos) = self.digest_pos else {
            return Ok(*s1);
        };
        let Some((_, server_pos)) = find_digest(s1, &FMS_KEY[..FMS_KEY_TEXT_LEN]) else {
            return Ok(*s1);
        };
        let expected = signature(
            &s2[..SIGNED_LEN],
            &self.c1[our_pos..our_pos + DIGEST_LEN],
            FMS_KEY,
        );
        if expected[..] != s2[SIGNED_LEN..] {
            return Err(HandshakeError::S2SignatureMismatch);
        }
        Ok(signed_response(
            &self.random,
            &s1[server_pos..server_pos + DIGEST_LEN],
            FP_KEY,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRAILER: &[u8] = b"\x03chunk data";

    fn random(seed: u8) -> [u8; RANDOM_LEN] {
        let mut r = [0; RANDOM_LEN];
        for (i, b) in r.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8;
        }
        r
    }

    /// Client C0+C1, a C2-sized blob and trailing chunk data, as one byte stream.
    fn client_stream(digest: bool) -> Vec<u8> {
        let mut out = BytesMut::new();
        ClientHandshake::new(7, &random(1), digest).start(&mut out);
        out.put_bytes(0xc2, PACKET_LEN);
        out.put_slice(TRAILER);
        out.to_vec()
    }

    /// Feeds `pieces` one by one to a fresh server; returns (status, out, leftover).
    fn feed_server(pieces: &[&[u8]]) -> (HandshakeStatus, BytesMut, BytesMut) {
        let mut server = ServerHandshake::new(42, &random(2));
        let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
        let mut status = HandshakeStatus::InProgress;
        for piece in pieces {
            input.extend_from_slice(piece);
            status = server.feed(&mut input, &mut out).expect("valid stream");
        }
        (status, out, input)
    }

    /// ffmpeg's client-side rule (rtmp_handshake in libavformat/rtmpproto.c), written out
    /// independently: S1 must hold an FMS-keyed digest (schema 0 tried first, then 1) and S2
    /// must end with HMAC(HMAC(full FMS key, C1 digest), S2[..1504]).
    fn ffmpeg_accepts(c1: &[u8], s1: &[u8], s2: &[u8]) -> bool {
        let pos_at = |buf: &[u8], off: usize| {
            buf[off..off + 4].iter().map(|&b| b as usize).sum::<usize>() % 728 + off + 4
        };
        let valid_at = |buf: &[u8], off: usize, key: &[u8]| {
            let pos = pos_at(buf, off);
            let mut rest = buf[..pos].to_vec();
            rest.extend_from_slice(&buf[pos + 32..]);
            (hmac_sha256(key, &rest)[..] == buf[pos..pos + 32]).then_some(pos)
        };
        // ffmpeg digests its own C1 with schema 1 and the 30-byte player key.
        let c1_pos = pos_at(c1, 8);
        assert!(valid_at(c1, 8, b"Genuine Adobe Flash Player 001").is_some());
        let fms_text = b"Genuine Adobe Flash Media Server 001";
        if s1[4] < 3 || (valid_at(s1, 772, fms_text).or(valid_at(s1, 8, fms_text))).is_none() {
            return false;
        }
        let key = hmac_sha256(FMS_KEY, &c1[c1_pos..c1_pos + 32]);
        hmac_sha256(&key, &s2[..1504])[..] == s2[1504..]
    }

    fn round_trip(digest: bool) -> (BytesMut, BytesMut, BytesMut) {
        let mut client = ClientHandshake::new(7, &random(1), digest);
        let mut server = ServerHandshake::new(42, &random(2));
        let (mut c0c1, mut s0s1s2, mut c2) = (BytesMut::new(), BytesMut::new(), BytesMut::new());
        client.start(&mut c0c1);
        let mut to_server = c0c1.clone();
        assert_eq!(
            server.feed(&mut to_server, &mut s0s1s2),
            Ok(HandshakeStatus::InProgress)
        );
        let mut to_client = s0s1s2.clone();
        assert_eq!(
            client.feed(&mut to_client, &mut c2),
            Ok(HandshakeStatus::Done)
        );
        to_server.extend_from_slice(&c2);
        let mut nothing = BytesMut::new();
        assert_eq!(
            server.feed(&mut to_server, &mut nothing),
            Ok(HandshakeStatus::Done)
        );
        assert!(to_server.is_empty() && to_client.is_empty() && nothing.is_empty());
        assert_eq!((c0c1.len(), s0s1s2.len(), c2.len()), (1537, 3073, 1536));
        (c0c1, s0s1s2, c2)
    }

    #[test]
    fn plain_round_trip() {
        let (c0c1, s0s1s2, c2) = round_trip(false);
        assert_eq!(c0c1[0], 3);
        assert_eq!(&c0c1[5..9], &[0; 4]);
        assert_eq!(s0s1s2[0], 3);
        assert_eq!(&s0s1s2[1..5], &42u32.to_be_bytes());
        assert_eq!(&s0s1s2[5..9], &[0; 4], "plain S1 has a zero version field");
        assert_eq!(&s0s1s2[1 + PACKET_LEN..], &c0c1[1..], "S2 echoes C1");
        assert_eq!(&c2[..], &s0s1s2[1..1 + PACKET_LEN], "C2 echoes S1");
    }

    #[test]
    fn digest_round_trip_verified_independently() {
        let (c0c1, s0s1s2, c2) = round_trip(true);
        let (c1, s1, s2) = (&c0c1[1..], &s0s1s2[1..1537], &s0s1s2[1537..]);
        assert_eq!(&c1[4..8], &CLIENT_VERSION);
        assert_eq!(&s1[4..8], &SERVER_VERSION);
        assert!(ffmpeg_accepts(c1, s1, s2));
        // Our C2 is signed the way Flash Player signs it, over the server's S1 digest.
        let s1_packet: Packet = s1.try_into().unwrap();
        let (_, s1_pos) = find_digest(&s1_packet, &FMS_KEY[..FMS_KEY_TEXT_LEN]).unwrap();
        let key = hmac_sha256(FP_KEY, &s1[s1_pos..s1_pos + 32]);
        assert_eq!(hmac_sha256(&key, &c2[..1504])[..], c2[1504..]);
    }

    #[test]
    fn ffmpeg_capture_gets_digest_response() {
        let capture = include_bytes!("../../tests/fixtures/ffmpeg_c0c1.bin");
        assert_eq!(capture.len(), 1537);
        assert_eq!(
            &capture[1..9],
            &[0, 0, 0, 0, 9, 0, 124, 2],
            "ffmpeg: time 0, Flash 9.0.124.2"
        );
        let (status, out, leftover) = feed_server(&[capture]);
        assert_eq!(status, HandshakeStatus::InProgress);
        assert!(leftover.is_empty());
        assert_eq!(
            &out[5..9],
            &SERVER_VERSION,
            "server recognised ffmpeg's C1 digest"
        );
        assert!(ffmpeg_accepts(&capture[1..], &out[1..1537], &out[1537..]));
    }

    #[test]
    fn version_without_valid_digest_falls_back_to_echo() {
        let mut stream = client_stream(true);
        stream[100] ^= 0xff; // corrupt C1 (the random part at 8..12 is untouched)
        let (_, out, _) = feed_server(&[&stream]);
        assert_eq!(&out[5..9], &[0; 4]);
        assert_eq!(&out[1 + PACKET_LEN..], &stream[1..1 + PACKET_LEN]);
    }

    #[test]
    fn bytes_after_c2_stay_in_input() {
        let stream = client_stream(true);
        let (status, out, leftover) = feed_server(&[&stream]);
        assert_eq!(status, HandshakeStatus::Done);
        assert_eq!(out.len(), 1 + 2 * PACKET_LEN);
        assert_eq!(&leftover[..], TRAILER);
    }

    #[test]
    fn byte_by_byte_equals_one_shot() {
        for digest in [false, true] {
            let stream = client_stream(digest);
            let pieces: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(feed_server(&pieces), feed_server(&[&stream]));
        }
    }

    #[test]
    fn truncated_input_waits() {
        let stream = client_stream(false);
        for len in [0, 1, 1536, 1537, 3072] {
            let (status, out, _) = feed_server(&[&stream[..len]]);
            assert_eq!(status, HandshakeStatus::InProgress, "after {len} bytes");
            assert_eq!(
                out.is_empty(),
                len < 1537,
                "S0S1S2 exactly when C0C1 complete"
            );
        }
    }

    #[test]
    fn wrong_c0_is_rejected_immediately() {
        let mut server = ServerHandshake::new(0, &random(0));
        let mut input = BytesMut::from(&b"G"[..]);
        let err = server.feed(&mut input, &mut BytesMut::new()).unwrap_err();
        assert_eq!(
            err,
            HandshakeError::UnsupportedVersion {
                packet: "C0",
                version: b'G'
            }
        );
        assert!(
            err.to_string()
                .starts_with("unsupported RTMP version 0x47 in C0 (expected 3)")
        );
    }

    #[test]
    fn client_rejects_wrong_s0_and_bad_s2_signature() {
        let mut client = ClientHandshake::new(0, &random(3), true);
        let mut input = BytesMut::from(&[6u8][..]);
        let err = client.feed(&mut input, &mut BytesMut::new()).unwrap_err();
        assert_eq!(
            err,
            HandshakeError::UnsupportedVersion {
                packet: "S0",
                version: 6
            }
        );

        let mut client = ClientHandshake::new(0, &random(3), true);
        let (mut c0c1, mut s0s1s2) = (BytesMut::new(), BytesMut::new());
        client.start(&mut c0c1);
        ServerHandshake::new(1, &random(4))
            .feed(&mut c0c1, &mut s0s1s2)
            .unwrap();
        s0s1s2[2000] ^= 1; // inside S2's signed random part
        let result = client.feed(&mut s0s1s2, &mut BytesMut::new());
        assert_eq!(result, Err(HandshakeError::S2SignatureMismatch));
    }

    #[test]
    fn digest_client_accepts_plain_server() {
        let mut client = ClientHandshake::new(0, &random(3), true);
        let mut input = BytesMut::new();
        input.put_u8(3);
        let s1 = hello_packet(5, [0; 4], &random(9));
        input.put_slice(&s1);
        input.put_bytes(0, PACKET_LEN);
        let mut out = BytesMut::new();
        assert_eq!(client.feed(&mut input, &mut out), Ok(HandshakeStatus::Done));
        assert_eq!(
            &out[1 + PACKET_LEN..],
            &s1[..],
            "feed emitted C0+C1, then C2 = echo of S1"
        );
    }

    proptest! {
        #[test]
        fn random_splits_equal_one_shot(
            digest: bool,
            cuts in proptest::collection::vec(0usize..3084, 0..12),
        ) {
            let stream = client_stream(digest);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                pieces.push(&stream[start..cut]);
                start = cut;
            }
            prop_assert_eq!(feed_server(&pieces), feed_server(&[&stream]));
        }

        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4000)) {
            let mut input = BytesMut::from(&data[..]);
            let _ = ServerHandshake::new(0, &random(0)).feed(&mut input, &mut BytesMut::new());
            let mut input = BytesMut::from(&data[..]);
            let _ = ClientHandshake::new(0, &random(0), true).feed(&mut input, &mut BytesMut::new());
        }
    }
}
