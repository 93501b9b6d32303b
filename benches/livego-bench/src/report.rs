//! The end-of-run summary: one JSON object (see `livego-bench --help`).

use serde_json::{Value, json};

use crate::hist::Histogram;
use crate::stats::PlayerStats;

/// A player is lagging when its last video frame is this far behind the publisher.
pub const LAG_MS: i64 = 2000;

/// One player's stats and how it was run.
pub struct Entry<'a> {
    pub stats: &'a PlayerStats,
    pub slow: bool,
    /// The newest timestamp its publisher sent, if there is an in-process publisher.
    pub publisher_ts: Option<u64>,
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

/// Run-wide figures that do not come from the players.
pub struct Totals {
    /// Probe players' video latency (`latency_ms`).
    pub latency: Histogram,
    /// Probe players' audio latency (`audio_latency_ms`).
    pub audio_latency: Histogram,
    /// Seconds from the first join to the end.
    pub play_secs: f64,
    pub wall_secs: f64,
    pub cpu_secs: f64,
    /// With --hls: closing keyframe sent -> segment in the playlist.
    pub hls_segment: Option<Histogram>,
    pub publishers: Value,
}

fn group(entries: &[&Entry]) -> (Value, Histogram) {
    let mut first_frame = Histogram::default();
    let (mut connected, mut failed, mut disconnected, mut holes, mut lagging) = (0, 0, 0, 0, 0);
    let (mut bytes, mut video, mut audio, mut no_video) = (0u64, 0u64, 0u64, 0);
    let mut errors: Vec<&str> = Vec::new();
    for e in entries {
        let s = e.stats;
        connected += u64::from(s.playing());
        failed += u64::from(s.failed.is_some());
        disconnected += u64::from(s.disconnected.is_some());
        holes += s.holes;
        bytes += s.bytes;
        video += s.video_frames;
        audio += s.audio_frames;
        if let Some(d) = s.first_keyframe {
            first_frame.record(d.as_micros() as u64);
        } else if s.playing() {
            no_video += 1;
        }
        if s.playing()
            && let Some(ts) = e.publisher_ts
            && s.behind_ms(ts).is_none_or(|b| b > LAG_MS)
        {
            lagging += 1;
        }
        for why in [&s.failed, &s.disconnected].into_iter().flatten() {
            if errors.len() < 5 && !errors.contains(&why.as_str()) {
                errors.push(why);
            }
        }
    }
    let value = json!({
        "players": entries.len(),
        "connected": connected,
        "failed": failed,
        "disconnected": disconnected,
        "without_keyframe": no_video,
        "frame_holes": holes,
        "lagging_players": lagging,
        "bytes": bytes,
        "video_frames": video,
        "audio_frames": audio,
        "errors": errors,
    });
    (value, first_frame)
}

/// A latency histogram's p50, p99 and maximum (ms), and how many samples it holds.
fn latency(h: &Histogram) -> Value {
    json!({
        "p50": ms(h.quantile_us(0.5)),
        "p99": ms(h.quantile_us(0.99)),
        "max": ms(h.max_us()),
        "samples": h.count(),
    })
}

pub fn summarize(entries: &[Entry], totals: &Totals) -> Value {
    let normal: Vec<&Entry> = entries.iter().filter(|e| !e.slow).collect();
    let slow: Vec<&Entry> = entries.iter().filter(|e| e.slow).collect();
    let (mut out, first_frame) = group(&normal);
    let bytes: u64 = entries.iter().map(|e| e.stats.bytes).sum();
    let extra = json!({
        "first_frame_ms": {
            "p50": ms(first_frame.quantile_us(0.5)),
            "p95": ms(first_frame.quantile_us(0.95)),
            "max": ms(first_frame.max_us()),
            "count": first_frame.count(),
        },
        "latency_ms": latency(&totals.latency),
        "audio_latency_ms": latency(&totals.audio_latency),
        "hls_segment_ms": totals.hls_segment.as_ref().map(|h| json!({
            "p50": ms(h.quantile_us(0.5)),
            "p99": ms(h.quantile_us(0.99)),
            "max": ms(h.max_us()),
            "count": h.count(),
        })),
        "delivered_mbit_s": bytes as f64 * 8.0 / totals.play_secs.max(1e-3) / 1e6,
        "play_secs": totals.play_secs,
        "wall_secs": totals.wall_secs,
        "cpu_secs": totals.cpu_secs,
        "cpu_percent": totals.cpu_secs / totals.wall_secs.max(1e-3) * 100.0,
        "publishers": totals.publishers,
        "slow": group(&slow).0,
    });
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
    }
    out
}

/// User + system CPU seconds of this process so far.
pub fn cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn groups_normal_and_slow_players() {
        let ok = PlayerStats {
            playing_since: Some(std::time::Instant::now()),
            bytes: 1_000_000,
            first_keyframe: Some(Duration::from_millis(20)),
            last_video_ts: Some(9_000),
            ts_offset: Some(0),
            ..Default::default()
        };
        let behind = PlayerStats {
            last_video_ts: Some(5_000),
            ..ok.clone()
        };
        let failed = PlayerStats {
            failed: Some("refused".into()),
            ..Default::default()
        };
        let entry = |stats, slow| Entry {
            stats,
            slow,
            publisher_ts: Some(10_000),
        };
        let entries = [
            entry(&ok, false),
            entry(&failed, false),
            entry(&behind, true),
        ];
        let mut audio_latency = Histogram::default();
        audio_latency.record(42_000);
        let totals = Totals {
            latency: Histogram::default(),
            audio_latency,
            play_secs: 2.0,
            wall_secs: 4.0,
            cpu_secs: 1.0,
            hls_segment: None,
            publishers: json!([]),
        };
        let v = summarize(&entries, &totals);
        assert_eq!(v["players"], 2);
        assert_eq!(v["connected"], 1);
        assert_eq!(v["failed"], 1);
        assert_eq!(v["lagging_players"], 0); // a failed player is not counted as lagging
        assert_eq!(v["errors"][0], "refused");
        assert_eq!(v["slow"]["lagging_players"], 1);
        assert_eq!(v["first_frame_ms"]["max"], 20.0);
        assert_eq!(v["delivered_mbit_s"], 8.0);
        assert_eq!(v["cpu_percent"], 25.0);
        assert_eq!(v["latency_ms"]["samples"], 0);
        let audio = &v["audio_latency_ms"];
        assert_eq!(
            (audio["samples"].as_u64(), audio["max"].as_f64()),
            (Some(1), Some(42.0))
        );
        assert!(audio["p50"].as_f64().is_some() && audio["p99"].as_f64().is_some());
    }
}
