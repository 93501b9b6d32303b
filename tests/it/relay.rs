//! Relays against a real third-party RTMP peer, nginx-rtmp (`common::nginx`): `static_push`,
//! `/control/push` (with `oper=stop`, and reconnecting when nginx restarts) and
//! `/control/pull`, judged by what ffmpeg plays back from the far side (codecs, frame
//! counts, DTS continuity, keyframe first); relays listed in `/stat/livestat`; wrong
//! parameters get 400 with a usage message. One pull between two livego servers checks that
//! our client also plays from our own server, and that a pull outlives its remote stream
//! (reconnecting when it comes back).

use std::thread;
use std::time::{Duration, Instant};

use crate::common::api::{api_get, envelope, livestat};
use crate::common::hls::wait_playlist;
use crate::common::nginx::NginxRtmp;
use crate::common::{
    Player, Publisher, Rtmps, Server, default_clip, first_video_frame, free_port, live_stream,
    play_ffmpeg, poll_until, wait_until,
};
use serde_json::Value;

fn relay(
    server: &Server,
    kind: &str,
    oper: &str,
    name: &str,
    url: &str,
) -> crate::common::http::Response {
    let path = format!("/control/{kind}?oper={oper}&app=live&name={name}&url={url}");
    api_get(server, &path, &[])
}

/// Wait until `server` has a publisher of `key` (or not), within `timeout`.
fn wait_publisher(server: &Server, key: &str, present: bool, timeout: Duration) -> bool {
    wait_until(timeout, || {
        livestat(server, None).publishers_of(key).is_empty() != present
    })
}

/// Waits until an RTMP player of `url` gets a video frame (`present`), or until one gets none
/// within 3 s (`!present`); false if that is not so within `timeout`.
fn wait_video(url: &str, present: bool, timeout: Duration) -> bool {
    wait_until(timeout, || {
        first_video_frame(url, Duration::from_secs(3)).is_some() == present
    })
}

/// Plays `url` from nginx for `seconds` and checks the recording is clean.
#[track_caller]
fn assert_nginx_plays_clean(nginx: &NginxRtmp, name: &str, seconds: f64, file: &str) {
    let url = nginx.rtmp_url(name);
    assert!(
        wait_video(&url, true, Duration::from_secs(15)),
        "nginx never got {url}: {}",
        nginx.error_log()
    );
    let played = play_ffmpeg(&url, seconds, &nginx.path(file));
    played.assert_clean(seconds - 1.0);
}

/// The `relays` list of `/stat/livestat`.
fn relays(server: &Server) -> Vec<Value> {
    let data = envelope(&api_get(server, "/stat/livestat", &[]), 200, "livestat");
    match data.get("relays") {
        Some(Value::Array(list)) => list.clone(),
        other => panic!("livestat has no relays list: {other:?} in {data}"),
    }
}

/// The relay entry of `kind` for `key`, if listed.
fn relay_entry(server: &Server, kind: &str, key: &str) -> Option<Value> {
    relays(server)
        .into_iter()
        .find(|r| r["kind"] == kind && r["key"] == key)
}

/// Polls until the relay entry of `kind`/`key` is in state `state` (`None`: not listed).
#[track_caller]
fn wait_relay_state(server: &Server, kind: &str, key: &str, state: Option<&str>) -> Option<Value> {
    let mut now = None;
    poll_until(Duration::from_secs(15), || {
        let entry = relay_entry(server, kind, key);
        now = entry
            .as_ref()
            .map(|e| e["state"].as_str().unwrap_or("?").to_string());
        (now.as_deref() == state).then_some(entry)
    })
    .unwrap_or_else(|| {
        panic!(
            "{kind} {key}: state {now:?} after 15 s, want {state:?}; relays {:?}",
            relays(server)
        )
    })
}

fn static_push_config(target: &str) -> String {
    format!(
        "server:\n  - appname: live\n    live: true\n    hls: true\n    flv: true\n    \
         api: true\n    static_push: [\"{target}\"]\n"
    )
}

#[test]
fn static_push_to_nginx() {
    let nginx = NginxRtmp::start();
    let server = Server::start(&static_push_config(&nginx.app_url()));
    let (_url, mut publisher) = live_stream(&server, "cam");
    assert_nginx_plays_clean(&nginx, "cam", 6.0, "static.flv");
    let entry = wait_relay_state(&server, "static_push", "live/cam", Some("live"));
    let entry = entry.expect("listed");
    assert_eq!(entry["url"], nginx.rtmp_url("cam"), "{entry}");
    assert!(entry["video_total_bytes"].as_u64() > Some(0), "{entry}");
    publisher.assert_running("publisher");
}

