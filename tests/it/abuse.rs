//! Attacks and edge cases against the real binary, each run with `cores: 1` (a stuck core is
//! then the whole server). After each attack the control API must answer within 1 s, a
//! stream played meanwhile (the "witness") must have no holes, and where the attacker sends
//! bytes, the server's peak RSS may grow by at most a stated number of bytes per byte sent.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::api::{Metrics, livestat, wait_metrics, wait_players};
use crate::common::http::http_request;
use crate::common::rtmp_client::RtmpClient;
use crate::common::{
    Played, Player, Publisher, Rtmps, Server, TestDir, alone, default_clip, run, wait_until,
};
use livego::rtmp::message::{Message, msg_type};

/// How long the API may take to answer after an attack.
const API_DEADLINE: Duration = Duration::from_secs(1);

/// Panics unless `GET /stat/livestat` answers 200 within [`API_DEADLINE`].
#[track_caller]
fn assert_api_answers(server: &Server, after: &str) {
    let started = Instant::now();
    let answer = http_request("GET", &server.api_url("/stat/livestat"), &[], API_DEADLINE);
    match answer {
        Ok(response) if response.status() == 200 => {}
        Ok(response) => panic!("after {after}: the API answered {}", response.status()),
        Err(e) => panic!(
            "after {after}: the API did not answer within {API_DEADLINE:?} ({e}, {:?}); log:\n{}",
            started.elapsed(),
            server.log()
        ),
    }
}

/// Waits until the server has seen the publisher of `key` go (it is no longer listed).
#[track_caller]
fn wait_unpublished(server: &Server, key: &str) {
    assert!(
        wait_until(Duration::from_secs(10), || livestat(server, None)
            .publishers_of(key)
            .is_empty()),
        "{key} still listed as published 10 s after its publisher left"
    );
}

/// Waits until the server has closed all its connections but `others` and the API request
/// asking (`livego_connections`); returns that `/metrics` answer.
#[track_caller]
fn wait_connections_closed_but(server: &Server, others: f64) -> Metrics {
    wait_metrics(server, Duration::from_secs(10), "connections closed", |m| {
        m.get("livego_connections") <= others + 1.0
    })
}

/// A stream published and played over HTTP-FLV while an attack runs; it must come out clean.
struct Witness {
    _publisher: Publisher,
    player: Player,
    seconds: f64,
    _dir: TestDir,
}

impl Witness {
    fn start(server: &Server, seconds: f64) -> Witness {
        let url = server.rtmp_url("witness");
        let mut publisher = Publisher::start_for(&url, &default_clip(), seconds + 5.0);
        publisher.wait_published(Duration::from_secs(10));
        let dir = TestDir::new("witness");
        let player = Player::ffmpeg(
            &server.flv_url("witness"),
            Some(seconds),
            &dir.join("w.flv"),
        );
        wait_players(
            server,
            "live/witness",
            1,
            Duration::from_secs(10),
            "the witness player",
        );
        Witness {
            _publisher: publisher,
            player,
            seconds,
            _dir: dir,
        }
    }

    /// Waits for the recording to end and checks it: no holes, at least 90 % of its length.
    #[track_caller]
    fn assert_clean(self) {
        let played: Played = self
            .player
            .finish(Duration::from_secs_f64(self.seconds + 20.0));
        played.assert_clean(self.seconds * 0.9);
    }
}

/// A publish of a single video frame, and a client that publishes and hangs up, used to stop
/// the core that owned the stream for good (the HLS store's lock was taken again, under
/// itself, by the playlist's linger task). The server must go on serving and stop on SIGTERM.
#[test]
fn the_shortest_publishes_leave_the_server_serving() {
    let server = Server::start_http("");
    let witness = Witness::start(&server, 8.0);

    let one_frame = run(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
            .arg(default_clip())
            .args(["-frames:v", "1", "-an", "-c", "copy", "-f", "flv"])
            .arg(server.rtmp_url("one-frame")),
        Duration::from_secs(20),
    );
    assert!(one_frame.success(), "ffmpeg: {}", one_frame.stderr);
    wait_unpublished(&server, "live/one-frame");
    assert_api_answers(&server, "a one-frame publish");

    for round in 0..3 {
        let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
        let status = client.publish("hang-up").expect("publish");
        assert_eq!(status.code, "NetStream.Publish.Start", "round {round}");
        drop(client);
        wait_unpublished(&server, "live/hang-up");
        assert_api_answers(&server, "a publish that hung up at once");
    }

    witness.assert_clean();
    let (status, took) = server.stop_gracefully();
    assert!(
        status.is_some_and(|s| s.success()) && took < Duration::from_secs(3),
        "SIGTERM: {status:?} after {took:?}"
    );
}

