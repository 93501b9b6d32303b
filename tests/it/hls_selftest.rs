//! The HLS harness judged on known inputs, without the server: the TS checker passes ffmpeg's
//! own MPEG-TS and names each kind of damage; the playlist parser reads ffmpeg's playlists and
//! the contract catches what breaks it; and the whole HLS path (playlist poller, segment judge,
//! ffmpeg player, A/V start check) works against ffmpeg's HLS muxer served by Python's
//! `http.server`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::hls::{
    Playlist, SegmentCheck, curl, fetch, resolve, self_signed_cert, wait_playlist,
};
use crate::common::ts::{self, PACKET_LEN};
use crate::common::{ClipKind, Proc, TestDir, free_port, play_hls, poll_until, run, test_clip};

/// `ffmpeg -i CLIP [-t SECS] -c copy -f mpegts OUT`.
fn remux_ts(clip: &Path, secs: u32, out: &Path) -> Vec<u8> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
        .arg(clip)
        .args(["-t", &secs.to_string(), "-c", "copy", "-f", "mpegts", "-y"])
        .arg(out);
    let ran = run(&mut cmd, Duration::from_secs(60));
    assert!(ran.success(), "remux to TS: {}", ran.stderr);
    fs::read(out).unwrap()
}

fn pid_of(packet: &[u8]) -> u16 {
    u16::from(packet[1] & 0x1f) << 8 | u16::from(packet[2])
}

fn packets(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(PACKET_LEN).collect()
}

fn joined(packets: &[&[u8]]) -> Vec<u8> {
    packets.concat()
}

fn has(problems: &[String], needle: &str) -> bool {
    problems.iter().any(|p| p.contains(needle))
}

#[test]
fn ts_checker_passes_ffmpeg_ts() {
    let dir = TestDir::new("ts-ok");
    for (kind, video, audio) in [
        (ClipKind::H264Aac, Some("h264"), Some("aac")),
        (ClipKind::H264Mp3, Some("h264"), Some("mp3")),
        (ClipKind::AacOnly, None, Some("aac")),
    ] {
        let clip = test_clip(kind, 10);
        let bytes = remux_ts(&clip, 4, &dir.join("a.ts"));
        let report = ts::check(&bytes);
        let problems = report.problems_for(video, audio);
        assert!(
            problems.is_empty(),
            "{kind:?}: {problems:?}\n{}",
            report.summary()
        );
        assert_eq!(report.packets * PACKET_LEN, bytes.len());
        assert_eq!(report.video().map(|v| v.codec()).as_deref(), video);
        assert_eq!(report.audio().map(|a| a.codec()).as_deref(), audio);
        assert!(report.audio().unwrap().first_pts.is_some());
        if video.is_some() {
            // ffmpeg's h264_mp4toannexb puts SPS and PPS before the first IDR slice
            let nals = &report.first_video_nals;
            assert!(
                nals.contains(&7) && nals.contains(&8) && nals.contains(&5),
                "{nals:?}"
            );
        }
        // the full segment check agrees (ffprobe: keyframe first, clean decode)
        let check = SegmentCheck::new(&bytes, &dir.join("b.ts"));
        let p = check.problems(video, audio);
        assert!(p.is_empty(), "{kind:?}: {p:?}\n{}", check.summary());
        let d = check.media_duration().unwrap();
        assert!(
            (d - 4.0).abs() < 0.1,
            "{kind:?}: {d} s\n{}",
            check.summary()
        );
    }
}