#[test]
fn static_push_reconnects_when_nginx_comes_up_later() {
    let port = free_port();
    let server = Server::start(&static_push_config(&format!(
        "rtmp://127.0.0.1:{port}/live"
    )));
    let (_url, mut publisher) = live_stream(&server, "late");
    wait_relay_state(&server, "static_push", "live/late", Some("retrying"));
    // nginx comes up while the relay backs off between attempts (the subject)
    thread::sleep(Duration::from_secs(2));
    let nginx = NginxRtmp::start_on(port);
    // Attempts at 0, 1, 3, 7 s after publishing: nginx is up by the fourth.
    assert_nginx_plays_clean(&nginx, "late", 5.0, "late.flv");
    publisher.assert_running("publisher");
}

#[test]
fn pull_from_nginx_plays_over_rtmp_httpflv_and_hls() {
    let nginx = NginxRtmp::start();
    let source = nginx.rtmp_url("src");
    let mut publisher = Publisher::start(&source, &default_clip());
    assert!(
        wait_video(&source, true, Duration::from_secs(10)),
        "publishing to nginx: {}\n{}",
        publisher.log(),
        nginx.error_log()
    );
    let server = Server::start_hls("");
    envelope(
        &relay(&server, "pull", "start", "copy", &source),
        200,
        "pull start",
    );
    assert!(wait_publisher(
        &server,
        "live/copy",
        true,
        Duration::from_secs(10)
    ));
    let rtmp = Player::ffmpeg(
        &server.rtmp_url("copy"),
        Some(6.0),
        &server.path("rtmp.flv"),
    );
    let flv = Player::ffmpeg(&server.flv_url("copy"), Some(6.0), &server.path("http.flv"));
    let m3u8 = server.m3u8_url("copy");
    wait_playlist(&m3u8, 2, Duration::from_secs(20));
    let hls = Player::ffmpeg_as(&m3u8, Some(6.0), "mpegts", &server.path("hls.ts"));
    for player in [rtmp, flv, hls] {
        player.finish(Duration::from_secs(30)).assert_clean(5.0);
    }
    let entry = wait_relay_state(&server, "pull", "live/copy", Some("live")).expect("listed");
    assert_eq!(entry["url"], source.as_str(), "{entry}");
    envelope(
        &relay(&server, "pull", "stop", "copy", &source),
        200,
        "pull stop",
    );
    assert!(wait_publisher(
        &server,
        "live/copy",
        false,
        Duration::from_secs(10)
    ));
    wait_relay_state(&server, "pull", "live/copy", None);
    envelope(
        &relay(&server, "pull", "stop", "copy", &source),
        404,
        "second stop",
    );
    publisher.assert_running("publisher to nginx");
}

#[test]
fn push_to_nginx_and_stop() {
    let nginx = NginxRtmp::start();
    let server = Server::start("");
    let (_url, mut publisher) = live_stream(&server, "out");
    let target = nginx.rtmp_url("in");
    envelope(
        &relay(&server, "push", "start", "out", &target),
        200,
        "push start",
    );
    assert_nginx_plays_clean(&nginx, "in", 6.0, "pushed.flv");
    let entry = wait_relay_state(&server, "push", "live/out", Some("live")).expect("listed");
    assert_eq!(entry["url"], target.as_str(), "{entry}");
    assert!(entry["audio_total_bytes"].as_u64() > Some(0), "{entry}");
    assert!(
        livestat(&server, None).players_of("live/out").is_empty(),
        "a push is not a player"
    );
    envelope(
        &relay(&server, "push", "stop", "out", &target),
        200,
        "push stop",
    );
    wait_relay_state(&server, "push", "live/out", None);
    assert!(
        wait_video(&target, false, Duration::from_secs(10)),
        "nginx still has {target} after the push was stopped"
    );
    publisher.assert_running("local publisher");
}

#[test]
fn push_reconnects_when_nginx_restarts() {
    let mut nginx = NginxRtmp::start();
    let port = nginx.port;
    let server = Server::start("");
    let (_url, mut publisher) = live_stream(&server, "re");
    let target = nginx.rtmp_url("re");
    envelope(
        &relay(&server, "push", "start", "re", &target),
        200,
        "push start",
    );
    assert!(wait_video(&target, true, Duration::from_secs(10)));
    nginx.kill();
    wait_relay_state(&server, "push", "live/re", Some("retrying"));
    // nginx comes back while the relay backs off between attempts (the subject)
    thread::sleep(Duration::from_secs(2));
    let nginx = NginxRtmp::start_on(port);
    assert_nginx_plays_clean(&nginx, "re", 5.0, "again.flv");
    wait_relay_state(&server, "push", "live/re", Some("live"));
    envelope(
        &relay(&server, "push", "stop", "re", &target),
        200,
        "push stop",
    );
    wait_relay_state(&server, "push", "live/re", None);
    publisher.assert_running("local publisher");
}

