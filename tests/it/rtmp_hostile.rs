//! Hostile and broken RTMP clients, written byte by byte, while a real publisher streams and a
//! real player records. Each bad connection must be closed by the server (and logged with its
//! peer address); the server, the publisher and the player must not notice.
//!
//! RTMP framing used below (Adobe RTMP spec §5.2 handshake, §5.3 chunks):
//! - handshake: C0 = version 3; C1 = 4-byte time, 4 zero bytes (a zero version field asks for
//!   the plain handshake, no digest), 1528 random bytes; the server answers S0 S1 S2
//!   (1 + 1536 + 1536 bytes); C2 echoes S1.
//! - chunk basic header: `fmt << 6 | csid` (csid 2..=63). fmt 0 message header: timestamp
//!   (3 bytes BE; 0xFFFFFF means a 4-byte extended timestamp follows the header), length
//!   (3 bytes BE), type id (1), message stream id (4 bytes LE). fmt 1: delta, length, type;
//!   fmt 2: delta; fmt 3: nothing (continues the previous header of that csid).
//! - AMF0: number = 0x00 + f64 BE, string = 0x02 + u16 BE length + bytes, object = 0x03 +
//!   (u16 key length, key, value)* + 00 00 09, null = 0x05.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::raw::{noise, wait_closed};
use crate::common::{Player, Server, TestDir, ffmpeg_endpoint, free_port, live_stream, wait_until};

const SET_CHUNK_SIZE: u8 = 1;
const WINDOW_ACK_SIZE: u8 = 5;
const VIDEO: u8 = 9;
const COMMAND_AMF0: u8 = 20;

/// Read timeout while waiting for the server to close: how often the deadline is checked.
const POLL: Duration = Duration::from_millis(100);

fn c0_c1() -> Vec<u8> {
    let mut out = vec![3];
    out.extend_from_slice(&[0; 8]); // time 0, zero field 0: plain handshake
    out.extend(noise(1528, 0x1234_5678));
    out
}

/// Plain handshake as a client: C0 C1, read S0 S1 S2, send C2 (= S1).
fn handshake(stream: &mut TcpStream) -> io::Result<()> {
    stream.write_all(&c0_c1())?;
    let mut s = vec![0u8; 1 + 1536 + 1536];
    stream.read_exact(&mut s)?;
    if s[0] != 3 {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("S0 is {}", s[0]),
        ));
    }
    stream.write_all(&s[1..1537])
}

