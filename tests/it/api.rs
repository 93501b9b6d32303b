//! The control API (README "Publish and play", "Control API"): channel keys (get, reset, delete,
//! usage errors, parameters in a form body as livego reads them), publishing under a key with
//! `rtmp_noauth: false` (and refusals: unknown key, bare room name, revoked key), keys kept
//! across a restart, a corrupt key file stopping startup, HS256 JWT on `/control/*`,
//! `/stat/livestat` listing publishers and RTMP and HTTP-FLV players with growing byte
//! counters, and `/metrics` following streams, players, bytes, HLS requests and each core's CPU
//! time. Each test runs its own server.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::api::{
    LiveStat, Metrics, api_get, delete_key, envelope, get_key, is_channel_key, livestat, metrics,
    reset_key, sign_hs256, unix_now, wait_metrics, wait_players,
};
use crate::common::hls::{fetch, resolve, wait_playlist};
use crate::common::http::http_status;
use crate::common::httpflv::wait_not_live;
use crate::common::{Player, Publisher, Server, TestDir, default_clip, poll_until};
use livego::api::base64url;
use serde_json::Value;

/// Publishing to `live/NAME` is refused: ffmpeg gives up with an error within 10 s.
#[track_caller]
fn assert_publish_refused(server: &Server, name: &str, why: &str) {
    Publisher::start(&server.rtmp_url(name), &default_clip()).assert_refused(why);
}

/// Publishes the default clip under channel `key` and waits (up to 10 s) until it plays under
/// `room`.
fn publish_with_key(server: &Server, key: &str, room: &str) -> Publisher {
    let mut publisher = Publisher::start(&server.rtmp_url(key), &default_clip());
    publisher.wait_playable(&server.rtmp_url(room), Duration::from_secs(10));
    publisher
}

#[test]
fn channel_keys_get_reset_delete() {
    let server = Server::start_http("");
    let k1 = get_key(&server, "r1");
    assert_eq!(get_key(&server, "r1"), k1, "get twice gives the same key");
    let other = get_key(&server, "r2");
    assert_ne!(other, k1, "two rooms share a key");

    let k2 = reset_key(&server, "r1");
    assert_ne!(k2, k1, "reset kept the key");
    assert_eq!(get_key(&server, "r1"), k2, "get after reset");
    assert_eq!(get_key(&server, "r2"), other, "reset of r1 changed r2");

    let data = envelope(&delete_key(&server, "r1"), 200, "delete r1");
    assert_eq!(data, Value::from("Ok"));
    envelope(&delete_key(&server, "r1"), 404, "delete r1 again");
    envelope(
        &delete_key(&server, "never"),
        404,
        "delete of a room never seen",
    );
    let k3 = get_key(&server, "r1");
    assert!(k3 != k1 && k3 != k2, "get after delete reused an old key");

    // keys come from the CSPRNG: another fresh server hands out other keys
    let second = Server::start_http("");
    let fresh = get_key(&second, "r1");
    assert!(
        ![k1, k2, k3, other].contains(&fresh),
        "two servers handed out the same key"
    );
}

/// livego reads its API parameters with Go's `Request.Form` (a form body, then the query), so
/// `curl -d room=NAME` works as with livego: the same key as `?room=NAME`, delete, 400 without.
#[test]
fn parameters_may_come_in_a_form_body() {
    let server = Server::start_http("");
    let key = get_key(&server, "formroom");
    let post = |path: &str, form: &str| -> Value {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5", "-d", form])
            .arg(server.api_url(path))
            .output()
            .expect("run curl");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("POST {path} {form}: {e}: {:?}", out.stdout))
    };
    let got = post("/control/get", "room=formroom");
    assert_eq!(got["data"], key.as_str(), "{got}");
    assert_eq!(post("/control/delete", "room=formroom")["data"], "Ok");
    assert_eq!(post("/control/delete", "room=formroom")["status"], 404);
    assert_eq!(post("/control/get", "nothing=here")["status"], 400);
}

/// A client that sends `Expect: 100-continue` gets `100 Continue` and sends its body at once;
/// unanswered, curl would wait `--expect100-timeout` (10 s here) before sending it.
#[test]
fn expect_100_continue_is_answered() {
    let server = Server::start_http("");
    let started = Instant::now();
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30", "--expect100-timeout", "10"])
        .args(["-H", "Expect: 100-continue", "-d", "room=continued"])
        .arg(server.api_url("/control/get"))
        .output()
        .expect("run curl");
    let took = started.elapsed();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)));
    assert!(json["data"].as_str().is_some_and(is_channel_key), "{json}");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: no 100 Continue"
    );
}

