//! The harness judged on known inputs, without the server: the generated clip passes, doctored
//! copies (a lost stretch, one lost frame, a late start, corruption, a missing stream, time
//! going backwards) fail with the right message, and the clients work against ffmpeg's own
//! one-shot RTMP endpoint (`-listen 1`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::flv::{self, Tag, TagExt as _};
use crate::common::{
    CLIP_SECS, ClipKind, Proc, Publisher, Server, TestDir, analyze, default_clip, endpoint_url,
    ffmpeg_endpoint, free_port, play_ffmpeg, play_rtmpdump, run, test_clip, video_frame_sizes,
    wait_until,
};

/// Writes a copy of `src` with its tags passed through `edit`.
fn doctor(
    src: &Path,
    dir: &TestDir,
    name: &str,
    edit: impl FnOnce(Vec<Tag>) -> Vec<Tag>,
) -> PathBuf {
    let tags = flv::read_file(src).expect("read clip");
    let out = dir.join(name);
    flv::write_file(&out, &edit(tags)).expect("write doctored clip");
    out
}

fn problems_mentioning<'a>(problems: &'a [String], needle: &str) -> Vec<&'a String> {
    problems.iter().filter(|p| p.contains(needle)).collect()
}

#[test]
fn clip_is_h264_high_with_bframes_plus_aac_and_clean() {
    let report = analyze(&default_clip());
    report.assert_clean(CLIP_SECS as f64 - 0.1);
    let v = report.video.as_ref().unwrap();
    let a = report.audio.as_ref().unwrap();
    assert_eq!((v.width, v.height), (320, 240));
    assert!(
        v.reordered > 100,
        "no B-frame reordering in the clip: {}",
        report.summary()
    );
    assert!(
        (v.median_step_ms - 33.0).abs() < 1.5,
        "{}",
        report.summary()
    );
    assert!((a.frame_ms - 23.22).abs() < 0.1, "{}", report.summary());
    assert!(
        v.packets >= 30 * CLIP_SECS as usize - 1,
        "{}",
        report.summary()
    );
    let tags = flv::read_file(&default_clip()).unwrap();
    // x264 may end the clip on an extra keyframe; before that, one every 2 s exactly
    let keys: Vec<u32> = tags
        .iter()
        .filter(|t| t.is_keyframe() && t.timestamp < 29_000)
        .map(|t| t.timestamp)
        .collect();
    let want: Vec<u32> = (0..15).map(|i| i * 2000).collect();
    assert_eq!(keys, want, "one keyframe every 2 s");
}

#[test]
fn mp3_clip_is_clean() {
    let report = analyze(&test_clip(ClipKind::H264Mp3, 10));
    let p = report.problems_for("h264", "mp3", 9.9);
    assert!(p.is_empty(), "{p:?}\n{}", report.summary());
}

#[test]
fn two_lost_seconds_are_a_hole_in_both_streams() {
    let dir = TestDir::new("selftest");
    // from one keyframe (2 s) to the next (4 s): decodes cleanly, only the timestamps show it
    let path = doctor(&default_clip(), &dir, "gap.flv", |tags| {
        tags.into_iter()
            .filter(|t| t.tag_type == flv::SCRIPT || !(2000..4000).contains(&t.timestamp))
            .collect()
    });
    let report = analyze(&path);
    let p = report.problems(5.0);
    assert_eq!(problems_mentioning(&p, "video DTS hole").len(), 1, "{p:?}");
    assert_eq!(problems_mentioning(&p, "audio DTS hole").len(), 1, "{p:?}");
    assert!(
        p.iter()
            .any(|m| m.contains("first: 2033 ms after DTS 1.967 s")),
        "{p:?}"
    );
    assert!(
        report.decode_errors.is_empty(),
        "{:?}",
        report.decode_errors
    );
    assert_eq!(p.len(), 2, "{p:?}");
}