/// An AMF0 `connect` whose arguments are a strict array of `refs + 1` elements: a strict array
/// of `undefineds` undefined values, then `refs` references to it. Decoded naively, each
/// reference copies the whole inner array.
fn amf_reference_bomb(undefineds: u32, refs: u16) -> Message {
    let mut p = vec![0x02, 0, 7];
    p.extend_from_slice(b"connect");
    p.push(0x00);
    p.extend_from_slice(&1f64.to_be_bytes());
    p.push(0x0A);
    p.extend_from_slice(&(u32::from(refs) + 1).to_be_bytes());
    p.push(0x0A);
    p.extend_from_slice(&undefineds.to_be_bytes());
    p.extend(std::iter::repeat_n(0x06, undefineds as usize));
    for _ in 0..refs {
        p.extend_from_slice(&[0x07, 0, 1]); // the inner array (the outer one is 0)
    }
    Message {
        csid: 3,
        timestamp: 0,
        type_id: msg_type::COMMAND_AMF0,
        stream_id: 0,
        payload: p.into(),
    }
}

/// Reference bombs sent as the first command, before `connect` has been accepted: one of 66 KB
/// (over the 64 KiB a command may have) and one of 61 KB (within it, but decoding to 15 million
/// values). The server refuses each within its budgets: it closes the connection, logs one short
/// line, its peak RSS grows by at most 32 bytes per byte sent (it was 1,600 per byte), and
/// the API and a playing stream carry on.
#[test]
fn amf_reference_bombs_before_connect_cost_little() {
    let server = Server::start_http("");
    let witness = Witness::start(&server, 8.0);
    let peak_before = server.memory("VmHWM");
    let log_before = server.log().len();

    let bombs = [
        amf_reference_bomb(65_536, 255),
        amf_reference_bomb(60_000, 255),
    ];
    let mut sent = 0;
    let mut clients = Vec::new();
    for round in 0..4 {
        for bomb in &bombs {
            let mut client = RtmpClient::handshaken(server.rtmp_addr()).expect("handshake");
            sent += bomb.payload.len();
            // The server may close as soon as it reads the oversized header.
            let _ = client.send_message(bomb);
            clients.push((round, client));
        }
    }
    for (round, client) in &mut clients {
        assert!(
            client.wait_closed(Duration::from_secs(5)),
            "round {round}: the bomb's connection is still open"
        );
    }
    assert_api_answers(&server, "AMF reference bombs");
    let grown = server.memory("VmHWM").saturating_sub(peak_before);
    assert!(
        grown <= 32 * sent as u64,
        "peak RSS grew by {grown} bytes for {sent} bytes sent"
    );
    eprintln!("peak RSS grew by {grown} bytes for {sent} bytes sent");
    let logged = server.log().len() - log_before;
    assert!(
        logged < 16 * 1024,
        "{logged} bytes of log for 8 bad commands"
    );
    witness.assert_clean();
}

/// Sends `bytes` one a second until the server closes the connection; returns how long it
/// stayed open (or `None` if it was still open after `give_up`).
fn drip(sock: &mut std::net::TcpStream, bytes: &[u8], give_up: Duration) -> Option<Duration> {
    use std::io::{Read, Write};
    let started = Instant::now();
    sock.set_read_timeout(Some(Duration::from_secs(1))).ok();
    for byte in bytes.iter().cycle() {
        if started.elapsed() >= give_up {
            break;
        }
        if sock.write_all(&[*byte]).is_err() {
            return Some(started.elapsed());
        }
        match sock.read(&mut [0u8; 4096]) {
            Ok(0) => return Some(started.elapsed()),
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                return Some(started.elapsed());
            }
            _ => {}
        }
    }
    None
}

