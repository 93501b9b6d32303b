//! The TS muxer for one program (ISO/IEC 13818-1 §2.4.3-§2.4.4): PAT + PMT, H.264 video on PID
//! 0x100 and AAC (ADTS) or MPEG audio on PID 0x101, PCR on the video PID (the audio PID when
//! there is no video). Frames come in as FLV/RTMP carries them and are copied exactly once,
//! straight into TS packets: Annex B and ADTS framing are gathered from slices, audio frames
//! are batched as shared [`Bytes`] until their PES is written.

use super::packet::{self, Adaptation, PACKET_LEN, Pid};
use super::pes::{PesHeader, STREAM_ID_AUDIO, STREAM_ID_VIDEO};
use super::psi;
use crate::codec::Error;
use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::{AvcConfig, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS, nal_type, nal_units};
use crate::codec::mp3;
use bytes::Bytes;

const PROGRAM: u16 = 1;
const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;

const STREAM_TYPE_H264: u8 = 0x1b;
const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;
const STREAM_TYPE_MPEG1_AUDIO: u8 = 0x03;
const STREAM_TYPE_MPEG2_AUDIO: u8 = 0x04;

/// How far (90 kHz) the PCR runs behind the DTS: the decoder's buffering time (700 ms, as
/// nginx-rtmp and ffmpeg use). Callers start their timestamps at this value so the first PCR is 0.
pub const PCR_LEAD: u64 = 63_000;

/// An audio PES collects frames for at most this long (90 kHz): few PES headers, yet PCR
/// intervals below 100 ms (§2.7.2) when audio carries the PCR.
const AUDIO_BATCH: u64 = 70 * 90;
/// Payload bound that keeps PES_packet_length (3 + 5 header bytes + payload) within 16 bits.
const AUDIO_PES_MAX: usize = 0xffff - 8;

const START_CODE: &[u8] = &[0, 0, 0, 1];
/// Access unit delimiter: primary_pic_type 7 (any slice type) and the RBSP stop bit.
const AUD: &[u8] = &[NAL_AUD, 0xf0];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioCodec {
    Aac(AudioSpecificConfig),
    /// MPEG audio (MP3) of the given version, carried as is.
    Mpeg(mp3::Version),
}

impl AudioCodec {
    fn stream_type(&self) -> u8 {
        match self {
            AudioCodec::Aac(_) => STREAM_TYPE_AAC_ADTS,
            AudioCodec::Mpeg(mp3::Version::Mpeg1) => STREAM_TYPE_MPEG1_AUDIO,
            AudioCodec::Mpeg(_) => STREAM_TYPE_MPEG2_AUDIO,
        }
    }
}

/// The elementary streams of the program and their configurations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracks {
    pub video: Option<AvcConfig>,
    pub audio: Option<AudioCodec>,
}

#[derive(Debug)]
pub struct Muxer {
    tracks: Tracks,
    pat: Pid,
    pmt: Pid,
    video: Pid,
    audio: Pid,
    batch: AudioBatch,
}

/// Audio frames waiting for their PES packet.
#[derive(Debug, Default)]
struct AudioBatch {
    /// The first frame's PTS.
    pts: u64,
    frames: Vec<Bytes>,
    len: usize,
}

impl Muxer {
    pub fn new(tracks: Tracks) -> Self {
        Self {
            tracks,
            pat: Pid::new(0),
            pmt: Pid::new(PMT_PID),
            video: Pid::new(VIDEO_PID),
            audio: Pid::new(AUDIO_PID),
            batch: AudioBatch::default(),
        }
    }

    pub fn tracks(&self) -> &Tracks {
        &self.tracks
    }

    /// Writes the PAT and the PMT (two packets).
    pub fn write_tables(&mut self, out: &mut Vec<u8>) {
        packet::write_section(out, &mut self.pat, &psi::pat(PROGRAM, PMT_PID));
        let pmt = self.pmt_section();
        packet::write_section(out, &mut self.pmt, &pmt);
    }

    /// Adds an audio track to a video-only program after the fact: `tables` (the two packets of
    /// the last [`Muxer::write_tables`]) get a PMT listing it, with the same continuity counter.
    /// For publishers whose first audio frame (MP3 has no sequence header) follows the keyframe.
    pub fn add_audio(&mut self, codec: AudioCodec, tables: &mut [u8]) {
        self.tracks.audio = Some(codec);
        let mut pmt = Pid {
            id: PMT_PID,
            cc: tables[PACKET_LEN + 3] & 0x0f,
        };
        let mut packet = Vec::with_capacity(PACKET_LEN);
        packet::write_section(&mut packet, &mut pmt, &self.pmt_section());
        tables[PACKET_LEN..2 * PACKET_LEN].copy_from_slice(&packet);
    }

