//! A raw HTTP-FLV player: [`http::HttpStream`] + the library's FLV demuxer, keeping a summary
//! of every tag (no bodies), and the judge of what it received — the same rules as
//! `media::analyze` applies to ffmpeg's recordings, without spawning anything, so dozens of
//! these can run at once: metadata and sequence headers before any frame, keyframe first,
//! timestamps strictly increasing per stream with no step over [`HOLE_FACTOR`] frame intervals.

use std::io;
use std::time::{Duration, Instant};

use livego::flv::tag::VideoTagHeader;

use super::flv::{AUDIO, SCRIPT, Tag, TagExt as _, TagStream, VIDEO};
use super::http::{HttpStream, http_status};
use super::media::HOLE_FACTOR;
use super::{Server, wait_until};

/// One received tag, without its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagInfo {
    pub tag_type: u8,
    pub timestamp: u32,
    pub seq_header: bool,
    pub keyframe: bool,
    /// A coded audio or video frame (not a sequence header, not an AVC end of sequence, not
    /// script data).
    pub frame: bool,
    pub len: usize,
}

impl TagInfo {
    pub fn of(tag: &Tag) -> TagInfo {
        TagInfo {
            tag_type: tag.tag_type,
            timestamp: tag.timestamp,
            seq_header: tag.is_video_seq_header() || tag.is_audio_seq_header(),
            keyframe: tag.is_keyframe(),
            frame: (tag.is_video_frame() && !is_end_of_sequence(tag)) || tag.is_audio_frame(),
            len: tag.body.len(),
        }
    }
}

/// An AVC end-of-sequence tag (AVCPacketType 2): no frame, and ffmpeg's FLV muxer gives it the
/// last frame's timestamp.
fn is_end_of_sequence(tag: &Tag) -> bool {
    tag.tag_type == VIDEO
        && VideoTagHeader::parse(&tag.body).is_ok_and(|h| h.avc_packet_type == Some(2))
}

/// What a raw HTTP-FLV player received.
#[derive(Debug, Default)]
pub struct FlvRecording {
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub chunked: bool,
    pub tags: Vec<TagInfo>,
    /// How the stream ended: `None` when we stopped at the wall-time limit.
    pub ended: Option<String>,
}

/// Waits until `live/NAME` is no longer live: a GET of its HTTP-FLV URL answers 404 (polled
/// until then); panics if it does not within `within` (counted from when its publisher
/// ended).
#[track_caller]
pub fn wait_not_live(server: &Server, name: &str, within: Duration) {
    let mut status = 0;
    let gone = wait_until(within, || {
        status = http_status("GET", &server.flv_url(name));
        status == 404
    });
    assert!(
        gone,
        "live/{name}: its publisher ended {within:?} ago, GET still answers {status}"
    );
}

