//! RTMP ingest and playback with real clients: ffmpeg publishes the test clip in real time,
//! ffmpeg or rtmpdump play it back, and the recordings are judged by `common::media`
//! (H.264 + AAC, keyframe first, no lost frames, no decode errors). Each test runs its own
//! server on free ports.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::api::metrics;
use crate::common::rtmp_client::{RtmpClient, Status, status_of};
use crate::common::{
    CLIP_SECS, ClipKind, Player, Publisher, Server, assert_players_clean, default_clip,
    first_video_frame, live_stream, play_ffmpeg, play_rtmpdump, publish_live, test_clip,
    wait_until,
};
use livego::codec::h264::AvcConfig;
use livego::flv::tag::VideoTagHeader;
use livego::rtmp::message::{Message, msg_type};

#[test]
fn ffmpeg_publish_ffmpeg_play() {
    let server = Server::start("");
    let (url, mut publisher) = live_stream(&server, "ffmpeg");
    // join a stream live for a second: mid-GOP, from the GOP cache
    thread::sleep(Duration::from_secs(1));
    let played = play_ffmpeg(&url, 7.0, &server.path("play.flv"));
    played.assert_clean(6.0);
    publisher.assert_running("publisher");
    assert!(server.is_alive());
}

#[test]
fn rtmpdump_player() {
    let server = Server::start("");
    let (url, mut publisher) = live_stream(&server, "rtmpdump");
    // join a stream live for a second: mid-GOP, from the GOP cache
    thread::sleep(Duration::from_secs(1));
    // 7 s of wall time: at least 6 s of stream whatever the server's start-up burst
    let played = play_rtmpdump(&url, 7.0, &server.path("play.flv"));
    played.assert_clean(6.0);
    publisher.assert_running("publisher");
}

/// A player joining mid-GOP gets the cached GOP at once: its first video frame is a keyframe
/// and arrives within 800 ms. It joins ~4.3 s in, just after the keyframe at 4 s (GOP 2 s), so
/// a server that made it wait for the next keyframe would take ~1.7 s.
#[test]
fn late_join_starts_at_keyframe() {
    let server = Server::start("");
    let (url, _publisher) = live_stream(&server, "late");
    // just after the keyframe at 4 s (see above)
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
    played.assert_clean(6.0);
}

/// `cores: 2`: the listener is bound once per core (SO_REUSEPORT), so 20 players land on both
/// cores and some play a stream published on the other core.
#[test]
fn two_cores_twenty_players() {
    let server = Server::start("cores: 2");
    let (url, mut publisher) = live_stream(&server, "many");
    let players: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            let out = server.path(&format!("player{i}.flv"));
            let player = thread::spawn(move || play_ffmpeg(&url, 7.0, &out).all_problems(6.0));
            (format!("player {i}"), player)
        })
        .collect();
    assert_players_clean(players);
    publisher.assert_running("publisher");
}

/// Only one publisher per stream: the second is refused (ffmpeg gives up quickly with an
/// error) and the first carries on undisturbed.
#[test]
fn second_publisher_refused() {
    let server = Server::start("");
    let (url, mut first) = live_stream(&server, "taken");
    Publisher::start(&url, &default_clip()).assert_refused("second publisher to a live stream");
    first.assert_running("first publisher");
    let played = play_ffmpeg(&url, 7.0, &server.path("play.flv"));
    played.assert_clean(6.0);
    first.assert_running("first publisher");
}

/// What a video message is, for the raw-client tests.
#[derive(Debug)]
enum Video {
    SeqHeader(AvcConfig),
    Frame { keyframe: bool, ts: u32 },
}

fn video(msg: &Message) -> Option<Video> {
    if msg.type_id != msg_type::VIDEO {
        return None;
    }
    let header = VideoTagHeader::parse(&msg.payload).ok()?;
    if header.is_sequence_header() {
        let record = msg.payload.slice(header.header_len()..);
        let config = AvcConfig::parse(&record).expect("a valid AVC sequence header");
        Some(Video::SeqHeader(config))
    } else {
        Some(Video::Frame {
            keyframe: header.is_keyframe(),
            ts: msg.timestamp,
        })
    }
}

fn is_media(msg: &Message) -> bool {
    matches!(msg.type_id, msg_type::AUDIO | msg_type::VIDEO)
}