    fn pmt_section(&self) -> Vec<u8> {
        let video = self
            .tracks
            .video
            .as_ref()
            .map(|_| (STREAM_TYPE_H264, VIDEO_PID));
        let audio = self
            .tracks
            .audio
            .as_ref()
            .map(|a| (a.stream_type(), AUDIO_PID));
        let streams: Vec<_> = video.into_iter().chain(audio).collect();
        let pcr_pid = if video.is_some() {
            VIDEO_PID
        } else {
            AUDIO_PID
        };
        psi::pmt(PROGRAM, pcr_pid, &streams)
    }

    /// Writes one H.264 frame (length-prefixed NAL units, as in FLV) as a PES packet in Annex B
    /// form: AUD first, SPS/PPS before keyframes (see `annexb`), a PCR and, for keyframes, the
    /// random_access_indicator. Timestamps are 90 kHz. Without a video track nothing is written;
    /// a malformed frame is an error and nothing is written either.
    pub fn write_video(
        &mut self,
        out: &mut Vec<u8>,
        dts: u64,
        pts: u64,
        keyframe: bool,
        frame: &[u8],
    ) -> Result<(), Error> {
        let Some(avc) = &self.tracks.video else {
            return Ok(());
        };
        let payload = annexb(frame, avc, keyframe)?;
        let len = payload.iter().map(|p| p.len()).sum();
        let header = PesHeader::new(STREAM_ID_VIDEO, pts, dts, len);
        let adaptation = Adaptation {
            random_access: keyframe,
            pcr: Some(dts.wrapping_sub(PCR_LEAD)),
        };
        packet::write_unit(
            out,
            &mut self.video,
            adaptation,
            header.as_bytes(),
            &payload,
        );
        Ok(())
    }

    /// Queues one audio frame (raw AAC or an MP3 frame) with its 90 kHz PTS, first writing the
    /// pending batch if this frame would make it too long or too large.
    pub fn write_audio(&mut self, out: &mut Vec<u8>, pts: u64, frame: Bytes) {
        let batch = &self.batch;
        if !batch.frames.is_empty()
            && (pts.wrapping_sub(batch.pts) >= AUDIO_BATCH
                || batch.len + 7 + frame.len() > AUDIO_PES_MAX)
        {
            self.flush_audio(out);
        }
        let batch = &mut self.batch;
        if batch.frames.is_empty() {
            batch.pts = pts;
        }
        batch.len += 7 + frame.len(); // room for an ADTS header
        batch.frames.push(frame);
    }

    /// Writes the queued audio frames as one PES packet (AAC frames get ADTS headers).
    pub fn flush_audio(&mut self, out: &mut Vec<u8>) {
        let AudioBatch { pts, frames, len } = &mut self.batch;
        if frames.is_empty() {
            return;
        }
        let adts: Vec<[u8; 7]> = match &self.tracks.audio {
            Some(AudioCodec::Aac(config)) => {
                frames.iter().map(|f| config.adts_header(f.len())).collect()
            }
            _ => Vec::new(),
        };
        let mut payload: Vec<&[u8]> = Vec::with_capacity(2 * frames.len());
        for (i, frame) in frames.iter().enumerate() {
            if let Some(header) = adts.get(i) {
                payload.push(header);
            }
            payload.push(frame);
        }
        let payload_len = payload.iter().map(|p| p.len()).sum();
        let header = PesHeader::new(STREAM_ID_AUDIO, *pts, *pts, payload_len);
        // Audio-only: the audio PID carries the PCR and every frame is a random access point.
        let carries_pcr = self.tracks.video.is_none();
        let adaptation = Adaptation {
            random_access: carries_pcr,
            pcr: carries_pcr.then(|| pts.wrapping_sub(PCR_LEAD)),
        };
        packet::write_unit(
            out,
            &mut self.audio,
            adaptation,
            header.as_bytes(),
            &payload,
        );
        frames.clear();
        *len = 0;
    }
}

