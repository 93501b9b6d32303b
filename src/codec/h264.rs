//! H.264/AVC as carried in FLV/RTMP and MP4: the AVCDecoderConfigurationRecord (ISO/IEC
//! 14496-15 §5.2.4) sent in the AVC sequence header, iteration over the length-prefixed NAL
//! units of a frame, and conversion of a frame to Annex B byte-stream form (ITU-T H.264
//! Annex B) for MPEG-TS. Parameter sets and NAL units are zero-copy views of the input.

use super::Error;
use bytes::Bytes;

pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// Access unit delimiter NAL: primary_pic_type 7 (any slice type) plus the RBSP stop bit.
const AUD: [u8; 2] = [NAL_AUD, 0xf0];

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// AVCProfileIndication (66 baseline, 77 main, 100 high, ...).
    pub profile: u8,
    pub compatibility: u8,
    pub level: u8,
    /// Size in bytes of the length prefix of each NAL unit in frames: 1, 2 or 4.
    pub nalu_length_size: u8,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

/// Most bytes of SPS and PPS a configuration may carry together. Real ones take under 100; they
/// are repeated before every keyframe in HLS, so their size multiplies what a publisher sends.
pub const MAX_PARAMETER_SETS_LEN: usize = 1024;

impl AvcConfig {
    /// Parses the AVC sequence header body that follows the 5-byte FLV video tag header.
    /// Trailing data (such as the High-profile chroma/bit-depth extension) is ignored.
    pub fn parse(record: &Bytes) -> Result<Self, Error> {
        let &[
            version,
            profile,
            compatibility,
            level,
            length_byte,
            sps_byte,
            ..,
        ] = &record[..]
        else {
            return Err(Error::Truncated {
                what: "AVCDecoderConfigurationRecord",
                needed: 6,
                available: record.len(),
            });
        };
        if version != 1 {
            return Err(Error::Invalid {
                what: "AVC configurationVersion",
                value: version.into(),
                expected: "1",
            });
        }
        let nalu_length_size = (length_byte & 3) + 1;
        if nalu_length_size == 3 {
            return Err(Error::Invalid {
                what: "AVC NALU length size",
                value: 3,
                expected: "1, 2 or 4",
            });
        }
        let mut pos = 6;
        let sps = read_parameter_sets(record, &mut pos, sps_byte & 0x1f, NAL_SPS)?;
        let pps_count = *record.get(pos).ok_or(Error::Truncated {
            what: "AVC numOfPictureParameterSets",
            needed: pos + 1,
            available: record.len(),
        })?;
        pos += 1;
        let pps = read_parameter_sets(record, &mut pos, pps_count, NAL_PPS)?;
        let total: usize = sps.iter().chain(&pps).map(Bytes::len).sum();
        if total > MAX_PARAMETER_SETS_LEN {
            return Err(Error::Invalid {
                what: "AVC parameter sets' total length",
                value: total as u32,
                expected: "at most 1024 bytes",
            });
        }
        Ok(Self {
            profile,
            compatibility,
            level,
            nalu_length_size,
            sps,
            pps,
        })
    }
}

/// Reads `count` (at least one) 16-bit-length-prefixed parameter sets of NAL type `nal`.
fn read_parameter_sets(
    record: &Bytes,
    pos: &mut usize,
    count: u8,
    nal: u8,
) -> Result<Vec<Bytes>, Error> {
    let (count_what, what, expected) = if nal == NAL_SPS {
        (
            "AVC numOfSequenceParameterSets",
            "AVC SPS",
            "a non-empty NAL unit of type 7 (SPS)",
        )
    } else {
        (
            "AVC numOfPictureParameterSets",
            "AVC PPS",
            "a non-empty NAL unit of type 8 (PPS)",
        )
    };
    if count == 0 {
        return Err(Error::Invalid {
            what: count_what,
            value: 0,
            expected: "at least 1",
        });
    }
    let mut sets = Vec::with_capacity(count.into());
    for _ in 0..count {
        let set = nal_units(&record[*pos..], 2)
            .next()
            .unwrap_or(Err(Error::Truncated {
                what,
                needed: *pos + 2,
                available: record.len(),
            }))?;
        if nal_type(set) != nal {
            return Err(Error::Invalid {
                what,
                value: nal_type(set).into(),
                expected,
            });
        }
        let start = *pos + 2;
        sets.push(record.slice(start..start + set.len()));
        *pos = start + set.len();
    }
    Ok(sets)
}

/// Iterator over the length-prefixed NAL units of an AVC frame; see [`nal_units`].
#[derive(Debug, Clone)]
pub struct NaluIter<'a> {
    data: &'a [u8],
    length_size: u8,
}

/// Iterates the NAL units of `data`, each preceded by a big-endian length of `length_size`
/// (1, 2 or 4) bytes. A bad length size or a length running past the end yields one `Err`,
/// after which iteration stops.
pub fn nal_units(data: &[u8], length_size: u8) -> NaluIter<'_> {
    NaluIter { data, length_size }
}

