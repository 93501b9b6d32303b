//! HLS playback (README "Publish and play", "Behaviour"): ffmpeg publishes over RTMP and
//! the stream is fetched from `http://127.0.0.1:PORT/live/NAME.m3u8`. The playlist must keep
//! the contract (`common::hls::Playlist::problems`: `#EXTM3U`, `#EXT-X-VERSION:3`,
//! TARGETDURATION never below an EXTINF, MEDIA-SEQUENCE, `#EXTINF:x.xxx,`, relative URIs
//! `NAME/SEQ.ts`), each segment must be whole MPEG-TS starting with PAT/PMT and a keyframe
//! with SPS/PPS, decode cleanly and last what its EXTINF says, and ffmpeg must play the
//! playlist cleanly with audio and video starting together. Segments are cut at keyframes
//! near `hls_fragment`, the playlist holds `hls_window` of them, a publisher reconnect shows as
//! `#EXT-X-DISCONTINUITY` without interrupting players, `#EXT-X-ENDLIST` comes only with
//! `hls_keep_after_end`. Each test runs its own server.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::hls::{Playlist, SegmentCheck, fetch, resolve, wait_playlist};
use crate::common::http::Response;
use crate::common::{
    ClipKind, Player, Publisher, Server, analyze, play_hls, poll_until, test_clip, ts,
    video_frame_sizes, wait_until,
};

const CLIP_SECS: u32 = 30;

/// The part of `Content-Type` before any parameter, lower case.
fn media_type(resp: &Response) -> String {
    resp.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `max-age=N` of `Cache-Control`.
fn max_age(resp: &Response) -> Option<u64> {
    resp.header("cache-control")?
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age=")?.trim().parse().ok())
}

fn assert_playlist_headers(resp: &Response, url: &str) {
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(
        media_type(resp),
        "application/vnd.apple.mpegurl",
        "{url}: {:?}",
        resp.head
    );
    let cache = resp.header("cache-control").unwrap_or("");
    assert!(
        cache
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-cache")),
        "{url}: Cache-Control {cache:?}, want no-cache"
    );
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("*"),
        "{url}: {:?}",
        resp.head
    );
}

fn assert_segment_headers(resp: &Response, url: &str) {
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(media_type(resp), "video/mp2t", "{url}: {:?}", resp.head);
    assert!(
        max_age(resp).is_some_and(|s| s > 0),
        "{url}: Cache-Control {:?}, want max-age=N (N > 0)",
        resp.header("cache-control")
    );
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("*"),
        "{url}: {:?}",
        resp.head
    );
}

/// The contract's problems plus those of a live playlist: no `#EXT-X-ENDLIST`, at most
/// `window` segments, segment `i` at `/{app}/{name}/{MEDIA-SEQUENCE + i}.ts`.
fn live_playlist_problems(
    server: &Server,
    app: &str,
    name: &str,
    p: &Playlist,
    window: usize,
) -> Vec<String> {
    let mut problems = p.problems();
    if p.endlist {
        problems.push("#EXT-X-ENDLIST in a live playlist".into());
    }
    if p.segments.len() > window {
        problems.push(format!(
            "{} segments, more than hls_window {window}",
            p.segments.len()
        ));
    }
    let url = server.hls_url(&format!("/{app}/{name}.m3u8"));
    for s in &p.segments {
        let want = server.hls_url(&format!("/{app}/{name}/{}.ts", s.seq));
        let got = resolve(&url, &s.uri);
        if got != want {
            problems.push(format!(
                "segment {} (sequence {}) resolves to {got}, want {want}",
                s.uri, s.seq
            ));
        }
    }
    problems
}

fn assert_no_problems(problems: &[String], what: &str, p: &Playlist) {
    assert!(
        problems.is_empty(),
        "{what}:\n  - {}\n{}",
        problems.join("\n  - "),
        p.text
    );
}