#[test]
fn pull_from_another_livego() {
    let origin = Server::start("");
    let edge = Server::start("");
    let (source, mut publisher) = live_stream(&origin, "src");
    envelope(
        &relay(&edge, "pull", "start", "copy", &source),
        200,
        "pull start",
    );
    assert!(wait_publisher(
        &edge,
        "live/copy",
        true,
        Duration::from_secs(10)
    ));
    let played = play_ffmpeg(&edge.rtmp_url("copy"), 6.0, &edge.path("rtmp.flv"));
    played.assert_clean(5.0);
    publisher.assert_running("origin publisher");

    // The origin's stream ends: the pull stays, waiting for it, and the local stream ends.
    drop(publisher);
    assert!(wait_publisher(
        &edge,
        "live/copy",
        false,
        Duration::from_secs(10)
    ));
    let waiting = relay_entry(&edge, "pull", "live/copy").expect("the pull is still listed");
    assert_ne!(waiting["state"], "live", "{waiting}");
    // It comes back: so does the pull.
    let (_, mut again) = live_stream(&origin, "src");
    assert!(wait_publisher(
        &edge,
        "live/copy",
        true,
        Duration::from_secs(15)
    ));
    wait_relay_state(&edge, "pull", "live/copy", Some("live"));
    let played = play_ffmpeg(&edge.rtmp_url("copy"), 5.0, &edge.path("again.flv"));
    played.assert_clean(4.0);
    again.assert_running("origin publisher, again");
}

#[test]
fn wrong_relay_parameters_get_400_with_usage() {
    let server = Server::start("");
    let missing = api_get(&server, "/control/pull?oper=start&app=live&name=x", &[]);
    let data = envelope(&missing, 400, "no url");
    assert!(
        data.as_str().is_some_and(|s| s.contains("oper=start|stop")),
        "{data}"
    );
    let bad_url = relay(&server, "push", "start", "x", "http://example");
    envelope(&bad_url, 400, "not an rtmp URL");
    let bad_oper = relay(&server, "push", "pause", "x", "rtmp://127.0.0.1:1/live/x");
    envelope(&bad_oper, 400, "unknown oper");
}
/// `/control/push` to an rtmps:// target (server `a` with a self-signed certificate): with
/// `enable_tls_verify: false` the stream arrives and plays; with the default (verify against
/// the system CAs) the push fails with a log line naming the certificate, unless the
/// certificate is in `SSL_CERT_FILE`.
#[test]
fn push_to_an_rtmps_target() {
    let rtmps = Rtmps::new();
    let a = Server::start_rtmps(&rtmps, "");
    let trusting = Server::start("enable_tls_verify: false");
    let (_url, mut publisher) = live_stream(&trusting, "out");
    let target = rtmps.url("y");
    envelope(
        &relay(&trusting, "push", "start", "out", &target),
        200,
        "push start",
    );
    assert!(
        wait_publisher(&a, "live/y", true, Duration::from_secs(10)),
        "no publisher on the RTMPS target: {}",
        trusting.log()
    );
    let played = play_ffmpeg(&a.rtmp_url("y"), 6.0, &a.path("pushed.flv"));
    played.assert_clean(5.0);
    publisher.assert_running("local publisher");

    let verifying = Server::start("");
    let (_url, _publisher) = live_stream(&verifying, "out");
    let target = rtmps.url("z");
    envelope(
        &relay(&verifying, "push", "start", "out", &target),
        200,
        "push start",
    );
    let line = format!("relay push to {target}");
    let refused = wait_until(Duration::from_secs(10), || {
        verifying
            .log()
            .lines()
            .any(|l| l.contains(&line) && l.contains("certificate"))
    });
    assert!(
        refused,
        "no certificate error for {target}: {}",
        verifying.log()
    );
    assert!(livestat(&a, None).publishers_of("live/z").is_empty());

    // Verifying against CA certificates found where OpenSSL looks (here SSL_CERT_FILE, which
    // holds the target's own certificate): accepted.
    let cert = rtmps.cert.to_str().expect("UTF-8 path");
    let trusting_the_file = Server::start_env("", &[("SSL_CERT_FILE", cert)]);
    let (_url, _publisher) = live_stream(&trusting_the_file, "out");
    let target = rtmps.url("w");
    let started = relay(&trusting_the_file, "push", "start", "out", &target);
    envelope(&started, 200, "push start");
    assert!(
        wait_publisher(&a, "live/w", true, Duration::from_secs(10)),
        "no publisher on the RTMPS target: {}",
        trusting_the_file.log()
    );
}