/// Connections that send one byte a second, each read well within `read_timeout` (2 s): one
/// in the handshake, one that finished the handshake and drips a command, and one dripping a
/// TLS ClientHello to the RTMPS port. Handshake, connect and publish/play must be done within
/// `read_timeout` in total, so all are closed after about 2 s (they used to stay open for as
/// long as the drip went on).
#[test]
fn slow_drips_are_closed_by_the_setup_deadline() {
    let rtmps = Rtmps::new();
    let server = Server::start_rtmps(&rtmps, "read_timeout: 2\n");
    let give_up = Duration::from_secs(8);
    let mut in_handshake = std::net::TcpStream::connect(server.rtmp_addr()).expect("connect");
    let handshake_drip = thread::spawn(move || drip(&mut in_handshake, &[3; 1537], give_up));
    let mut in_tls = std::net::TcpStream::connect(rtmps.addr()).expect("connect");
    // A handshake record announcing 255 bytes: the TLS session waits for all of them.
    let mut hello = vec![0x16, 3, 1, 0, 0xff];
    hello.resize(5 + 255, 0);
    let tls_drip = thread::spawn(move || drip(&mut in_tls, &hello, give_up));

    let client = RtmpClient::handshaken(server.rtmp_addr()).expect("handshake");
    let mut after_handshake = client.into_socket();
    // A chunk header announcing a 256-byte AMF0 command on chunk stream 3, then its bytes.
    let mut command = vec![0x03, 0, 0, 0, 0, 1, 0, 0x14, 0, 0, 0, 0];
    command.resize(12 + 256, 0x05);
    let command_drip = drip(&mut after_handshake, &command, give_up);
    let handshake_drip = handshake_drip.join().expect("drip thread");
    let tls_drip = tls_drip.join().expect("drip thread");
    for (phase, open_for) in [
        ("handshake", handshake_drip),
        ("command", command_drip),
        ("TLS handshake", tls_drip),
    ] {
        let open_for = open_for.unwrap_or_else(|| panic!("{phase} drip: open after {give_up:?}"));
        assert!(
            open_for < Duration::from_secs(4),
            "{phase} drip: closed only after {open_for:?}"
        );
    }
    assert!(
        server.log().contains("did not publish or play within 2 s"),
        "{}",
        server.log()
    );
    assert_api_answers(&server, "slow drips");
}

/// A raw publisher that sends a video sequence header and a keyframe, so that what follows
/// lands in the GOP cache.
fn publisher_with_a_keyframe(server: &Server, name: &str) -> RtmpClient {
    let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
    let status = client.publish(name).expect("publish");
    assert_eq!(status.code, "NetStream.Publish.Start");
    for payload in [
        &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff][..],
        &[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88][..],
    ] {
        let msg = Message {
            csid: 6,
            timestamp: 0,
            type_id: msg_type::VIDEO,
            stream_id: 1,
            payload: payload.to_vec().into(),
        };
        client.send_message(&msg).expect("send video");
    }
    client
}

/// After a keyframe, floods of the smallest messages a chunk stream can carry: empty ones (a
/// 1-byte fmt 3 chunk each; each used to become a ~150-byte cached frame: 17 MB sent took RSS
/// to 2.1 GB) and 2-byte MP3 frames (3 bytes each). The GOP cache counts each frame's real cost
/// and holds at most 16k frames, so the server's peak RSS grows by at most half a byte per byte
/// sent, and the API and a playing stream carry on.
#[test]
fn floods_of_tiny_messages_cost_little() {
    // The core spends seconds on the floods (~5 s on the empty messages in the test profile, on
    // 2 idle cores: close to the watchdog's 5 s), more when another test takes its CPU.
    let _alone = alone();
    let server = Server::start_http("");
    let witness = Witness::start(&server, 8.0);
    let peak_before = server.memory("VmHWM");

    const EACH: usize = 8 << 20;
    let mut empty = vec![0x07, 0, 0, 0, 0, 0, 0, msg_type::AUDIO, 1, 0, 0, 0];
    empty.resize(EACH, 0xC7);
    let mut mp3 = vec![
        0x08,
        0,
        0,
        0,
        0,
        0,
        2,
        msg_type::AUDIO,
        1,
        0,
        0,
        0,
        0x2F,
        0xFF,
    ];
    while mp3.len() < EACH {
        mp3.extend_from_slice(&[0xC8, 0x2F, 0xFF]);
    }
    let mut sent = 0;
    for (name, flood) in [("empty", &empty), ("mp3", &mp3)] {
        let mut client = publisher_with_a_keyframe(&server, name);
        client.send_raw(flood).expect("flood");
        client.sync().expect("a command after the flood");
        sent += flood.len();
        // A player joining gets the whole cache.
        let mut player = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
        assert_eq!(player.play(name).expect("play"), "NetStream.Play.Start");
        assert_api_answers(&server, &format!("a flood of {name} messages"));
        drop(player);
        drop(client);
        wait_unpublished(&server, &format!("live/{name}"));
    }
    assert_api_answers(&server, "floods of tiny messages");
    let grown = server.memory("VmHWM").saturating_sub(peak_before);
    eprintln!("peak RSS grew by {grown} bytes for {sent} bytes sent");
    assert!(
        grown <= sent as u64 / 2,
        "peak RSS grew by {grown} bytes for {sent} bytes sent"
    );
    witness.assert_clean();
}