/// Publishes a 30 s clip of `kind` to `live/x`, then judges the playlist (with its headers and
/// HEAD), at least 3 segments (headers, HEAD, TS structure, codecs, keyframe first, clean
/// decode, EXTINF = media duration within 0.1 s) and a 10 s ffmpeg playback of the playlist
/// (clean, >= 8 s, audio and video starting within 100 ms).
fn hls_plays(kind: ClipKind, video: Option<&str>, audio: Option<&str>) {
    let server = Server::start_hls("hls_fragment: 2\nhls_window: 5");
    let mut publisher = Publisher::start(&server.rtmp_url("x"), &test_clip(kind, CLIP_SECS));
    let url = server.m3u8_url("x");
    let (resp, playlist) = wait_playlist(&url, 3, Duration::from_secs(30));
    assert_playlist_headers(&resp, &url);
    let problems = live_playlist_problems(&server, "live", "x", &playlist, 5);
    assert_no_problems(&problems, &url, &playlist);

    let head = fetch("HEAD", &url).unwrap();
    assert_playlist_headers(&head, &url);
    assert!(head.body.is_empty());

    for seg in &playlist.segments {
        let seg_url = resolve(&url, &seg.uri);
        let resp = fetch("GET", &seg_url).unwrap();
        assert_segment_headers(&resp, &seg_url);
        let check = SegmentCheck::new(&resp.body, &server.path(&format!("seg{}.ts", seg.seq)));
        let p = check.problems(video, audio);
        assert!(
            p.is_empty(),
            "{seg_url}:\n  - {}\n{}",
            p.join("\n  - "),
            check.summary()
        );
        let media = check.media_duration().unwrap_or(0.0);
        assert!(
            (media - seg.duration).abs() <= 0.1,
            "{seg_url}: #EXTINF:{} but the media lasts {media:.3} s\n{}",
            seg.duration_text,
            check.summary()
        );
        let head = fetch("HEAD", &seg_url).unwrap();
        assert_segment_headers(&head, &seg_url);
        assert!(head.body.is_empty());
        assert_eq!(
            head.header("content-length")
                .and_then(|v| v.parse::<usize>().ok()),
            Some(resp.body.len()),
            "{seg_url}: HEAD Content-Length vs the GET body"
        );
    }

    let played = play_hls(&url, 10.0, &server.path("play.ts"));
    let report = analyze(&played.out);
    let mut p = played.problems();
    p.extend(report.problems_want(video, audio, 8.0));
    assert!(
        p.is_empty(),
        "ffmpeg playing {url}:\n  - {}\n{}",
        p.join("\n  - "),
        report.summary()
    );
    if video.is_some() && audio.is_some() {
        let gap = report.av_start_gap_ms().expect("both streams have a PTS");
        assert!(
            gap.abs() <= 100.0,
            "audio starts {gap:.0} ms after video (want within 100 ms)\n{}",
            report.summary()
        );
    }
    assert!(
        publisher.is_running(),
        "publisher ended: {}",
        publisher.log()
    );
    assert!(server.is_alive());
}

#[test]
fn h264_aac_hls() {
    hls_plays(ClipKind::H264Aac, Some("h264"), Some("aac"));
}

#[test]
fn h264_mp3_hls() {
    hls_plays(ClipKind::H264Mp3, Some("h264"), Some("mp3"));
}

#[test]
fn aac_only_hls() {
    hls_plays(ClipKind::AacOnly, None, Some("aac"));
}

/// What a poller saw of one segment.
#[derive(Clone, Debug)]
struct Seen {
    uri: String,
    duration: f64,
    discontinuity: bool,
    /// The segment's bytes, fetched when it first appeared.
    body: Vec<u8>,
    /// When it first appeared.
    at: Instant,
}

/// A player's view of a live playlist: polled every 300 ms, each new segment fetched at
/// once. Every answer and every contract problem is kept.
#[derive(Default)]
struct Watch {
    /// (when, status or 0 for no answer, the playlist of a 200).
    polls: Vec<(Instant, u16, Option<Playlist>)>,
    segments: BTreeMap<u64, Seen>,
    problems: Vec<String>,
}