#[test]
fn missing_room_is_400() {
    let server = Server::start_http("");
    for path in [
        "/control/get",
        "/control/reset",
        "/control/delete",
        "/control/get?room=",
        "/control/get?name=x",
    ] {
        let data = envelope(&api_get(&server, path, &[]), 400, path);
        let usage = data
            .as_str()
            .unwrap_or_else(|| panic!("{path}: data is not a usage string: {data}"));
        assert!(
            usage.contains("room"),
            "{path}: usage message does not mention room: {usage:?}"
        );
    }
    assert!(server.is_alive());
}

/// `rtmp_noauth: false`: a room's key publishes, the stream plays under the room's name over
/// RTMP and HTTP-FLV (and not under the key); an unknown key and the bare room name are
/// refused; reset and delete revoke the old key at once.
#[test]
fn publish_needs_a_channel_key() {
    let server = Server::start_http("rtmp_noauth: false");
    let key = get_key(&server, "cam");
    let mut publisher = publish_with_key(&server, &key, "cam");

    let rtmp = Player::ffmpeg(&server.rtmp_url("cam"), Some(7.0), &server.path("rtmp.flv"));
    let http = Player::ffmpeg(&server.flv_url("cam"), Some(7.0), &server.path("http.flv"));
    assert_eq!(
        http_status("GET", &server.flv_url(&key)),
        404,
        "stream playable under its key"
    );
    rtmp.finish(Duration::from_secs(40)).assert_clean(6.0);
    http.finish(Duration::from_secs(40)).assert_clean(6.0);
    publisher.assert_running("publisher");

    let unknown = "Zz9".repeat(16);
    assert_publish_refused(&server, &unknown, "unknown key");
    get_key(&server, "cam2");
    assert_publish_refused(&server, "cam2", "bare room name (it has a key)");
    assert_publish_refused(&server, "cam3", "bare room name (no key)");
    assert_eq!(
        http_status("GET", &server.flv_url("cam2")),
        404,
        "cam2 went live"
    );
    publisher.assert_running("publisher");

    drop(publisher);
    wait_not_live(&server, "cam", Duration::from_secs(5));
    let new_key = reset_key(&server, "cam");
    assert_publish_refused(&server, &key, "key replaced by reset");
    let publisher = publish_with_key(&server, &new_key, "cam");
    drop(publisher);
    wait_not_live(&server, "cam", Duration::from_secs(5));

    envelope(&delete_key(&server, "cam"), 200, "delete cam");
    assert_publish_refused(&server, &new_key, "key of a deleted room");
    assert!(server.is_alive());
}

/// Keys (and resets and deletes) are on disk once the API has answered: a server killed with
/// SIGKILL and started again with the same `key_store` gives the same keys, and they publish.
#[test]
fn keys_survive_a_restart() {
    let store = TestDir::new("key-store");
    let path = store.join("keys.json");
    let yaml = format!("rtmp_noauth: false\nkey_store: \"{}\"", path.display());

    let server = Server::start_http(&yaml);
    let k1 = get_key(&server, "room1");
    let k2 = get_key(&server, "room2");
    envelope(&delete_key(&server, "room2"), 200, "delete room2");
    let k3_old = get_key(&server, "room3");
    let k3 = reset_key(&server, "room3");
    assert!(path.exists(), "no key file at {}", path.display());
    drop(server); // SIGKILL: no chance to save anything on the way out

    let server = Server::start_http(&yaml);
    assert_eq!(get_key(&server, "room1"), k1, "room1's key after a restart");
    assert_eq!(
        get_key(&server, "room3"),
        k3,
        "room3's reset key after a restart"
    );
    assert_ne!(
        get_key(&server, "room2"),
        k2,
        "room2 was deleted before the restart"
    );
    let mut publisher = publish_with_key(&server, &k1, "room1");
    assert_publish_refused(&server, &k3_old, "key reset before the restart");
    publisher.assert_running("publisher");
}