#[test]
fn one_lost_video_frame_is_a_hole() {
    let dir = TestDir::new("selftest");
    // the last frame before the second keyframe: nothing references it (closed GOPs)
    let path = doctor(&default_clip(), &dir, "lost-frame.flv", |mut tags| {
        let key = tags
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_keyframe())
            .nth(1)
            .unwrap()
            .0;
        let before = (0..key).rev().find(|i| tags[*i].is_video_frame()).unwrap();
        tags.remove(before);
        tags
    });
    let report = analyze(&path);
    let p = report.problems(5.0);
    assert_eq!(p.len(), 1, "{p:?}\n{}", report.summary());
    assert!(p[0].starts_with("video DTS hole"), "{p:?}");
    let one_frame = p[0].contains("first: 66 ms after DTS 1.934 s")
        || p[0].contains("first: 67 ms after DTS 1.933 s");
    assert!(one_frame, "{p:?}");
}

#[test]
fn one_lost_audio_frame_is_a_hole() {
    let dir = TestDir::new("selftest");
    let path = doctor(&default_clip(), &dir, "lost-audio.flv", |mut tags| {
        let i = tags
            .iter()
            .position(|t| t.is_audio_frame() && t.timestamp > 5000)
            .unwrap();
        tags.remove(i);
        tags
    });
    let report = analyze(&path);
    let p = report.problems(5.0);
    assert_eq!(p.len(), 1, "{p:?}\n{}", report.summary());
    assert!(p[0].starts_with("audio DTS hole"), "{p:?}");
    assert!(p[0].contains("46 ms") || p[0].contains("47 ms"), "{p:?}");
}

#[test]
fn starting_after_the_keyframe_is_reported() {
    let dir = TestDir::new("selftest");
    // what a server without a GOP cache (or cutting at the wrong place) sends a late player
    let path = doctor(&default_clip(), &dir, "late.flv", |tags| {
        tags.into_iter()
            .filter(|t| !(t.is_video_frame() && t.timestamp < 500))
            .collect()
    });
    let p = analyze(&path).problems(5.0);
    let late = problems_mentioning(&p, "first video packet is not a keyframe");
    assert_eq!(late.len(), 1, "{p:?}");
}

#[test]
fn corrupt_frame_is_a_decode_error() {
    let dir = TestDir::new("selftest");
    let path = doctor(&default_clip(), &dir, "corrupt.flv", |mut tags| {
        let t = tags.iter_mut().filter(|t| t.is_keyframe()).nth(3).unwrap();
        // body: 5-byte AVC video header, then NAL units with 4-byte lengths; garble the middle
        let mut body = t.body.to_vec();
        let len = body.len();
        for b in &mut body[len / 3..len / 3 + 64] {
            *b ^= 0x5a;
        }
        t.body = body.into();
        tags
    });
    let report = analyze(&path);
    assert!(
        !report.decode_errors.is_empty(),
        "no decode errors: {}",
        report.summary()
    );
    let p = report.problems(5.0);
    assert_eq!(problems_mentioning(&p, "decode error").len(), 1, "{p:?}");
}

#[test]
fn missing_audio_and_short_duration_are_reported() {
    let dir = TestDir::new("selftest");
    let path = doctor(&default_clip(), &dir, "video-only.flv", |tags| {
        tags.into_iter()
            .filter(|t| t.tag_type == flv::VIDEO && t.timestamp < 3000)
            .collect()
    });
    let p = analyze(&path).problems(6.0);
    assert!(
        p.contains(&"no audio stream (want aac)".to_string()),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("video covers 3.000 s (90 packets), want >= 6")),
        "{p:?}"
    );
}

#[test]
fn backwards_timestamps_are_reported() {
    let dir = TestDir::new("selftest");
    let path = doctor(&default_clip(), &dir, "backwards.flv", |mut tags| {
        let i = tags
            .iter()
            .position(|t| t.is_audio_frame() && t.timestamp > 5000)
            .unwrap();
        tags[i].timestamp -= 100;
        tags
    });
    let p = analyze(&path).problems(5.0);
    let back = problems_mentioning(&p, "audio DTS goes backwards or repeats 1 time");
    assert_eq!(back.len(), 1, "{p:?}");
}