impl Watch {
    fn record(&mut self, server: &Server, window: usize) {
        let url = server.m3u8_url("x");
        let now = Instant::now();
        let resp = match fetch("GET", &url) {
            Ok(r) => r,
            Err(e) => {
                self.problems.push(e);
                self.polls.push((now, 0, None));
                return;
            }
        };
        if resp.status() != 200 {
            self.polls.push((now, resp.status(), None));
            return;
        }
        let p = Playlist::parse(&resp.text());
        for problem in live_playlist_problems(server, "live", "x", &p, window) {
            // each problem once, with the first playlist that had it
            if !self.problems.iter().any(|seen| seen.starts_with(&problem)) {
                self.problems.push(format!("{problem}\n{}", p.text));
            }
        }
        if let Some((_, _, Some(prev))) = self.polls.iter().rev().find(|(_, _, p)| p.is_some())
            && p.media_sequence < prev.media_sequence
        {
            self.problems.push(format!(
                "MEDIA-SEQUENCE went back from {:?} to {:?}",
                prev.media_sequence, p.media_sequence
            ));
        }
        for s in &p.segments {
            match self.segments.get(&s.seq) {
                Some(old) => {
                    if (old.uri.as_str(), old.duration, old.discontinuity)
                        != (s.uri.as_str(), s.duration, s.discontinuity)
                    {
                        self.problems.push(format!(
                            "segment {} changed: {:?} {} {} -> {:?} {} {}",
                            s.seq,
                            old.uri,
                            old.duration,
                            old.discontinuity,
                            s.uri,
                            s.duration,
                            s.discontinuity
                        ));
                    }
                }
                None => {
                    let seg_url = resolve(&url, &s.uri);
                    let body = match fetch("GET", &seg_url) {
                        Ok(r) if r.status() == 200 => r.body,
                        Ok(r) => {
                            self.problems.push(format!(
                                "{seg_url}: {} just after it was listed",
                                r.status()
                            ));
                            Vec::new()
                        }
                        Err(e) => {
                            self.problems.push(e);
                            Vec::new()
                        }
                    };
                    self.segments.insert(
                        s.seq,
                        Seen {
                            uri: s.uri.clone(),
                            duration: s.duration,
                            discontinuity: s.discontinuity,
                            body,
                            at: now,
                        },
                    );
                }
            }
        }
        self.polls.push((now, 200, Some(p)));
    }

    /// Sequence numbers missing between the first and the last seen.
    fn gaps(&self) -> Vec<u64> {
        let (Some(first), Some(last)) = (self.segments.keys().next(), self.segments.keys().last())
        else {
            return Vec::new();
        };
        (*first..=*last)
            .filter(|s| !self.segments.contains_key(s))
            .collect()
    }

    fn last_playlist(&self) -> Option<&Playlist> {
        self.polls.iter().rev().find_map(|(_, _, p)| p.as_ref())
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        for (seq, seen) in &self.segments {
            s.push_str(&format!(
                "  {seq}: {} {:.3} s{} ({} bytes)\n",
                seen.uri,
                seen.duration,
                if seen.discontinuity {
                    " DISCONTINUITY"
                } else {
                    ""
                },
                seen.body.len()
            ));
        }
        if let Some(p) = self.last_playlist() {
            s.push_str("last playlist:\n");
            s.push_str(&p.text);
        }
        s
    }
}

/// Polls `live/x` while `until` says no (at most `limit`), every 300 ms.
fn watch(
    server: &Server,
    window: usize,
    limit: Duration,
    mut until: impl FnMut(&Watch) -> bool,
) -> Watch {
    let mut w = Watch::default();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !until(&w) {
        w.record(server, window);
        thread::sleep(Duration::from_millis(300));
    }
    w
}

