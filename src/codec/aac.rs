//! AAC as carried in FLV/RTMP: the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) sent in the
//! AAC sequence header, and the 7-byte ADTS header (ISO/IEC 14496-3 §1.A.2.2 / ISO/IEC
//! 13818-7) that turns raw AAC frames into a self-describing stream for MPEG-TS/HLS.

use super::Error;

/// samplingFrequencyIndex 0..=12 (§1.6.3.4); 13 and 14 are reserved, 15 means explicit.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
const EXPLICIT_RATE: u8 = 15;

/// The leading fields of an AudioSpecificConfig; anything after channelConfiguration
/// (SBR/PS extension data, GASpecificConfig) is not interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// audioObjectType (2 AAC-LC, 5 SBR, 29 PS, ...), escape code 31 resolved (32..=95).
    pub object_type: u8,
    /// samplingFrequencyIndex; 15 when the rate is coded explicitly.
    pub sample_rate_index: u8,
    /// The (core, for SBR/PS) sampling rate in Hz.
    pub sample_rate: u32,
    /// channelConfiguration 0..=7; 0 means defined by a program config element.
    pub channel_config: u8,
}

impl AudioSpecificConfig {
    /// Parses the AAC sequence header body that follows the 2-byte FLV audio tag header.
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        let mut bits = Bits { data, pos: 0 };
        let mut object_type = bits.read(5)?;
        if object_type == 31 {
            object_type = 32 + bits.read(6)?;
        }
        if object_type == 0 {
            return Err(Error::Invalid {
                what: "AAC audioObjectType",
                value: 0,
                expected: "1..=95 (0 is the null object)",
            });
        }
        let sample_rate_index = bits.read(4)? as u8;
        let sample_rate = match sample_rate_index {
            EXPLICIT_RATE => bits.read(24)?,
            i => SAMPLE_RATES.get(usize::from(i)).copied().unwrap_or(0),
        };
        if sample_rate == 0 {
            return Err(Error::Invalid {
                what: "AAC samplingFrequencyIndex",
                value: sample_rate_index.into(),
                expected: "0..=12, or 15 followed by a non-zero explicit rate",
            });
        }
        let channel_config = bits.read(4)? as u8;
        if channel_config > 7 {
            return Err(Error::Invalid {
                what: "AAC channelConfiguration",
                value: channel_config.into(),
                expected: "0..=7",
            });
        }
        Ok(Self {
            object_type: object_type as u8,
            sample_rate_index,
            sample_rate,
            channel_config,
        })
    }

    /// The ADTS header (MPEG-4, no CRC, one raw data block) for a raw AAC frame of
    /// `payload_len` bytes. ADTS can only signal object types 1..=4 in its 2-bit profile;
    /// others (notably SBR/PS, whose core is AAC-LC) are signalled as AAC-LC. An explicit
    /// sample rate is mapped to the nearest indexed one. AAC frames are at most 6144 bytes;
    /// a length beyond ADTS's 13-bit frame_length field is clamped to it.
    pub fn adts_header(&self, payload_len: usize) -> [u8; 7] {
        let profile = match self.object_type {
            1..=4 => self.object_type - 1,
            _ => 1,
        };
        let rate_index = if usize::from(self.sample_rate_index) < SAMPLE_RATES.len() {
            self.sample_rate_index
        } else {
            (0..SAMPLE_RATES.len() as u8)
                .min_by_key(|&i| SAMPLE_RATES[usize::from(i)].abs_diff(self.sample_rate))
                .unwrap_or(4)
        };
        let len = (payload_len + 7).min(0x1fff);
        let ch = self.channel_config;
        [
            0xff,
            0xf1, // sync, MPEG-4, layer 0, protection_absent
            profile << 6 | rate_index << 2 | ch >> 2,
            (ch & 3) << 6 | (len >> 11) as u8,
            (len >> 3) as u8,
            (len as u8 & 7) << 5 | 0x1f, // buffer fullness 0x7ff: variable bit rate
            0xfc,                        // ...rest of fullness, one raw data block
        ]
    }
}

