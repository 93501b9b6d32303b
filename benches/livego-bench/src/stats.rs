//! What one player saw: bytes, frames, timestamp holes, when it connected and when its first
//! keyframe came, and (through the [`Probe`]) how old each video and audio message was on
//! arrival.
//! Sans-IO: the driver passes `now` and the frame; this module never reads a clock.

use std::time::{Duration, Instant};

use livego::flv::tag::{TAG_AUDIO, TAG_VIDEO};

use crate::hist::Histogram;
use crate::probe::{Probe, Sent, payload_key};

/// A video timestamp step larger than this is a hole.
pub const HOLE_MS: u32 = 1000;

#[derive(Debug, Default, Clone)]
pub struct PlayerStats {
    /// When the TCP connect started.
    pub connect_at: Option<Instant>,
    /// When Play.Start (RTMP) or a 200 response (HTTP-FLV) arrived.
    pub playing_since: Option<Instant>,
    /// Why it never started playing.
    pub failed: Option<String>,
    /// Why it stopped after it started playing (before the end of the run).
    pub disconnected: Option<String>,
    pub bytes: u64,
    pub video_frames: u64,
    pub audio_frames: u64,
    /// Video timestamps that went backwards or jumped more than [`HOLE_MS`].
    pub holes: u64,
    /// Connect → first keyframe (not a sequence header).
    pub first_keyframe: Option<Duration>,
    /// The last video timestamp received (sequence headers aside).
    pub last_video_ts: Option<u32>,
    /// Publisher timestamp minus received timestamp, learnt from the first video frame the
    /// probe recognised: turns received timestamps into the publisher's.
    pub ts_offset: Option<i64>,
}

impl PlayerStats {
    /// Play.Start (RTMP) or a 200 response (HTTP-FLV) arrived.
    pub fn playing(&self) -> bool {
        self.playing_since.is_some()
    }

    /// Accounts one video message. Players given a `latency` histogram record the age of
    /// each frame sent while they were playing; the others still look frames up until they
    /// learn their timestamp offset.
    pub fn on_video(
        &mut self,
        now: Instant,
        ts: u32,
        body: &[u8],
        publisher: usize,
        probe: &Probe,
        latency: Option<&mut Histogram>,
    ) {
        self.video_frames += 1;
        let first = body.first().copied().unwrap_or(0);
        let (keyframe, seq_header) = (first >> 4 == 1, body.get(1) == Some(&0) && first & 0xf == 7);
        if seq_header {
            return;
        }
        if keyframe && self.first_keyframe.is_none() {
            self.first_keyframe = self.connect_at.map(|c| now.saturating_duration_since(c));
        }
        if let Some(last) = self.last_video_ts
            && (ts < last || ts - last > HOLE_MS)
        {
            self.holes += 1;
        }
        self.last_video_ts = Some(ts);
        let wants_probe = latency.is_some() || self.ts_offset.is_none();
        if wants_probe
            && let Some(sent) =
                self.sample(now, payload_key(publisher, TAG_VIDEO, body), probe, latency)
        {
            self.ts_offset
                .get_or_insert(sent.ts_ms as i64 - i64::from(ts));
        }
    }

    /// Accounts one audio message. Players given a `latency` histogram (the audio one) record
    /// the age of each live message, as [`PlayerStats::on_video`] does for video.
    pub fn on_audio(
        &mut self,
        now: Instant,
        body: &[u8],
        publisher: usize,
        probe: &Probe,
        latency: Option<&mut Histogram>,
    ) {
        self.audio_frames += 1;
        if latency.is_some() {
            self.sample(now, payload_key(publisher, TAG_AUDIO, body), probe, latency);
        }
    }

    /// Looks a received message up in the probe by its `key`. If it is known and was sent
    /// after this player started playing, its age is recorded in `latency`. The age of
    /// messages sent before (the GOP cache, and what came while the player set up) is the
    /// time it took to join, not latency (`first_keyframe` measures that). Returns when it was
    /// sent.
    fn sample(
        &self,
        now: Instant,
        key: u64,
        probe: &Probe,
        latency: Option<&mut Histogram>,
    ) -> Option<Sent> {
        let sent = probe.lookup(key)?;
        if let Some(hist) = latency
            && self.playing_since.is_some_and(|p| sent.at >= p)
        {
            hist.record(now.saturating_duration_since(sent.at).as_micros() as u64);
        }
        Some(sent)
    }