/// With `hls_fragment: F` and a 2 s GOP, every segment lasts F (cut at the first keyframe at
/// or after F s) up to F + one GOP, TARGETDURATION is the ceiling of the longest, the
/// playlist fills up to exactly `hls_window` segments and slides (MEDIA-SEQUENCE grows, no
/// segment skipped or rewritten), and each segment's media lasts what its EXTINF says.
fn durations_follow_fragment(fragment: u32, window: usize, segments: usize) {
    let server = Server::start_hls(&format!("hls_fragment: {fragment}\nhls_window: {window}"));
    let _publisher = Publisher::start(
        &server.rtmp_url("x"),
        &test_clip(ClipKind::H264Aac, CLIP_SECS),
    );
    let limit = Duration::from_secs(fragment as u64 * (segments as u64 + 2) + 15);
    let w = watch(&server, window, limit, |w| w.segments.len() >= segments);
    assert!(
        w.problems.is_empty(),
        "hls_fragment {fragment}:\n  - {}\n{}",
        w.problems.join("\n  - "),
        w.summary()
    );
    assert!(
        w.segments.len() >= segments,
        "{} segments within {limit:?}, want {segments}\n{}",
        w.segments.len(),
        w.summary()
    );
    assert!(
        w.gaps().is_empty(),
        "segments skipped: {:?}\n{}",
        w.gaps(),
        w.summary()
    );
    let (lo, hi) = (fragment as f64 - 0.1, fragment as f64 + 2.1);
    let longest = w.segments.values().map(|s| s.duration).fold(0.0, f64::max);
    for (seq, seen) in &w.segments {
        assert!(
            (lo..=hi).contains(&seen.duration),
            "segment {seq} lasts {} s, want {lo}..{hi} (hls_fragment {fragment}, GOP 2 s)\n{}",
            seen.duration,
            w.summary()
        );
        let check = SegmentCheck::new(&seen.body, &server.path(&format!("seg{seq}.ts")));
        let p = check.problems(Some("h264"), Some("aac"));
        assert!(p.is_empty(), "segment {seq}: {p:?}\n{}", check.summary());
        let media = check.media_duration().unwrap_or(0.0);
        assert!(
            (media - seen.duration).abs() <= 0.1,
            "segment {seq}: EXTINF {} but the media lasts {media:.3} s\n{}",
            seen.duration,
            check.summary()
        );
    }
    let last = w.last_playlist().unwrap();
    assert_eq!(
        last.segments.len(),
        window,
        "a full window holds hls_window segments\n{}",
        last.text
    );
    assert!(
        last.media_sequence.unwrap_or(0) > 0,
        "MEDIA-SEQUENCE did not advance\n{}",
        last.text
    );
    // TARGETDURATION is the ceiling of the longest segment (never below: see problems())
    let target = last.target_duration.unwrap();
    assert!(
        target as f64 <= longest.ceil() + 1.0,
        "#EXT-X-TARGETDURATION {target} for segments of at most {longest} s\n{}",
        last.text
    );
}

#[test]
fn segments_follow_hls_fragment_2() {
    durations_follow_fragment(2, 3, 6);
}

#[test]
fn segments_follow_hls_fragment_4() {
    durations_follow_fragment(4, 3, 4);
}

