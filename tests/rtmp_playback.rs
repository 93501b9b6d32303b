//! RTMP ingest and playback with real clients: ffmpeg publishes the test clip in real time,
//! ffmpeg or rtmpdump play it back, and the recordings are judged by `common::media`
//! (H.264 + AAC, keyframe first, no lost frames, no decode errors). Each test runs its own
//! server on free ports.

mod common;

use std::thread;
use std::time::Duration;

use common::{
    ClipKind, Played, Player, Publisher, Server, analyze, first_video_frame, play_ffmpeg,
    play_rtmpdump, test_clip, video_frame_sizes,
};

const CLIP_SECS: u32 = 30;

/// Starts publishing the default clip to `live/NAME` and waits until it is playable.
fn live(server: &Server, name: &str) -> (String, Publisher) {
    let url = server.rtmp_url(name);
    let mut publisher = Publisher::start(&url, &test_clip(ClipKind::H264Aac, CLIP_SECS));
    publisher.wait_published(Duration::from_secs(10));
    (url, publisher)
}

fn assert_played_clean(played: &Played, min_secs: f64) {
    let problems = played.all_problems(min_secs);
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        played.out.display(),
        problems.join("\n")
    );
}

#[test]
fn ffmpeg_publish_ffmpeg_play() {
    let server = Server::start("");
    let (url, mut publisher) = live(&server, "ffmpeg");
    thread::sleep(Duration::from_secs(1));
    let played = play_ffmpeg(&url, 7.0, &server.path("play.flv"));
    assert_played_clean(&played, 6.0);
    assert!(
        publisher.is_running(),
        "publisher ended: {}",
        publisher.log()
    );
    assert!(server.is_alive());
}

#[test]
fn rtmpdump_player() {
    let server = Server::start("");
    let (url, mut publisher) = live(&server, "rtmpdump");
    thread::sleep(Duration::from_secs(1));
    // 7 s of wall time: at least 6 s of stream whatever the server's start-up burst
    let played = play_rtmpdump(&url, 7.0, &server.path("play.flv"));
    assert_played_clean(&played, 6.0);
    assert!(
        publisher.is_running(),
        "publisher ended: {}",
        publisher.log()
    );
}

/// A player joining mid-GOP gets the cached GOP at once: its first video frame is a keyframe
/// and arrives within 800 ms. It joins ~4.3 s in, just after the keyframe at 4 s (GOP 2 s), so
/// a server that made it wait for the next keyframe would take ~1.7 s.
#[test]
fn late_join_starts_at_keyframe() {
    let server = Server::start("");
    let (url, _publisher) = live(&server, "late");
    thread::sleep(Duration::from_millis(4300));
    let probe_url = url.clone();
    let probe = thread::spawn(move || first_video_frame(&probe_url, Duration::from_secs(5)));
    let played = play_ffmpeg(&url, 7.0, &server.path("late.flv"));
    let first = probe.join().expect("probe thread");
    let first = first.expect("a player joining a live stream got no video frame within 5 s");
    assert!(
        first.keyframe,
        "first video frame sent to a late player is not a keyframe: {first:?}"
    );
    assert!(
        first.after <= Duration::from_millis(800),
        "first video frame {:?} after joining (no GOP cache?): {first:?}",
        first.after
    );
    assert_played_clean(&played, 6.0);
}