impl<'a> Iterator for NaluIter<'a> {
    type Item = Result<&'a [u8], Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let result = self.split_first_nal();
        if result.is_err() {
            self.data = &[];
        }
        Some(result)
    }
}

impl<'a> NaluIter<'a> {
    fn split_first_nal(&mut self) -> Result<&'a [u8], Error> {
        let size = usize::from(self.length_size);
        if ![1, 2, 4].contains(&size) {
            return Err(Error::Invalid {
                what: "NALU length size",
                value: size as u32,
                expected: "1, 2 or 4",
            });
        }
        let (prefix, rest) = self.data.split_at_checked(size).ok_or(Error::Truncated {
            what: "NAL unit length prefix",
            needed: size,
            available: self.data.len(),
        })?;
        let len = prefix.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
        let (nal, rest) = rest.split_at_checked(len).ok_or(Error::Truncated {
            what: "length-prefixed NAL unit",
            needed: len,
            available: rest.len(),
        })?;
        self.data = rest;
        Ok(nal)
    }
}

/// The nal_unit_type of a NAL unit (its first byte & 0x1f); 0 for an empty one.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Appends `frame` (length-prefixed NAL units, as in FLV/MP4) to `out` in Annex B form with
/// 4-byte start codes, for MPEG-TS. An access unit delimiter is emitted first unless the frame
/// has one, and for keyframes (`keyframe` or an IDR slice present) the configuration's SPS and
/// PPS are inserted before the first non-AUD NAL unit unless the frame carries its own.
/// On error `out` is left unchanged.
pub fn to_annexb(
    frame: &[u8],
    cfg: &AvcConfig,
    keyframe: bool,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let (mut has_aud, mut has_idr, mut has_params) = (false, false, false);
    for nal in nal_units(frame, cfg.nalu_length_size) {
        match nal_type(nal?) {
            NAL_AUD => has_aud = true,
            NAL_IDR => has_idr = true,
            NAL_SPS | NAL_PPS => has_params = true,
            _ => {}
        }
    }
    let mut need_params = (keyframe || has_idr) && !has_params;
    if !has_aud {
        put_nal(out, &AUD);
    }
    for nal in nal_units(frame, cfg.nalu_length_size) {
        let nal = nal?;
        if need_params && nal_type(nal) != NAL_AUD {
            cfg.sps
                .iter()
                .chain(&cfg.pps)
                .for_each(|ps| put_nal(out, ps));
            need_params = false;
        }
        put_nal(out, nal);
    }
    Ok(())
}

fn put_nal(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&START_CODE);
    out.extend_from_slice(nal);
}