/// MSB-first bit reader over a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u32, Error> {
        let end = self.pos + n;
        if end > self.data.len() * 8 {
            return Err(Error::Truncated {
                what: "AudioSpecificConfig",
                needed: end.div_ceil(8),
                available: self.data.len(),
            });
        }
        let value = (self.pos..end).fold(0, |v, i| {
            v << 1 | u32::from(self.data[i / 8] >> (7 - i % 8) & 1)
        });
        self.pos = end;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::reader::read_all;
    use crate::flv::tag::{AudioTagHeader, TAG_AUDIO};
    use proptest::prelude::*;

    const LC_44100_STEREO: AudioSpecificConfig = AudioSpecificConfig {
        object_type: 2,
        sample_rate_index: 4,
        sample_rate: 44100,
        channel_config: 2,
    };

    #[test]
    fn aac_lc_44100_stereo() {
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12, 0x10]),
            Ok(LC_44100_STEREO)
        );
    }

    #[test]
    fn adts_header_by_hand() {
        // FFF1 | profile 01, index 0100, private 0, ch 0 | ch 10, 0000, len 00
        // | len 0000_1101 | len 011, fullness 1_1111 | fullness 11_1111, blocks 00
        // with frame_length = 100 + 7 = 107 = 0b00_0000_1101_011.
        assert_eq!(
            LC_44100_STEREO.adts_header(100),
            [0xff, 0xf1, 0x50, 0x80, 0x0d, 0x7f, 0xfc]
        );
    }

    #[test]
    fn escaped_object_type_and_explicit_rate() {
        // object type 31 + 6 bits (10 -> 42), index 15, rate 44000, 1 channel, 5 pad bits.
        let bits = "11111 001010 1111 000000001010101111100000 0001 00000";
        let bits: String = bits.split_whitespace().collect();
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
            .collect();
        let cfg = AudioSpecificConfig::parse(&bytes).unwrap();
        assert_eq!((cfg.object_type, cfg.sample_rate_index), (42, 15));
        assert_eq!((cfg.sample_rate, cfg.channel_config), (44000, 1));
        // ADTS: profile falls back to LC, 44000 Hz maps to index 4 (44100).
        assert_eq!(cfg.adts_header(0)[2], 0x50);
    }

    #[test]
    fn fixture_config() {
        let tags = read_all(include_bytes!("../../tests/fixtures/h264_aac_2s.flv"));
        let tag = tags.iter().find(|t| t.tag_type == TAG_AUDIO).unwrap();
        let header = AudioTagHeader::parse(&tag.body).unwrap();
        assert!(header.is_sequence_header());
        let cfg = AudioSpecificConfig::parse(&tag.body[header.header_len()..]).unwrap();
        assert_eq!(cfg, LC_44100_STEREO);
    }

    #[test]
    fn malformed_configs() {
        assert!(AudioSpecificConfig::parse(&[0x12]).is_err());
        assert!(AudioSpecificConfig::parse(&[]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x00, 0x10]).is_err()); // object type 0
        assert!(AudioSpecificConfig::parse(&[0x16, 0x90]).is_err()); // index 13
        assert!(AudioSpecificConfig::parse(&[0x12, 0x40]).is_err()); // 8 channels
        let err = AudioSpecificConfig::parse(&[0xf8, 0x00]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AudioSpecificConfig is truncated: needs 3 bytes but only 2 are available"
        );
    }

    proptest! {
        #[test]
        fn aac_never_panics(data in proptest::collection::vec(any::<u8>(), 0..8), len: usize) {
            if let Ok(cfg) = AudioSpecificConfig::parse(&data) {
                let adts = cfg.adts_header(len);
                prop_assert_eq!(&adts[..2], &[0xff, 0xf1]);
            }
        }
    }
}