/// `/control/pull` from an rtmps:// origin (self-signed, `enable_tls_verify: false`).
#[test]
fn pull_from_an_rtmps_origin() {
    let rtmps = Rtmps::new();
    let origin = Server::start_rtmps(&rtmps, "");
    let edge = Server::start("enable_tls_verify: false");
    let (_url, mut publisher) = live_stream(&origin, "src");
    envelope(
        &relay(&edge, "pull", "start", "copy", &rtmps.url("src")),
        200,
        "pull start",
    );
    assert!(
        wait_publisher(&edge, "live/copy", true, Duration::from_secs(10)),
        "{}",
        edge.log()
    );
    let played = play_ffmpeg(&edge.rtmp_url("copy"), 6.0, &edge.path("pulled.flv"));
    played.assert_clean(5.0);
    publisher.assert_running("origin publisher");
}

/// `static_push` to an rtmps:// target: relayed with `enable_tls_verify: false`; with the
/// default, every attempt fails on the certificate and is retried with backoff.
#[test]
fn static_push_to_an_rtmps_target() {
    let rtmps = Rtmps::new();
    let target = Server::start_rtmps(&rtmps, "");
    let base = format!("rtmps://127.0.0.1:{}/live", rtmps.port);
    let trusting = Server::start(&format!(
        "enable_tls_verify: false\n{}",
        static_push_config(&base)
    ));
    let (_url, mut publisher) = live_stream(&trusting, "cam");
    assert!(
        wait_publisher(&target, "live/cam", true, Duration::from_secs(10)),
        "{}",
        trusting.log()
    );
    let played = play_ffmpeg(&target.rtmp_url("cam"), 5.0, &target.path("static.flv"));
    played.assert_clean(4.0);
    publisher.assert_running("origin publisher");

    let verifying = Server::start(&static_push_config(&base));
    let (_url, _publisher) = live_stream(&verifying, "other");
    let retried = |log: String| {
        log.lines()
            .filter(|l| l.contains("static_push live/other to rtmps://"))
            .filter(|l| l.contains("certificate") && l.contains("retry in"))
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(10), || retried(verifying.log()) >= 2),
        "no repeated certificate failures: {}",
        verifying.log()
    );
    assert!(
        livestat(&target, None)
            .publishers_of("live/other")
            .is_empty()
    );
}

/// A TCP listener that accepts connections and never answers: a relay to it stays stuck in
/// its RTMP handshake.
fn silent_listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

/// Start twice, stop once: the relay is gone (the second start used to replace the relay's
/// stop flag, so the running relay could never be stopped). A stop ends a relay even while
/// its connection waits on a remote that never answers, without waiting for a read timeout.
#[test]
fn a_relay_started_twice_stops_with_one_stop() {
    let server = Server::start("read_timeout: 30\n");
    let (_silent, port) = silent_listener();
    let url = format!("rtmp://127.0.0.1:{port}/live/x");
    for round in 0..2 {
        let started = relay(&server, "pull", "start", "twice", &url);
        assert_eq!(started.status(), 200, "start {round}: {}", started.text());
    }
    wait_relay_state(&server, "pull", "live/twice", Some("connecting"));
    let stopped = relay(&server, "pull", "stop", "twice", &url);
    assert_eq!(stopped.status(), 200, "{}", stopped.text());
    let at = Instant::now();
    wait_relay_state(&server, "pull", "live/twice", None);
    assert!(at.elapsed() < Duration::from_secs(2), "{:?}", at.elapsed());
    let again = relay(&server, "pull", "stop", "twice", &url);
    assert_eq!(again.status(), 404, "{}", again.text());
}

/// `max_relays` caps the relays started through the API; a stop makes room again.
#[test]
fn max_relays_caps_api_relays() {
    let server = Server::start("max_relays: 2\n");
    let (_silent, port) = silent_listener();
    let url = |n: usize| format!("rtmp://127.0.0.1:{port}/live/r{n}");
    for n in 0..2 {
        assert_eq!(
            relay(&server, "pull", "start", &format!("r{n}"), &url(n)).status(),
            200
        );
    }
    let refused = relay(&server, "pull", "start", "r2", &url(2));
    assert_eq!(refused.status(), 503, "{}", refused.text());
    assert!(refused.text().contains("max_relays"), "{}", refused.text());
    assert_eq!(relay(&server, "pull", "stop", "r0", &url(0)).status(), 200);
    assert_eq!(relay(&server, "pull", "start", "r2", &url(2)).status(), 200);
}