#[test]
fn ts_checker_names_damage() {
    let dir = TestDir::new("ts-damage");
    let bytes = remux_ts(&test_clip(ClipKind::H264Aac, 10), 4, &dir.join("a.ts"));
    let all = packets(&bytes);
    let report = ts::check(&bytes);
    let video_pid = report.video().unwrap().pid;
    let pmt_pid = report.pmt_pid.unwrap();
    let problems = |b: &[u8]| ts::check(b).problems_for(Some("h264"), Some("aac"));

    assert!(has(&problems(&[]), "empty"));
    assert!(has(
        &problems(&bytes[..bytes.len() - 100]),
        "not a whole number of 188-byte packets"
    ));
    let mut bad_sync = bytes.clone();
    bad_sync[188 * 7] = 0x48;
    assert!(has(
        &problems(&bad_sync),
        "without the 0x47 sync byte, first at offset 1316"
    ));

    // one video packet lost in the middle
    let lost_at = all
        .iter()
        .enumerate()
        .filter(|(_, p)| pid_of(p) == video_pid)
        .map(|(i, _)| i)
        .nth(50)
        .unwrap();
    let mut lost = all.clone();
    lost.remove(lost_at);
    assert!(has(&problems(&joined(&lost)), "continuity_counter error"));

    let mut tei = bytes.clone();
    tei[188 * 9 + 1] |= 0x80;
    assert!(has(&problems(&tei), "transport_error_indicator"));

    // no PAT at all: the PMT and the streams are unknown
    let no_pat: Vec<&[u8]> = all.iter().copied().filter(|p| pid_of(p) != 0).collect();
    let p = problems(&joined(&no_pat));
    assert!(
        has(&p, "no PAT") && has(&p, "comes before the PMT"),
        "{p:?}"
    );

    // a damaged PMT fails its CRC
    let mut bad_pmt = bytes.clone();
    let pmt_at = all.iter().position(|p| pid_of(p) == pmt_pid).unwrap();
    bad_pmt[pmt_at * 188 + 20] ^= 0xff;
    assert!(has(&problems(&bad_pmt), "CRC32 mismatch"));

    // the wrong codecs asked for
    let p = ts::check(&bytes).problems_for(Some("h264"), Some("mp3"));
    assert!(has(&p, "audio stream is aac, want mp3"), "{p:?}");
    let audio_only = remux_ts(&test_clip(ClipKind::AacOnly, 10), 4, &dir.join("b.ts"));
    let p = ts::check(&audio_only).problems_for(Some("h264"), Some("aac"));
    assert!(has(&p, "no video stream in the PMT"), "{p:?}");

    // a segment cut in the middle of a GOP: the first video PES is not an IDR with SPS/PPS
    let second_video_pes = all
        .iter()
        .enumerate()
        .filter(|(_, p)| pid_of(p) == video_pid && p[1] & 0x40 != 0)
        .map(|(i, _)| i)
        .nth(3)
        .unwrap();
    let mid_gop: Vec<&[u8]> = all
        .iter()
        .enumerate()
        .filter(|(i, p)| pid_of(p) != video_pid || *i >= second_video_pes)
        .map(|(_, p)| *p)
        .collect();
    let p = problems(&joined(&mid_gop));
    assert!(
        has(&p, "first video access unit has no IDR slice") && has(&p, "has no SPS"),
        "{p:?}"
    );
    // and one starting in the middle of a PES
    let mid_pes: Vec<&[u8]> = all
        .iter()
        .enumerate()
        .filter(|(i, p)| pid_of(p) != video_pid || *i > second_video_pes)
        .map(|(_, p)| *p)
        .collect();
    assert!(has(
        &problems(&joined(&mid_pes)),
        "continues a PES begun elsewhere"
    ));

    // SegmentCheck: ffprobe sees the missing keyframe too
    let check = SegmentCheck::new(&joined(&mid_gop), &dir.join("c.ts"));
    let p = check.problems(Some("h264"), Some("aac"));
    assert!(has(&p, "first video packet is not a keyframe"), "{p:?}");
}

#[test]
fn crc32_mpeg2_check_value() {
    // the catalogue's check value for "123456789"
    assert_eq!(ts::crc32_mpeg2(b"123456789"), 0x0376_e6e7);
}

const GOOD: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n\
#EXT-X-MEDIA-SEQUENCE:12\n#EXTINF:2.000,\nx/12.ts\n#EXTINF:2.967,\nx/13.ts\n\
#EXT-X-DISCONTINUITY\n#EXTINF:1.033,\nx/14.ts\n";

#[test]
fn playlist_parser_reads_the_contract_shape() {
    let p = Playlist::parse(GOOD);
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    assert_eq!(
        (p.version, p.target_duration, p.media_sequence, p.endlist),
        (Some(3), Some(3), Some(12), false)
    );
    let seqs: Vec<u64> = p.segments.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [12, 13, 14]);
    assert_eq!(p.durations(), [2.0, 2.967, 1.033]);
    assert_eq!(p.segments[1].uri, "x/13.ts");
    assert_eq!(p.discontinuities(), 1);
    assert!(p.segments[2].discontinuity && !p.segments[1].discontinuity);
    let ended = Playlist::parse(&format!("{GOOD}#EXT-X-ENDLIST\n"));
    assert!(ended.endlist && ended.problems().is_empty());
    // CRLF line ends are fine
    let crlf = Playlist::parse(&GOOD.replace('\n', "\r\n"));
    assert!(crlf.problems().is_empty(), "{:?}", crlf.problems());
}

