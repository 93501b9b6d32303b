//! RTMPS ingest (README "Configuration", keys `enable_rtmps`, `rtmps_cert`, `rtmps_key`;
//! README "RTMPS"): with a self-signed certificate made by the openssl CLI, ffmpeg publishes
//! over TLS on `rtmps_addr` and the stream plays cleanly over plain RTMP and over RTMPS (the TLS
//! publisher and player listed as `rtmps` in `/stat/livestat` and `/metrics`); a bad
//! certificate stops startup (exit code 2, naming `rtmps_cert`); garbage or a plain RTMP
//! handshake on the RTMPS port closes that connection with a log line and the server keeps
//! serving. Relays to rtmps:// targets are in `relay.rs`.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::common::api::{livestat, wait_metrics};
use crate::common::media::{ClipKind, test_clip};
use crate::common::raw::{noise, wait_closed};
use crate::common::{Player, Publisher, Rtmps, Server, default_clip, play_ffmpeg, run, wait_until};

#[test]
fn publish_over_rtmps_play_over_rtmp_and_rtmps() {
    let rtmps = Rtmps::new();
    let server = Server::start_rtmps(&rtmps, "");
    let mut publisher = Publisher::start(&rtmps.url("x"), &default_clip());
    publisher.wait_playable(&server.rtmp_url("x"), Duration::from_secs(10));
    let over_tls = Player::ffmpeg_opts(
        &rtmps.url("x"),
        &["-tls_verify", "0"],
        Some(6.0),
        "flv",
        &server.path("tls.flv"),
    );
    let listed = wait_metrics(&server, Duration::from_secs(5), "the RTMPS player", |m| {
        m.get("livego_players{protocol=\"rtmps\"}") == 1.0
    });
    assert_eq!(listed.get("livego_publishers{protocol=\"rtmps\"}"), 1.0);
    assert_eq!(listed.get("livego_publishers{protocol=\"rtmp\"}"), 0.0);
    let stat = livestat(&server, None);
    let urls: Vec<&str> = stat
        .publishers
        .iter()
        .chain(&stat.players)
        .map(|e| e.url.as_str())
        .collect();
    assert!(
        urls.len() == 2 && urls.iter().all(|url| url.starts_with("rtmps://")),
        "{urls:?}"
    );
    let played = play_ffmpeg(&server.rtmp_url("x"), 7.0, &server.path("plain.flv"));
    played.assert_clean(6.0);
    over_tls.finish(Duration::from_secs(30)).assert_clean(5.0);
    publisher.assert_running("RTMPS publisher");
    let log = server.log();
    assert!(
        log.contains("rtmps 127.0.0.1:") && log.contains("publishing live/x"),
        "{log}"
    );
}

#[test]
fn bad_rtmps_certificate_stops_startup() {
    let rtmps = Rtmps::new();
    let dir = crate::common::TestDir::new("rtmps-bad-cert");
    let garbage = dir.join("garbage.crt");
    std::fs::write(&garbage, "this is not a PEM certificate\n").unwrap();
    let missing = dir.join("missing.crt");
    for bad in [&garbage, &missing] {
        let yaml = rtmps.yaml().replace(
            &rtmps.cert.display().to_string(),
            &bad.display().to_string(),
        );
        Server::assert_startup_refused(&yaml, "rtmps_cert", bad);
    }
    let yaml = rtmps.yaml().replace(
        &rtmps.key.display().to_string(),
        &garbage.display().to_string(),
    );
    Server::assert_startup_refused(&yaml, "rtmps_key", &garbage);
}

#[test]
fn garbage_and_plain_rtmp_on_the_rtmps_port_are_closed() {
    let rtmps = Rtmps::new();
    let server = Server::start_rtmps(&rtmps, "");
    let plain_c0c1 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ffmpeg_c0c1.bin"
    ))
    .unwrap();
    for (what, bytes) in [
        ("garbage", noise(4096, 7)),
        ("a plain RTMP handshake", plain_c0c1),
    ] {
        let mut stream = TcpStream::connect(rtmps.addr()).unwrap();
        let peer = stream.local_addr().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let _ = stream.write_all(&bytes);
        if let Err(e) = wait_closed(&mut stream, Duration::from_secs(5)) {
            panic!("{what} sent to the RTMPS port: {e}");
        }
        let line = format!("rtmps {peer}");
        assert!(
            wait_until(Duration::from_secs(5), || server
                .log()
                .lines()
                .any(|l| l.contains(&line))),
            "no log line naming {line} after {what}: {}",
            server.log()
        );
    }
    // Still serving, over TLS too.
    let mut publisher = Publisher::start(&rtmps.url("after"), &default_clip());
    publisher.wait_playable(&server.rtmp_url("after"), Duration::from_secs(10));
    assert!(server.is_alive());
}

/// ffmpeg sends a ~12 Mbit/s clip over RTMPS as fast as it can (no `-re`), as OBS does when it
/// catches up after a network hiccup. The server decrypts only as fast as it reads, so the
/// whole file goes through: ffmpeg exits cleanly and the publisher's connection ends with the
/// stream ("closed"), not with a TLS error (it was cut after a second: "received plaintext
/// buffer full").
#[test]
fn a_fast_publisher_over_rtmps_is_not_cut() {
    let rtmps = Rtmps::new();
    let server = Server::start_rtmps(&rtmps, "");
    let clip = test_clip(ClipKind::H264AacHeavy, 10);
    let sent = run(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
            .arg(&clip)
            .args(["-c", "copy", "-f", "flv", "-tls_verify", "0"])
            .arg(rtmps.url("fast")),
        Duration::from_secs(60),
    );
    assert!(
        sent.success(),
        "ffmpeg: {}\nlog:\n{}",
        sent.stderr,
        server.log()
    );
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("live/fast: closed")),
        "log:\n{}",
        server.log()
    );
    assert!(!server.log().contains("plaintext"), "{}", server.log());
}