/// Decision on republishing: when the publisher leaves, players get
/// `NetStream.Play.UnpublishNotify` (ffmpeg and librtmp players end on it, which is their
/// choice); a player that stays connected gets the next publisher's stream cleanly:
/// `NetStream.Play.PublishNotify`, then the new sequence header before any new frame, then a
/// keyframe first. A raw client plays `again` while A (320x240) publishes; A stops; B
/// (640x360, a different SPS) publishes the same name.
#[test]
fn republish_players_stay() {
    let server = Server::start("");
    let (url, mut a) = publish_live(&server, "again", |url| {
        Publisher::start_for(url, &default_clip(), 6.0)
    });
    let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
    let started = client.play("again").expect("play");
    assert_eq!(started, "NetStream.Play.Start");

    // A's part, up to UnpublishNotify when A leaves
    let mut a_config = None;
    let mut a_frames = 0;
    let mut statuses = Vec::new();
    client
        .wait_for(Duration::from_secs(20), |m| {
            match video(m) {
                Some(Video::SeqHeader(c)) => a_config = a_config.take().or(Some(c)),
                Some(Video::Frame { .. }) => a_frames += 1,
                None => {}
            }
            let status = status_of(m)?;
            statuses.push(status.code.clone());
            (status.code == "NetStream.Play.UnpublishNotify").then_some(())
        })
        .unwrap_or_else(|e| {
            panic!(
                "no UnpublishNotify after A's end: {e}; statuses {statuses:?}; A: {}",
                a.log()
            )
        });
    let a_status = a.wait_exit(Duration::from_secs(10));
    assert!(
        a_status.is_some_and(|s| s.success()),
        "publisher A: {a_status:?}: {}",
        a.log()
    );
    let a_config = a_config.expect("A's AVC sequence header before A's frames");
    assert!(a_frames >= 30, "only {a_frames} video frames from A");

    // B publishes: PublishNotify, with nothing of A's in between
    let mut b = Publisher::start(&url, &test_clip(ClipKind::H264AacWide, CLIP_SECS));
    let mut stale = 0;
    let mut between = Vec::new();
    client
        .wait_for(Duration::from_secs(15), |m| {
            stale += usize::from(is_media(m));
            let status = status_of(m)?;
            between.push(status.code.clone());
            (status.code == "NetStream.Play.PublishNotify").then_some(())
        })
        .unwrap_or_else(|e| {
            panic!(
                "no PublishNotify for B: {e}; statuses {between:?}; B: {}",
                b.log()
            )
        });
    assert_eq!(
        between,
        ["NetStream.Play.PublishNotify"],
        "statuses after UnpublishNotify"
    );
    assert_eq!(
        stale, 0,
        "media messages between UnpublishNotify and PublishNotify"
    );

    // B's part: its sequence header first, then a keyframe, then frames for >= 3 s
    let mut videos = Vec::new();
    let b_started = Instant::now();
    while b_started.elapsed() < Duration::from_secs(5) {
        let left = Duration::from_secs(5).saturating_sub(b_started.elapsed());
        let Some(msg) = client.next_message(left) else {
            break;
        };
        if let Some(v) = video(&msg) {
            videos.push((b_started.elapsed(), v));
        }
        if let Some(status) = status_of(&msg) {
            panic!("unexpected {status:?} while B publishes");
        }
    }
    assert_eq!(client.ended(), None, "the player was disconnected during B");
    let Some((_, Video::SeqHeader(b_config))) = videos.first() else {
        panic!(
            "B's first video message is not its sequence header: {:?}",
            videos.first()
        );
    };
    assert_ne!(
        b_config.sps, a_config.sps,
        "B's sequence header repeats A's SPS (A's header resent instead of B's?)"
    );
    let frames: Vec<_> = videos
        .iter()
        .filter_map(|(at, v)| match v {
            Video::Frame { keyframe, ts } => Some((*at, *keyframe, *ts)),
            Video::SeqHeader(_) => None,
        })
        .collect();
    assert!(
        frames.first().is_some_and(|f| f.1),
        "B's first video frame after its sequence header is not a keyframe: {:?}",
        frames.first()
    );
    let (first, last) = (frames.first().unwrap(), frames.last().unwrap());
    assert!(
        last.0 - first.0 >= Duration::from_secs(3) && frames.len() >= 75,
        "B's frames stopped: {} frames from {:?} to {:?} after PublishNotify",
        frames.len(),
        first.0,
        last.0
    );
    assert!(
        frames.windows(2).all(|w| w[0].2 <= w[1].2),
        "B's video timestamps go backwards"
    );
    b.assert_running("publisher B");
}

