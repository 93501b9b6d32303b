//! The HLS segmenter (src/hls/segmenter.rs) fed arbitrary FLV tag bodies and timestamps, the
//! playlist of what it makes (src/hls/playlist.rs), and the TS muxer (src/ts/muxer.rs) driven
//! directly.
//!
//! Input: [mode][rest]. `mode & 1 == 0` (segmenter): `mode >> 1` picks the fragment length and
//! window; `rest` is frames `[k][step?][len: u8, or u16 if k & 0x20][body]`: `k & 3` is video,
//! audio, script or end of session; `k >> 2 & 7` the timestamp step (0, 1, 33, 1000, the
//! fragment length, -500, -2^31, or a u32 that follows). Finished segments are kept in a
//! window of `window` segments, as the HLS store does.
//! `mode & 1 == 1` (muxer): [AVC record length: u8][record][AudioSpecificConfig: 2 or MP3 if
//! k & 2][ops `[k][pts: u32][len: u16][frame]`]: video frames (keyframe if `k & 4`), audio frames,
//! audio flushes, table rewrites with an added audio track.
//!
//! Asserts: no panic; every segment and all muxer output are whole 188-byte packets with sync
//! bytes, continuity counters that step by one per PID, adaptation fields within the packet and
//! PES start codes at every unit start; segments start with PAT and PMT, have a positive
//! duration, consecutive sequence numbers, and a discontinuity sequence that counts their
//! discontinuities; the playlist lists the window.
#![no_main]

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livego::codec::aac::AudioSpecificConfig;
use livego::codec::h264::AvcConfig;
use livego::codec::mp3::Version;
use livego::flv::tag::{TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};
use livego::hls::playlist::{SegmentInfo, render};
use livego::hls::segmenter::{Segment, Segmenter, SegmenterConfig};
use livego::ts::{AudioCodec, Muxer, PACKET_LEN, Tracks};
use livego_fuzz::{Bound, Input, bounded};

/// TS is bulky: a 10-byte AVC tag (5-byte header, 4-byte length, 1-byte NAL unit) plus 3 bytes
/// of framing here becomes a 188-byte packet (AUD, PES header, PCR, stuffing): ~15 bytes per
/// input byte, doubled while the segment vector grows and again for the window of finished
/// segments it is copied into: 64.
const PER_BYTE: usize = 64;
/// A segmenter preallocates 512 KiB for its first segment (INITIAL_SEGMENT_CAPACITY).
const BASE: usize = 1024 * 1024;

const FRAGMENTS: [u32; 4] = [0, 1, 100, 5000];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    let rest = input.rest();
    bounded("hls", data.len(), Bound::new(PER_BYTE, BASE), || {
        if mode & 1 == 0 {
            segmenter(mode >> 1, rest);
        } else {
            muxer(rest);
        }
    });
});

fn segmenter(mode: u8, data: &[u8]) {
    let config = SegmenterConfig {
        fragment_ms: FRAGMENTS[usize::from(mode & 3)],
        window: usize::from(mode >> 2 & 3) + 1,
        keep_after_end: false,
    };
    let window = config.window;
    let fragment = config.fragment_ms;
    let mut seg = Segmenter::new(config);
    let mut kept: VecDeque<Segment> = VecDeque::new();
    let mut next_sequence = 0;
    let mut discontinuities = 0;
    let mut finished = |s: Segment| {
        check_segment(&s, next_sequence, &mut discontinuities);
        next_sequence += 1;
        kept.push_back(s);
        if kept.len() > window {
            kept.pop_front();
        }
        let infos: Vec<SegmentInfo> = kept.iter().map(SegmentInfo::from).collect();
        let m3u8 = render(&infos, "/live/x/", false);
        assert!(m3u8.starts_with("#EXTM3U\n"));
        assert_eq!(m3u8.matches(".ts").count(), kept.len());
    };
    let mut input = Input::new(data);
    let mut ts = 0u32;
    while !input.is_empty() {
        let k = input.u8();
        let tag_type = match k & 3 {
            0 => TAG_VIDEO,
            1 => TAG_AUDIO,
            2 => TAG_SCRIPT,
            _ => {
                if let Some(s) = seg.end_session() {
                    finished(s);
                }
                continue;
            }
        };
        let step = match k >> 2 & 7 {
            0 => 0,
            1 => 1,
            2 => 33,
            3 => 1000,
            4 => fragment,
            5 => 500u32.wrapping_neg(),
            6 => 1 << 31,
            _ => input.u32(),
        };
        ts = if k >> 2 & 7 == 7 {
            step
        } else {
            ts.wrapping_add(step)
        };
        let len = if k & 0x20 != 0 {
            usize::from(input.u16())
        } else {
            usize::from(input.u8())
        };
        let body = Bytes::copy_from_slice(input.bytes(len));
        if let Some(s) = seg.push(tag_type, ts, &body) {
            finished(s);
        }
    }
    if let Some(s) = seg.end_session() {
        finished(s);
    }
}