#[test]
fn playlist_contract_catches_each_defect() {
    let cases: &[(&str, &str, &str)] = &[
        ("#EXTM3U\n", "", "the first line is not #EXTM3U"),
        (
            "#EXT-X-VERSION:3\n",
            "#EXT-X-VERSION:4\n",
            "#EXT-X-VERSION is Some(4), want 3",
        ),
        ("#EXT-X-VERSION:3\n", "", "#EXT-X-VERSION is None"),
        ("#EXT-X-TARGETDURATION:3\n", "", "no #EXT-X-TARGETDURATION"),
        (
            "#EXT-X-TARGETDURATION:3\n",
            "#EXT-X-TARGETDURATION:2\n",
            "lasts 2.967 s, more than #EXT-X-TARGETDURATION 2",
        ),
        (
            "#EXT-X-TARGETDURATION:3\n",
            "#EXT-X-TARGETDURATION:2.5\n",
            "non-integer",
        ),
        ("#EXT-X-MEDIA-SEQUENCE:12\n", "", "no #EXT-X-MEDIA-SEQUENCE"),
        (
            "#EXTINF:2.000,\n",
            "#EXTINF:2,\n",
            "#EXTINF:2, is not written with 3 decimals",
        ),
        (
            "#EXTINF:2.000,\n",
            "#EXTINF:2.000000,\n",
            "is not written with 3 decimals",
        ),
        ("#EXTINF:2.000,\n", "#EXTINF:2.000\n", "without a comma"),
        ("#EXTINF:2.000,\n", "#EXTINF:abc,\n", "bad #EXTINF duration"),
        ("x/12.ts\n", "/live/x/12.ts\n", "is not relative"),
        (
            "x/12.ts\n",
            "http://127.0.0.1:1/live/x/12.ts\n",
            "is not relative",
        ),
        ("x/12.ts\n", "x/12.mp4\n", "does not end in .ts"),
        ("x/12.ts\n", "x/13.ts\n", "listed twice"),
        ("#EXTINF:2.000,\nx/12.ts\n", "x/12.ts\n", "without #EXTINF"),
        ("x/12.ts\n", "", "#EXTINF without a URI"),
        (
            "#EXT-X-MEDIA-SEQUENCE:12\n#EXTINF:2.000,\nx/12.ts\n",
            "#EXTINF:2.000,\nx/12.ts\n#EXT-X-MEDIA-SEQUENCE:12\n",
            "after the first segment",
        ),
    ];
    for (from, to, want) in cases {
        assert!(GOOD.contains(from), "{from:?}");
        let text = GOOD.replacen(from, to, 1);
        let problems = Playlist::parse(&text).problems();
        assert!(
            has(&problems, want),
            "{from:?} -> {to:?}: want {want:?} in {problems:?}\n{text}"
        );
    }
    let tail = Playlist::parse(&format!("{GOOD}#EXT-X-DISCONTINUITY\n"));
    assert!(has(&tail.problems(), "not followed by a segment"));
    let after_end = Playlist::parse(&GOOD.replace("#EXT-X-DISCONTINUITY\n", "#EXT-X-ENDLIST\n"));
    assert!(has(&after_end.problems(), "after #EXT-X-ENDLIST"));
}

#[test]
fn uri_resolution() {
    let base = "http://127.0.0.1:7002/live/x.m3u8";
    for (uri, want) in [
        ("x/12.ts", "http://127.0.0.1:7002/live/x/12.ts"),
        ("./x/12.ts", "http://127.0.0.1:7002/live/x/12.ts"),
        ("../live/x/12.ts", "http://127.0.0.1:7002/live/x/12.ts"),
        ("../../../a.ts", "http://127.0.0.1:7002/a.ts"),
        ("/other/1.ts", "http://127.0.0.1:7002/other/1.ts"),
        ("x/12.ts?t=1", "http://127.0.0.1:7002/live/x/12.ts?t=1"),
        ("https://h:1/a/b.ts", "https://h:1/a/b.ts"),
    ] {
        assert_eq!(resolve(base, uri), want, "{uri}");
    }
    assert_eq!(
        resolve("http://h:1/live/x.m3u8?token=a", "x/1.ts"),
        "http://h:1/live/x/1.ts"
    );
    assert_eq!(resolve("http://h:1", "x/1.ts"), "http://h:1/x/1.ts");
}

/// ffmpeg's HLS muxer writing `root/live/x.m3u8` and `root/live/x/N.ts` live (2 s segments,
/// 5 in the window) from `clip`, and Python's `http.server` serving `root`.
struct FfmpegHls {
    _muxer: Proc,
    _http: Proc,
    port: u16,
}

