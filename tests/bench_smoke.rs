//! The load generator does not rot: `livego-bench` against the real server with 20 RTMP and
//! 5 HTTP-FLV players for 10 s, judged on its JSON summary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ClipKind, Server, run, test_clip};

const CLIP_SECS: u32 = 10;
const PLAY_SECS: f64 = 10.0;
const RTMP_PLAYERS: u64 = 20;
const HTTP_PLAYERS: u64 = 5;

#[test]
fn bench_smoke_rtmp_and_http_flv_players() {
    let clip = test_clip(ClipKind::H264Aac, CLIP_SECS);
    let clip_bits = std::fs::metadata(&clip).expect("clip").len() as f64 * 8.0;
    let clip_mbit_s = clip_bits / f64::from(CLIP_SECS) / 1e6;
    let server = Server::start_http("level: warn\n");
    let ran = run(
        Command::new(env!("CARGO_BIN_EXE_livego-bench"))
            .args(["--url", &server.rtmp_url("bench"), "--flv"])
            .arg(&clip)
            .args(["--players", &RTMP_PLAYERS.to_string()])
            .args(["--http-players", &HTTP_PLAYERS.to_string()])
            .args(["--http-flv", &server.flv_url("bench")])
            .args(["--duration", &PLAY_SECS.to_string(), "--warmup", "1"]),
        Duration::from_secs(40),
    );
    assert!(
        ran.success(),
        "livego-bench failed: {:?}\n{}",
        ran.status,
        ran.stderr
    );
    let v: serde_json::Value = serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", ran.stdout));
    let report = serde_json::to_string_pretty(&v).unwrap();
    eprintln!("livego-bench summary:\n{report}");
    let num = |path: &[&str]| {
        let mut x = &v;
        for p in path {
            x = &x[p];
        }
        x.as_f64()
            .unwrap_or_else(|| panic!("{path:?} is not a number in\n{report}"))
    };
    let players = (RTMP_PLAYERS + HTTP_PLAYERS) as f64;
    assert_eq!(num(&["players"]), players, "{report}");
    assert_eq!(num(&["connected"]), players, "{report}");
    assert_eq!(num(&["failed"]), 0.0, "{report}");
    assert_eq!(num(&["disconnected"]), 0.0, "{report}");
    assert_eq!(num(&["first_frame_ms", "count"]), players, "{report}");
    assert!(num(&["first_frame_ms", "p95"]) < 1000.0, "{report}");
    assert!(num(&["latency_ms", "samples"]) > 100.0, "{report}");
    assert!(num(&["latency_ms", "p50"]) < 250.0, "{report}");
    assert_eq!(num(&["frame_holes"]), 0.0, "{report}");
    assert_eq!(num(&["lagging_players"]), 0.0, "{report}");
    // 30 fps for (nearly) the whole run, for every player.
    let frames = num(&["video_frames"]);
    assert!(frames > players * 30.0 * PLAY_SECS * 0.8, "{report}");
    let delivered = num(&["delivered_mbit_s"]);
    let expected = clip_mbit_s * players;
    assert!(
        delivered > expected * 0.5 && delivered < expected * 2.0,
        "delivered {delivered:.2} Mbit/s, expected ~{expected:.2} ({clip_mbit_s:.3} x {players})\n{report}"
    );
    assert!(
        server.is_alive(),
        "the server died under the load generator"
    );
}
