//! HTTP-FLV playback (README "Publish and play", "Behaviour"): ffmpeg publishes over
//! RTMP; ffmpeg, curl and a raw client (`common::http` + the FLV demuxer) play
//! `http://127.0.0.1:PORT/live/NAME.flv`. Recordings must be clean (H.264 + AAC, keyframe
//! first, no lost frames, full decode); responses carry `Content-Type: video/x-flv` and CORS;
//! streams that are not live, unknown apps and apps with `flv: false` answer 404; a player
//! that leaves is gone from `/stat/livestat` within 2 s. Each test runs its own server.

use std::io::{BufReader, Read, Write};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::api::wait_players;
use crate::common::flv::{self, TagExt as _, TagStream};
use crate::common::http::{DeadlineStream, HttpStream, http_request, http_status, read_head};
use crate::common::httpflv::{record_http_flv, wait_not_live};
use crate::common::{
    Player, Publisher, Server, analyze, assert_players_clean, default_clip, live_stream,
    play_ffmpeg, publish_live, run,
};

#[test]
fn ffmpeg_plays_http_flv() {
    let server = Server::start_http("");
    let (_, mut publisher) = live_stream(&server, "x");
    // join a stream live for a second: mid-GOP, from the GOP cache
    thread::sleep(Duration::from_secs(1));
    let played = play_ffmpeg(&server.flv_url("x"), 7.0, &server.path("play.flv"));
    played.assert_clean(6.0);
    publisher.assert_running("publisher");
    assert!(server.is_alive());
}

/// `curl -s -N --max-time 8`: curl ends itself at 8 s (exit 28), mid-tag at worst; the torn
/// tail is trimmed, the rest must be clean H.264 + AAC covering 6 s.
#[test]
fn curl_records_http_flv() {
    let server = Server::start_http("");
    let (_, _publisher) = live_stream(&server, "x");
    let out = server.path("curl.flv");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-S", "-N", "--max-time", "8", "-o"])
        .arg(&out)
        .arg(server.flv_url("x"));
    let ran = run(&mut cmd, Duration::from_secs(20));
    let code = ran.status.and_then(|s| s.code());
    assert!(
        matches!(code, Some(0 | 28)),
        "curl ended with {:?} (want 28, its own --max-time): {}",
        ran.status,
        ran.stderr
    );
    flv::trim_torn_tail(&out).expect("trim the torn tail");
    let report = analyze(&out);
    assert_eq!(
        report.video.as_ref().map(|v| v.codec.as_str()),
        Some("h264")
    );
    assert_eq!(report.audio.as_ref().map(|a| a.codec.as_str()), Some("aac"));
    report.assert_clean(6.0);
}

/// 30 HTTP-FLV players on a 2-core server: 6 ffmpeg recordings (fully decoded) and 24 raw
/// clients (metadata and sequence headers first, keyframe first, continuous timestamps).
/// With SO_REUSEPORT the players land on both cores, so some play a stream published on the
/// other core.
#[test]
fn thirty_players_two_cores() {
    const FFMPEG: usize = 6;
    const RAW: usize = 24;
    let server = Server::start_http("cores: 2");
    let (_, mut publisher) = live_stream(&server, "many");
    let url = server.flv_url("many");
    let ffmpeg = (0..FFMPEG).map(|i| {
        let url = url.clone();
        let out = server.path(&format!("player{i}.flv"));
        let player = thread::spawn(move || play_ffmpeg(&url, 7.0, &out).all_problems(6.0));
        (format!("ffmpeg player {i}"), player)
    });
    let raw = (FFMPEG..FFMPEG + RAW).map(|i| {
        let url = url.clone();
        // 8 s of wall time: at least 6 s of stream time whatever the GOP-cache burst
        let player =
            thread::spawn(move || record_http_flv(&url, Duration::from_secs(8)).problems(6.0));
        (format!("raw player {i}"), player)
    });
    assert_players_clean(ffmpeg.chain(raw).collect());
    publisher.assert_running("publisher");
}

/// A stream that is not live (never published, or published and gone) and an unknown app
/// answer 404 at once, to GET and HEAD; HTTP-FLV does not wait like RTMP does.
#[test]
fn not_live_is_404() {
    let server = Server::start_http("");
    let started = Instant::now();
    assert_eq!(http_status("GET", &server.flv_url("nobody")), 404);
    assert_eq!(http_status("HEAD", &server.flv_url("nobody")), 404);
    let other_app = format!("http://127.0.0.1:{}/nosuchapp/x.flv", server.httpflv_port);
    assert_eq!(http_status("GET", &other_app), 404);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "404s took {:?}",
        started.elapsed()
    );

    let (_, mut publisher) = publish_live(&server, "brief", |url| {
        Publisher::start_for(url, &default_clip(), 4.0)
    });
    assert_eq!(http_status("HEAD", &server.flv_url("brief")), 200);
    let status = publisher.wait_exit(Duration::from_secs(15));
    assert!(status.is_some(), "publisher of 4 s still running");
    // the server notices the end of the session at once; allow a moment
    wait_not_live(&server, "brief", Duration::from_secs(2));
    assert!(server.is_alive());
}

/// An app with `flv: false` is not served over HTTP-FLV (404) while it plays over RTMP.
#[test]
fn flv_disabled_app_is_404() {
    let server = Server::start_http(
        "server: [{appname: live, live: true, flv: false, hls: true, api: true}]",
    );
    let (_, _publisher) = live_stream(&server, "x");
    assert_eq!(http_status("GET", &server.flv_url("x")), 404);
    assert_eq!(http_status("HEAD", &server.flv_url("x")), 404);
    assert!(server.is_alive());
}

