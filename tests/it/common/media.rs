//! Test clips (made once with ffmpeg, cached on disk) and the judge of what players recorded:
//! codecs, keyframe first, DTS continuity per stream, duration, and a full decode.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use super::{run, unique_suffix};

/// What a test clip contains. All video is H.264 High, 30 fps, GOP 2 s (60 frames, no scene
/// cut) unless noted, 3 B-frames, testsrc2; audio is a 440 Hz sine at 44.1 kHz stereo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipKind {
    /// 320x240 + AAC: the default.
    H264Aac,
    /// 640x360 + AAC: a second, different video configuration (new SPS) for republish tests.
    H264AacWide,
    /// 320x240 + MP3.
    H264Mp3,
    /// 640x360 + AAC with strong random noise on the video: ~12 Mbit/s, ~50 kB per frame,
    /// and a GOP of 0.5 s (15 frames). Fills socket buffers quickly (slow-player tests), and a
    /// joining player's GOP-cache burst stays well below a 1 s `player_queue_ms`.
    H264AacHeavy,
    /// AAC alone, no video track.
    AacOnly,
}

impl ClipKind {
    fn name(self) -> &'static str {
        match self {
            ClipKind::H264Aac => "h264aac-320x240",
            ClipKind::H264AacWide => "h264aac-640x360",
            ClipKind::H264Mp3 => "h264mp3-320x240",
            ClipKind::H264AacHeavy => "h264aac-640x360-noise-gop15",
            ClipKind::AacOnly => "aaconly",
        }
    }
    fn size(self) -> &'static str {
        match self {
            ClipKind::H264AacWide | ClipKind::H264AacHeavy => "640x360",
            _ => "320x240",
        }
    }
    /// Frames per GOP (every GOP is closed: no scene cut).
    fn gop(self) -> u32 {
        match self {
            ClipKind::H264AacHeavy => 15,
            _ => 60,
        }
    }
    fn audio_args(self) -> &'static [&'static str] {
        match self {
            ClipKind::H264Mp3 => &[
                "-c:a",
                "libmp3lame",
                "-b:a",
                "128k",
                "-ar",
                "44100",
                "-ac",
                "2",
            ],
            _ => &["-c:a", "aac", "-ar", "44100", "-ac", "2"],
        }
    }
}

/// Length in seconds of the clip live streams publish by default ([`default_clip`]).
pub const CLIP_SECS: u32 = 30;

/// The default clip: [`ClipKind::H264Aac`], [`CLIP_SECS`] long.
pub fn default_clip() -> PathBuf {
    test_clip(ClipKind::H264Aac, CLIP_SECS)
}

/// The clip's path, generated on first use. Cached under cargo's per-target temp dir, keyed by
/// kind, length and a version; written to a unique temp name and renamed into place, so parallel
/// tests and test binaries never see a half-written clip.
pub fn test_clip(kind: ClipKind, seconds: u32) -> PathBuf {
    static GENERATING: Mutex<()> = Mutex::new(());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("livego-clips");
    let path = dir.join(format!("{}-{seconds}s-v1.flv", kind.name()));
    let _guard = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("create clip cache dir");
    let tmp = dir.join(format!("{}.tmp-{}.flv", kind.name(), unique_suffix()));
    let mut video = format!("testsrc2=size={}:rate=30", kind.size());
    if kind == ClipKind::H264AacHeavy {
        video.push_str(",noise=alls=40:allf=t+u");
    }
    let gop = kind.gop().to_string();
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error"]);
    if kind == ClipKind::AacOnly {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    } else {
        cmd.args(["-f", "lavfi", "-i", &video])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args([
                "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
            ])
            .args(["-profile:v", "high", "-pix_fmt", "yuv420p", "-bf", "3"])
            .args([
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
                "-r",
                "30",
            ]);
    }
    cmd.args(kind.audio_args())
        .args(["-t", &seconds.to_string(), "-f", "flv", "-y"])
        .arg(&tmp);
    let ran = run(&mut cmd, Duration::from_secs(120));
    assert!(
        ran.success(),
        "generating {}: {}",
        path.display(),
        ran.stderr
    );
    std::fs::rename(&tmp, &path).expect("rename clip into place");
    path
}