/// The republish test relies on this: when a stream's second half brings new sequence headers
/// (a different resolution), ffmpeg recording with `-c copy` carries them into its output and
/// both halves decode; without the new headers they do not.
#[test]
fn new_sequence_headers_mid_stream_survive_an_ffmpeg_recording() {
    let dir = TestDir::new("selftest");
    let a = flv::read_file(&default_clip()).unwrap();
    let b = flv::read_file(&test_clip(ClipKind::H264AacWide, CLIP_SECS)).unwrap();
    let a: Vec<Tag> = a.into_iter().filter(|t| t.timestamp < 4000).collect();
    // B's first audio frame one AAC frame after A's last (B's video then starts ~2 ms after A's)
    let last_audio = |tags: &[Tag]| {
        tags.iter()
            .rev()
            .find(|t| t.is_audio_frame())
            .unwrap()
            .timestamp
    };
    let first_audio = b.iter().find(|t| t.is_audio_frame()).unwrap().timestamp;
    let offset = last_audio(&a) + 23 - first_audio;
    let joined: Vec<Tag> = a
        .into_iter()
        .chain(
            b.into_iter()
                .filter(|t| t.timestamp < 3000 && t.tag_type != flv::SCRIPT)
                .map(|mut t| {
                    t.timestamp += offset;
                    t
                }),
        )
        .collect();
    let copy = |tags: &[Tag], name: &str| {
        let src = dir.join(&format!("{name}-src.flv"));
        flv::write_file(&src, tags).unwrap();
        let out = dir.join(&format!("{name}.flv"));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-i"])
            .arg(&src)
            .args(["-c", "copy", "-copyinkf", "-f", "flv", "-y"])
            .arg(&out);
        assert!(run(&mut cmd, Duration::from_secs(60)).success());
        out
    };

    let good = copy(&joined, "republish");
    let report = analyze(&good);
    report.assert_clean(6.9);
    let sizes = video_frame_sizes(&good);
    assert_eq!(
        sizes,
        vec![((320, 240), 120), ((640, 360), 90)],
        "{}",
        report.summary()
    );

    let stripped: Vec<Tag> = joined
        .iter()
        .filter(|t| !(t.is_video_seq_header() && t.timestamp > 0))
        .cloned()
        .collect();
    let bad = copy(&stripped, "no-new-headers");
    let report = analyze(&bad);
    let wide = video_frame_sizes(&bad)
        .iter()
        .any(|(size, _)| *size == (640, 360));
    assert!(
        !report.decode_errors.is_empty() && !wide,
        "B's frames decoded without B's sequence header: {}",
        report.summary()
    );
}

#[test]
fn torn_tail_is_trimmed_to_the_last_whole_tag() {
    let dir = TestDir::new("selftest");
    let path = dir.join("torn.flv");
    let bytes = std::fs::read(default_clip()).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(flv::read_file(&path).is_err());
    let cut = flv::trim_torn_tail(&path).unwrap();
    assert!(cut > 0);
    let tags = flv::read_file(&path).expect("whole tags after trimming");
    assert!(tags.len() > 100);
    assert_eq!(flv::trim_torn_tail(&path).unwrap(), 0);
}

/// An ffmpeg endpoint serving the default clip to one player, and its URL.
fn serving_clip(dir: &TestDir) -> (Proc, String) {
    let port = free_port();
    let endpoint = ffmpeg_endpoint(Some(&default_clip()), port, dir);
    (endpoint, endpoint_url(port))
}

#[test]
fn ffmpeg_player_records_a_clean_stream() {
    let dir = TestDir::new("selftest");
    let (_endpoint, url) = serving_clip(&dir);
    let played = play_ffmpeg(&url, 4.0, &dir.join("p.flv"));
    played.assert_ok();
    analyze(&played.out).assert_clean(3.9);
}

#[test]
fn rtmpdump_player_records_a_clean_stream() {
    let dir = TestDir::new("selftest");
    let (_endpoint, url) = serving_clip(&dir);
    let played = play_rtmpdump(&url, 4.0, &dir.join("r.flv"));
    played.assert_ok();
    assert!(played.took < Duration::from_secs(7), "{played:?}");
    analyze(&played.out).assert_clean(3.0);
}