fn check_segment(s: &Segment, sequence: u64, discontinuities: &mut u64) {
    assert_eq!(s.sequence, sequence, "sequence numbers");
    assert!(s.duration_ms > 0, "zero-length segment");
    *discontinuities += u64::from(s.discontinuity);
    assert_eq!(
        s.discontinuity_sequence, *discontinuities,
        "discontinuity sequence"
    );
    assert!(
        s.data.len() >= 2 * PACKET_LEN,
        "segment of {} bytes",
        s.data.len()
    );
    check_ts(&s.data, &mut HashMap::new());
    let pid = |p: &[u8]| u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
    assert_eq!(pid(&s.data[..]), 0, "segment does not start with a PAT");
    assert_eq!(pid(&s.data[PACKET_LEN..]), 0x1000, "PMT second");
}

/// Packet-level TS invariants; `cc` carries continuity counters across calls.
fn check_ts(ts: &[u8], cc: &mut HashMap<u16, u8>) {
    assert_eq!(ts.len() % PACKET_LEN, 0, "not whole packets");
    for (i, p) in ts.chunks(PACKET_LEN).enumerate() {
        assert_eq!(p[0], 0x47, "sync byte of packet {i}");
        let pid = u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
        let counter = p[3] & 0x0f;
        if let Some(prev) = cc.insert(pid, counter) {
            assert_eq!(
                counter,
                (prev + 1) & 0x0f,
                "continuity counter of PID {pid:#x}, packet {i}"
            );
        }
        let start = match p[3] >> 4 & 3 {
            1 => 4,
            3 => {
                let len = usize::from(p[4]);
                assert!(len <= 182, "adaptation field of {len} bytes");
                5 + len
            }
            afc => panic!("adaptation_field_control {afc} in packet {i}"),
        };
        if p[1] & 0x40 != 0 && (pid == 0x100 || pid == 0x101) {
            assert_eq!(p[start..start + 3], [0, 0, 1], "PES start code, packet {i}");
        }
    }
}

fn muxer(data: &[u8]) {
    let mut input = Input::new(data);
    let len = usize::from(input.u8());
    let record = Bytes::copy_from_slice(input.bytes(len));
    let k = input.u8();
    let audio = if k & 2 != 0 {
        Some(AudioCodec::Mpeg(
            [Version::Mpeg1, Version::Mpeg2, Version::Mpeg25][usize::from(k >> 2) % 3],
        ))
    } else {
        AudioSpecificConfig::parse(input.bytes(2))
            .ok()
            .map(AudioCodec::Aac)
    };
    let tracks = Tracks {
        video: AvcConfig::parse(&record).ok(),
        audio: if k & 1 != 0 { audio.clone() } else { None },
    };
    let mut muxer = Muxer::new(tracks);
    let mut out = Vec::new();
    let mut tables = Vec::new();
    muxer.write_tables(&mut tables);
    assert_eq!(tables.len(), 2 * PACKET_LEN);
    let mut cc = HashMap::new();
    while !input.is_empty() {
        let k = input.u8();
        let pts = (u64::from(input.u32()) << (k >> 5)) & ((1 << 33) - 1); // 90 kHz, 33 bits
        let len = usize::from(input.u16());
        let frame = Bytes::copy_from_slice(input.bytes(len));
        match k & 3 {
            0 => {
                let dts = pts.saturating_sub(u64::from(k >> 2 & 7) * 3000);
                let _ = muxer.write_video(&mut out, dts, pts, k & 4 != 0, &frame);
            }
            1 => muxer.write_audio(&mut out, pts, frame),
            2 => muxer.flush_audio(&mut out),
            _ => {
                if let Some(codec) = audio.clone().filter(|_| muxer.tracks().audio.is_none()) {
                    check_ts(&out, &mut cc);
                    out.clear();
                    muxer.add_audio(codec, &mut tables);
                    let mut pat = HashMap::new();
                    check_ts(&tables, &mut pat);
                }
            }
        }
    }
    muxer.flush_audio(&mut out);
    check_ts(&out, &mut cc);
}