/// A key-store write that blocks (here: its temporary file is a FIFO nobody reads, as a disk
/// that stalls on fsync would) must not stall the core: the write runs on a blocking thread,
/// the API and a playing stream carry on, and the request is answered once the write ends.
#[test]
fn a_stalled_key_store_write_stalls_nothing_else() {
    let server = Server::start_http("rtmp_noauth: false\n");
    let fifo = server.path("keys.json.tmp");
    let made = run(Command::new("mkfifo").arg(&fifo), Duration::from_secs(5));
    assert!(made.success(), "mkfifo: {}", made.stderr);
    let url = server.api_url("/control/reset?room=stalled");
    let reset = thread::spawn(move || http_request("GET", &url, &[], Duration::from_secs(30)));
    // time enough for the write to end, had it not blocked
    thread::sleep(Duration::from_millis(500));
    assert!(!reset.is_finished(), "the write did not block");
    // the API keeps answering while the write stays blocked
    for _ in 0..3 {
        assert_api_answers(&server, "a key-store write that blocks");
        thread::sleep(Duration::from_millis(300));
    }
    // Release the writer: read what it wrote.
    let written = std::fs::read(&fifo).expect("read the FIFO");
    assert!(String::from_utf8_lossy(&written).contains("stalled"));
    let answer = reset.join().expect("reset thread").expect("reset answered");
    assert!(
        [200, 500].contains(&answer.status()),
        "reset: {}",
        answer.text()
    );
}

/// A player whose stream ended is told so, then closed after `read_timeout` (2 s here) unless
/// the stream comes back; one whose stream does come back in time keeps playing.
#[test]
fn players_of_an_ended_stream_are_closed_after_read_timeout() {
    let server = Server::start("read_timeout: 2\n");
    for name in ["gone", "back"] {
        let mut publisher = publisher_with_a_keyframe(&server, name);
        publisher.sync().expect("published");
        let mut player = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
        assert_eq!(player.play(name).expect("play"), "NetStream.Play.Start");
        drop(publisher);
        let ended = Instant::now();
        if name == "back" {
            // the stream comes back 1 s after it ended, within read_timeout (the subject)
            thread::sleep(Duration::from_secs(1));
            let mut again = publisher_with_a_keyframe(&server, name);
            again.sync().expect("published again");
            // Past the 2 s since the end (but before the new publisher, silent, times out).
            assert!(
                !player.wait_closed(Duration::from_millis(1600)),
                "closed although the stream came back: {:?}",
                player.ended()
            );
            continue;
        }
        assert!(player.wait_closed(Duration::from_secs(6)), "still open");
        let open_for = ended.elapsed();
        assert!(
            open_for >= Duration::from_millis(1500) && open_for < Duration::from_secs(4),
            "closed {open_for:?} after the stream ended"
        );
    }
}

/// One short session that ends at the phase `phase % 5`: during the handshake, after it, after
/// connect, after publish, or after publishing a keyframe.
fn short_session(server: &Server, name: &str, phase: usize) {
    use std::io::Write;
    match phase % 5 {
        0 => {
            if let Ok(mut sock) = std::net::TcpStream::connect(server.rtmp_addr()) {
                let _ = sock.write_all(&[3; 700]);
            }
        }
        1 => drop(RtmpClient::handshaken(server.rtmp_addr())),
        2 => drop(RtmpClient::connect(server.rtmp_addr(), "live")),
        3 => {
            if let Ok(mut client) = RtmpClient::connect(server.rtmp_addr(), "live") {
                let _ = client.publish(name);
            }
        }
        _ => drop(publisher_with_a_keyframe(server, name)),
    }
}