impl FfmpegHls {
    fn start(clip: &Path, dir: &TestDir) -> FfmpegHls {
        let root = dir.join("root");
        let seg_dir: PathBuf = root.join("live").join("x");
        fs::create_dir_all(&seg_dir).unwrap();
        let mut cmd = Command::new("ffmpeg");
        cmd.args([
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-re",
            "-i",
        ])
        .arg(clip)
        .args([
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "5",
        ])
        .args(["-hls_flags", "delete_segments", "-hls_base_url", "x/"])
        .arg("-hls_segment_filename")
        .arg(seg_dir.join("%d.ts"))
        .arg(root.join("live").join("x.m3u8"));
        let muxer = Proc::spawn(&mut cmd, "ffmpeg hls muxer", dir.join("muxer.log"));
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&root);
        let http = Proc::spawn(&mut cmd, "http.server", dir.join("http.log"));
        FfmpegHls {
            _muxer: muxer,
            _http: http,
            port,
        }
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/live/x.m3u8", self.port)
    }
}

/// The path the HLS tests take, against ffmpeg's HLS: at least 3 segments, each whole TS
/// starting with a keyframe and decoding cleanly, EXTINF matching the media, and ffmpeg
/// playing the playlist for 10 s cleanly with audio and video starting together. ffmpeg
/// writes `#EXTINF:2.000000,`, which is the one contract problem expected.
#[test]
fn hls_path_against_ffmpeg_hls_muxer() {
    let dir = TestDir::new("ffmpeg-hls");
    let hls = FfmpegHls::start(&test_clip(ClipKind::H264Aac, 30), &dir);
    let url = hls.url();
    let (_, playlist) = wait_playlist(&url, 3, Duration::from_secs(20));
    let problems = playlist.problems();
    assert!(
        problems
            .iter()
            .all(|p| p.contains("not written with 3 decimals"))
            && !problems.is_empty(),
        "{problems:?}\n{}",
        playlist.text
    );
    for seg in &playlist.segments {
        assert!(seg.uri.starts_with("x/"), "{}", seg.uri);
        let resp = fetch("GET", &resolve(&url, &seg.uri)).unwrap();
        assert_eq!(resp.status(), 200, "{}", seg.uri);
        let check = SegmentCheck::new(&resp.body, &dir.join(&format!("seg{}.ts", seg.seq)));
        let p = check.problems(Some("h264"), Some("aac"));
        assert!(p.is_empty(), "{}: {p:?}\n{}", seg.uri, check.summary());
        let media = check.media_duration().unwrap();
        assert!(
            (media - seg.duration).abs() < 0.1,
            "{}: EXTINF {} vs media {media}",
            seg.uri,
            seg.duration
        );
    }
    let played = play_hls(&url, 10.0, &dir.join("play.ts"));
    let report = crate::common::analyze(&played.out);
    let mut p = played.problems();
    p.extend(report.problems_want(Some("h264"), Some("aac"), 9.5));
    assert!(p.is_empty(), "{p:?}\n{}", report.summary());
    let gap = report.av_start_gap_ms().unwrap();
    assert!(
        gap.abs() <= 100.0,
        "A/V start gap {gap} ms\n{}",
        report.summary()
    );
}

/// Python's `http.server` behind TLS with the certificate `self_signed_cert` makes: `curl`
/// verifying against it gets the file (GET and HEAD), without it fails with curl's code 60.
#[test]
fn https_helpers_against_python_tls_server() {
    let dir = TestDir::new("tls");
    let (cert, key) = self_signed_cert(dir.path());
    let root = dir.join("root");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("hello.txt"), "hello over TLS\n").unwrap();
    let port = free_port();
    let script = "import http.server, ssl, sys\n\
        s = http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), \
        http.server.SimpleHTTPRequestHandler)\n\
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
        c.load_cert_chain(sys.argv[2], sys.argv[3])\n\
        s.socket = c.wrap_socket(s.socket, server_side=True)\n\
        s.serve_forever()\n";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script, &port.to_string()])
        .arg(&cert)
        .arg(&key)
        .current_dir(&root);
    let _server = Proc::spawn(&mut cmd, "python TLS server", dir.join("tls.log"));
    let url = format!("https://127.0.0.1:{port}/hello.txt");
    // until it listens: curl's exit code 7 is "failed to connect"
    let mut refused = String::new();
    let resp = poll_until(Duration::from_secs(10), || {
        match curl("GET", &url, Some(&cert)) {
            Ok(r) => Some(r),
            Err(e) if e.contains("Some(7)") => {
                refused = e;
                None
            }
            Err(e) => panic!("{e}"),
        }
    })
    .unwrap_or_else(|| panic!("{refused}"));
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text(), "hello over TLS\n");
    let head = curl("HEAD", &url, Some(&cert)).unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("15"));
    let unverified = curl("GET", &url, None).unwrap_err();
    assert!(unverified.contains("Some(60)"), "{unverified}");
}
