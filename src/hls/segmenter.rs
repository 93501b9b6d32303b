//! The HLS segmenter (RFC 8216 §3, §6.2.1), run on the stream's owning core: FLV tag bodies as
//! published go in, finished MPEG-TS media segments come out.
//!
//! - A segment starts with PAT/PMT and, with video, a keyframe (SPS/PPS in front); it is cut at
//!   the first keyframe at or after `fragment_ms` (audio-only: the first frame at or after it).
//! - Durations come from timestamps only: the next segment's start, or for the last one of a
//!   session its last frame plus one frame interval.
//! - Clock: RTMP timestamps (u32 ms) are unwrapped to a continuous i64 timeline (each placed at
//!   the signed 32-bit distance from the previous one), then written as 33-bit 90 kHz PTS/DTS
//!   that wrap naturally.
//! - Jumps: a frame more than 1 s before or 10 s after the latest frame of the open segment
//!   closes it (duration up to that latest frame) and the next segment, started at the next
//!   keyframe, is a discontinuity. Jumps thus never stretch an EXTINF, and timestamps are never
//!   rewritten (so audio and video stay in sync even if only one of them jumped).
//! - Discontinuities (§4.3.2.3) also mark the first segment of a new publishing session and a
//!   change of the tracks (codec or parameter sets); a track change cuts at the next keyframe.
//!   An audio track first seen after the segment's keyframe (MP3 has no sequence header) is
//!   added to that segment's PMT in place instead (a discontinuity unless it is the first).
//! - Frame data is copied once, from the tag body into the segment's TS packets.

use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::{AvcConfig, MAX_PARAMETER_SETS_LEN};
use crate::codec::mp3::FrameHeader;
use crate::flv::tag::{
    AudioTagHeader, CODEC_AVC, SOUND_AAC, SOUND_MP3, TAG_AUDIO, TAG_VIDEO, VideoTagHeader,
};
use crate::ts::{AudioCodec, Muxer, PACKET_LEN, PCR_LEAD, Tracks};
use bytes::Bytes;

/// The largest backward step (ms) still taken as audio/video interleaving, not a jump.
const MAX_BACKWARD_MS: i64 = 1_000;
/// The largest forward step (ms) between frames that is not a jump.
const MAX_FORWARD_MS: i64 = 10_000;
/// An open segment never holds more than this (a publisher that stops sending keyframes): it
/// is dropped and the next segment starts at the next keyframe, after a discontinuity.
pub const MAX_SEGMENT_BYTES: usize = 64 << 20;
/// Initial capacity of a segment buffer; later ones are sized from their predecessor.
const INITIAL_SEGMENT_CAPACITY: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmenterConfig {
    pub fragment_ms: u32,
    pub window: usize,
    pub keep_after_end: bool,
}

/// One finished segment: its media sequence number, duration and TS bytes; `discontinuity` = the
/// first segment after a publisher reconnect (or a timestamp jump or track change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub sequence: u64,
    pub duration_ms: u32,
    pub data: Bytes,
    pub discontinuity: bool,
    /// Discontinuities so far in the stream, this segment's included (for the playlist's
    /// EXT-X-DISCONTINUITY-SEQUENCE once earlier ones leave the window).
    pub discontinuity_sequence: u64,
}

#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    /// The tracks announced by the publisher so far in this session.
    tracks: Tracks,
    clock: Clock,
    /// Lives for the session (continuity counters run on across segments); replaced when the
    /// tracks change.
    muxer: Option<Muxer>,
    open: Option<Open>,
    next_sequence: u64,
    discontinuities: u64,
    /// The next segment follows a discontinuity.
    discontinuity: bool,
    capacity: usize,
}

/// The segment being written. Times are on the session's millisecond timeline.
#[derive(Debug)]
struct Open {
    start: i64,
    /// The latest frame time muxed.
    last: i64,
    /// The latest timing frame (video, or audio when there is none) and the step to it from
    /// the one before: the estimate of a frame's duration.
    timing: i64,
    step: i64,
    data: Vec<u8>,
    discontinuity: bool,
    /// The first segment of its muxer (the session's first, or after a track change).
    new_muxer: bool,
}

impl Open {
    /// Where the segment ends if nothing follows: after its last timing frame.
    fn end(&self) -> i64 {
        (self.timing + self.step).max(self.last)
    }
}

