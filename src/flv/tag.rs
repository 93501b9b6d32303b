//! FLV tags (Adobe FLV spec v10.1, E.4): the VIDEODATA and AUDIODATA tag headers that prefix
//! every RTMP/FLV audio and video payload (E.4.3.1, E.4.2.1), and the encoding of a whole tag
//! (11-byte tag header, body, PreviousTagSize) as written to FLV files and HTTP-FLV streams.

use super::{Error, FieldError};
use bytes::{BufMut, Bytes, BytesMut};

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

/// Length of the tag header that precedes each body (E.4.1).
pub const TAG_HEADER_LEN: usize = 11;

/// VIDEODATA CodecID for AVC (H.264).
pub const CODEC_AVC: u8 = 7;
/// AUDIODATA SoundFormat for AAC.
pub const SOUND_AAC: u8 = 10;
/// AUDIODATA SoundFormat for MP3.
pub const SOUND_MP3: u8 = 2;

/// The VIDEODATA header (E.4.3.1) plus, for AVC, the AVCVIDEOPACKET header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagHeader {
    /// 1 keyframe, 2 inter frame, 3 disposable inter frame, 4 generated keyframe, 5 command.
    pub frame_type: u8,
    /// 2 Sorenson H.263, 3 screen video, 4 VP6, 5 VP6 alpha, 6 screen video v2, 7 AVC.
    pub codec_id: u8,
    /// AVC only: 0 sequence header, 1 NALU, 2 end of sequence.
    pub avc_packet_type: Option<u8>,
    /// AVC only (0 otherwise): presentation minus decode time in milliseconds.
    pub composition_time: i32,
}

impl VideoTagHeader {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let first = *body.first().ok_or(truncated("video tag header", 1, 0))?;
        let frame_type = first >> 4;
        let codec_id = first & 0x0f;
        if !(1..=5).contains(&frame_type) {
            return Err(Error::Field(FieldError::Invalid {
                what: "video FrameType",
                value: frame_type.into(),
                expected: "1..=5 (enhanced RTMP headers are not supported)",
            }));
        }
        if codec_id != CODEC_AVC {
            return Ok(Self {
                frame_type,
                codec_id,
                avc_packet_type: None,
                composition_time: 0,
            });
        }
        let &[_, packet_type, c0, c1, c2, ..] = body else {
            return Err(truncated("AVC video tag header", 5, body.len()));
        };
        if packet_type > 2 {
            return Err(Error::Field(FieldError::Invalid {
                what: "AVCPacketType",
                value: packet_type.into(),
                expected: "0 (sequence header), 1 (NALU) or 2 (end of sequence)",
            }));
        }
        // SI24: place the 24 bits at the top of an i32 and shift back to sign-extend.
        let composition_time = i32::from_be_bytes([c0, c1, c2, 0]) >> 8;
        Ok(Self {
            frame_type,
            codec_id,
            avc_packet_type: Some(packet_type),
            composition_time,
        })
    }

    pub fn is_keyframe(&self) -> bool {
        self.frame_type == 1
    }

    pub fn is_sequence_header(&self) -> bool {
        self.avc_packet_type == Some(0)
    }

    /// Bytes of the tag body taken by this header: 5 for AVC, 1 otherwise.
    pub fn header_len(&self) -> usize {
        if self.avc_packet_type.is_some() { 5 } else { 1 }
    }
}

/// The AUDIODATA header (E.4.2.1) plus, for AAC, the AACAUDIODATA packet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagHeader {
    /// 2 MP3, 10 AAC, ... (9 is reserved).
    pub sound_format: u8,
    /// 0 5.5 kHz, 1 11 kHz, 2 22 kHz, 3 44 kHz (always 3 for AAC; the real rate is in the config).
    pub sound_rate: u8,
    /// 0 8-bit, 1 16-bit samples.
    pub sound_size: u8,
    /// 0 mono, 1 stereo.
    pub sound_type: u8,
    /// AAC only: 0 sequence header (AudioSpecificConfig), 1 raw frame.
    pub aac_packet_type: Option<u8>,
}

impl AudioTagHeader {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let first = *body.first().ok_or(truncated("audio tag header", 1, 0))?;
        let sound_format = first >> 4;
        if sound_format == 9 {
            return Err(Error::Field(FieldError::Invalid {
                what: "audio SoundFormat",
                value: 9,
                expected: "a defined format (9 is reserved)",
            }));
        }
        let aac_packet_type = if sound_format == SOUND_AAC {
            let packet_type = *body.get(1).ok_or(truncated("AAC audio tag header", 2, 1))?;
            if packet_type > 1 {
                return Err(Error::Field(FieldError::Invalid {
                    what: "AACPacketType",
                    value: packet_type.into(),
                    expected: "0 (sequence header) or 1 (raw)",
                }));
            }
            Some(packet_type)
        } else {
            None
        };
        Ok(Self {
            sound_format,
            sound_rate: (first >> 2) & 3,
            sound_size: (first >> 1) & 1,
            sound_type: first & 1,
            aac_packet_type,
        })
    }

    pub fn is_sequence_header(&self) -> bool {
        self.aac_packet_type == Some(0)
    }

    /// Bytes of the tag body taken by this header: 2 for AAC, 1 otherwise.
    pub fn header_len(&self) -> usize {
        if self.aac_packet_type.is_some() { 2 } else { 1 }
    }
}