    /// How far (ms) the last received video frame is behind the publisher's newest timestamp;
    /// `None` if the offset was never learnt.
    pub fn behind_ms(&self, publisher_ts: u64) -> Option<i64> {
        let last = i64::from(self.last_video_ts?) + self.ts_offset?;
        Some(publisher_ts as i64 - last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: &[u8] = &[0x17, 0, 0, 0, 0, 1, 2];
    fn key(n: u8) -> Vec<u8> {
        vec![0x17, 1, 0, 0, 0, n]
    }
    fn inter(n: u8) -> Vec<u8> {
        vec![0x27, 1, 0, 0, 0, n]
    }

    #[test]
    fn first_keyframe_holes_latency_and_lag() {
        let t0 = Instant::now();
        let mut probe = Probe::default();
        let sent_at = t0 + Duration::from_millis(5);
        probe.record(
            payload_key(0, TAG_VIDEO, &key(1)),
            Sent {
                at: sent_at,
                ts_ms: 10_000,
            },
        );
        let cached = Sent {
            at: t0 - Duration::from_millis(900),
            ts_ms: 9_100,
        };
        probe.record(payload_key(0, TAG_VIDEO, &inter(9)), cached);
        let at = |ms| t0 + Duration::from_millis(ms);
        let during_setup = Sent {
            at: at(1),
            ts_ms: 9_966,
        };
        probe.record(payload_key(0, TAG_VIDEO, &inter(8)), during_setup);
        let mut s = PlayerStats {
            connect_at: Some(t0),
            playing_since: Some(at(3)),
            ..Default::default()
        };
        let mut hist = Histogram::default();
        s.on_video(at(10), 0, SEQ, 0, &probe, Some(&mut hist));
        s.on_video(at(12), 9_000, &key(1), 0, &probe, Some(&mut hist));
        assert_eq!(s.first_keyframe, Some(Duration::from_millis(12)));
        assert_eq!(s.ts_offset, Some(1_000));
        assert_eq!(hist.count(), 1);
        assert_eq!(hist.max_us(), 7_000);
        s.on_video(at(40), 9_033, &inter(2), 0, &probe, Some(&mut hist));
        assert_eq!((s.holes, hist.count()), (0, 1)); // unknown frame: no sample
        s.on_video(at(50), 10_100, &inter(3), 0, &probe, None);
        assert_eq!(s.holes, 1); // +1067 ms
        s.on_video(at(60), 10_000, &inter(4), 0, &probe, None);
        assert_eq!(s.holes, 2); // backwards
        assert_eq!(s.video_frames, 5);
        assert_eq!(s.behind_ms(13_500), Some(2_500));
        s.on_video(at(70), 10_033, &inter(9), 0, &probe, Some(&mut hist));
        assert_eq!(hist.count(), 1); // sent before the player connected: not a sample
        s.on_video(at(71), 10_066, &inter(8), 0, &probe, Some(&mut hist));
        assert_eq!(hist.count(), 1); // sent while it set up: not a sample either
        assert_eq!(PlayerStats::default().behind_ms(1), None);
    }

    #[test]
    fn audio_latency_apart_from_video() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let aac = |n: u8| vec![0xaf, 1, n, n];
        let mut probe = Probe::default();
        let sent = |ms, ts_ms| Sent { at: at(ms), ts_ms };
        probe.record(payload_key(0, TAG_AUDIO, &aac(1)), sent(5, 100));
        probe.record(payload_key(0, TAG_AUDIO, &aac(2)), sent(0, 123));
        probe.record(payload_key(1, TAG_AUDIO, &aac(3)), sent(5, 146));
        // A video frame with an audio message's payload: the keys tell them apart.
        probe.record(payload_key(0, TAG_VIDEO, &aac(4)), sent(5, 169));
        let mut s = PlayerStats {
            connect_at: Some(t0),
            playing_since: Some(at(1)),
            ..Default::default()
        };
        let (mut audio, mut video) = (Histogram::default(), Histogram::default());
        s.on_audio(at(25), &aac(1), 0, &probe, Some(&mut audio));
        assert_eq!((audio.count(), audio.max_us()), (1, 20_000));
        s.on_audio(at(30), &aac(2), 0, &probe, Some(&mut audio)); // sent before it played
        s.on_audio(at(30), &aac(3), 0, &probe, Some(&mut audio)); // another publisher's
        s.on_audio(at(30), &aac(4), 0, &probe, Some(&mut audio)); // only known as video
        s.on_audio(at(40), &aac(1), 0, &probe, None); // not a probe player
        assert_eq!(audio.count(), 1);
        assert_eq!((s.audio_frames, s.video_frames, s.ts_offset), (5, 0, None));
        s.on_video(at(45), 0, &aac(1), 0, &probe, Some(&mut video)); // only known as audio
        assert_eq!((video.count(), s.ts_offset), (0, None));
        s.on_video(at(45), 69, &aac(4), 0, &probe, Some(&mut video));
        assert_eq!(
            (video.count(), video.max_us(), audio.count()),
            (1, 40_000, 1)
        );
        assert_eq!(s.ts_offset, Some(100)); // learnt from video only
    }
}