/// ffmpeg ends its recording when the publisher leaves (on UnpublishNotify) with exit code 0,
/// soon, and with a clean file.
#[test]
fn ffmpeg_player_ends_cleanly_when_publisher_leaves() {
    let server = Server::start("");
    let (url, mut publisher) = publish_live(&server, "leaving", |url| {
        Publisher::start_for(url, &default_clip(), 10.0)
    });
    let player = Player::ffmpeg(&url, None, &server.path("leaving.flv"));
    let status = publisher.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "publisher: {status:?}: {}",
        publisher.log()
    );
    let left = Instant::now();
    let played = player.finish(Duration::from_secs(5));
    assert!(
        played.status.is_some(),
        "ffmpeg player still running {:?} after the publisher left",
        left.elapsed()
    );
    played.assert_clean(5.0);
}

/// A player may come before the publisher: RTMP waits for the stream (up to `read_timeout`).
#[test]
fn player_waits_for_stream_that_is_not_live_yet() {
    let server = Server::start("read_timeout: 6");
    let url = server.rtmp_url("later");
    let player = Player::ffmpeg(&url, Some(6.0), &server.path("later.flv"));
    assert!(
        wait_until(Duration::from_secs(10), || server
            .log()
            .contains("playing live/later")),
        "the player never started playing `later`"
    );
    // the player waits for the stream a while (the subject)
    thread::sleep(Duration::from_secs(2));
    let mut publisher = Publisher::start(&url, &default_clip());
    let played = player.finish(Duration::from_secs(40));
    played.assert_clean(4.0);
    publisher.assert_running("publisher");
}

/// A player of a stream nobody publishes is told `NetStream.Play.StreamNotFound` and/or
/// disconnected after `read_timeout`, not before and not much later.
#[test]
fn player_of_absent_stream_gives_up_after_read_timeout() {
    let server = Server::start("read_timeout: 2");
    let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
    let asked = Instant::now();
    let started = client.play("nobody").expect("play");
    let limit = Duration::from_secs(8);
    let (mut not_found, mut media, mut statuses) = (None, 0, vec![started]);
    while asked.elapsed() < limit && not_found.is_none() {
        let Some(msg) = client.next_message(limit.saturating_sub(asked.elapsed())) else {
            break;
        };
        media += usize::from(is_media(&msg));
        if let Some(status) = status_of(&msg) {
            if status.code == "NetStream.Play.StreamNotFound" {
                not_found = Some(asked.elapsed());
            }
            statuses.push(status.code);
        }
    }
    let closed = client
        .wait_closed(limit.saturating_sub(asked.elapsed()))
        .then(|| asked.elapsed());
    let gave_up = not_found.or(closed);
    assert!(
        gave_up
            .is_some_and(|t| t >= Duration::from_millis(1500) && t <= Duration::from_millis(4500)),
        "want StreamNotFound or a close 2 to 4.5 s after play; StreamNotFound at {not_found:?}, \
         closed at {closed:?} ({:?}); statuses {statuses:?}",
        client.ended()
    );
    assert_eq!(media, 0, "media for a stream nobody publishes");
}