/// A whole message as one fmt-0 chunk (every body here fits the default 128-byte chunk size).
fn message(csid: u8, timestamp: u32, type_id: u8, stream_id: u32, body: &[u8]) -> Vec<u8> {
    assert!(body.len() <= 128 && (2..64).contains(&csid));
    let mut out = vec![csid];
    out.extend_from_slice(&timestamp.min(0xFF_FFFF).to_be_bytes()[1..]);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    if timestamp >= 0xFF_FFFF {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

fn amf_string(s: &str) -> Vec<u8> {
    let mut out = vec![0x02];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

fn amf_object(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x03];
    for (key, value) in fields {
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(&[0x00, 0x00, 0x09]);
    out
}

fn amf_number(n: f64) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend_from_slice(&n.to_be_bytes());
    out
}

/// What a bad client does after connecting.
struct Case {
    name: &'static str,
    /// Complete the plain handshake first.
    handshake: bool,
    bytes: Vec<u8>,
    /// Half-close (FIN) after sending.
    hang_up: bool,
}

fn case(name: &'static str, handshake: bool, bytes: Vec<u8>) -> Case {
    Case {
        name,
        handshake,
        bytes,
        hang_up: false,
    }
}

/// Bad input the server has in full: it must close at once, not wait for its read timeout.
fn immediate_cases() -> Vec<Case> {
    let mut garbage = noise(3073, 0xdead_beef);
    garbage[0] = 0xa5; // not a valid RTMP version
    let mut truncated = c0_c1();
    truncated.truncate(701);
    let wrong_type = [amf_number(1.0), amf_number(1.0), vec![0x05]].concat();
    // connect(1, {app: <string claiming 16 bytes, 2 present>}); the message length is exact
    let truncated_connect = [
        amf_string("connect"),
        amf_number(1.0),
        vec![0x03, 0x00, 0x03],
        b"app".to_vec(),
        vec![0x02, 0x00, 0x10],
        b"li".to_vec(),
    ]
    .concat();
    let mut fmt3_first = vec![0xc0 | 9];
    fmt3_first.extend_from_slice(&[0x42; 32]);
    vec![
        case("random bytes instead of a handshake", false, garbage),
        Case {
            name: "truncated handshake, then hang-up",
            handshake: false,
            bytes: truncated,
            hang_up: true,
        },
        case(
            "Set Chunk Size 0",
            true,
            message(2, 0, SET_CHUNK_SIZE, 0, &0u32.to_be_bytes()),
        ),
        case(
            "Set Chunk Size 0x80000000",
            true,
            message(2, 0, SET_CHUNK_SIZE, 0, &0x8000_0000u32.to_be_bytes()),
        ),
        case("fmt-3 chunk on csid 9 before any fmt-0", true, fmt3_first),
        case(
            "command name is a number",
            true,
            message(3, 0, COMMAND_AMF0, 0, &wrong_type),
        ),
        case(
            "connect with truncated AMF",
            true,
            message(3, 0, COMMAND_AMF0, 0, &truncated_connect),
        ),
    ]
}

/// Bad input a server may also just wait on: it must be closed by the read timeout at the
/// latest.
fn eventual_cases() -> Vec<Case> {
    // the 3-byte length field tops out at 16 MiB - 1: claim that, send one chunk of it
    let mut huge = vec![6, 0, 0, 0, 0xff, 0xff, 0xff, VIDEO, 1, 0, 0, 0];
    huge.extend_from_slice(&[0x17; 128]);
    // timestamps at the top of the range, then deltas that overflow them
    let mut absurd = message(2, u32::MAX, WINDOW_ACK_SIZE, 0, &2_500_000u32.to_be_bytes());
    absurd.extend_from_slice(&[0x80 | 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // fmt 2
    absurd.extend_from_slice(&2_500_000u32.to_be_bytes());
    absurd.extend(message(6, u32::MAX, VIDEO, 1, &[0x17, 0x01, 0, 0, 0]));
    absurd.extend_from_slice(&[0x40 | 6, 0xff, 0xff, 0xff, 0, 0, 5, VIDEO]); // fmt 1
    absurd.extend_from_slice(&0xffff_fffeu32.to_be_bytes());
    absurd.extend_from_slice(&[0x27, 0x01, 0, 0, 0]);
    vec![
        case(
            "HTTP request on the RTMP port",
            false,
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        ),
        case("message header claiming 16 MiB", true, huge),
        case("absurd (extended, overflowing) timestamps", true, absurd),
    ]
}

/// How one bad connection went: our address (the server's peer) and how long the server took
/// to close it after our last byte.
struct Outcome {
    name: &'static str,
    peer: Option<SocketAddr>,
    result: Result<Duration, String>,
}

fn run_case(addr: SocketAddr, case: &Case, limit: Duration) -> Outcome {
    let mut peer = None;
    let result = (|| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| format!("connect: {e}"))?;
        peer = s.local_addr().ok();
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        if case.handshake {
            handshake(&mut s).map_err(|e| format!("plain handshake failed: {e}"))?;
        }
        // a write error means the server already hung up, which is fine
        let wrote = s.write_all(&case.bytes);
        if case.hang_up {
            let _ = s.shutdown(Shutdown::Write);
        }
        let sent = Instant::now();
        if wrote.is_err() {
            return Ok(sent.elapsed());
        }
        s.set_read_timeout(Some(POLL)).ok();
        wait_closed(&mut s, limit).map(|()| sent.elapsed())
    })();
    Outcome {
        name: case.name,
        peer,
        result,
    }
}

/// Whether a log line names `peer` (and not a longer port that starts with the same digits).
fn log_names(log: &str, peer: SocketAddr) -> bool {
    let needle = peer.to_string();
    log.match_indices(&needle)
        .any(|(i, _)| !log[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// Each outcome must be a close within its limit, logged with the peer address.
fn check_outcomes(server: &Server, outcomes: &[Outcome], failures: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(2); // let the log catch up
    for o in outcomes {
        match (&o.result, o.peer) {
            (Err(e), _) => failures.push(format!("{}: {e}", o.name)),
            (Ok(_), None) => failures.push(format!("{}: no local address", o.name)),
            (Ok(_), Some(peer)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if !wait_until(left, || log_names(&server.log(), peer)) {
                    failures.push(format!("{}: no log line names the peer {peer}", o.name));
                }
            }
        }
    }
}

#[test]
fn hostile_connections_are_closed_and_the_stream_survives() {
    const READ_TIMEOUT: u64 = 5;
    let server = Server::start(&format!("read_timeout: {READ_TIMEOUT}"));
    let (url, mut publisher) = live_stream(&server, "target");
    let probes = server.players_started("target");
    let player = Player::ffmpeg(&url, Some(13.0), &server.path("play.flv"));
    server.wait_player_started("target", probes);

    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for case in immediate_cases() {
        // well under the read timeout: the server must see these for what they are
        let outcome = run_case(server.rtmp_addr(), &case, Duration::from_millis(2500));
        if !server.is_alive() {
            failures.push(format!("server died after: {}", case.name));
            break;
        }
        outcomes.push(outcome);
    }
    if server.is_alive() {
        let limit = Duration::from_secs(READ_TIMEOUT + 3);
        let addr = server.rtmp_addr();
        let waiting: Vec<_> = eventual_cases()
            .into_iter()
            .map(|case| thread::spawn(move || run_case(addr, &case, limit)))
            .collect();
        for handle in waiting {
            outcomes.push(handle.join().expect("case thread"));
        }
        if !server.is_alive() {
            failures.push("server died during the read-timeout cases".into());
        }
    }
    check_outcomes(&server, &outcomes, &mut failures);

    let played = player.finish(Duration::from_secs(40));
    failures.extend(played.all_problems(12.0));
    failures.extend(publisher.check_running("publisher").err());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With `read_timeout: 2`, a connection that sends nothing (before or after the handshake) is
/// closed 2 s later, while a player that legitimately sends nothing for 7 s keeps playing.
#[test]
fn idle_connections_closed_after_read_timeout() {
    let server = Server::start("read_timeout: 2");
    let (url, _publisher) = live_stream(&server, "quiet");
    let probes = server.players_started("quiet");
    let player = Player::ffmpeg(&url, Some(7.0), &server.path("play.flv"));
    server.wait_player_started("quiet", probes);

    let addr = server.rtmp_addr();
    let idle = [
        case("idle before the handshake", false, vec![]),
        case("idle after the handshake", true, vec![]),
    ];
    let waiting: Vec<_> = idle
        .into_iter()
        .map(|case| thread::spawn(move || run_case(addr, &case, Duration::from_millis(4500))))
        .collect();
    let outcomes: Vec<Outcome> = waiting
        .into_iter()
        .map(|h| h.join().expect("case thread"))
        .collect();
    let mut failures = Vec::new();
    for o in &outcomes {
        if let Ok(took) = o.result
            && took < Duration::from_secs(1)
        {
            failures.push(format!(
                "{}: closed after {took:?}, before the 2 s read timeout",
                o.name
            ));
        }
    }
    check_outcomes(&server, &outcomes, &mut failures);
    if !server.is_alive() {
        failures.push("server died".into());
    }
    let played = player.finish(Duration::from_secs(40));
    failures.extend(played.all_problems(6.0));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The hand-written client checked against an independent RTMP implementation (ffmpeg's
/// `-listen 1` endpoint), without livego: the plain handshake completes, a well-formed
/// `connect` gets an answer, and a Set Chunk Size of 0 is read as one and refused.
#[test]
fn raw_client_speaks_rtmp_to_ffmpeg() {
    let dir = TestDir::new("raw-client");
    let connect = |port: u16| {
        let tc_url = format!("rtmp://127.0.0.1:{port}/live");
        let body = [
            amf_string("connect"),
            amf_number(1.0),
            amf_object(&[("app", amf_string("live")), ("tcUrl", amf_string(&tc_url))]),
        ]
        .concat();
        message(3, 0, COMMAND_AMF0, 0, &body)
    };
    let open = |port: u16| {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        handshake(&mut s).expect("plain handshake with ffmpeg");
        s
    };

    let port = free_port();
    let _endpoint = ffmpeg_endpoint(None, port, &dir);
    let mut s = open(port);
    s.write_all(&message(2, 0, SET_CHUNK_SIZE, 0, &4096u32.to_be_bytes()))
        .unwrap();
    s.write_all(&connect(port)).unwrap();
    let mut reply = [0u8; 256];
    let n = s.read(&mut reply).expect("ffmpeg answers connect");
    assert!(n > 0, "ffmpeg closed instead of answering connect");

    let port = free_port();
    let mut endpoint = ffmpeg_endpoint(None, port, &dir);
    let mut s = open(port);
    s.write_all(&message(2, 0, SET_CHUNK_SIZE, 0, &0u32.to_be_bytes()))
        .unwrap();
    s.set_read_timeout(Some(POLL)).ok();
    wait_closed(&mut s, Duration::from_secs(3)).expect("ffmpeg closes on chunk size 0");
    endpoint.wait(Duration::from_secs(3));
    assert!(endpoint.log().contains("chunk size"), "{}", endpoint.log());
}