enum Media<'a> {
    Video {
        keyframe: bool,
        composition_ms: i32,
        frame: &'a [u8],
    },
    Audio(Bytes),
}

impl Media<'_> {
    /// Bytes of coded media.
    fn len(&self) -> usize {
        match self {
            Media::Video { frame, .. } => frame.len(),
            Media::Audio(frame) => frame.len(),
        }
    }
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            config,
            tracks: Tracks::default(),
            clock: Clock::default(),
            muxer: None,
            open: None,
            next_sequence: 0,
            discontinuities: 0,
            discontinuity: false,
            capacity: INITIAL_SEGMENT_CAPACITY,
        }
    }

    pub fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    /// Feed one FLV tag body (as published: type 8 audio, 9 video, 18 script ignored) with its
    /// RTMP timestamp (ms). Sequence headers (AVC config, AAC config) are remembered; returns a
    /// finished segment when this frame started a new one. Malformed tags are dropped.
    pub fn push(&mut self, tag_type: u8, timestamp_ms: u32, body: &Bytes) -> Option<Segment> {
        let media = match tag_type {
            TAG_VIDEO => self.video(body)?,
            TAG_AUDIO => self.audio(body)?,
            _ => return None,
        };
        let t = self.clock.unwrap(timestamp_ms);
        self.mux(t, media)
    }

    /// The publisher left: close the open segment (returned if non-empty); the next push starts a
    /// new session (discontinuity).
    pub fn end_session(&mut self) -> Option<Segment> {
        let end = self.open.as_ref().map(Open::end);
        let segment = end.and_then(|end| self.close(end));
        self.tracks = Tracks::default();
        self.clock = Clock::default();
        self.muxer = None;
        self.discontinuity = true;
        segment
    }

    /// Parses a video tag: remembers an AVC sequence header, returns an AVC frame.
    fn video<'a>(&mut self, body: &'a Bytes) -> Option<Media<'a>> {
        let header = VideoTagHeader::parse(body).ok()?;
        if header.codec_id != CODEC_AVC {
            return None;
        }
        let payload = &body[header.header_len()..];
        match header.avc_packet_type {
            Some(0) => {
                self.tracks.video =
                    Some(AvcConfig::parse(&body.slice(header.header_len()..)).ok()?);
                None
            }
            Some(1) if self.tracks.video.is_some() => Some(Media::Video {
                keyframe: header.is_keyframe(),
                composition_ms: header.composition_time,
                frame: payload,
            }),
            _ => None,
        }
    }

    /// Parses an audio tag: remembers an AAC sequence header, returns an AAC or MP3 frame.
    fn audio(&mut self, body: &Bytes) -> Option<Media<'static>> {
        let header = AudioTagHeader::parse(body).ok()?;
        let payload = body.slice(header.header_len()..);
        let codec = match header.sound_format {
            SOUND_AAC if header.is_sequence_header() => {
                AudioCodec::Aac(AudioSpecificConfig::parse(&payload).ok()?)
            }
            SOUND_AAC => {
                return matches!(self.tracks.audio, Some(AudioCodec::Aac(_)))
                    .then_some(Media::Audio(payload));
            }
            SOUND_MP3 => AudioCodec::Mpeg(FrameHeader::parse(&payload).ok()?.version),
            _ => return None,
        };
        if self.tracks.audio.as_ref() != Some(&codec) {
            self.tracks.audio = Some(codec.clone());
            if let (Some(open), Some(muxer)) = (&mut self.open, &mut self.muxer)
                && muxer.tracks().audio.is_none()
            {
                muxer.add_audio(codec, &mut open.data[..2 * PACKET_LEN]);
                // Earlier segments of this muxer had no audio: this one differs from them.
                open.discontinuity |= !open.new_muxer;
            }
        }
        (header.sound_format == SOUND_MP3).then_some(Media::Audio(payload))
    }

    fn mux(&mut self, t: i64, media: Media) -> Option<Segment> {
        let mut finished = None;
        let jumped = self.open.as_ref().map(|o| (o.end(), t - o.last));
        if let Some((end, step)) = jumped
            && !(-MAX_BACKWARD_MS..=MAX_FORWARD_MS).contains(&step)
        {
            finished = self.close(end);
            self.discontinuity = true;
        }
        // Timing frames: video, or audio when there is none. Segments start at keyframes.
        let (timing, cue) = match media {
            Media::Video { keyframe, .. } => (true, keyframe),
            Media::Audio(_) => (self.tracks.video.is_none(), self.tracks.video.is_none()),
        };
        if cue {
            if let (Some(open), Some(muxer)) = (&self.open, &self.muxer) {
                let changed = *muxer.tracks() != self.tracks;
                if changed || t - open.start >= i64::from(self.config.fragment_ms) {
                    self.discontinuity |= changed;
                    finished = self.close(t);
                }
            }
            if self.open.is_none() {
                self.start(t);
            }
        }
        let (Some(open), Some(muxer)) = (&mut self.open, &mut self.muxer) else {
            return finished;
        };
        if !reserve_for(&mut open.data, media.len()) {
            log::warn!("HLS segment over {MAX_SEGMENT_BYTES} bytes without a keyframe: dropped");
            self.open = None;
            self.discontinuity = true;
            return finished;
        }
        match media {
            Media::Video {
                keyframe,
                composition_ms,
                frame,
            } if muxer.tracks().video == self.tracks.video => {
                let dts = clock_90k(t);
                let pts = clock_90k(t + i64::from(composition_ms.max(0)));
                if muxer
                    .write_video(&mut open.data, dts, pts, keyframe, frame)
                    .is_err()
                {
                    return finished; // malformed NAL unit lengths: frame dropped
                }
            }
            Media::Audio(frame) if muxer.tracks().audio == self.tracks.audio => {
                muxer.write_audio(&mut open.data, clock_90k(t), frame);
            }
            _ => return finished, // a track this segment does not carry
        }
        open.last = open.last.max(t);
        if timing && t > open.timing {
            open.step = t - open.timing;
            open.timing = t;
        }
        finished
    }

    /// Opens a segment at `t` with the PAT/PMT of the current tracks.
    fn start(&mut self, t: i64) {
        let (muxer, new_muxer) = match self.muxer.take() {
            Some(muxer) if *muxer.tracks() == self.tracks => (muxer, false),
            _ => (Muxer::new(self.tracks.clone()), true),
        };
        let mut data = Vec::with_capacity(self.capacity);
        self.muxer.insert(muxer).write_tables(&mut data);
        self.open = Some(Open {
            start: t,
            last: t,
            timing: t,
            step: 0,
            data,
            discontinuity: std::mem::take(&mut self.discontinuity) && self.next_sequence > 0,
            new_muxer,
        });
    }

    /// Closes the open segment at `end`; one of zero duration is dropped.
    fn close(&mut self, end: i64) -> Option<Segment> {
        let mut open = self.open.take()?;
        self.muxer.as_mut()?.flush_audio(&mut open.data);
        let duration_ms = u32::try_from(end - open.start).unwrap_or(0);
        if duration_ms == 0 {
            self.discontinuity |= open.discontinuity;
            return None;
        }
        self.capacity = (open.data.len() + open.data.len() / 4).min(MAX_SEGMENT_BYTES);
        // What growing by doubling left unused would otherwise stay allocated with the segment.
        open.data.shrink_to_fit();
        self.discontinuities += u64::from(open.discontinuity);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        Some(Segment {
            sequence,
            duration_ms,
            data: open.data.into(),
            discontinuity: open.discontinuity,
            discontinuity_sequence: self.discontinuities,
        })
    }
}

