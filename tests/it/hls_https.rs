//! HLS over HTTPS (README "Configuration": `use_hls_https`, `hls_server_crt`,
//! `hls_server_key`): with a self-signed certificate for 127.0.0.1 made by the openssl CLI,
//! curl verifying against it fetches the playlist and a segment, ffmpeg verifying against it
//! plays the stream cleanly, plain HTTP gets no playlist on that port, and a connection the
//! server closes ends with a TLS close_notify (openssl sees no truncation). A missing or
//! unreadable certificate or key stops startup with exit code 2 and a message naming the key
//! and the file. Each test runs its own server.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::hls::{Playlist, SegmentCheck, curl, fetch, self_signed_cert};
use crate::common::http::Response;
use crate::common::{
    ClipKind, Player, Publisher, Server, TestDir, analyze, poll_until, test_clip, wait_deadline,
};

fn https_yaml(cert: &Path, key: &Path) -> String {
    format!(
        "hls_fragment: 2\nuse_hls_https: true\nhls_server_crt: \"{}\"\nhls_server_key: \"{}\"",
        cert.display(),
        key.display()
    )
}

/// Polls `url` with curl (verifying against `ca`) until it is a 200 playlist with at least
/// `min` segments; panics with the last answer after `timeout`.
fn wait_playlist_https(
    url: &str,
    ca: &Path,
    min: usize,
    timeout: Duration,
) -> (Response, Playlist) {
    let mut last = String::new();
    poll_until(timeout, || {
        last = match curl("GET", url, Some(ca)) {
            Ok(resp) if resp.status() == 200 => {
                let p = Playlist::parse(&resp.text());
                if p.segments.len() >= min {
                    return Some((resp, p));
                }
                format!("200 with {} segment(s): {}", p.segments.len(), p.text)
            }
            Ok(resp) => format!("{} {:?}", resp.status(), resp.text()),
            Err(e) => e,
        };
        None
    })
    .unwrap_or_else(|| panic!("{url}: no {min} segments after {timeout:?}; last answer: {last}"))
}

#[test]
fn https_serves_playlist_segments_and_plays() {
    let certs = TestDir::new("hls-cert");
    let (cert, key) = self_signed_cert(certs.path());
    let server = Server::start_hls(&https_yaml(&cert, &key));
    let _publisher = Publisher::start(&server.rtmp_url("x"), &test_clip(ClipKind::H264Aac, 30));
    let url = format!("https://127.0.0.1:{}/live/x.m3u8", server.hls_port);
    let (resp, playlist) = wait_playlist_https(&url, &cert, 2, Duration::from_secs(30));
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("application/vnd.apple.mpegurl")),
        "{:?}",
        resp.head
    );
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    let problems = playlist.problems();
    assert!(problems.is_empty(), "{problems:?}\n{}", playlist.text);

    let seg = &playlist.segments[0];
    let seg_url = crate::common::hls::resolve(&url, &seg.uri);
    assert_eq!(
        seg_url,
        format!(
            "https://127.0.0.1:{}/live/x/{}.ts",
            server.hls_port, seg.seq
        )
    );
    let resp = curl("GET", &seg_url, Some(&cert)).unwrap();
    assert_eq!(resp.status(), 200, "{seg_url}");
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("video/mp2t")),
        "{:?}",
        resp.head
    );
    let check = SegmentCheck::new(&resp.body, &server.path("seg.ts"));
    let p = check.problems(Some("h264"), Some("aac"));
    assert!(p.is_empty(), "{seg_url}: {p:?}\n{}", check.summary());
    let head = curl("HEAD", &url, Some(&cert)).unwrap();
    assert_eq!(head.status(), 200, "HEAD {url}");

    // it is TLS with that certificate: curl without it refuses (60: not verified) ...
    let unverified = curl("GET", &url, None).unwrap_err();
    assert!(unverified.contains("Some(60)"), "{unverified}");
    // ... and plain HTTP on the port gets no playlist
    let plain = fetch("GET", &server.m3u8_url("x"));
    assert!(
        plain.as_ref().map_or(true, |r| r.status() != 200),
        "plain HTTP served on the HTTPS port: {:?}",
        plain.map(|r| r.head)
    );

    let ca = cert.to_str().unwrap();
    let played = Player::ffmpeg_opts(
        &url,
        &["-tls_verify", "1", "-ca_file", ca],
        Some(8.0),
        "mpegts",
        &server.path("play.ts"),
    )
    .finish(Duration::from_secs(40));
    let report = analyze(&played.out);
    let mut p = played.problems();
    p.extend(report.problems_want(Some("h264"), Some("aac"), 7.0));
    assert!(
        p.is_empty(),
        "ffmpeg playing {url}: {p:?}\n{}",
        report.summary()
    );
    assert!(server.is_alive());
}

/// Startup with `use_hls_https: true` and `file` as `key`'s value (the other one valid) must
/// exit with code 2, naming the key and the file on stderr.
fn assert_startup_refused(key: &str, file: &Path, valid_cert: &Path, valid_key: &Path) {
    let (c, k) = if key == "hls_server_crt" {
        (file, valid_key)
    } else {
        (valid_cert, file)
    };
    Server::assert_startup_refused(&https_yaml(c, k), key, file);
}

/// `Connection: close`: after the response the server ends the TLS session with close_notify
/// (RFC 8446 §6.1), so a client can tell the end from a truncation; `openssl s_client`
/// reports "unexpected eof" and fails without it.
#[test]
fn closed_connection_ends_with_close_notify() {
    let certs = TestDir::new("hls-cert");
    let (cert, key) = self_signed_cert(certs.path());
    let server = Server::start_hls(&https_yaml(&cert, &key));
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-ign_eof", "-connect"])
        .arg(server.hls_addr().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    let request = "GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut stdin = client.stdin.take().expect("stdin");
    stdin
        .write_all(request.as_bytes())
        .expect("send the request");
    drop(stdin);
    let status = wait_deadline(&mut client, Duration::from_secs(10));
    let (mut out, mut err) = (String::new(), String::new());
    if status.is_none() {
        let _ = client.kill();
    }
    client
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("stdout");
    client
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(
        status.is_some_and(|s| s.success()) && !err.contains("unexpected eof"),
        "openssl: {status:?}\n{err}"
    );
    assert!(server.is_alive());
}

#[test]
fn missing_or_bad_cert_stops_startup() {
    let dir = TestDir::new("hls-bad-cert");
    let (cert, key) = self_signed_cert(dir.path());
    let missing_crt = dir.join("missing.crt");
    assert_startup_refused("hls_server_crt", &missing_crt, &cert, &key);
    let missing_key = dir.join("missing.key");
    assert_startup_refused("hls_server_key", &missing_key, &cert, &key);
    let garbage = dir.join("garbage.crt");
    std::fs::write(&garbage, "this is not a PEM certificate\n").unwrap();
    assert_startup_refused("hls_server_crt", &garbage, &cert, &key);
}