#[test]
fn first_video_frame_probe_sees_the_keyframe() {
    let dir = TestDir::new("selftest");
    let (_endpoint, url) = serving_clip(&dir);
    let frame =
        crate::common::first_video_frame(&url, Duration::from_secs(5)).expect("a video frame");
    assert!(frame.keyframe, "{frame:?}");
    assert!(frame.after < Duration::from_secs(2), "{frame:?}");
}

#[test]
fn publisher_delivers_the_clip() {
    let dir = TestDir::new("selftest");
    let port = free_port();
    let mut endpoint = ffmpeg_endpoint(None, port, &dir);
    let mut publisher = Publisher::start_for(&endpoint_url(port), &default_clip(), 3.0);
    let status = publisher.wait_exit(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        publisher.log()
    );
    let ended = endpoint.wait(Duration::from_secs(10));
    assert!(ended.is_some(), "endpoint still running");
    analyze(&dir.join("received.flv")).assert_clean(2.9);
}

/// A stand-in for livego: reads `rtmp_addr` from the config, listens there, logs each
/// connection, exits 0 on SIGTERM.
fn stand_in(dir: &TestDir, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("stand-in.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

const LISTENER: &str = r#"exec python3 -c '
import re, signal, socket, sys
cfg = open(sys.argv[2]).read()
host, port = re.search(r"rtmp_addr: \"([0-9.]+):([0-9]+)\"", cfg).groups()
s = socket.socket(); s.bind((host, int(port))); s.listen()
print("stand-in listening on", port, file=sys.stderr, flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    c, a = s.accept(); print("connection from %s:%d" % a, file=sys.stderr, flush=True); c.close()
' "$@""#;

#[test]
fn server_harness_writes_config_waits_logs_and_stops() {
    let dir = TestDir::new("selftest");
    let server = Server::start_program(&stand_in(&dir, LISTENER), "cores: 2\nread_timeout: 2");
    let config = std::fs::read_to_string(server.path("livego.yaml")).unwrap();
    assert_eq!(config.matches("read_timeout:").count(), 1, "{config}");
    assert!(
        config.contains("read_timeout: 2\n") && config.contains("cores: 2\n"),
        "{config}"
    );
    assert!(config.contains(&format!("rtmp_addr: \"127.0.0.1:{}\"", server.rtmp_port)));
    assert!(
        config.contains("rtmp_noauth: true") && config.contains("keys.json"),
        "{config}"
    );
    let ports = [
        server.rtmp_port,
        server.httpflv_port,
        server.hls_port,
        server.api_port,
    ];
    assert!(
        ports
            .iter()
            .all(|p| ports.iter().filter(|q| *q == p).count() == 1),
        "{ports:?}"
    );
    assert!(server.is_alive());
    assert!(
        server
            .rtmp_url("x")
            .ends_with(&format!(":{}/live/x", server.rtmp_port))
    );
    wait_until(Duration::from_secs(5), || {
        server.log().contains("connection from 127.0.0.1:")
    });
    assert!(
        server.log().contains("stand-in listening on"),
        "{}",
        server.log()
    );
    assert!(
        server.log().contains("connection from 127.0.0.1:"),
        "{}",
        server.log()
    );
    let (status, took) = server.stop_gracefully();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(!server.is_alive());
}

#[test]
fn server_harness_reports_an_early_exit_with_the_config() {
    let dir = TestDir::new("selftest");
    let program = stand_in(&dir, "echo bad key >&2; exit 2");
    let Err(err) = std::panic::catch_unwind(|| Server::start_program(&program, "")) else {
        panic!("a program that exits at once was taken for a running server");
    };
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("exited (exit status: 2) before listening"),
        "{msg}"
    );
    assert!(msg.contains("rtmp_addr:"), "{msg}");
}

#[test]
fn interrupted_ffmpeg_player_leaves_a_clean_file() {
    let dir = TestDir::new("selftest");
    let (_endpoint, url) = serving_clip(&dir);
    let mut player = crate::common::Player::ffmpeg(&url, None, &dir.join("i.flv"));
    // a 4 s recording, then the interrupt (the subject)
    std::thread::sleep(Duration::from_secs(4));
    assert!(player.is_running());
    let played = player.interrupt();
    played.assert_ok();
    analyze(&played.out).assert_clean(3.0);
}