/// Hundreds of publishers connecting and dropping (at every phase of a session) for 30 s, from
/// 8 threads. Measured against a baseline taken after 5 s of the same storm (allocator and
/// tables warmed up): afterwards the fd count is back at the baseline and RSS within 4 MB of
/// it, the API answers and a stream played meanwhile has no holes.
#[test]
fn a_reconnect_storm_leaves_memory_and_fds_at_baseline() {
    let server = Server::start_http("level: warn\n");
    let storm = |seconds: u64| {
        let sessions = std::sync::atomic::AtomicUsize::new(0);
        thread::scope(|scope| {
            for t in 0..8 {
                let (server, sessions) = (&server, &sessions);
                scope.spawn(move || {
                    let until = Instant::now() + Duration::from_secs(seconds);
                    let mut phase = t;
                    while Instant::now() < until {
                        short_session(server, &format!("storm-{t}-{}", phase % 7), phase);
                        sessions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        phase += 1;
                    }
                });
            }
        });
        sessions.into_inner()
    };
    storm(5);
    server.wait_connections_closed();
    let (rss_before, fds_before) = (server.memory("VmRSS"), server.fd_count());
    let witness = Witness::start(&server, 30.0);
    let sessions = storm(30);
    assert!(sessions >= 300, "only {sessions} sessions in 30 s");
    assert_api_answers(&server, "a reconnect storm");
    witness.assert_clean();
    server.wait_connections_closed();
    let (rss_after, fds_after) = (server.memory("VmRSS"), server.fd_count());
    eprintln!(
        "{sessions} sessions: RSS {rss_before} -> {rss_after} bytes, \
         fds {fds_before} -> {fds_after}"
    );
    assert!(fds_after <= fds_before, "fds {fds_before} -> {fds_after}");
    assert!(
        rss_after <= rss_before + (4 << 20),
        "RSS {rss_before} -> {rss_after} after {sessions} sessions"
    );
}

/// A relay to a host name whose DNS lookup takes 3 s (getaddrinfo slowed by an LD_PRELOAD
/// shim, tests/fixtures/slow_getaddrinfo.c): the lookup runs on a blocking thread, so the API
/// and a playing stream carry on meanwhile (the core stalled for the lookup's length).
#[test]
fn a_slow_dns_lookup_stalls_nothing_else() {
    let dir = TestDir::new("slow-dns");
    let shim = dir.join("slow_getaddrinfo.so");
    let source = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/slow_getaddrinfo.c"
    );
    let built = run(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&shim)
            .arg(source)
            .arg("-ldl"),
        Duration::from_secs(60),
    );
    assert!(built.success(), "cc: {}", built.stderr);
    let preload = shim.to_str().expect("UTF-8 path");
    let server = Server::start_env("", &[("LD_PRELOAD", preload)]);
    server.wait_accepting(server.api_addr(), Duration::from_secs(5));
    server.wait_accepting(server.httpflv_addr(), Duration::from_secs(5));
    let witness = Witness::start(&server, 6.0);
    let query = format!(
        "/control/pull?oper=start&app=live&name=dns&url=rtmp://localhost:{}/live/witness",
        server.rtmp_port
    );
    let started = http_request("GET", &server.api_url(&query), &[], API_DEADLINE);
    assert_eq!(started.expect("relay start").status(), 200);
    // the API answers all through the lookup (the subject)
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(400));
        assert_api_answers(&server, "a relay waiting for a slow DNS lookup");
    }
    witness.assert_clean();
}

/// An HTTP-FLV player that asks for `name`, reads the start of the response and hangs up.
fn hang_up_http_flv(server: &Server, name: &str) {
    use std::io::{Read, Write};
    let Ok(mut sock) = std::net::TcpStream::connect(server.httpflv_addr()) else {
        return;
    };
    let request = format!("GET /live/{name}.flv HTTP/1.1\r\nHost: x\r\n\r\n");
    if sock.write_all(request.as_bytes()).is_err() {
        return;
    }
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    let mut got = [0u8; 256];
    let _ = sock.read(&mut got);
}

/// Thousands of HTTP-FLV players of a live stream that hang up while it plays. Each used to
/// leave its writer task's memory behind (glommio never frees a task cancelled while it
/// waits: ~450 bytes per player, the soak test's steady growth). Measured with
/// `livego_heap_bytes` (the allocator's count, which falls back when memory is freed, unlike
/// RSS) after a warm-up batch and after two more batches of 1,000: at most 64 bytes per player.
#[test]
fn http_flv_players_that_hang_up_leave_no_memory_behind() {
    let server = Server::start_http("level: warn\n");
    let mut publisher = publisher_with_a_keyframe(&server, "hangups");
    publisher.sync().expect("published");
    let batch = || {
        thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| (0..125).for_each(|_| hang_up_http_flv(&server, "hangups")));
            }
        });
        // Once the server has seen the last hang-ups (only the publisher left).
        wait_connections_closed_but(&server, 1.0).get("livego_heap_bytes")
    };
    batch();
    let before = batch();
    let after = {
        batch();
        batch()
    };
    let per_player = (after - before) / 2000.0;
    eprintln!("heap {before} -> {after} bytes over 2,000 players: {per_player:.0} bytes each");
    assert!(per_player <= 64.0, "{per_player:.0} bytes left per player");
    assert_api_answers(&server, "HTTP-FLV hang-ups");
    drop(publisher);
}
