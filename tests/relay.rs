//! Relays through the control API, between two livego servers on loopback (a real RTMP peer
//! on each side): `/control/pull` plays a remote stream and publishes it locally,
//! `/control/push` sends a local stream to a remote server; `oper=stop` ends them; wrong
//! parameters get 400 with a usage message.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::api::{api_get, envelope, livestat};
use common::{Rtmps, Server, live_stream, play_ffmpeg};

fn relay(server: &Server, kind: &str, oper: &str, name: &str, url: &str) -> common::http::Response {
    let path = format!("/control/{kind}?oper={oper}&app=live&name={name}&url={url}");
    api_get(server, &path, &[])
}

/// Wait until `server` has a publisher of `key` (or not), within `timeout`.
fn wait_publisher(server: &Server, key: &str, present: bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if livestat(server, None).publishers_of(key).is_empty() != present {
            return true;
        }
        thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn pull_publishes_a_remote_stream_locally() {
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
    let played = play_ffmpeg(&edge.flv_url("copy"), 5.0, &edge.path("http.flv"));
    played.assert_clean(4.0);
    envelope(
        &relay(&edge, "pull", "stop", "copy", &source),
        200,
        "pull stop",
    );
    assert!(wait_publisher(
        &edge,
        "live/copy",
        false,
        Duration::from_secs(10)
    ));
    envelope(
        &relay(&edge, "pull", "stop", "copy", &source),
        404,
        "second stop",
    );
    publisher.assert_running("origin publisher");
}

#[test]
fn push_sends_a_local_stream_to_a_remote_server() {
    let local = Server::start("");
    let remote = Server::start("");
    let (_url, mut publisher) = live_stream(&local, "out");
    let target = remote.rtmp_url("in");
    envelope(
        &relay(&local, "push", "start", "out", &target),
        200,
        "push start",
    );
    assert!(wait_publisher(
        &remote,
        "live/in",
        true,
        Duration::from_secs(10)
    ));
    let played = play_ffmpeg(&remote.rtmp_url("in"), 6.0, &remote.path("pushed.flv"));
    played.assert_clean(5.0);
    envelope(
        &relay(&local, "push", "stop", "out", &target),
        200,
        "push stop",
    );
    assert!(
        wait_publisher(&remote, "live/in", false, Duration::from_secs(10)),
        "stopping the push ends the remote stream"
    );
    publisher.assert_running("local publisher");
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

fn static_push_config(target_port: u16) -> String {
    static_push_to(&format!("rtmp://127.0.0.1:{target_port}/live"))
}

fn static_push_to(base: &str) -> String {
    format!(
        "server:\n  - appname: live\n    live: true\n    hls: true\n    flv: true\n    api: true\n    \
         static_push: [\"{base}\"]\n"
    )
}

#[test]
fn static_push_relays_every_published_stream() {
    let target = Server::start("");
    let port = target.rtmp_addr().port();
    let origin = Server::start(&static_push_config(port));
    let (_url, mut publisher) = live_stream(&origin, "cam");
    assert!(wait_publisher(
        &target,
        "live/cam",
        true,
        Duration::from_secs(10)
    ));
    let played = play_ffmpeg(&target.rtmp_url("cam"), 6.0, &target.path("static.flv"));
    played.assert_clean(5.0);
    publisher.assert_running("origin publisher");
}

#[test]
fn static_push_reconnects_when_the_target_comes_up_later() {
    let port = common::free_port();
    let origin = Server::start(&static_push_config(port));
    let (_url, mut publisher) = live_stream(&origin, "late");
    thread::sleep(Duration::from_secs(3));
    let target = Server::start(&format!("rtmp_addr: \"127.0.0.1:{port}\"\n"));
    // Attempts at 0, 1, 3, 7 s after publishing: the target is up by the third.
    assert!(
        wait_publisher(&target, "live/late", true, Duration::from_secs(15)),
        "the static push reconnected: {}",
        origin.log()
    );
    let played = play_ffmpeg(&target.rtmp_url("late"), 5.0, &target.path("late.flv"));
    played.assert_clean(4.0);
    publisher.assert_running("origin publisher");
}

/// `/control/push` to an rtmps:// target (server `a` with a self-signed certificate): with
/// `enable_tls_verify: false` the stream arrives and plays; with the default (verify against
/// the system CAs) the push fails with a log line naming the certificate.
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while !verifying
        .log()
        .lines()
        .any(|l| l.contains(&line) && l.contains("certificate"))
    {
        assert!(
            Instant::now() < deadline,
            "no certificate error for {target}: {}",
            verifying.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(livestat(&a, None).publishers_of("live/z").is_empty());
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
        static_push_to(&base)
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

    let verifying = Server::start(&static_push_to(&base));
    let (_url, _publisher) = live_stream(&verifying, "other");
    let deadline = Instant::now() + Duration::from_secs(10);
    let retried = |log: String| {
        log.lines()
            .filter(|l| l.contains("static_push live/other to rtmps://"))
            .filter(|l| l.contains("certificate") && l.contains("retry in"))
            .count()
    };
    while retried(verifying.log()) < 2 {
        assert!(
            Instant::now() < deadline,
            "no repeated certificate failures: {}",
            verifying.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(
        livestat(&target, None)
            .publishers_of("live/other")
            .is_empty()
    );
}
