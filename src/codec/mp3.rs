//! MPEG audio frame headers (ISO/IEC 11172-3 §2.4.2.3 and ISO/IEC 13818-3 §2.4.2.3, plus the
//! unofficial MPEG-2.5 extension): the 32-bit header that starts every MP3 frame, carried in
//! FLV audio tags with SoundFormat 2. Free-format bitrates and reserved values are rejected.

use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Mpeg1,
    Mpeg2,
    Mpeg25,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub version: Version,
    /// 1, 2 or 3.
    pub layer: u8,
    pub bitrate_kbps: u32,
    pub sample_rate: u32,
    pub channels: u8,
    pub padding: bool,
    /// Length of the whole frame in bytes, header included.
    pub frame_len: usize,
    pub samples_per_frame: u32,
}

/// Bitrates in kbit/s for bitrate_index 1..=14: MPEG-1 layers I, II, III, then MPEG-2/2.5
/// layer I and layers II/III.
const BITRATES: [[u16; 14]; 5] = [
    [
        32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ],
    [
        32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ],
    [
        32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    [
        32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ],
    [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

impl FrameHeader {
    /// Parses the 4-byte header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        let &[b0, b1, b2, b3, ..] = data else {
            return Err(Error::Truncated {
                what: "MP3 frame header",
                needed: 4,
                available: data.len(),
            });
        };
        let invalid = |what, value: u8, expected| Error::Invalid {
            what,
            value: value.into(),
            expected,
        };
        if b0 != 0xff || b1 & 0xe0 != 0xe0 {
            return Err(Error::Invalid {
                what: "MP3 frame sync",
                value: u32::from(b0) << 3 | u32::from(b1 >> 5),
                expected: "0x7ff (11 set bits); the data is not at a frame boundary",
            });
        }
        let (version, base_rate) = match (b1 >> 3) & 3 {
            0 => (Version::Mpeg25, 11025),
            2 => (Version::Mpeg2, 22050),
            3 => (Version::Mpeg1, 44100),
            v => {
                return Err(invalid(
                    "MPEG audio version ID",
                    v,
                    "0, 2 or 3 (1 is reserved)",
                ));
            }
        };
        let layer = 4 - ((b1 >> 1) & 3);
        if layer == 4 {
            return Err(invalid("MPEG audio layer bits", 0, "1..=3 (0 is reserved)"));
        }
        let bitrate_index = b2 >> 4;
        let table = match (version, layer) {
            (Version::Mpeg1, _) => usize::from(layer - 1),
            (_, 1) => 3,
            _ => 4,
        };
        let bitrate_kbps = match bitrate_index {
            1..=14 => u32::from(BITRATES[table][usize::from(bitrate_index - 1)]),
            _ => {
                return Err(invalid(
                    "MP3 bitrate index",
                    bitrate_index,
                    "1..=14 (0 free format, 15 bad)",
                ));
            }
        };
        let sample_rate = match (b2 >> 2) & 3 {
            0 => base_rate,
            1 => base_rate * 48000 / 44100,
            2 => base_rate * 32000 / 44100,
            r => {
                return Err(invalid(
                    "MP3 sampling frequency index",
                    r,
                    "0..=2 (3 is reserved)",
                ));
            }
        };
        if b3 & 3 == 2 {
            return Err(invalid("MP3 emphasis", 2, "0, 1 or 3 (2 is reserved)"));
        }
        let samples_per_frame = match (layer, version) {
            (1, _) => 384,
            (3, Version::Mpeg2 | Version::Mpeg25) => 576,
            _ => 1152,
        };
        let padding = b2 & 2 != 0;
        // Layer I counts in 4-byte slots, layers II and III in bytes.
        let slot = if layer == 1 { 4 } else { 1 };
        let slots = samples_per_frame / 8 * bitrate_kbps * 1000 / sample_rate / slot;
        Ok(Self {
            version,
            layer,
            bitrate_kbps,
            sample_rate,
            channels: if b3 >> 6 == 3 { 1 } else { 2 },
            padding,
            frame_len: ((slots + u32::from(padding)) * slot) as usize,
            samples_per_frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::reader::read_all;
    use crate::flv::tag::{AudioTagHeader, TAG_AUDIO};
    use proptest::prelude::*;

    #[test]
    fn mpeg1_layer3() {
        let h = FrameHeader::parse(&[0xff, 0xfb, 0x90, 0x64]).unwrap();
        assert_eq!(
            (h.version, h.layer, h.bitrate_kbps),
            (Version::Mpeg1, 3, 128)
        );
        assert_eq!((h.sample_rate, h.channels, h.padding), (44100, 2, false));
        assert_eq!((h.frame_len, h.samples_per_frame), (417, 1152));
        let padded = FrameHeader::parse(&[0xff, 0xfb, 0x92, 0x64]).unwrap();
        assert_eq!(padded.frame_len, 418);
    }

    #[test]
    fn other_versions_and_layers() {
        // MPEG-2 layer III, 64 kbit/s, 24 kHz, mono: 72 * 64000 / 24000 = 192.
        let h = FrameHeader::parse(&[0xff, 0xf3, 0x84, 0xc0]).unwrap();
        assert_eq!(
            (h.version, h.bitrate_kbps, h.sample_rate),
            (Version::Mpeg2, 64, 24000)
        );
        assert_eq!(
            (h.channels, h.frame_len, h.samples_per_frame),
            (1, 192, 576)
        );
        // MPEG-2.5 layer III, 8 kbit/s, 8 kHz: 72 * 8000 / 8000 = 72.
        let h = FrameHeader::parse(&[0xff, 0xe3, 0x18, 0x00]).unwrap();
        assert_eq!(
            (h.version, h.sample_rate, h.frame_len),
            (Version::Mpeg25, 8000, 72)
        );
        // MPEG-1 layer I, 32 kbit/s, 32 kHz, padded: (12 * 32000 / 32000 + 1) * 4 = 52.
        let h = FrameHeader::parse(&[0xff, 0xff, 0x1a, 0x00]).unwrap();
        assert_eq!((h.layer, h.frame_len, h.samples_per_frame), (1, 52, 384));
        // MPEG-1 layer II, 384 kbit/s, 48 kHz: 144 * 384000 / 48000 = 1152.
        let h = FrameHeader::parse(&[0xff, 0xfd, 0xe4, 0x00]).unwrap();
        assert_eq!((h.layer, h.bitrate_kbps, h.frame_len), (2, 384, 1152));
    }

    #[test]
    fn rejects_reserved_values() {
        for header in [
            [0xff, 0x7b, 0x90, 0x64], // sync
            [0xff, 0xeb, 0x90, 0x64], // version 01
            [0xff, 0xf9, 0x90, 0x64], // layer 00
            [0xff, 0xfb, 0x00, 0x64], // free format
            [0xff, 0xfb, 0xf0, 0x64], // bitrate 15
            [0xff, 0xfb, 0x9c, 0x64], // sampling index 3
            [0xff, 0xfb, 0x90, 0x66], // emphasis 2
        ] {
            assert!(FrameHeader::parse(&header).is_err(), "{header:02x?}");
            for len in 0..4 {
                assert!(FrameHeader::parse(&header[..len]).is_err());
            }
        }
    }

    #[test]
    fn fixture_frames_tile_each_tag() {
        let tags = read_all(include_bytes!("../../tests/fixtures/h264_mp3_2s.flv"));
        let mut frames = 0;
        for tag in tags.iter().filter(|t| t.tag_type == TAG_AUDIO) {
            let mut data = &tag.body[AudioTagHeader::parse(&tag.body).unwrap().header_len()..];
            while !data.is_empty() {
                let h = FrameHeader::parse(data).unwrap();
                assert_eq!(
                    (h.version, h.layer, h.sample_rate, h.channels),
                    (Version::Mpeg1, 3, 44100, 1)
                );
                data = &data[h.frame_len..];
                frames += 1;
            }
        }
        assert!(frames > 70);
    }

    proptest! {
        #[test]
        fn mp3_never_panics(data in proptest::collection::vec(any::<u8>(), 0..6), b1: u8, b2: u8, b3: u8) {
            for input in [&data[..], &[0xff, 0xe0 | b1, b2, b3]] {
                if let Ok(h) = FrameHeader::parse(input) {
                    prop_assert!(h.frame_len > 4);
                }
            }
        }
    }
}