/// Makes room in a segment for a frame of `payload_len` bytes as TS (parameter sets, PES header,
/// 4 bytes of packet header per 184 of payload, stuffing), growing geometrically but never
/// past [`MAX_SEGMENT_BYTES`]; false if the frame could take it over that.
fn reserve_for(data: &mut Vec<u8>, payload_len: usize) -> bool {
    let packets = (payload_len + MAX_PARAMETER_SETS_LEN + 64).div_ceil(184) + 1;
    let needed = data.len() + packets * PACKET_LEN;
    if needed > MAX_SEGMENT_BYTES {
        return false;
    }
    if needed > data.capacity() {
        let target = (2 * data.capacity()).clamp(needed, MAX_SEGMENT_BYTES);
        data.reserve_exact(target - data.len());
    }
    true
}

/// A session timeline in ms (i64) to the 90 kHz MPEG clock, starting at [`PCR_LEAD`] so the PCR
/// starts at 0, modulo 2^33.
fn clock_90k(ms: i64) -> u64 {
    (ms * 90 + PCR_LEAD as i64).rem_euclid(1 << 33) as u64
}

/// Unwraps u32 millisecond timestamps into a continuous timeline.
#[derive(Debug, Default)]
struct Clock {
    last: Option<(u32, i64)>,
}

