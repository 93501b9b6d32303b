//! Codec parsers (src/codec): H.264 AVCDecoderConfigurationRecord, length-prefixed NAL units and
//! the Annex B conversion, AAC AudioSpecificConfig and its ADTS header, MP3 frame headers, and
//! the FLV audio/video tag headers in front of them.
//!
//! Input: [mode][rest]. `mode % 4`:
//! - 0: [record length: u16][record][frame]: `AvcConfig::parse(record)`, then `to_annexb(frame)`
//!   with it (keyframe = `mode & 4`) and `nal_units(frame, any length size)`.
//! - 1: [payload length: u16][AudioSpecificConfig] and `adts_header(payload length)`.
//! - 2: a sequence of MP3 frames, walked header to header.
//! - 3: an FLV audio or video tag body (`mode & 4`: video), parsed as the segmenter does.
//!
//! Asserts: no panic; a parsed AVC record has 1/2/4-byte lengths and non-empty SPS (type 7) and
//! PPS (type 8) views of the record; `to_annexb` leaves `out` untouched on error and otherwise
//! writes exactly AUD (unless present) + each NAL unit with a start code + SPS/PPS before the
//! first non-AUD unit of a keyframe that lacks them; ADTS headers carry the sync word, profile,
//! rate, channels and clamped length the config says; MP3 headers give sane fields and a frame
//! length over 4; tag header lengths never exceed the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livego::codec::aac::AudioSpecificConfig;
use livego::codec::h264::{self, AvcConfig, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS};
use livego::codec::mp3::FrameHeader;
use livego::flv::tag::{AudioTagHeader, CODEC_AVC, SOUND_AAC, SOUND_MP3, VideoTagHeader};
use livego_fuzz::{Bound, Input, bounded};

/// Parameter sets are 32-byte `Bytes` views (at least 3 input bytes each); Annex B output is at
/// most 4 bytes per input byte (an empty NAL unit behind a 1-byte length becomes a 4-byte start
/// code) plus the parameter sets once; doubled while vectors grow.
const PER_BYTE: usize = 32;
const BASE: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    bounded("codec", data.len(), Bound::new(PER_BYTE, BASE), || {
        match mode % 4 {
            0 => {
                let len = usize::from(input.u16());
                let record = Bytes::copy_from_slice(input.bytes(len));
                let frame = input.rest();
                avc(&record, frame, mode & 4 != 0, mode >> 3);
            }
            1 => {
                let payload_len = usize::from(input.u16());
                aac(input.rest(), payload_len);
            }
            2 => mp3(input.rest()),
            _ => tag(Bytes::copy_from_slice(input.rest()), mode & 4 != 0),
        }
    });
});

fn avc(record: &Bytes, frame: &[u8], keyframe: bool, length_size: u8) {
    for nal in h264::nal_units(frame, length_size) {
        if nal.is_err() {
            break;
        }
    }
    let Ok(cfg) = AvcConfig::parse(record) else {
        return;
    };
    assert!([1, 2, 4].contains(&cfg.nalu_length_size));
    assert!(!cfg.sps.is_empty() && !cfg.pps.is_empty());
    let within = |b: &Bytes| record.as_ptr_range().contains(&b.as_ptr()) || b.is_empty();
    for (sets, nal) in [(&cfg.sps, NAL_SPS), (&cfg.pps, NAL_PPS)] {
        for set in sets {
            assert_eq!(h264::nal_type(set), nal);
            assert!(within(set), "parameter set is not a view of the record");
        }
    }

    // Expected Annex B size, computed independently.
    let nals: Result<Vec<&[u8]>, _> = h264::nal_units(frame, cfg.nalu_length_size).collect();
    let mut out = vec![0xEE; 3];
    let result = h264::to_annexb(frame, &cfg, keyframe, &mut out);
    let Ok(nals) = nals else {
        assert!(
            result.is_err(),
            "to_annexb accepted a frame nal_units rejects"
        );
        assert_eq!(out, [0xEE; 3], "to_annexb wrote on error");
        return;
    };
    result.expect("to_annexb rejected a frame nal_units accepts");
    let types: Vec<u8> = nals.iter().map(|n| h264::nal_type(n)).collect();
    let has = |t: u8| types.contains(&t);
    let params = (keyframe || has(NAL_IDR)) && !has(NAL_SPS) && !has(NAL_PPS);
    let inserted = params && types.iter().any(|&t| t != NAL_AUD);
    let sets: usize = cfg.sps.iter().chain(&cfg.pps).map(|s| 4 + s.len()).sum();
    let expected = 3
        + if has(NAL_AUD) { 0 } else { 6 }
        + nals.iter().map(|n| 4 + n.len()).sum::<usize>()
        + if inserted { sets } else { 0 };
    assert_eq!(out.len(), expected, "Annex B size");
    assert_eq!(out[3..7], [0, 0, 0, 1]);
}

fn aac(data: &[u8], payload_len: usize) {
    let Ok(asc) = AudioSpecificConfig::parse(data) else {
        return;
    };
    assert!((1..=95).contains(&asc.object_type));
    assert!(asc.channel_config <= 7 && asc.sample_rate > 0);
    let h = asc.adts_header(payload_len);
    assert_eq!(h[..2], [0xff, 0xf1]);
    let profile = match asc.object_type {
        1..=4 => asc.object_type - 1,
        _ => 1,
    };
    assert_eq!(h[2] >> 6, profile);
    let rate_index = h[2] >> 2 & 0xf;
    assert!(rate_index < 13);
    if asc.sample_rate_index < 13 {
        assert_eq!(rate_index, asc.sample_rate_index);
    }
    assert_eq!((h[2] & 1) << 2 | h[3] >> 6, asc.channel_config);
    let len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
    assert_eq!(len, (payload_len + 7).min(0x1fff));
}

fn mp3(mut data: &[u8]) {
    while let Ok(h) = FrameHeader::parse(data) {
        assert!((1..=3).contains(&h.layer));
        assert!(h.bitrate_kbps > 0 && h.sample_rate >= 8000 && h.sample_rate <= 48000);
        assert!(h.channels == 1 || h.channels == 2);
        assert!(h.frame_len > 4, "frame length {} for {h:?}", h.frame_len);
        let Some(rest) = data.get(h.frame_len..) else {
            return;
        };
        data = rest;
    }
}

/// What the HLS segmenter does with a tag body.
fn tag(body: Bytes, video: bool) {
    if video {
        let Ok(h) = VideoTagHeader::parse(&body) else {
            return;
        };
        assert!(h.header_len() <= body.len());
        if h.codec_id == CODEC_AVC && h.is_sequence_header() {
            let _ = AvcConfig::parse(&body.slice(h.header_len()..));
        }
    } else {
        let Ok(h) = AudioTagHeader::parse(&body) else {
            return;
        };
        assert!(h.header_len() <= body.len());
        let payload = body.slice(h.header_len()..);
        match h.sound_format {
            SOUND_AAC if h.is_sequence_header() => {
                let _ = AudioSpecificConfig::parse(&payload);
            }
            SOUND_MP3 => {
                let _ = FrameHeader::parse(&payload);
            }
            _ => {}
        }
    }
}