/// `cores: 2`: the listener is bound once per core (SO_REUSEPORT), so 20 players land on both
/// cores and some play a stream published on the other core.
#[test]
fn two_cores_twenty_players() {
    let server = Server::start("cores: 2");
    let (url, mut publisher) = live(&server, "many");
    let players: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            let out = server.path(&format!("player{i}.flv"));
            thread::spawn(move || play_ffmpeg(&url, 7.0, &out).all_problems(6.0))
        })
        .collect();
    let mut failed = Vec::new();
    for (i, player) in players.into_iter().enumerate() {
        match player.join() {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => failed.push(format!("player {i}:\n{}", problems.join("\n"))),
            Err(_) => failed.push(format!("player {i}: harness thread panicked")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 20 players failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        publisher.is_running(),
        "publisher ended: {}",
        publisher.log()
    );
}

/// Only one publisher per stream: the second is refused (ffmpeg gives up quickly with an
/// error) and the first carries on undisturbed.
#[test]
fn second_publisher_refused() {
    let server = Server::start("");
    let (url, mut first) = live(&server, "taken");
    let mut second = Publisher::start(&url, &test_clip(ClipKind::H264Aac, CLIP_SECS));
    let status = second.wait_exit(Duration::from_secs(10));
    let Some(status) = status else {
        panic!("second publisher to a live stream still running after 10 s (accepted?)");
    };
    assert!(
        !status.success(),
        "second publisher exited successfully: {}",
        second.log()
    );
    assert!(first.is_running(), "first publisher ended: {}", first.log());
    let played = play_ffmpeg(&url, 7.0, &server.path("play.flv"));
    assert_played_clean(&played, 6.0);
    assert!(first.is_running(), "first publisher ended: {}", first.log());
}

/// Publisher A (320x240) publishes 4 s and stops; 1 s later B (640x360, a new SPS) publishes
/// the same name. A player connected during A stays connected and records across both.
///
/// What is asserted, and why it is sound (see also the self-test
/// `new_sequence_headers_mid_stream_survive_an_ffmpeg_recording`):
/// - the player is still connected after A stops (the server must not send it
///   `NetStream.Play.Stop`/`UnpublishNotify` or close it: ffmpeg ends on those);
/// - the recording has >= 60 frames at 320x240 and >= 90 at 640x360: B's frames reached the
///   player *and* decoded at B's size, which needs B's sequence header before B's frames;
/// - no decode errors anywhere: A's part is a decode-order prefix, B's starts with its
///   headers and a keyframe, so any error means frames without the right headers;
/// - per stream at most one DTS irregularity (the switch itself may jump or repeat once), so
///   timestamps keep increasing across the republish: a server that restarted the player's
///   clock at B's 0 would make ffmpeg clamp every B packet to A's last DTS (hundreds of
///   repeats), and a player of such a stream misbehaves.
#[test]
fn republish_players_stay() {
    let server = Server::start("");
    let url = server.rtmp_url("again");
    let mut a = Publisher::start_for(&url, &test_clip(ClipKind::H264Aac, CLIP_SECS), 4.0);
    a.wait_published(Duration::from_secs(10));
    thread::sleep(Duration::from_secs(1));
    let mut player = Player::ffmpeg(&url, None, &server.path("across.flv"));
    let a_status = a.wait_exit(Duration::from_secs(15));
    assert!(
        a_status.is_some_and(|s| s.success()),
        "publisher A: {a_status:?}: {}",
        a.log()
    );
    thread::sleep(Duration::from_secs(1));
    assert!(
        player.is_running(),
        "the player left when publisher A stopped"
    );
    let mut b = Publisher::start(&url, &test_clip(ClipKind::H264AacWide, CLIP_SECS));
    b.wait_published(Duration::from_secs(10));
    thread::sleep(Duration::from_secs(5));
    assert!(player.is_running(), "the player left during publisher B");
    let played = player.interrupt();
    played.assert_ok();

    let report = analyze(&played.out);
    let sizes = video_frame_sizes(&played.out);
    let count = |size| {
        sizes
            .iter()
            .find(|(s, _)| *s == size)
            .map_or(0, |(_, n)| *n)
    };
    let mut problems = Vec::new();
    if count((320, 240)) < 60 {
        problems.push(format!("fewer than 60 frames from A (320x240): {sizes:?}"));
    }
    if count((640, 360)) < 90 {
        problems.push(format!(
            "fewer than 90 frames from B (640x360) decoded: {sizes:?}"
        ));
    }
    if !report.decode_errors.is_empty() {
        problems.push(format!(
            "decode errors: {:?}",
            &report.decode_errors[..report.decode_errors.len().min(3)]
        ));
    }
    for (what, stats) in [("video", &report.video), ("audio", &report.audio)] {
        let Some(s) = stats else {
            problems.push(format!("no {what} stream"));
            continue;
        };
        if s.holes.len() + s.backwards.len() > 1 {
            problems.push(format!(
                "{what}: {} holes and {} backwards/repeated DTS steps, want at most one \
                 irregularity (the switch); holes {:?}, backwards {:?}",
                s.holes.len(),
                s.backwards.len(),
                &s.holes[..s.holes.len().min(3)],
                &s.backwards[..s.backwards.len().min(3)]
            ));
        }
    }
    if report.video.as_ref().is_some_and(|v| !v.first_is_keyframe) {
        problems.push("first video packet is not a keyframe".into());
    }
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        report.summary()
    );
}

#[test]
fn sigterm_exits_quickly() {
    let server = Server::start("");
    let (url, _publisher) = live(&server, "term");
    let mut player = Player::ffmpeg(&url, Some(30.0), &server.path("play.flv"));
    thread::sleep(Duration::from_secs(2));
    assert!(player.is_running(), "player ended early");
    let (status, took) = server.stop_gracefully();
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "SIGTERM with a publisher and a player: exit {status:?} after {took:?}"
    );
    assert!(
        took <= Duration::from_secs(2),
        "SIGTERM took {took:?} to exit"
    );
}