/// Plays `url` for `wall` (or until the server ends the stream), keeping every tag's summary.
/// Connection or status problems end up in [`FlvRecording::problems`], not in a panic.
pub fn record_http_flv(url: &str, wall: Duration) -> FlvRecording {
    let mut rec = FlvRecording {
        url: url.to_string(),
        ..FlvRecording::default()
    };
    let deadline = Instant::now() + wall;
    let mut stream = match HttpStream::open(url, &[], Duration::from_secs(5), deadline) {
        Ok(s) => s,
        Err(e) => {
            rec.ended = Some(format!("request failed: {e}"));
            return rec;
        }
    };
    rec.status = stream.head.status;
    rec.content_type = stream.head.header("content-type").map(str::to_string);
    rec.chunked = stream.is_chunked();
    if rec.status != 200 {
        rec.ended = Some(format!("status {}", rec.status));
        return rec;
    }
    let mut tags = TagStream::new(&mut stream);
    loop {
        match tags.next_tag() {
            Ok(Some(tag)) => rec.tags.push(TagInfo::of(&tag)),
            Ok(None) => {
                rec.ended = Some("the server ended the stream".into());
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
            Err(e) => {
                rec.ended = Some(format!("read error: {e}"));
                break;
            }
        }
    }
    rec
}

/// Steps of one stream's timestamps judged like `media::finish_stats`.
#[derive(Debug, Default)]
pub struct Continuity {
    pub frames: usize,
    pub median_step_ms: u32,
    /// (timestamp before, step) of steps over HOLE_FACTOR medians.
    pub holes: Vec<(u32, u32)>,
    /// (timestamp before, step) of steps <= 0.
    pub backwards: Vec<(u32, i64)>,
    /// Last - first timestamp + one median step, ms.
    pub covers_ms: u32,
}

pub fn continuity(timestamps: &[u32]) -> Continuity {
    let steps: Vec<i64> = timestamps
        .windows(2)
        .map(|w| w[1] as i64 - w[0] as i64)
        .collect();
    let mut positive: Vec<u32> = steps
        .iter()
        .filter(|s| **s > 0)
        .map(|s| *s as u32)
        .collect();
    positive.sort_unstable();
    let median = positive.get(positive.len() / 2).copied().unwrap_or(0);
    let mut c = Continuity {
        frames: timestamps.len(),
        median_step_ms: median,
        ..Continuity::default()
    };
    for (i, step) in steps.iter().enumerate() {
        if *step <= 0 {
            c.backwards.push((timestamps[i], *step));
        } else if *step as f64 > HOLE_FACTOR * median as f64 {
            c.holes.push((timestamps[i], *step as u32));
        }
    }
    if let (Some(first), Some(last)) = (timestamps.first(), timestamps.last()) {
        c.covers_ms = last.saturating_sub(*first) + median;
    }
    c
}

impl FlvRecording {
    /// Frame timestamps of one tag type, in arrival order.
    pub fn frame_timestamps(&self, tag_type: u8) -> Vec<u32> {
        self.tags
            .iter()
            .filter(|t| t.tag_type == tag_type && t.frame)
            .map(|t| t.timestamp)
            .collect()
    }

    /// Everything wrong for a clean audio + video playback covering `min_secs`.
    pub fn problems(&self, min_secs: f64) -> Vec<String> {
        let mut p = Vec::new();
        if self.status != 200 {
            p.push(format!(
                "{}: status {} ({:?})",
                self.url, self.status, self.ended
            ));
            return p;
        }
        if let Some(why) = &self.ended {
            p.push(format!(
                "{}: stream ended early after {} tags: {why}",
                self.url,
                self.tags.len()
            ));
        }
        let first_frame = |tag_type: u8| {
            self.tags
                .iter()
                .position(|t| t.tag_type == tag_type && t.frame)
        };
        let first_media_frame = self.tags.iter().position(|t| t.frame);
        match (
            self.tags.iter().position(|t| t.tag_type == SCRIPT),
            first_media_frame,
        ) {
            (Some(s), Some(f)) if s < f => {}
            (s, f) => p.push(format!(
                "no script data (onMetaData) before the first frame: script tag at {s:?}, \
                 first frame at {f:?}"
            )),
        }
        for (what, tag_type) in [("video", VIDEO), ("audio", AUDIO)] {
            let seq = self
                .tags
                .iter()
                .position(|t| t.tag_type == tag_type && t.seq_header);
            match (seq, first_frame(tag_type)) {
                (Some(s), Some(f)) if s < f => {}
                (s, f) => p.push(format!(
                    "{what} sequence header at tag {s:?}, first {what} frame at tag {f:?}"
                )),
            }
            let c = continuity(&self.frame_timestamps(tag_type));
            if c.frames < 2 {
                p.push(format!("{what}: only {} frame(s)", c.frames));
                continue;
            }
            if let Some((at, step)) = c.holes.first() {
                p.push(format!(
                    "{what} timestamp hole (frames lost): {} step(s) > {HOLE_FACTOR} x the \
                     median step {} ms; first: {step} ms after {at} ms",
                    c.holes.len(),
                    c.median_step_ms
                ));
            }
            if let Some((at, step)) = c.backwards.first() {
                p.push(format!(
                    "{what} timestamps go backwards or repeat {} time(s); first: {step} ms \
                     after {at} ms",
                    c.backwards.len()
                ));
            }
            if (c.covers_ms as f64) < min_secs * 1000.0 {
                p.push(format!(
                    "{what} covers {} ms ({} frames), want >= {min_secs} s",
                    c.covers_ms, c.frames
                ));
            }
        }
        if let Some(v) = first_frame(VIDEO)
            && !self.tags[v].keyframe
        {
            p.push(format!(
                "first video frame (tag {v}, {} ms) is not a keyframe",
                self.tags[v].timestamp
            ));
        }
        p
    }
}