/// A publisher leaves and comes back 0.3 s later with a different video size (a new SPS): a
/// player polling the playlist throughout always gets it (200), sees no segment skipped or
/// rewritten, MEDIA-SEQUENCE going on, exactly one `#EXT-X-DISCONTINUITY`, on the first
/// segment of the new session (640x360 where the old ones are 320x240), and new segments
/// after it. No `#EXT-X-ENDLIST` (hls_keep_after_end is false).
#[test]
fn publisher_reconnect_adds_discontinuity() {
    let server = Arc::new(Server::start_hls("hls_fragment: 2\nhls_window: 5"));
    let url = server.rtmp_url("x");
    let mut first = Publisher::start_for(&url, &test_clip(ClipKind::H264Aac, CLIP_SECS), 9.0);
    let stop = Arc::new(AtomicBool::new(false));
    // until three segments of the new session (from the first marked one) are listed
    let new_session = |w: &Watch| {
        let marked = w.segments.iter().find(|(_, s)| s.discontinuity);
        marked.map_or(0, |(at, _)| w.segments.range(at..).count())
    };
    let watcher = {
        let (server, stop) = (server.clone(), stop.clone());
        thread::spawn(move || {
            watch(&server, 5, Duration::from_secs(60), |w| {
                stop.load(Ordering::Relaxed) || new_session(w) >= 3
            })
        })
    };
    let ended = first.wait_exit(Duration::from_secs(30));
    assert!(
        ended.is_some_and(|s| s.success()),
        "first publisher: {ended:?} {}",
        first.log()
    );
    // the publisher comes back 0.3 s later (the subject)
    thread::sleep(Duration::from_millis(300));
    let republished = Instant::now();
    let mut second = Publisher::start(&url, &test_clip(ClipKind::H264AacWide, CLIP_SECS));
    // three segments of the new session: 6 s of media, listed by ~8 s; 20 s at most
    wait_until(Duration::from_secs(20), || watcher.is_finished());
    stop.store(true, Ordering::Relaxed);
    let w = watcher.join().expect("watcher");
    assert!(second.is_running(), "second publisher: {}", second.log());

    let summary = w.summary();
    assert!(
        w.problems.is_empty(),
        "{}\n{summary}",
        w.problems.join("\n")
    );
    let first_ok = w.polls.iter().position(|(_, s, _)| *s == 200);
    let failed: Vec<String> = w
        .polls
        .iter()
        .skip(first_ok.unwrap_or(0))
        .filter(|(_, s, _)| *s != 200)
        .map(|(at, s, _)| {
            let t = at.duration_since(republished).as_secs_f64();
            format!("{s} at {t:+.1} s from the republish")
        })
        .collect();
    assert!(
        first_ok.is_some() && failed.is_empty(),
        "the playlist must stay available across a quick reconnect: {failed:?}\n{summary}"
    );
    assert!(
        w.gaps().is_empty(),
        "segments skipped: {:?}\n{summary}",
        w.gaps()
    );
    assert!(
        w.polls
            .iter()
            .all(|(_, _, p)| p.as_ref().is_none_or(|p| !p.endlist)),
        "#EXT-X-ENDLIST without hls_keep_after_end\n{summary}"
    );
    let marked: Vec<u64> = w
        .segments
        .iter()
        .filter(|(_, s)| s.discontinuity)
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(marked.len(), 1, "want one #EXT-X-DISCONTINUITY\n{summary}");
    let at = marked[0];
    let before = w.segments.range(..at).count();
    let after = w.segments.range(at..).count();
    assert!(
        before >= 3,
        "{before} segments before the reconnect\n{summary}"
    );
    assert!(
        after >= 3,
        "{after} segments after the reconnect\n{summary}"
    );
    let appeared = w.segments[&at].at.duration_since(republished);
    assert!(
        appeared <= Duration::from_secs(8),
        "the first new segment appeared {appeared:?} after the republish\n{summary}"
    );
    // the marker sits exactly between the sessions: old size before, new size from it on
    for (seq, seen) in w.segments.range(at - 1..=at + 1) {
        let path = server.path(&format!("seg{seq}.ts"));
        let check = SegmentCheck::new(&seen.body, &path);
        let p = check.problems(Some("h264"), Some("aac"));
        assert!(p.is_empty(), "segment {seq}: {p:?}\n{}", check.summary());
        let want = if *seq < at { (320, 240) } else { (640, 360) };
        let sizes = video_frame_sizes(&path);
        assert!(
            sizes.len() == 1 && sizes[0].0 == want,
            "segment {seq} ({} the marker): frame sizes {sizes:?}, want {want:?}\n{summary}",
            if *seq < at { "before" } else { "from" }
        );
    }
    assert!(server.is_alive());
}

