//! Hostile and broken HTTP clients against the HTTP-FLV listener and the API listener, while
//! a real publisher streams and an ffmpeg HTTP-FLV player records. Every bad request must get
//! an error status (4xx, or 501/505) or a closed connection — never a 2xx/3xx, a 500, garbage
//! or silence — within `read_timeout` + 3 s; a half-sent request must be closed by the read
//! timeout; pipelined API requests get their responses in order. The server, the publisher
//! and the recording (no lost frames) must not notice.

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::api::{envelope, get_key};
use crate::common::http::{DeadlineStream, Reaction, exchange, http_request, read_response};
use crate::common::raw::{noise, wait_closed};
use crate::common::{Player, Publisher, Server, default_clip, publish_live};

const READ_TIMEOUT: u64 = 3;

/// One bad request: where it goes and its bytes.
struct Case {
    name: String,
    addr: SocketAddr,
    bytes: Vec<u8>,
}

/// The bad requests for one listener; `path` is a valid target on it, `long` the prefix and
/// suffix of a valid target that 100 KB of filler go between.
fn cases(listener: &str, addr: SocketAddr, path: &str, long: (&str, &str)) -> Vec<Case> {
    let case = |name: &str, bytes: Vec<u8>| Case {
        name: format!("{listener}: {name}"),
        addr,
        bytes,
    };
    let mut junk = noise(3000, 0xdead_beef);
    junk[0] = 0x8f; // not a method's first letter
    let mut tls = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    tls.extend(noise(500, 0x1234_5678));
    let (prefix, suffix) = long;
    let filler = "a".repeat(100 * 1024);
    let long_uri = format!("GET {prefix}{filler}{suffix} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut many_headers = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..10_000 {
        many_headers.push_str(&format!("X-Header-{i}: value-{i}\r\n"));
    }
    many_headers.push_str("\r\n");
    let huge_body =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999\r\n\r\nabc");
    vec![
        case("3000 random bytes", junk),
        case("a TLS ClientHello on the plain port", tls),
        case(
            "a request line that is not one",
            b"HELLO THERE\r\n\r\n".to_vec(),
        ),
        case("a 100 KB URI", long_uri.into_bytes()),
        case("10,000 headers", many_headers.into_bytes()),
        case("Content-Length: 99999999999", huge_body.into_bytes()),
    ]
}

fn acceptable(reaction: &Reaction) -> bool {
    match reaction {
        Reaction::Closed => true,
        Reaction::Status(s) => (400..500).contains(s) || matches!(s, 501 | 505),
        Reaction::Garbage(_) | Reaction::StillOpen => false,
    }
}

/// Sends the first line and a header of a request, never the blank line, and waits for the
/// server to close; returns how long that took.
fn half_sent(addr: SocketAddr, path: &str, limit: Duration) -> Result<Duration, String> {
    let mut s = DeadlineStream::connect(addr, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: half").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let sent = Instant::now();
    s.set_deadline(sent + limit);
    wait_closed(&mut s, limit).map(|()| sent.elapsed())
}

/// Two API requests in one write: two complete responses, in order (each room's key), on the
/// one connection.
fn pipelined(server: &Server) -> Result<(), String> {
    let mut s = DeadlineStream::connect(server.api_addr(), Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    s.set_deadline(Instant::now() + Duration::from_secs(10));
    s.write_all(
        b"GET /control/get?room=pipe1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\
          GET /control/get?room=pipe2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut r = BufReader::new(s);
    let first = read_response(&mut r, "GET").map_err(|e| format!("first response: {e}"))?;
    let second = read_response(&mut r, "GET").map_err(|e| format!("second response: {e}"))?;
    let k1 = envelope(&first, 200, "pipelined get pipe1");
    let k2 = envelope(&second, 200, "pipelined get pipe2");
    let (want1, want2) = (get_key(server, "pipe1"), get_key(server, "pipe2"));
    if k1.as_str() != Some(want1.as_str()) || k2.as_str() != Some(want2.as_str()) {
        return Err(format!(
            "responses out of order or wrong: got {k1}, {k2}; pipe1 is {want1}, pipe2 {want2}"
        ));
    }
    Ok(())
}

#[test]
fn hostile_http_requests_get_errors_and_the_recording_survives() {
    let server = Server::start_http(&format!("read_timeout: {READ_TIMEOUT}"));
    let (_, mut publisher) = publish_live(&server, "target", |url| {
        Publisher::start_looping(url, &default_clip())
    });
    let probes = server.players_started("target");
    let player = Player::ffmpeg(
        &server.flv_url("target"),
        Some(13.0),
        &server.path("play.flv"),
    );
    server.wait_player_started("target", probes);

    let limit = Duration::from_secs(READ_TIMEOUT + 3);
    let mut all = cases(
        "HTTP-FLV",
        server.httpflv_addr(),
        "/live/target.flv",
        ("/live/", ".flv"),
    );
    all.extend(cases(
        "API",
        server.api_addr(),
        "/stat/livestat",
        ("/control/get?room=", ""),
    ));
    let mut failures = Vec::new();
    let half: Vec<_> = [
        ("HTTP-FLV", server.httpflv_addr(), "/live/target.flv"),
        ("API", server.api_addr(), "/stat/livestat"),
    ]
    .into_iter()
    .map(|(what, addr, path)| {
        let handle = thread::spawn(move || half_sent(addr, path, limit));
        (what, handle)
    })
    .collect();
    let running: Vec<_> = all
        .into_iter()
        .map(|case| {
            thread::spawn(move || {
                let reaction = exchange(case.addr, &case.bytes, limit);
                (case.name, reaction)
            })
        })
        .collect();
    for handle in running {
        let (name, reaction) = handle.join().expect("case thread");
        match reaction {
            Ok(r) if acceptable(&r) => {}
            Ok(r) => failures.push(format!("{name}: {r:?} (want a 4xx status or a close)")),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    for (what, handle) in half {
        match handle.join().expect("half-sent thread") {
            Ok(_) => {}
            Err(e) => failures.push(format!(
                "{what}: half-sent request: {e} (read_timeout {READ_TIMEOUT} s)"
            )),
        }
    }
    if !server.is_alive() {
        failures.push("server died".into());
    } else {
        if let Err(e) = pipelined(&server) {
            failures.push(format!("API: pipelined requests: {e}"));
        }
        // both listeners still serve ordinary requests
        get_key(&server, "after");
        let head = http_request(
            "HEAD",
            &server.flv_url("target"),
            &[],
            Duration::from_secs(5),
        );
        match head {
            Ok(r) if r.status() == 200 => {}
            other => failures.push(format!("HEAD of the live stream afterwards: {other:?}")),
        }
    }

    let played = player.finish(Duration::from_secs(40));
    failures.extend(played.all_problems(12.0));
    failures.extend(publisher.check_running("publisher").err());
    assert!(server.is_alive(), "server died");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