/// A player that stops reading falls behind, loses frames (counted in `/metrics`), is dropped
/// (`player_queue_ms`, `write_timeout`), and neither the publisher nor another player notices.
/// The heavy clip's 0.5 s GOP keeps a joining player's GOP-cache burst within
/// `player_queue_ms` (see
/// `late_joiner_is_not_mistaken_for_a_slow_player` for longer GOPs).
#[test]
fn slow_player_is_dropped_others_unaffected() {
    let server = Server::start("player_queue_ms: 1000\nwrite_timeout: 3");
    let (url, mut publisher) = publish_live(&server, "heavy", |url| {
        Publisher::start_looping(url, &test_clip(ClipKind::H264AacHeavy, 20))
    });
    // a small receive buffer: the server's writes back up after a few hundred kB
    let mut stalled =
        RtmpClient::connect_with(server.rtmp_addr(), "live", Some(16 << 10)).expect("connect");
    let stall_started = Instant::now();
    assert_eq!(stalled.play("heavy").expect("play"), "NetStream.Play.Start");
    let peer = stalled.local_addr().to_string();
    // ... and from now on it never reads; another player joins once it has fallen behind
    thread::sleep(Duration::from_secs(1));
    let played = play_ffmpeg(&url, 8.0, &server.path("other.flv"));
    played.assert_clean(7.0);
    publisher.assert_running("publisher");

    let dropped = |log: &str| {
        log.lines().any(|l| {
            l.contains(&peer) && (l.contains("behind: disconnected") || l.contains("write stalled"))
        })
    };
    let deadline =
        (stall_started + Duration::from_secs(20)).saturating_duration_since(Instant::now());
    assert!(
        wait_until(deadline, || dropped(&server.log())),
        "no log line about dropping the stalled player {peer} {:?} after it stopped reading",
        stall_started.elapsed()
    );
    assert!(
        stalled.wait_closed(Duration::from_secs(10)),
        "the server logged dropping {peer} but its connection is still open"
    );
    let dropped_frames =
        metrics(&server).get("livego_dropped_frames_total{reason=\"slow_player\"}");
    assert!(dropped_frames > 0.0, "no dropped frames counted");
    publisher.assert_running("publisher");
    assert!(server.is_alive());
}

/// A new player is not a slow one: the GOP cache it is sent on joining spans up to a GOP
/// (2 s here), which must not count against a shorter `player_queue_ms`. Ten raw players join
/// 250 ms apart (so some join late in a GOP); each gets `Play.Start`, a keyframe first, and
/// stays connected.
#[test]
fn late_joiner_is_not_mistaken_for_a_slow_player() {
    let server = Server::start("player_queue_ms: 1000");
    let (_url, mut publisher) = live_stream(&server, "gop");
    let addr = server.rtmp_addr();
    let players: Vec<_> = (0..10u64)
        .map(|i| {
            let player = thread::spawn(move || {
                // joins spread over a GOP and a half (the subject)
                thread::sleep(Duration::from_millis(250 * i));
                join_gop(addr).err().into_iter().collect()
            });
            (format!("player {i} (joined at +{} ms)", 250 * i), player)
        })
        .collect();
    assert_players_clean(players);
    publisher.assert_running("publisher");
}

/// One raw player of `gop`: `Play.Start`, a keyframe first, still connected 3 s after joining.
fn join_gop(addr: SocketAddr) -> Result<(), String> {
    let joined = Instant::now();
    let mut client = RtmpClient::connect(addr, "live").map_err(|e| e.to_string())?;
    let started = client.play("gop").map_err(|e| format!("play: {e}"))?;
    let first = client
        .wait_for(Duration::from_secs(5), |m| match video(m)? {
            Video::Frame { keyframe, .. } => Some(keyframe),
            Video::SeqHeader(_) => None,
        })
        .map_err(|e| format!("{started}, then no video frame: {e}"))?;
    if !first {
        return Err("first video frame is not a keyframe".into());
    }
    while joined.elapsed() < Duration::from_secs(3) && client.ended().is_none() {
        client.next_message(Duration::from_millis(200));
    }
    match client.ended() {
        Some(why) => Err(format!("{why} {:?} after joining", joined.elapsed())),
        None => Ok(()),
    }
}

/// Without `rtmp_noauth`, a publish needs a channel key: an unknown one (no key exists) gets
/// an onStatus error and the connection is closed; ffmpeg gives up with an error.
#[test]
fn publish_without_channel_key_is_refused() {
    let server = Server::start("rtmp_noauth: false");
    let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
    let status = client.publish("nokey").expect("publish answer");
    assert_eq!(
        status,
        Status {
            level: "error".into(),
            code: "NetStream.Publish.BadName".into()
        }
    );
    assert!(
        client.wait_closed(Duration::from_secs(5)),
        "connection still open 5 s after a refused publish"
    );
    Publisher::start(&server.rtmp_url("nokey"), &default_clip())
        .assert_refused("ffmpeg publishing without a key");
}

#[test]
fn sigterm_exits_quickly() {
    let server = Server::start("");
    let (url, _publisher) = live_stream(&server, "term");
    let probes = server.players_started("term");
    let mut player = Player::ffmpeg(&url, Some(30.0), &server.path("play.flv"));
    server.wait_player_started("term", probes);
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