/// One elementary stream as ffprobe's packet list shows it.
#[derive(Debug, Default, Clone)]
pub struct StreamStats {
    pub codec: String,
    pub packets: usize,
    /// Packets whose PTS differs from their DTS (B-frame reordering).
    pub reordered: usize,
    pub first_is_keyframe: bool,
    pub first_flags: String,
    pub sample_rate: u32,
    pub width: u32,
    pub height: u32,
    /// DTS in seconds, in file order (packets without DTS are left out and counted).
    pub dts: Vec<f64>,
    pub no_dts: usize,
    /// Median step between consecutive DTS, ms.
    pub median_step_ms: f64,
    /// The nominal frame interval holes are judged against, ms: the median step for video,
    /// 1024 (AAC) or 1152 (MP3) samples for audio.
    pub frame_ms: f64,
    /// Steps larger than 1.5 frame intervals: (DTS before the hole in s, step in ms).
    pub holes: Vec<(f64, f64)>,
    /// Steps <= 0 (DTS going backwards or repeating): (DTS in s, step in ms).
    pub backwards: Vec<(f64, f64)>,
    /// Last DTS - first DTS + one frame interval, seconds.
    pub duration_s: f64,
    /// The smallest PTS, seconds: when the stream's presentation starts.
    pub start_pts: Option<f64>,
}

impl StreamStats {
    pub fn max_step_ms(&self) -> f64 {
        self.dts
            .windows(2)
            .map(|w| (w[1] - w[0]) * 1000.0)
            .fold(0.0, f64::max)
    }
}

/// What a recording holds; see [`analyze`].
#[derive(Debug)]
pub struct MediaReport {
    pub path: PathBuf,
    pub video: Option<StreamStats>,
    pub audio: Option<StreamStats>,
    pub decode_errors: Vec<String>,
    /// ffprobe's complaints, if any.
    pub probe_errors: String,
}

/// A hole is a DTS step larger than this many frame intervals. One lost frame makes a step of
/// exactly 2 intervals (67 ms at 30 fps, 46 ms for AAC at 44.1 kHz), and FLV timestamps are
/// rounded to ms (33/34 ms, 23/24 ms), so a threshold of 2 would sit on the edge; 1.5 catches
/// every single lost frame and tolerates the rounding.
pub const HOLE_FACTOR: f64 = 1.5;

