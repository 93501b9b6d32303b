//! Attacks and edge cases against the real binary, each run with `cores: 1` (a stuck core is
//! then the whole server). After each attack the control API must answer within 1 s, a
//! stream played meanwhile (the "witness") must have no holes, and where the attacker sends
//! bytes, the server's peak RSS may grow by at most a stated number of bytes per byte sent.

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::http::http_request;
use common::rtmp_client::RtmpClient;
use common::{Played, Player, Publisher, Server, TestDir, default_clip, run};

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
    thread::sleep(Duration::from_millis(200));
    assert_api_answers(&server, "a one-frame publish");

    for round in 0..3 {
        let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
        let status = client.publish("hang-up").expect("publish");
        assert_eq!(status.code, "NetStream.Publish.Start", "round {round}");
        drop(client);
        thread::sleep(Duration::from_millis(100));
        assert_api_answers(&server, "a publish that hung up at once");
    }

    witness.assert_clean();
    let (status, took) = server.stop_gracefully();
    assert!(
        status.is_some_and(|s| s.success()) && took < Duration::from_secs(3),
        "SIGTERM: {status:?} after {took:?}"
    );
}