/// A key file that is not a key file stops startup: non-zero exit, a message naming the file
/// on stderr, and the file left as it was (never replaced by an empty store).
#[test]
fn corrupt_key_file_stops_startup() {
    let store = TestDir::new("corrupt-keys");
    let path = store.join("channel-keys-garbage.json");
    let garbage: &[u8] = b"{\"room1\": \"abc\", \x00\xff\xfe this is not JSON";
    fs::write(&path, garbage).unwrap();
    let yaml = format!("rtmp_noauth: false\nkey_store: \"{}\"", path.display());
    let ran = Server::run_to_exit(&yaml, Duration::from_secs(10));
    let Some(status) = ran.status else {
        panic!(
            "livego still running 10 s after starting with a corrupt key file; stderr: {}",
            ran.stderr
        );
    };
    assert!(
        !status.success(),
        "livego exited successfully with a corrupt key file"
    );
    assert!(
        ran.stderr.contains("channel-keys-garbage.json"),
        "stderr does not name the key file {}: {:?}",
        path.display(),
        ran.stderr
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        garbage,
        "the corrupt key file was changed"
    );
}

/// With `jwt.secret`, every `/control/*` call needs a valid HS256 token (`?jwt=` or
/// `Authorization: Bearer`): none, a wrong signature, an expired one, `alg: none`, a
/// tampered payload and junk all get 403; `/stat/livestat` needs none.
#[test]
fn jwt_protects_control() {
    const SECRET: &str = "s3cret";
    let server = Server::start_http("jwt: {secret: \"s3cret\", algorithm: HS256}");
    let now = unix_now();
    let claims = |exp: u64| format!(r#"{{"sub":"tester","iat":{now},"exp":{exp}}}"#);
    let good = sign_hs256(&claims(now + 3600), SECRET);
    let wrong_secret = sign_hs256(&claims(now + 3600), "not-the-secret");
    let expired = sign_hs256(&claims(now - 3600), SECRET);
    let alg_none = format!(
        "{}.{}.",
        base64url::encode(br#"{"alg":"none","typ":"JWT"}"#),
        base64url::encode(claims(now + 3600).as_bytes())
    );
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let forged = base64url::encode(claims(now + 7200).as_bytes());
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let bad = [
        ("wrong secret", wrong_secret.as_str()),
        ("expired", expired.as_str()),
        ("alg none", alg_none.as_str()),
        ("tampered payload", tampered.as_str()),
        ("junk", "not.a.token"),
    ];

    let status = |path: &str, headers: &[(&str, &str)]| api_get(&server, path, headers).status();
    for path in [
        "/control/get?room=j",
        "/control/reset?room=j",
        "/control/delete?room=j",
    ] {
        assert_eq!(status(path, &[]), 403, "{path} without a token");
        for (what, token) in bad {
            let bearer = format!("Bearer {token}");
            assert_eq!(
                status(&format!("{path}&jwt={token}"), &[]),
                403,
                "{path}: {what} token in ?jwt="
            );
            assert_eq!(
                status(path, &[("Authorization", &bearer)]),
                403,
                "{path}: {what} token as a Bearer"
            );
        }
    }

    let bearer = format!("Bearer {good}");
    let by_query = api_get(&server, &format!("/control/get?room=j&jwt={good}"), &[]);
    let key = envelope(&by_query, 200, "get with ?jwt=");
    assert!(key.as_str().is_some_and(is_channel_key), "{key}");
    let by_header = api_get(
        &server,
        "/control/get?room=j",
        &[("Authorization", &bearer)],
    );
    assert_eq!(envelope(&by_header, 200, "get with a Bearer token"), key);
    let reset = api_get(
        &server,
        "/control/reset?room=j",
        &[("Authorization", &bearer)],
    );
    assert_ne!(envelope(&reset, 200, "reset with a Bearer token"), key);
    let delete = api_get(&server, &format!("/control/delete?room=j&jwt={good}"), &[]);
    assert_eq!(
        envelope(&delete, 200, "delete with ?jwt="),
        Value::from("Ok")
    );

    // only /control/* is protected
    let stat = api_get(&server, "/stat/livestat", &[]);
    envelope(&stat, 200, "livestat without a token");
}

/// Whether every byte counter of `later` (publishers of live/x and live/y, the two players of
/// live/x) is above the same in `first`.
fn livestat_counters_grew(first: &LiveStat, later: &LiveStat) -> bool {
    let publishers = ["live/x", "live/y"].iter().all(|key| {
        match (&first.publishers_of(key)[..], &later.publishers_of(key)[..]) {
            ([a], [b]) => {
                b.video_total_bytes > a.video_total_bytes
                    && b.audio_total_bytes > a.audio_total_bytes
            }
            _ => false,
        }
    });
    let (a, b) = (
        player_counters(first, "live/x"),
        player_counters(later, "live/x"),
    );
    let players = b.len() == 2 && a.iter().zip(&b).all(|(a, b)| b.0 > a.0 && b.1 > a.1);
    publishers && players
}

/// Players of `key` in `stat`, as (video, audio) byte counters in ascending order.
fn player_counters(stat: &LiveStat, key: &str) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = stat
        .players_of(key)
        .iter()
        .map(|e| (e.video_total_bytes, e.audio_total_bytes))
        .collect();
    v.sort_unstable();
    v
}

/// `/stat/livestat` lists both publishers and, for live/x, an RTMP and an HTTP-FLV player,
/// all with byte counters growing; `?room=live/y` lists only live/y.
#[test]
fn livestat_lists_publishers_and_players() {
    let server = Server::start_http("");
    let mut x = Publisher::start(&server.rtmp_url("x"), &default_clip());
    let mut y = Publisher::start(&server.rtmp_url("y"), &default_clip());
    x.wait_published(Duration::from_secs(10));
    y.wait_published(Duration::from_secs(10));
    let rtmp = Player::ffmpeg(&server.rtmp_url("x"), Some(10.0), &server.path("rtmp.flv"));
    let http = Player::ffmpeg(&server.flv_url("x"), Some(10.0), &server.path("http.flv"));

    let first = wait_players(
        &server,
        "live/x",
        2,
        Duration::from_secs(5),
        "the RTMP and the HTTP-FLV player",
    );
    // the counters grow (asserted one by one below, on the last answer if they do not)
    let second = poll_until(Duration::from_secs(10), || {
        let later = livestat(&server, None);
        livestat_counters_grew(&first, &later).then_some(later)
    })
    .unwrap_or_else(|| livestat(&server, None));

    for key in ["live/x", "live/y"] {
        let (a, b) = (first.publishers_of(key), second.publishers_of(key));
        assert!(
            a.len() == 1 && b.len() == 1,
            "publishers of {key}: {a:?} then {b:?}"
        );
        assert!(
            b[0].video_total_bytes > a[0].video_total_bytes
                && b[0].audio_total_bytes > a[0].audio_total_bytes,
            "publisher counters of {key} did not grow: {:?} then {:?}",
            a[0],
            b[0]
        );
    }
    let (a, b) = (
        player_counters(&first, "live/x"),
        player_counters(&second, "live/x"),
    );
    assert_eq!(b.len(), 2, "players of live/x: {:?}", second.players);
    for (before, after) in a.iter().zip(&b) {
        assert!(
            after.0 > before.0 && after.1 > before.1,
            "player counters of live/x did not grow: {a:?} then {b:?}"
        );
    }
    assert!(
        second.players_of("live/y").is_empty(),
        "players of live/y: {:?}",
        second.players
    );

    let only_y = livestat(&server, Some("live/y"));
    assert!(
        only_y.publishers.len() == 1
            && only_y.publishers[0].key == "live/y"
            && only_y.players.is_empty(),
        "?room=live/y: {only_y:?}"
    );
    let only_x = livestat(&server, Some("live/x"));
    assert!(
        only_x.publishers.len() == 1
            && only_x.publishers[0].key == "live/x"
            && only_x.players.len() == 2
            && only_x.players.iter().all(|p| p.key == "live/x"),
        "?room=live/x: {only_x:?}"
    );

    rtmp.finish(Duration::from_secs(40)).assert_clean(6.0);
    http.finish(Duration::from_secs(40)).assert_clean(6.0);
    assert!(x.is_running() && y.is_running(), "a publisher ended");
}

fn video_and_audio(m: &Metrics, name: &str) -> (f64, f64) {
    (
        m.get(&format!("{name}{{kind=\"video\"}}")),
        m.get(&format!("{name}{{kind=\"audio\"}}")),
    )
}

/// `/metrics` on a two-core server: empty at first; with a publisher, an RTMP and an HTTP-FLV
/// player it counts one stream, one owning core, both players by protocol and growing byte
/// counters; sent bytes stay counted after the players leave (counters never go down); HLS
/// requests are counted; every core reports CPU time, and the cores used some.
#[test]
fn metrics_follow_streams_players_and_bytes() {
    let server = Server::start_http("cores: 2");
    let idle = metrics(&server);
    assert_eq!(idle.get("livego_streams"), 0.0);
    assert_eq!(idle.sum("livego_players"), 0.0);
    assert_eq!(idle.sum("livego_received_bytes_total"), 0.0);
    assert_eq!(idle.series_of("livego_core_cpu_seconds_total").count(), 2);

    let mut publisher = Publisher::start(&server.rtmp_url("x"), &default_clip());
    publisher.wait_published(Duration::from_secs(10));
    let rtmp = Player::ffmpeg(&server.rtmp_url("x"), Some(8.0), &server.path("rtmp.flv"));
    let http = Player::ffmpeg(&server.flv_url("x"), Some(8.0), &server.path("http.flv"));
    let playing = wait_metrics(&server, Duration::from_secs(5), "two players", |m| {
        m.get("livego_players{protocol=\"rtmp\"}") == 1.0
            && m.get("livego_players{protocol=\"http-flv\"}") == 1.0
    });
    assert_eq!(playing.get("livego_streams"), 1.0);
    assert_eq!(playing.get("livego_publishers{protocol=\"rtmp\"}"), 1.0);
    assert_eq!(playing.sum("livego_core_streams"), 1.0);
    assert_eq!(playing.get("livego_players{protocol=\"rtmps\"}"), 0.0);
    assert!(playing.get("livego_connections") >= 3.0, "{playing:?}");
    let names = ["livego_received_bytes_total", "livego_sent_bytes_total"];
    let grew = |before: &Metrics, after: &Metrics, name: &str| {
        let (before, after) = (video_and_audio(before, name), video_and_audio(after, name));
        after.0 > before.0 && after.1 > before.1
    };
    // the counters grow (asserted one by one below, on the last answer if they do not)
    let later = poll_until(Duration::from_secs(10), || {
        let later = metrics(&server);
        names
            .iter()
            .all(|name| grew(&playing, &later, name))
            .then_some(later)
    })
    .unwrap_or_else(|| metrics(&server));
    for name in names {
        let (before, after) = (
            video_and_audio(&playing, name),
            video_and_audio(&later, name),
        );
        assert!(
            after.0 > before.0 && after.1 > before.1,
            "{name} did not grow: {before:?} then {after:?}"
        );
    }

    rtmp.finish(Duration::from_secs(40)).assert_clean(6.0);
    http.finish(Duration::from_secs(40)).assert_clean(6.0);
    let left = wait_metrics(&server, Duration::from_secs(3), "players leaving", |m| {
        m.sum("livego_players") == 0.0
    });
    let (sent, sent_later) = (
        video_and_audio(&later, "livego_sent_bytes_total"),
        video_and_audio(&left, "livego_sent_bytes_total"),
    );
    assert!(
        sent_later.0 >= sent.0 && sent_later.1 >= sent.1,
        "sent bytes went down after the players left: {sent:?} then {sent_later:?}"
    );

    let m3u8 = server.m3u8_url("x");
    let (_, playlist) = wait_playlist(&m3u8, 1, Duration::from_secs(10));
    let segment = fetch("GET", &resolve(&m3u8, &playlist.segments[0].uri)).expect("segment");
    assert_eq!(segment.status(), 200);
    let served = metrics(&server);
    assert!(served.get("livego_hls_requests_total{file=\"playlist\"}") >= 1.0);
    assert_eq!(
        served.get("livego_hls_requests_total{file=\"segment\"}"),
        1.0
    );
    assert!(
        served.sum("livego_core_cpu_seconds_total") > 0.0,
        "{served:?}"
    );
    assert!(publisher.is_running(), "the publisher ended");
}

/// `/control/*` answers (and their preflights) carry no CORS header, so another site's page
/// cannot read channel keys through a browser; `/stat/livestat` and `/metrics` keep it.
#[test]
fn control_answers_are_for_the_same_origin_only() {
    let server = Server::start_http("");
    for path in ["/control/get?room=cors", "/control/pull", "/control/reset"] {
        let resp = api_get(&server, path, &[("Origin", "http://evil.example")]);
        assert_eq!(resp.header("access-control-allow-origin"), None, "{path}");
    }
    for path in ["/stat/livestat", "/metrics"] {
        let resp = api_get(&server, path, &[]);
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
    }
}

/// The API is on loopback by default; bound to all interfaces without `jwt.secret` the
/// server warns at startup, naming the risk; with a secret it does not.
#[test]
fn an_exposed_api_without_a_secret_is_warned_about() {
    let warning = "without jwt.secret";
    let exposed = Server::start(&format!("api_addr: \":{}\"\n", crate::common::free_port()));
    assert!(exposed.log().contains(warning), "{}", exposed.log());
    let secret = format!(
        "api_addr: \":{}\"\njwt:\n  secret: s3cret\n",
        crate::common::free_port()
    );
    let with_secret = Server::start(&secret);
    assert!(
        !with_secret.log().contains(warning),
        "{}",
        with_secret.log()
    );
    let default = livego::config::Config::default();
    assert_eq!(default.api_addr.to_string(), "127.0.0.1:8090");
}