/// The Annex B form of an AVCC `frame` as a list of slices: exactly the bytes
/// [`to_annexb`](crate::codec::h264::to_annexb) would write (AUD first unless present, SPS/PPS
/// before the first non-AUD NAL unit of a keyframe unless present), but without copying.
fn annexb<'a>(frame: &'a [u8], avc: &'a AvcConfig, keyframe: bool) -> Result<Vec<&'a [u8]>, Error> {
    let (mut has_aud, mut has_idr, mut has_params, mut count) = (false, false, false, 0);
    for nal in nal_units(frame, avc.nalu_length_size) {
        match nal_type(nal?) {
            NAL_AUD => has_aud = true,
            NAL_IDR => has_idr = true,
            NAL_SPS | NAL_PPS => has_params = true,
            _ => {}
        }
        count += 1;
    }
    let mut need_params = (keyframe || has_idr) && !has_params;
    let mut pieces = Vec::with_capacity(2 * (1 + count + avc.sps.len() + avc.pps.len()));
    if !has_aud {
        pieces.extend([START_CODE, AUD]);
    }
    for nal in nal_units(frame, avc.nalu_length_size).flatten() {
        if need_params && nal_type(nal) != NAL_AUD {
            for set in avc.sps.iter().chain(&avc.pps) {
                pieces.extend([START_CODE, set]);
            }
            need_params = false;
        }
        pieces.extend([START_CODE, nal]);
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::h264::to_annexb;
    use crate::flv::reader::read_all;
    use crate::flv::tag::{TAG_VIDEO, VideoTagHeader};
    use crate::ts::demux::{self, packets, units};

    const AAC_FLV: &[u8] = include_bytes!("../../tests/fixtures/h264_aac_2s.flv");

    /// AAC-LC, 44.1 kHz, stereo.
    fn aac() -> AudioCodec {
        AudioCodec::Aac(AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap())
    }

    fn annexb_bytes(frame: &[u8], avc: &AvcConfig, keyframe: bool) -> Vec<u8> {
        annexb(frame, avc, keyframe).unwrap().concat()
    }

    #[test]
    fn annexb_matches_to_annexb() {
        let tags = read_all(AAC_FLV);
        let record = tags.iter().find(|t| t.tag_type == TAG_VIDEO).unwrap();
        let cfg = AvcConfig::parse(&record.body.slice(5..)).unwrap();
        let frames = tags.iter().filter(|t| t.tag_type == TAG_VIDEO).skip(1);
        for tag in frames {
            let header = VideoTagHeader::parse(&tag.body).unwrap();
            let frame = &tag.body[header.header_len()..];
            let mut expected = Vec::new();
            to_annexb(frame, &cfg, header.is_keyframe(), &mut expected).unwrap();
            assert_eq!(annexb_bytes(frame, &cfg, header.is_keyframe()), expected);
        }
        // In-band AUD and parameter sets are kept; parameter sets go after an in-band AUD.
        for frame in [
            &[
                0, 2, 9, 0x10, 0, 2, 0x67, 9, 0, 2, 0x68, 9, 0, 3, 0x65, 1, 2,
            ][..],
            &[0, 2, 9, 0x10, 0, 2, 6, 5, 0, 1, 0x65],
            &[0, 2, 6, 5, 0, 1, 0x41],
        ] {
            for keyframe in [false, true] {
                let mut expected = Vec::new();
                to_annexb(frame, &AvcConfig::tiny_fixture(2), keyframe, &mut expected).unwrap();
                assert_eq!(
                    annexb_bytes(frame, &AvcConfig::tiny_fixture(2), keyframe),
                    expected
                );
            }
        }
        assert!(annexb(&[0, 0, 0, 9, 0x65], &AvcConfig::tiny_fixture(4), true).is_err());
    }

    #[test]
    fn tables_and_late_audio() {
        let mut muxer = Muxer::new(Tracks {
            video: Some(AvcConfig::tiny_fixture(4)),
            audio: None,
        });
        let mut out = Vec::new();
        muxer.write_tables(&mut out);
        muxer.write_tables(&mut out);
        let ps = packets(&out);
        assert_eq!(ps.len(), 4);
        let pat = [&[0x47, 0x40, 0x00, 0x11, 0x00][..], &psi::pat(1, 0x1000)].concat();
        assert_eq!(out[2 * PACKET_LEN..][..pat.len()], pat);
        // PMT: PCR on 0x100, H.264 on 0x100.
        let pmt = [
            0x47, 0x50, 0x00, 0x11, 0x00, 0x02, 0xb0, 0x12, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1,
            0x00, 0xf0, 0x00, 0x1b, 0xe1, 0x00, 0xf0, 0x00,
        ];
        assert_eq!(out[3 * PACKET_LEN..][..pmt.len()], pmt);

        muxer.add_audio(aac(), &mut out[2 * PACKET_LEN..]);
        assert_eq!(muxer.tracks().audio, Some(aac()));
        let section = psi::pmt(1, 0x100, &[(0x1b, 0x100), (0x0f, 0x101)]);
        let pmt = [&[0x47, 0x50, 0x00, 0x11, 0x00][..], &section].concat();
        assert_eq!(out[3 * PACKET_LEN..][..pmt.len()], pmt);
        assert!(out[3 * PACKET_LEN + pmt.len()..].iter().all(|&b| b == 0xff));
        packets(&out); // counters unchanged

        let mp3 = Muxer::new(Tracks {
            video: None,
            audio: Some(AudioCodec::Mpeg(mp3::Version::Mpeg2)),
        });
        assert_eq!(
            mp3.pmt_section()[8..17],
            [0xe1, 0x01, 0xf0, 0, 4, 0xe1, 0x01, 0xf0, 0]
        );
    }

    #[test]
    fn video_pes() {
        let mut muxer = Muxer::new(Tracks {
            video: Some(AvcConfig::tiny_fixture(4)),
            audio: Some(aac()),
        });
        let idr = [0, 0, 0, 3, 0x65, 0x88, 0x84];
        let mut out = Vec::new();
        muxer
            .write_video(&mut out, 90_000, 93_003, true, &idr)
            .unwrap();
        muxer
            .write_video(&mut out, 93_003, 93_003, false, &[0, 0, 0, 2, 0x41, 0x9a])
            .unwrap();
        let ps = packets(&out);
        let pes = units(&ps, VIDEO_PID);
        assert_eq!(pes.len(), 2);

        let (first, unit) = &pes[0];
        assert!(first.random_access());
        assert_eq!(first.pcr(), Some(90_000 - PCR_LEAD));
        let body = [
            &[
                0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2,
            ][..],
            &[0, 0, 0, 1, 0x65, 0x88, 0x84],
        ]
        .concat();
        let header = PesHeader::new(STREAM_ID_VIDEO, 93_003, 90_000, body.len());
        assert_eq!(unit[..], [header.as_bytes(), &body].concat());
        assert_eq!(demux::timestamp(unit, 9), 93_003);
        assert_eq!(demux::timestamp(unit, 14), 90_000);

        let (second, unit) = &pes[1];
        assert!(!second.random_access());
        assert_eq!(second.pcr(), Some(93_003 - PCR_LEAD));
        assert_eq!(unit[7..9], [0x80, 5]); // PTS only
        assert_eq!(unit[14..], [0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x41, 0x9a]);

        // A malformed frame is refused and writes nothing.
        let len = out.len();
        assert!(
            muxer
                .write_video(&mut out, 0, 0, true, &[0, 0, 0, 9, 0x65])
                .is_err()
        );
        assert_eq!(out.len(), len);
    }

    #[test]
    fn audio_batches_with_adts() {
        let mut muxer = Muxer::new(Tracks {
            video: None,
            audio: Some(aac()),
        });
        let mut out = Vec::new();
        // 1024 samples at 44.1 kHz = 2090 ticks: four frames fit in 70 ms, the fifth starts a PES.
        for i in 0..6u8 {
            let frame = Bytes::from(vec![i; 100]);
            muxer.write_audio(&mut out, 63_000 + 2090 * u64::from(i), frame);
        }
        assert!(!out.is_empty());
        muxer.flush_audio(&mut out);
        muxer.flush_audio(&mut out); // nothing pending: no-op
        let ps = packets(&out);
        let pes = units(&ps, AUDIO_PID);
        assert_eq!(pes.len(), 2);
        // ADTS: AAC-LC (profile 1), index 4, 2 channels, frame_length 107 = 0x6b.
        let adts = [0xff, 0xf1, 0x50, 0x80, 0x0d, 0x7f, 0xfc];
        let (first, unit) = &pes[0];
        assert!(first.random_access());
        assert_eq!(first.pcr(), Some(0));
        let frames: Vec<u8> = (0..4u8)
            .flat_map(|i| [&adts[..], &[i; 100]].concat())
            .collect();
        let header = PesHeader::new(STREAM_ID_AUDIO, 63_000, 63_000, 4 * 107);
        assert_eq!(unit[..], [header.as_bytes(), &frames].concat());
        assert_eq!(pes[1].0.pcr(), Some(4 * 2090));
        assert_eq!(pes[1].1.len(), 14 + 2 * 107);
        assert_eq!(demux::timestamp(&pes[1].1, 9), 63_000 + 4 * 2090);
    }

    #[test]
    fn mp3_as_is_without_pcr_next_to_video() {
        let mut muxer = Muxer::new(Tracks {
            video: Some(AvcConfig::tiny_fixture(4)),
            audio: Some(AudioCodec::Mpeg(mp3::Version::Mpeg1)),
        });
        let mut out = Vec::new();
        muxer.write_audio(
            &mut out,
            1000,
            Bytes::from_static(&[0xff, 0xfb, 0x50, 0xc4, 7]),
        );
        muxer.flush_audio(&mut out);
        let ps = packets(&out);
        let pes = units(&ps, AUDIO_PID);
        assert_eq!(pes.len(), 1);
        assert_eq!(pes[0].0.pcr(), None);
        assert!(!pes[0].0.random_access());
        assert_eq!(pes[0].1[14..], [0xff, 0xfb, 0x50, 0xc4, 7]);
        assert_eq!(pes[0].1[4..6], [0, 13]);
    }
}