/// Probes every packet of `path` (ffprobe) and decodes it fully (ffmpeg).
pub fn analyze(path: &Path) -> MediaReport {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-of", "compact"])
        .args(["-show_entries", "packet=codec_type,pts_time,dts_time,flags"])
        .args([
            "-show_entries",
            "stream=codec_type,codec_name,width,height,sample_rate",
        ])
        .arg(path);
    let ran = run(&mut cmd, Duration::from_secs(60));
    let mut video: Option<StreamStats> = None;
    let mut audio: Option<StreamStats> = None;
    for line in ran.stdout.lines() {
        let section = line.split('|').next().unwrap_or("");
        let field = |key: &str| -> Option<&str> {
            line.split('|')
                .skip(1)
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        let slot = match field("codec_type") {
            Some("video") => &mut video,
            Some("audio") => &mut audio,
            _ => continue,
        };
        match section {
            "packet" => {
                let stats = slot.get_or_insert_with(StreamStats::default);
                let flags = field("flags").unwrap_or("").to_string();
                if stats.packets == 0 {
                    stats.first_is_keyframe = flags.contains('K');
                    stats.first_flags = flags;
                }
                stats.packets += 1;
                let dts = field("dts_time").and_then(|v| v.parse::<f64>().ok());
                let pts = field("pts_time").and_then(|v| v.parse::<f64>().ok());
                match dts {
                    Some(d) => stats.dts.push(d),
                    None => stats.no_dts += 1,
                }
                if let Some(p) = pts {
                    stats.start_pts = Some(stats.start_pts.map_or(p, |s: f64| s.min(p)));
                }
                if let (Some(p), Some(d)) = (pts, dts)
                    && (p - d).abs() > 0.0005
                {
                    stats.reordered += 1;
                }
            }
            "stream" => {
                // only the first stream of each type is judged
                let stats = slot.get_or_insert_with(StreamStats::default);
                if stats.codec.is_empty() {
                    stats.codec = field("codec_name").unwrap_or("?").to_string();
                    stats.width = field("width").and_then(|v| v.parse().ok()).unwrap_or(0);
                    stats.height = field("height").and_then(|v| v.parse().ok()).unwrap_or(0);
                    stats.sample_rate = field("sample_rate")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    for (stats, is_video) in [(&mut video, true), (&mut audio, false)] {
        if let Some(s) = stats {
            finish_stats(s, is_video);
        }
    }
    MediaReport {
        path: path.to_path_buf(),
        video,
        audio,
        decode_errors: decode_errors(path),
        probe_errors: ran.stderr.trim().to_string(),
    }
}

fn finish_stats(s: &mut StreamStats, is_video: bool) {
    let steps: Vec<f64> = s.dts.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect();
    let mut positive: Vec<f64> = steps.iter().copied().filter(|d| *d > 0.0).collect();
    positive.sort_by(f64::total_cmp);
    s.median_step_ms = positive.get(positive.len() / 2).copied().unwrap_or(0.0);
    let samples = match s.codec.as_str() {
        "aac" => 1024.0,
        "mp3" => 1152.0,
        _ => 0.0,
    };
    s.frame_ms = if !is_video && samples > 0.0 && s.sample_rate > 0 {
        samples * 1000.0 / s.sample_rate as f64
    } else {
        s.median_step_ms
    };
    for (i, step) in steps.iter().enumerate() {
        if *step > HOLE_FACTOR * s.frame_ms {
            s.holes.push((s.dts[i], *step));
        } else if *step <= 0.0 {
            s.backwards.push((s.dts[i], *step));
        }
    }
    if let (Some(first), Some(last)) = (s.dts.first(), s.dts.last()) {
        s.duration_s = last - first + s.frame_ms / 1000.0;
    }
}

/// Decodes every frame; returns ffmpeg's error lines (empty when the file decodes cleanly).
/// The null muxer's own timestamp complaints are left out: timestamps are judged from the
/// packets (see [`analyze`]).
pub fn decode_errors(path: &Path) -> Vec<String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"]);
    let ran = run(&mut cmd, Duration::from_secs(120));
    let mut lines: Vec<String> = ran
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("[null @"))
        .map(str::to_string)
        .collect();
    if !ran.success() && lines.is_empty() {
        lines.push(format!("ffmpeg decode exited with {:?}", ran.status));
    }
    lines
}

/// How many decoded video frames have each size, in order of first appearance.
pub fn video_frame_sizes(path: &Path) -> Vec<((u32, u32), usize)> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "frame=width,height", "-of", "csv=p=0"])
        .arg(path);
    let ran = run(&mut cmd, Duration::from_secs(120));
    let mut counts: Vec<((u32, u32), usize)> = Vec::new();
    for line in ran.stdout.lines() {
        let mut it = line.split(',').map(|v| v.trim().parse::<u32>());
        if let (Some(Ok(w)), Some(Ok(h))) = (it.next(), it.next()) {
            match counts.iter_mut().find(|(size, _)| *size == (w, h)) {
                Some((_, n)) => *n += 1,
                None => counts.push(((w, h), 1)),
            }
        }
    }
    counts
}

impl MediaReport {
    /// Everything wrong with the recording for a clean H.264 + AAC playback of at least
    /// `min_secs`; empty when it is clean.
    pub fn problems(&self, min_secs: f64) -> Vec<String> {
        self.problems_for("h264", "aac", min_secs)
    }

    pub fn problems_for(&self, video_codec: &str, audio_codec: &str, min_secs: f64) -> Vec<String> {
        self.problems_want(Some(video_codec), Some(audio_codec), min_secs)
    }