/// A whole FLV tag as stored in a file / sent over HTTP-FLV: 11-byte header + body + 4-byte
/// PreviousTagSize (= 11 + body len). The timestamp is split into 24 low bits and the 8-bit
/// TimestampExtended; the stream id is 0. Bodies must be shorter than 16 MiB (the DataSize
/// field is 24 bits), which RTMP guarantees since its message length is 24 bits too.
pub fn encode_tag(tag_type: u8, timestamp_ms: u32, body: &[u8]) -> Bytes {
    debug_assert!(body.len() <= 0xff_ffff, "FLV tag body over 24 bits");
    let mut out = BytesMut::with_capacity(encoded_tag_len(body.len()));
    out.put_u8(tag_type);
    out.put_uint(body.len() as u64, 3);
    out.put_uint(u64::from(timestamp_ms & 0xff_ffff), 3);
    out.put_u8((timestamp_ms >> 24) as u8);
    out.put_uint(0, 3);
    out.put_slice(body);
    out.put_u32((TAG_HEADER_LEN + body.len()) as u32);
    out.freeze()
}

pub fn encoded_tag_len(body_len: usize) -> usize {
    TAG_HEADER_LEN + body_len + 4
}

fn truncated(what: &'static str, needed: usize, available: usize) -> Error {
    Error::Field(FieldError::Truncated {
        what,
        needed,
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extended_timestamp() {
        let tag = encode_tag(TAG_VIDEO, 0x1234_5678, &[0xaa, 0xbb]);
        assert_eq!(
            &tag[..],
            &[
                9, 0, 0, 2, 0x34, 0x56, 0x78, 0x12, 0, 0, 0, 0xaa, 0xbb, 0, 0, 0, 13
            ]
        );
        assert_eq!(tag.len(), encoded_tag_len(2));
    }

    #[test]
    fn avc_video_header() {
        let key_seq = VideoTagHeader::parse(&[0x17, 0, 0, 0, 0]).unwrap();
        assert!(key_seq.is_keyframe() && key_seq.is_sequence_header());
        assert_eq!(key_seq.header_len(), 5);

        let inter = VideoTagHeader::parse(&[0x27, 1, 0x00, 0x00, 0x43, 0xde]).unwrap();
        assert!(!inter.is_keyframe() && !inter.is_sequence_header());
        assert_eq!(inter.composition_time, 67);

        let negative = VideoTagHeader::parse(&[0x27, 1, 0xff, 0xff, 0xfe]).unwrap();
        assert_eq!(negative.composition_time, -2);
    }

    #[test]
    fn non_avc_video_header() {
        let h = VideoTagHeader::parse(&[0x22]).unwrap();
        assert_eq!(
            (h.codec_id, h.avc_packet_type, h.header_len()),
            (2, None, 1)
        );
        assert!(!h.is_sequence_header());
    }

    #[test]
    fn audio_headers() {
        let aac = AudioTagHeader::parse(&[0xaf, 0]).unwrap();
        assert_eq!(
            (
                aac.sound_format,
                aac.sound_rate,
                aac.sound_size,
                aac.sound_type
            ),
            (10, 3, 1, 1)
        );
        assert!(aac.is_sequence_header());
        assert_eq!(aac.header_len(), 2);

        let mp3 = AudioTagHeader::parse(&[0x2e, 0xff]).unwrap();
        assert_eq!(
            (mp3.sound_format, mp3.sound_type, mp3.header_len()),
            (2, 0, 1)
        );
        assert!(!mp3.is_sequence_header());
    }

    #[test]
    fn malformed_headers() {
        for body in [
            &[0x17, 0, 0, 0][..],
            &[0x07, 0, 0, 0, 0],
            &[0x17, 3, 0, 0, 0],
            &[],
        ] {
            assert!(VideoTagHeader::parse(body).is_err(), "{body:02x?}");
        }
        for body in [&[0xaf][..], &[0xaf, 2], &[0x9f, 0], &[]] {
            assert!(AudioTagHeader::parse(body).is_err(), "{body:02x?}");
        }
    }

    proptest! {
        #[test]
        fn tag_headers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..8)) {
            if let Ok(h) = VideoTagHeader::parse(&body) {
                prop_assert!(h.header_len() <= body.len());
            }
            if let Ok(h) = AudioTagHeader::parse(&body) {
                prop_assert!(h.header_len() <= body.len());
            }
        }
    }
}