/// A small configuration for tests (baseline, one 2-byte SPS and PPS).
#[cfg(test)]
impl AvcConfig {
    pub(crate) fn tiny_fixture(nalu_length_size: u8) -> AvcConfig {
        AvcConfig {
            profile: 66,
            compatibility: 0,
            level: 30,
            nalu_length_size,
            sps: vec![Bytes::from_static(&[0x67, 1])],
            pps: vec![Bytes::from_static(&[0x68, 2])],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::reader::read_all;
    use crate::flv::tag::{TAG_VIDEO, VideoTagHeader};
    use proptest::prelude::*;

    const AAC_FLV: &[u8] = include_bytes!("../../tests/fixtures/h264_aac_2s.flv");

    /// The fixture's sequence header record: High profile, level 1.2, 4-byte lengths.
    fn fixture_record() -> Bytes {
        let tags = read_all(AAC_FLV);
        let tag = tags.iter().find(|t| t.tag_type == TAG_VIDEO).unwrap();
        assert!(
            VideoTagHeader::parse(&tag.body)
                .unwrap()
                .is_sequence_header()
        );
        tag.body.slice(5..)
    }

    #[test]
    fn parameter_sets_over_1_kib_are_refused() {
        // One SPS of 1,100 bytes: a record a publisher could repeat before every keyframe.
        let mut record = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1, 0x04, 0x4c, 0x67];
        record.resize(9 + 1099, 0);
        record.extend_from_slice(&[1, 0, 2, 0x68, 0xeb]);
        let err = AvcConfig::parse(&Bytes::from(record)).unwrap_err();
        assert!(err.to_string().contains("parameter sets"), "{err}");
    }

    #[test]
    fn parses_fixture_record() {
        let record = fixture_record();
        assert_eq!(
            &record[..8],
            &[0x01, 0x64, 0x00, 0x0c, 0xff, 0xe1, 0x00, 0x19]
        );
        let cfg = AvcConfig::parse(&record).unwrap();
        assert_eq!((cfg.profile, cfg.compatibility, cfg.level), (100, 0, 12));
        assert_eq!(cfg.nalu_length_size, 4);
        assert_eq!((cfg.sps.len(), cfg.pps.len()), (1, 1));
        assert_eq!((cfg.sps[0].len(), cfg.sps[0][0]), (25, 0x67));
        assert_eq!(&cfg.pps[0][..], &[0x68, 0xeb, 0xec, 0xb2, 0x2c]);
        // Zero-copy: the parameter sets point into the record.
        assert_eq!(cfg.sps[0].as_ptr(), record[8..].as_ptr());
    }

    #[test]
    fn fixture_frames_to_annexb() {
        let tags = read_all(AAC_FLV);
        let cfg = AvcConfig::parse(&fixture_record()).unwrap();
        let mut idr_frames = 0;
        for tag in tags.iter().filter(|t| t.tag_type == TAG_VIDEO) {
            let header = VideoTagHeader::parse(&tag.body).unwrap();
            if header.avc_packet_type != Some(1) {
                continue; // sequence header and end of sequence
            }
            let frame = &tag.body[header.header_len()..];
            let types: Vec<u8> = nal_units(frame, 4).map(|n| nal_type(n.unwrap())).collect();
            assert_eq!(types.contains(&NAL_IDR), header.is_keyframe());
            idr_frames += usize::from(header.is_keyframe());

            let mut out = Vec::new();
            to_annexb(frame, &cfg, header.is_keyframe(), &mut out).unwrap();
            assert_eq!(&out[..6], &[0, 0, 0, 1, NAL_AUD, 0xf0]);
            let params = [&[0, 0, 0, 1][..], &cfg.sps[0], &[0, 0, 0, 1], &cfg.pps[0]].concat();
            assert_eq!(out[6..].starts_with(&params), header.is_keyframe());
        }
        assert_eq!(idr_frames, 1);
    }

    #[test]
    fn annexb_keeps_in_band_aud_and_params() {
        let frame = [
            0, 2, 9, 0x10, 0, 2, 0x67, 9, 0, 2, 0x68, 9, 0, 3, 0x65, 1, 2,
        ];
        let mut out = vec![0xaa];
        to_annexb(&frame, &AvcConfig::tiny_fixture(2), true, &mut out).unwrap();
        let expected = [
            &[0xaa, 0, 0, 0, 1, 9, 0x10][..],
            &[0, 0, 0, 1, 0x67, 9, 0, 0, 0, 1, 0x68, 9],
            &[0, 0, 0, 1, 0x65, 1, 2],
        ];
        assert_eq!(out, expected.concat());
    }

    #[test]
    fn annexb_inserts_params_after_in_band_aud() {
        let frame = [2, 9, 0x10, 2, 6, 5, 1, 0x65];
        let mut out = Vec::new();
        to_annexb(&frame, &AvcConfig::tiny_fixture(1), false, &mut out).unwrap();
        let expected = [
            &[0, 0, 0, 1, 9, 0x10][..],
            &[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2],
            &[0, 0, 0, 1, 6, 5, 0, 0, 0, 1, 0x65],
        ];
        assert_eq!(out, expected.concat());
    }

    #[test]
    fn nalu_length_overflow() {
        let frame = [0, 0, 0, 2, 0x41, 1, 0, 0, 0, 9, 0x41];
        let nals: Vec<_> = nal_units(&frame, 4).collect();
        assert_eq!(nals[0], Ok(&[0x41, 1][..]));
        assert_eq!(
            nals[1],
            Err(Error::Truncated {
                what: "length-prefixed NAL unit",
                needed: 9,
                available: 1
            })
        );
        assert_eq!(nals.len(), 2);
        let mut out = Vec::new();
        assert!(to_annexb(&frame, &AvcConfig::tiny_fixture(4), true, &mut out).is_err());
        assert!(out.is_empty());
        assert!(nal_units(&[0, 0, 0], 4).next().unwrap().is_err());
        assert!(nal_units(&[1, 0x41], 3).next().unwrap().is_err());
        assert_eq!(nal_type(&[]), 0);
    }

    #[test]
    fn malformed_records() {
        let record = fixture_record();
        for len in 0..record.len() {
            // The fixture ends with a 4-byte High-profile extension that is not parsed.
            let truncated = AvcConfig::parse(&record.slice(..len));
            assert_eq!(truncated.is_ok(), len >= record.len() - 4, "len {len}");
        }
        let with = |i: usize, b: u8| {
            let mut r = record.to_vec();
            r[i] = b;
            AvcConfig::parse(&Bytes::from(r))
        };
        let zero_sps = with(5, 0xe0).unwrap_err();
        assert!(
            zero_sps
                .to_string()
                .contains("numOfSequenceParameterSets 0")
        );
        assert!(with(0, 2).is_err()); // configurationVersion
        assert!(with(4, 0xfe).is_err()); // 3-byte NALU lengths
        assert!(with(8, 0x68).is_err()); // PPS in the SPS list
        assert!(with(33, 0).is_err()); // zero PPS
    }

    proptest! {
        #[test]
        fn h264_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64), size in 0u8..6) {
            let _ = AvcConfig::parse(&Bytes::from(data.clone()));
            for nal in nal_units(&data, size) {
                let _ = nal.map(nal_type);
            }
            let mut out = Vec::new();
            let _ = to_annexb(&data, &AvcConfig::tiny_fixture(size), true, &mut out);
        }
    }
}