    /// [`MediaReport::problems_for`] where either stream may be absent from the source
    /// (`None`: not wanted; a recording that has it anyway is not judged on it).
    pub fn problems_want(
        &self,
        video_codec: Option<&str>,
        audio_codec: Option<&str>,
        min_secs: f64,
    ) -> Vec<String> {
        let mut p = Vec::new();
        for (what, stats, want) in [
            ("video", &self.video, video_codec),
            ("audio", &self.audio, audio_codec),
        ] {
            let Some(want) = want else { continue };
            let Some(s) = stats else {
                p.push(format!("no {what} stream (want {want})"));
                continue;
            };
            if s.codec != want {
                p.push(format!("{what} stream is {:?}, want {want}", s.codec));
            }
            if s.packets < 2 {
                p.push(format!("{what} has only {} packet(s)", s.packets));
                continue;
            }
            if s.no_dts > 0 {
                p.push(format!("{what}: {} packets without DTS", s.no_dts));
            }
            if let Some((at, step)) = s.holes.first() {
                p.push(format!(
                    "{what} DTS hole (frames lost): {} step(s) > {HOLE_FACTOR} frame intervals \
                     of {:.1} ms; first: {step:.0} ms after DTS {at:.3} s; largest {:.0} ms",
                    s.holes.len(),
                    s.frame_ms,
                    s.max_step_ms()
                ));
            }
            if let Some((at, step)) = s.backwards.first() {
                p.push(format!(
                    "{what} DTS goes backwards or repeats {} time(s); first: {step:.0} ms after \
                     DTS {at:.3} s",
                    s.backwards.len()
                ));
            }
            if s.duration_s + 1e-6 < min_secs {
                p.push(format!(
                    "{what} covers {:.3} s ({} packets), want >= {min_secs} s",
                    s.duration_s, s.packets
                ));
            }
        }
        if let Some(v) = &self.video
            && video_codec.is_some()
            && v.packets > 0
            && !v.first_is_keyframe
        {
            p.push(format!(
                "first video packet is not a keyframe (flags {:?})",
                v.first_flags
            ));
        }
        if !self.decode_errors.is_empty() {
            p.push(format!(
                "{} decode error line(s), first: {:?}",
                self.decode_errors.len(),
                &self.decode_errors[..self.decode_errors.len().min(3)]
            ));
        }
        p
    }

    /// First audio PTS minus first video PTS (their smallest PTS), ms; `None` without both.
    pub fn av_start_gap_ms(&self) -> Option<f64> {
        let v = self.video.as_ref()?.start_pts?;
        let a = self.audio.as_ref()?.start_pts?;
        Some((a - v) * 1000.0)
    }

    /// Panics with every problem found and a summary of the recording.
    pub fn assert_clean(&self, min_secs: f64) {
        let problems = self.problems(min_secs);
        assert!(
            problems.is_empty(),
            "recording {} is not clean:\n  - {}\n{}",
            self.path.display(),
            problems.join("\n  - "),
            self.summary()
        );
    }

    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (what, stats) in [("video", &self.video), ("audio", &self.audio)] {
            match stats {
                None => _ = writeln!(out, "  {what}: none"),
                Some(s) => {
                    _ = writeln!(
                        out,
                        "  {what}: {} {}x{} {} Hz, {} packets ({} reordered), {:.3} s, \
                         median step {:.1} ms, max step {:.0} ms, {} hole(s), {} backwards, \
                         first flags {:?}, start PTS {:?}",
                        s.codec,
                        s.width,
                        s.height,
                        s.sample_rate,
                        s.packets,
                        s.reordered,
                        s.duration_s,
                        s.median_step_ms,
                        s.max_step_ms(),
                        s.holes.len(),
                        s.backwards.len(),
                        s.first_flags,
                        s.start_pts
                    )
                }
            }
        }
        _ = writeln!(out, "  decode errors: {}", self.decode_errors.len());
        if !self.probe_errors.is_empty() {
            _ = writeln!(out, "  ffprobe: {}", self.probe_errors);
        }
        out
    }
}