impl Clock {
    fn unwrap(&mut self, ts: u32) -> i64 {
        let t = match self.last {
            Some((raw, t)) => t + i64::from(ts.wrapping_sub(raw) as i32),
            None => i64::from(ts),
        };
        self.last = Some((ts, t));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::reader::{Tag, read_all};
    use crate::ts::demux::{self, Packet, packets, units};
    use proptest::prelude::*;
    use std::path::PathBuf;
    use std::process::Command;

    const AAC_FLV: &[u8] = include_bytes!("../../tests/fixtures/h264_aac_2s.flv");
    const MP3_FLV: &[u8] = include_bytes!("../../tests/fixtures/h264_mp3_2s.flv");
    const VIDEO_PID: u16 = 0x100;
    const AUDIO_PID: u16 = 0x101;

    fn segmenter(fragment_ms: u32) -> Segmenter {
        Segmenter::new(SegmenterConfig {
            fragment_ms,
            window: 5,
            keep_after_end: false,
        })
    }

    #[test]
    fn segment_buffers_never_grow_past_the_limit() {
        let mut data = Vec::new();
        let mut frames = 0;
        while reserve_for(&mut data, 100_000) {
            data.resize(data.len() + 100_000, 0);
            assert!(data.capacity() <= MAX_SEGMENT_BYTES, "{}", data.capacity());
            frames += 1;
        }
        assert!(frames > 600, "refused after {frames} frames");
        assert!(data.len() + 100_000 > MAX_SEGMENT_BYTES - 4096);
    }

    /// Pushes `tags` (timestamps mapped by `time`) and ends the session.
    fn run(s: &mut Segmenter, tags: &[Tag], time: impl Fn(u32) -> u32) -> Vec<Segment> {
        let mut segments: Vec<Segment> = tags
            .iter()
            .filter_map(|t| s.push(t.tag_type, time(t.timestamp), &t.body))
            .collect();
        segments.extend(s.end_session());
        segments
    }

    #[test]
    fn a_segment_without_keyframes_is_bounded() {
        let tags = read_all(AAC_FLV);
        let video = |pred: &dyn Fn(&VideoTagHeader) -> bool| {
            let is_video = |t: &&Tag| t.tag_type == 9;
            let tag = tags
                .iter()
                .filter(is_video)
                .find(|t| VideoTagHeader::parse(&t.body).is_ok_and(|h| pred(&h)));
            tag.expect("fixture video tag").body.clone()
        };
        let header = video(&|h| h.is_sequence_header());
        let keyframe = video(&|h| h.is_keyframe() && !h.is_sequence_header());
        let small_inter = video(&|h| !h.is_keyframe() && h.avc_packet_type == Some(1));
        // One inter frame of 1 MiB: a single non-IDR NAL unit.
        let nal_len = 1 << 20;
        let mut inter = vec![0x27, 1, 0, 0, 0];
        inter.extend_from_slice(&(nal_len as u32).to_be_bytes());
        inter.push(0x41);
        inter.resize(inter.len() + nal_len - 1, 0);
        let inter = Bytes::from(inter);

        let mut s = segmenter(2000);
        assert!(s.push(9, 0, &header).is_none());
        assert!(s.push(9, 0, &keyframe).is_none());
        assert!(s.push(9, 33, &small_inter).is_none());
        assert!(
            s.push(9, 2000, &keyframe).is_some(),
            "a first, normal segment"
        );
        let frames = MAX_SEGMENT_BYTES / nal_len + 2;
        for i in 1..=frames as u32 {
            let t = 2000 + i * 33;
            assert!(s.push(9, t, &inter).is_none(), "no keyframe, no segment");
        }
        let open = s.open.as_ref().map_or(0, |o| o.data.capacity());
        assert!(open <= MAX_SEGMENT_BYTES, "open segment holds {open} bytes");
        let resume = 2000 + (frames as u32 + 1) * 33;
        assert!(s.push(9, resume, &keyframe).is_none());
        assert!(s.push(9, resume + 33, &small_inter).is_none());
        let last = s.end_session().expect("a segment from the next keyframe");
        assert!(
            last.discontinuity,
            "what was dropped leaves a discontinuity"
        );
        assert!(last.data.len() < nal_len, "only the frames after the drop");
    }

    /// A temporary file path for this test process (callers remove the file).
    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("livego-hls-{}-{name}", std::process::id()))
    }

    /// Runs an ffmpeg tool, asserting success; returns (stdout, stderr).
    fn tool(program: &str, args: &[&str]) -> (String, String) {
        let out = Command::new(program).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{program} {args:?}: {stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    }

    /// A 7 s 160x120 H.264 (B-frames, a keyframe every second) + AAC clip made by ffmpeg.
    fn clip(name: &str) -> Vec<Tag> {
        let path = scratch(name);
        let args = "-v error -y -f lavfi -i testsrc=size=160x120:rate=30 -f lavfi \
            -i sine=frequency=440:sample_rate=44100 -t 7 -c:v libx264 -preset veryfast -bf 2 \
            -g 30 -sc_threshold 0 -c:a aac -b:a 64k -f flv";
        let mut args: Vec<&str> = args.split_whitespace().collect();
        args.push(path.to_str().unwrap());
        tool("ffmpeg", &args);
        let flv = std::fs::read(&path).unwrap();
        std::fs::remove_file(path).unwrap();
        read_all(&flv)
    }

    /// ffprobe's codec names for `ts`, after checking that ffmpeg decodes it without errors.
    fn probe(ts: &[u8], name: &str, mid_stream: bool) -> Vec<String> {
        let path = scratch(name);
        std::fs::write(&path, ts).unwrap();
        let path = path.to_str().unwrap();
        // A segment cut from the middle of a stream starts at an arbitrary time; subtracting it
        // (ffmpeg's default) can make millisecond-rounded DTS collide in the null muxer's 1/30 s
        // time base, a false alarm that keeping the timestamps (-copyts) avoids.
        let mut args = vec!["-v", "error", "-i", path, "-f", "null", "-"];
        if mid_stream {
            args.insert(0, "-copyts");
        }
        let (_, errors) = tool("ffmpeg", &args);
        assert_eq!(errors, "", "ffmpeg errors decoding {name}");
        let entries = [
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ];
        let (streams, _) = tool("ffprobe", &[&entries[..], &[path]].concat());
        std::fs::remove_file(path).unwrap();
        // The program's streams, then (after a blank line) the same streams again.
        streams
            .lines()
            .take_while(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Asserts that a segment starts with PAT, PMT and (with video) a keyframe with SPS/PPS.
    fn check_start(segment: &Segment) -> Vec<Packet<'_>> {
        let ps = packets(&segment.data);
        assert_eq!((ps[0].pid, ps[1].pid), (0, 0x1000));
        if let Some((first, pes)) = units(&ps, VIDEO_PID).first() {
            assert!(first.random_access() && first.pcr().is_some());
            let at = 9 + usize::from(pes[8]);
            assert_eq!(pes[at..at + 11], [0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67]);
            assert_eq!(ps[2].pid, VIDEO_PID);
        }
        ps
    }

    fn concat(segments: &[Segment]) -> Vec<u8> {
        segments
            .iter()
            .flat_map(|s| s.data.iter().copied())
            .collect()
    }

    #[test]
    fn fixtures_mux_to_valid_ts() {
        for (flv, audio) in [(AAC_FLV, "aac"), (MP3_FLV, "mp3")] {
            let segments = run(&mut segmenter(2000), &read_all(flv), |t| t);
            assert_eq!(segments.len(), 1); // one keyframe in the clip
            let s = &segments[0];
            assert!((1900..2100).contains(&s.duration_ms), "{}", s.duration_ms);
            assert_eq!((s.sequence, s.discontinuity), (0, false));
            let ps = check_start(s);
            // MP3: the audio track, first seen after the keyframe, was added to the PMT.
            assert!(!units(&ps, AUDIO_PID).is_empty());
            assert_eq!(
                probe(&s.data, &format!("fixture.{audio}.ts"), false),
                ["h264", audio]
            );
        }
    }

    #[test]
    fn cuts_at_keyframes_after_fragment() {
        let tags = clip("cuts.flv");
        let segments = run(&mut segmenter(1500), &tags, |t| t);
        let durations: Vec<u32> = segments.iter().map(|s| s.duration_ms).collect();
        assert_eq!(durations[..3], [2000, 2000, 2000]);
        assert!((990..1100).contains(&durations[3]), "{durations:?}");
        for (i, s) in segments.iter().enumerate() {
            assert_eq!((s.sequence, s.discontinuity), (i as u64, false));
            check_start(s);
            assert_eq!(
                probe(&s.data, &format!("cut{i}.ts"), i > 0),
                ["h264", "aac"]
            );
        }
        // The segments play back to back: counters continue, the whole probes clean.
        let all = concat(&segments);
        let ps = packets(&all);
        let video = units(&ps, VIDEO_PID);
        assert_eq!(video.len(), 210);
        // B-frames: PTS = DTS + composition time, and some PTS differ from their DTS.
        assert!(video.iter().any(|(_, pes)| pes[7] == 0xc0));
        assert_eq!(probe(&all, "cut.ts", false), ["h264", "aac"]);
    }

    #[test]
    fn rtmp_timestamp_wrap_keeps_the_clock_continuous() {
        let segments = run(&mut segmenter(2000), &read_all(AAC_FLV), |t| {
            t.wrapping_add(u32::MAX - 999)
        });
        assert_eq!(segments.len(), 1);
        assert!((1900..2100).contains(&segments[0].duration_ms));
        let ps = packets(&segments[0].data);
        let dts: Vec<u64> = units(&ps, VIDEO_PID)
            .iter()
            .map(|(_, pes)| demux::timestamp(pes, if pes[7] == 0xc0 { 14 } else { 9 }))
            .collect();
        for pair in dts.windows(2) {
            let step = pair[1].wrapping_sub(pair[0]) & ((1 << 33) - 1);
            assert!((2900..3100).contains(&step), "{pair:?}");
        }
        assert_eq!(probe(&segments[0].data, "wrap.ts", false), ["h264", "aac"]);
    }

    #[test]
    fn timestamp_jumps_are_discontinuities() {
        let tags = clip("jumps.flv");
        // +60 s from 3 s on, then back to the original times from 5 s on.
        let shift = |t: u32| {
            if (3000..5000).contains(&t) {
                t + 60_000
            } else {
                t
            }
        };
        let segments = run(&mut segmenter(2000), &tags, shift);
        let summary: Vec<(u32, bool, u64)> = segments
            .iter()
            .map(|s| (s.duration_ms, s.discontinuity, s.discontinuity_sequence))
            .collect();
        // [0, 2), [2, 3) closed by the jump, [63, 65), then [5, 7) after the jump back.
        assert_eq!(
            summary[..3],
            [(2000, false, 0), (1000, false, 0), (2000, true, 1)]
        );
        assert_eq!((summary[3].1, summary[3].2), (true, 2));
        assert!(summary[3].0 >= 2000 && summary[3].0 < 2100, "{summary:?}");
        segments.iter().for_each(|s| drop(check_start(s)));
    }

    #[test]
    fn reconnect_starts_a_discontinuity() {
        let mut s = segmenter(2000);
        assert!(s.end_session().is_none());
        let tags = read_all(MP3_FLV);
        let first = run(&mut s, &tags, |t| t);
        let second = run(&mut s, &read_all(AAC_FLV), |t| t + 5000);
        assert_eq!((first[0].sequence, first[0].discontinuity), (0, false));
        let s2 = &second[0];
        assert_eq!(
            (s2.sequence, s2.discontinuity, s2.discontinuity_sequence),
            (1, true, 1)
        );
        check_start(s2);
        assert_eq!(probe(&s2.data, "reconnect.ts", true), ["h264", "aac"]);
    }

    #[test]
    fn audio_only_cuts_on_time() {
        let audio: Vec<Tag> = read_all(AAC_FLV)
            .into_iter()
            .filter(|t| t.tag_type == TAG_AUDIO)
            .collect();
        let segments = run(&mut segmenter(500), &audio, |t| t);
        assert_eq!(segments.len(), 4);
        for s in &segments {
            // Cut at the first frame (23.2 ms apart) at or after 500 ms.
            assert!((500..530).contains(&s.duration_ms), "{}", s.duration_ms);
            let ps = check_start(s);
            let pes = units(&ps, AUDIO_PID);
            assert!(
                pes.iter()
                    .all(|(p, _)| p.pcr().is_some() && p.random_access())
            );
            assert!(pes.len() >= 5 && pes.len() <= 7, "{} PES", pes.len());
        }
        assert_eq!(probe(&concat(&segments), "audio.ts", false), ["aac"]);
    }

    #[test]
    fn late_video_header_restarts_with_video() {
        let tags = read_all(AAC_FLV);
        let (video, audio): (Vec<&Tag>, Vec<&Tag>) = tags
            .iter()
            .filter(|t| t.tag_type != 18)
            .partition(|t| t.tag_type == TAG_VIDEO);
        let mut s = segmenter(2000);
        for t in audio.iter().filter(|t| t.timestamp < 1000) {
            assert!(s.push(t.tag_type, t.timestamp, &t.body).is_none());
        }
        assert!(s.push(TAG_VIDEO, 1000, &video[0].body).is_none()); // sequence header
        let audio_only = s.push(TAG_VIDEO, 1000, &video[1].body).unwrap();
        assert!((950..1050).contains(&audio_only.duration_ms));
        assert!(units(&packets(&audio_only.data), VIDEO_PID).is_empty());
        for t in &video[2..5] {
            assert!(s.push(TAG_VIDEO, t.timestamp + 1000, &t.body).is_none());
        }
        let with_video = s.end_session().unwrap();
        assert_eq!(with_video.duration_ms, 133);
        assert!(with_video.discontinuity);
        check_start(&with_video);
    }

    #[test]
    fn audio_joining_a_later_segment_is_a_discontinuity() {
        let tags = clip("late_audio.flv");
        let aac_header = tags.iter().find(|t| t.tag_type == TAG_AUDIO).unwrap();
        let mut s = segmenter(2000);
        let mut segments = Vec::new();
        for t in tags
            .iter()
            .filter(|t| t.tag_type == TAG_VIDEO || t.timestamp >= 2500)
        {
            if t.tag_type == TAG_AUDIO && s.tracks.audio.is_none() {
                assert!(s.push(TAG_AUDIO, t.timestamp, &aac_header.body).is_none());
            }
            segments.extend(s.push(t.tag_type, t.timestamp, &t.body));
        }
        segments.extend(s.end_session());
        let flags: Vec<bool> = segments.iter().map(|s| s.discontinuity).collect();
        assert_eq!(flags, [false, true, false, false]);
        assert!(units(&packets(&segments[0].data), AUDIO_PID).is_empty());
        assert!(!units(&check_start(&segments[1]), AUDIO_PID).is_empty());
    }

    #[test]
    fn clock_unwraps_u32_timestamps() {
        let mut clock = Clock::default();
        let times: Vec<i64> = [u32::MAX - 10, u32::MAX, 5, 2, 100]
            .iter()
            .map(|&ts| clock.unwrap(ts))
            .collect();
        let base = i64::from(u32::MAX);
        assert_eq!(times, [base - 10, base, base + 6, base + 3, base + 101]);
        assert_eq!(clock_90k(0), PCR_LEAD);
        assert_eq!(clock_90k(-700), 0);
        assert_eq!(clock_90k(-701), (1 << 33) - 90);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(
            tags in proptest::collection::vec((0u8..20, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..40),
        ) {
            let mut s = segmenter(100);
            // Valid sequence headers first, so that frames reach the muxer.
            let fixture = read_all(AAC_FLV);
            for t in fixture.iter().take(3) {
                s.push(t.tag_type, t.timestamp, &t.body);
            }
            for (tag_type, ts, body) in tags {
                let body = Bytes::from(body);
                if let Some(segment) = s.push(tag_type, ts, &body) {
                    packets(&segment.data);
                }
            }
            s.end_session();
        }
    }
}