/// GET: 200, `Content-Type: video/x-flv`, `Access-Control-Allow-Origin: *`, a chunked or
/// close-delimited body (never a Content-Length: the stream has no end) starting with the FLV
/// signature. HTTP/1.0: not chunked (1.0 has no chunked coding). HEAD: the same head and no
/// body. OPTIONS (CORS preflight): 204 with the CORS headers.
#[test]
fn response_headers_head_and_options() {
    let server = Server::start_http("");
    let (_, _publisher) = live_stream(&server, "x");
    let url = server.flv_url("x");

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = HttpStream::open(
        &url,
        &[("Origin", "http://example.com")],
        Duration::from_secs(5),
        deadline,
    )
    .expect("GET the stream");
    let head = stream.head.clone();
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-type"), Some("video/x-flv"), "{head:?}");
    assert_eq!(
        head.header("access-control-allow-origin"),
        Some("*"),
        "{head:?}"
    );
    assert_eq!(
        head.header("content-length"),
        None,
        "a live stream with a length: {head:?}"
    );
    let mut signature = [0u8; 3];
    stream.read_exact(&mut signature).expect("FLV header");
    assert_eq!(&signature, b"FLV", "body does not start with an FLV header");
    let mut tags = TagStream::new((&signature[..]).chain(&mut stream));
    let first_video = loop {
        match tags.next_tag() {
            Ok(Some(tag)) if tag.is_video_frame() => break tag,
            Ok(Some(_)) => {}
            other => panic!("no video frame in the first 5 s: {other:?}"),
        }
    };
    assert!(
        first_video.is_keyframe(),
        "first video frame is not a keyframe"
    );
    drop(tags);
    drop(stream);

    // HTTP/1.0: close-delimited (or Content-Length-less) body, never chunked
    let mut s =
        DeadlineStream::connect(server.httpflv_addr(), Duration::from_secs(5)).expect("connect");
    s.write_all(b"GET /live/x.flv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let head10 = read_head(&mut r).expect("HTTP/1.0 response head");
    assert_eq!(head10.status, 200, "{head10:?}");
    assert!(
        !head10.is_chunked(),
        "chunked response to an HTTP/1.0 request: {head10:?}"
    );
    let mut signature = [0u8; 3];
    r.read_exact(&mut signature).expect("HTTP/1.0 body");
    assert_eq!(&signature, b"FLV");
    drop(r);

    // HEAD: same head, no body
    let mut s =
        DeadlineStream::connect(server.httpflv_addr(), Duration::from_secs(5)).expect("connect");
    s.write_all(b"HEAD /live/x.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r).expect("HEAD response head");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-type"), Some("video/x-flv"), "{head:?}");
    assert_eq!(head.header("access-control-allow-origin"), Some("*"));
    // whatever follows must not be FLV: wait 1 s for stray body bytes (or the close)
    r.get_mut()
        .set_deadline(Instant::now() + Duration::from_secs(1));
    let mut after = Vec::new();
    let _ = r.read_to_end(&mut after);
    assert!(
        after.is_empty(),
        "{} bytes after a HEAD response: {:?}",
        after.len(),
        String::from_utf8_lossy(&after[..after.len().min(16)])
    );

    // CORS preflight
    let preflight = http_request(
        "OPTIONS",
        &url,
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
        Duration::from_secs(5),
    )
    .expect("OPTIONS");
    assert_eq!(preflight.status(), 204, "{:?}", preflight.head);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("*"),
        "{:?}",
        preflight.head
    );
    let methods = preflight
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(
        methods.contains("GET"),
        "Access-Control-Allow-Methods {methods:?}: {:?}",
        preflight.head
    );
    assert!(server.is_alive());
}

/// A player that goes away is dropped: `/stat/livestat` lists it while it plays and no
/// longer within 2 s of its disconnect (raw client: closes its socket; ffmpeg: SIGKILLed).
#[test]
fn disconnected_player_is_cleaned_up() {
    let server = Server::start_http("");
    let (_, _publisher) = live_stream(&server, "x");
    // wait_published's probe (an RTMP player) has just left
    wait_players(
        &server,
        "live/x",
        0,
        Duration::from_secs(2),
        "before anyone plays",
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = HttpStream::open(&server.flv_url("x"), &[], Duration::from_secs(5), deadline)
        .expect("GET the stream");
    assert_eq!(stream.head.status, 200);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < 16 * 1024 {
        got += stream.read(&mut buf).expect("stream bytes");
    }
    wait_players(
        &server,
        "live/x",
        1,
        Duration::from_secs(2),
        "raw player joined",
    );
    drop(stream);
    wait_players(
        &server,
        "live/x",
        0,
        Duration::from_secs(2),
        "raw player left",
    );

    let mut ffmpeg = Player::ffmpeg(&server.flv_url("x"), None, &server.path("killed.flv"));
    wait_players(
        &server,
        "live/x",
        1,
        Duration::from_secs(5),
        "ffmpeg player joined",
    );
    assert!(ffmpeg.is_running(), "ffmpeg player ended early");
    drop(ffmpeg); // SIGKILL
    wait_players(
        &server,
        "live/x",
        0,
        Duration::from_secs(2),
        "ffmpeg player killed",
    );
    assert!(server.is_alive());
}