/// With `hls_keep_after_end: true` the playlist of an ended stream gets `#EXT-X-ENDLIST`
/// (never before the end), keeps every segment (the last, partial one flushed: they add up
/// to the 9 s published), stays served, and ffmpeg plays it whole as a VOD.
#[test]
fn keep_after_end_adds_endlist() {
    let server = Server::start_hls("hls_fragment: 2\nhls_window: 10\nhls_keep_after_end: true");
    let mut publisher = Publisher::start_for(
        &server.rtmp_url("x"),
        &test_clip(ClipKind::H264Aac, CLIP_SECS),
        9.0,
    );
    let url = server.m3u8_url("x");
    let (_, live) = wait_playlist(&url, 2, Duration::from_secs(20));
    assert!(!live.endlist, "#EXT-X-ENDLIST while live\n{}", live.text);
    let ended = publisher.wait_exit(Duration::from_secs(30));
    assert!(ended.is_some_and(|s| s.success()), "{}", publisher.log());
    let mut last = String::new();
    let playlist = poll_until(Duration::from_secs(10), || {
        let resp = fetch("GET", &url).unwrap();
        assert_playlist_headers(&resp, &url);
        let p = Playlist::parse(&resp.text());
        if p.endlist {
            return Some(p);
        }
        last = p.text;
        None
    })
    .unwrap_or_else(|| panic!("no #EXT-X-ENDLIST 10 s after the publisher left\n{last}"));
    assert_no_problems(&playlist.problems(), &url, &playlist);
    let total: f64 = playlist.durations().iter().sum();
    assert!(
        (8.5..=9.6).contains(&total),
        "segments add up to {total:.3} s of the 9 s published\n{}",
        playlist.text
    );
    for seg in &playlist.segments {
        let seg_url = resolve(&url, &seg.uri);
        let resp = fetch("GET", &seg_url).unwrap();
        assert_segment_headers(&resp, &seg_url);
        let check = SegmentCheck::new(&resp.body, &server.path(&format!("seg{}.ts", seg.seq)));
        let p = check.problems(Some("h264"), Some("aac"));
        assert!(p.is_empty(), "{seg_url}: {p:?}\n{}", check.summary());
    }
    // it stays, unchanged (the subject)
    thread::sleep(Duration::from_secs(3));
    let again = fetch("GET", &url).unwrap();
    assert_eq!(again.status(), 200, "ended playlist gone after 3 s");
    assert_eq!(again.text(), playlist.text, "an ended playlist changed");
    let played = Player::ffmpeg_as(&url, None, "mpegts", &server.path("vod.ts"))
        .finish(Duration::from_secs(30));
    let report = analyze(&played.out);
    let mut p = played.problems();
    p.extend(report.problems_want(Some("h264"), Some("aac"), total - 0.2));
    assert!(
        p.is_empty(),
        "ffmpeg playing the ended {url}: {p:?}\n{}",
        report.summary()
    );
}

/// Without `hls_keep_after_end`, an ended stream never gets `#EXT-X-ENDLIST` and its playlist
/// and segments go away (404) within 30 s.
#[test]
fn ended_stream_goes_away() {
    let server = Server::start_hls("hls_fragment: 2");
    let mut publisher = Publisher::start_for(
        &server.rtmp_url("x"),
        &test_clip(ClipKind::H264Aac, CLIP_SECS),
        5.0,
    );
    let url = server.m3u8_url("x");
    let (_, live) = wait_playlist(&url, 1, Duration::from_secs(20));
    let seg_url = resolve(&url, &live.segments[0].uri);
    assert!(publisher.wait_exit(Duration::from_secs(30)).is_some());
    let gone = wait_until(Duration::from_secs(30), || {
        let resp = fetch("GET", &url).unwrap();
        if resp.status() == 404 {
            return true;
        }
        assert_eq!(resp.status(), 200, "{url}");
        let p = Playlist::parse(&resp.text());
        assert!(
            !p.endlist,
            "#EXT-X-ENDLIST without hls_keep_after_end\n{}",
            p.text
        );
        false
    });
    assert!(gone, "{url} still served 30 s after the publisher left");
    assert_eq!(fetch("GET", &seg_url).unwrap().status(), 404, "{seg_url}");
    assert!(server.is_alive());
}

/// 404 for streams that are not live (playlist and segment, GET and HEAD), unknown apps,
/// apps with `hls: false`, and segments that do not exist; a query string after the playlist
/// name is not part of it; `/crossdomain.xml` answers 200 with a policy allowing any domain.
#[test]
fn not_found_and_crossdomain() {
    let server = Server::start_hls(
        "hls_fragment: 2\nserver:\n  \
         - {appname: live, live: true, hls: true, flv: true, api: true}\n  \
         - {appname: nohls, live: true, hls: false, flv: true, api: true}",
    );
    let status = |method: &str, path: &str| {
        fetch(method, &server.hls_url(path))
            .unwrap_or_else(|e| panic!("{e}"))
            .status()
    };
    for path in [
        "/live/x.m3u8",
        "/live/x/0.ts",
        "/nope/x.m3u8",
        "/nohls/y.m3u8",
    ] {
        assert_eq!(status("GET", path), 404, "GET {path} before any publish");
        assert_eq!(status("HEAD", path), 404, "HEAD {path} before any publish");
    }
    let cross = fetch("GET", &server.hls_url("/crossdomain.xml")).unwrap();
    assert_eq!(cross.status(), 200, "/crossdomain.xml");
    assert!(media_type(&cross).contains("xml"), "{:?}", cross.head);
    let policy = cross.text();
    assert!(
        policy.contains("<cross-domain-policy>")
            && policy.contains("allow-access-from domain=\"*\""),
        "{policy}"
    );

    let clip = test_clip(ClipKind::H264Aac, CLIP_SECS);
    let _live = Publisher::start(&server.rtmp_url("x"), &clip);
    let nohls_url = format!("rtmp://127.0.0.1:{}/nohls/y", server.rtmp_port);
    let mut nohls = Publisher::start(&nohls_url, &clip);
    let url = server.m3u8_url("x");
    let (_, playlist) = wait_playlist(&url, 1, Duration::from_secs(20));
    nohls.wait_published(Duration::from_secs(10));
    // time for nohls/y to get segments, were it wrongly muxed (the checks below are for absence)
    thread::sleep(Duration::from_secs(3));
    let seq_beyond = playlist.segments.last().unwrap().seq + 1000;
    for path in [
        "/nohls/y.m3u8".to_string(),
        "/nohls/y/0.ts".to_string(),
        "/live/other.m3u8".to_string(),
        "/nope/x.m3u8".to_string(),
        format!("/live/x/{seq_beyond}.ts"),
        "/live/x/abc.ts".to_string(),
    ] {
        assert_eq!(
            status("GET", &path),
            404,
            "GET {path} while live/x and nohls/y are live"
        );
    }
    let with_query = fetch("GET", &format!("{url}?token=abc")).unwrap();
    assert_playlist_headers(&with_query, &url);
    assert!(!Playlist::parse(&with_query.text()).segments.is_empty());
    assert!(server.is_alive());
}

/// On two cores the playlist and segments are served whatever core a connection lands on
/// (SO_REUSEPORT spreads 40 fresh connections over both): every answer 200, the same segment
/// byte for byte.
#[test]
fn two_cores_serve_the_same_stream() {
    let server = Server::start_hls("cores: 2\nhls_fragment: 2");
    let _publisher = Publisher::start(
        &server.rtmp_url("x"),
        &test_clip(ClipKind::H264Aac, CLIP_SECS),
    );
    let url = server.m3u8_url("x");
    let (_, playlist) = wait_playlist(&url, 2, Duration::from_secs(20));
    let seg_url = resolve(&url, &playlist.segments[0].uri);
    let first = fetch("GET", &seg_url).unwrap();
    assert_segment_headers(&first, &seg_url);
    let p = ts::check(&first.body).problems_for(Some("h264"), Some("aac"));
    assert!(p.is_empty(), "{seg_url}: {p:?}");
    for i in 0..40 {
        let resp = fetch("GET", &url).unwrap();
        assert_playlist_headers(&resp, &url);
        let p = Playlist::parse(&resp.text());
        assert!(p.segments.len() >= 2, "request {i}: {}", p.text);
        if i % 4 == 0 {
            let again = fetch("GET", &seg_url).unwrap();
            assert_eq!(again.status(), 200, "request {i}: {seg_url}");
            assert!(again.body == first.body, "request {i}: {seg_url} differs");
        }
    }
    assert!(server.is_alive());
}

/// Requests left half-sent must not hold the HLS port up: with 20 of them open, a player
/// still gets the playlist at once.
#[test]
fn idle_connections_do_not_block() {
    let server = Server::start_hls("hls_fragment: 2");
    let _publisher = Publisher::start(
        &server.rtmp_url("x"),
        &test_clip(ClipKind::H264Aac, CLIP_SECS),
    );
    let url = server.m3u8_url("x");
    wait_playlist(&url, 1, Duration::from_secs(20));
    let _idle: Vec<_> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(server.hls_addr()).unwrap();
            let _ = s.write_all(b"GET /live/x.m3u8 HTTP/1.1\r\nHost: x\r\n");
            s
        })
        .collect();
    let started = Instant::now();
    let resp = fetch("GET", &url).unwrap();
    assert_playlist_headers(&resp, &url);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "playlist took {:?} with idle connections open",
        started.elapsed()
    );
    assert!(server.is_alive());
}
