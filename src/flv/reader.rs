//! Incremental FLV demuxer (Adobe FLV spec v10.1, E.2-E.4) for FLV files and HTTP-FLV
//! streams: bytes go in with [`FlvReader::push`] in chunks of any size, complete tags come out
//! of [`FlvReader::next_tag`]. It validates the signature, version and DataOffset, every
//! PreviousTagSize, and the tag type. Tag bodies are bounded by the 24-bit DataSize field
//! (< 16 MiB) and are handed out as zero-copy [`Bytes`] views of the input buffer.

use super::header::HEADER_LEN;
use super::tag::{TAG_AUDIO, TAG_HEADER_LEN, TAG_SCRIPT, TAG_VIDEO};
use super::{Error, FieldError};
use bytes::{Buf, Bytes, BytesMut};

/// One demuxed tag: its type ([`TAG_AUDIO`], [`TAG_VIDEO`] or [`TAG_SCRIPT`]), its full
/// 32-bit timestamp in milliseconds and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub tag_type: u8,
    pub timestamp: u32,
    pub body: Bytes,
}

#[derive(Debug, Default)]
pub struct FlvReader {
    buf: BytesMut,
    header_done: bool,
}

impl FlvReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Returns the next complete tag, `Ok(None)` if more input is needed, or an error for a
    /// malformed stream. Nothing is consumed on error, so the same error repeats.
    pub fn next_tag(&mut self) -> Result<Option<Tag>, Error> {
        if !self.header_done && !self.read_header()? {
            return Ok(None);
        }
        let buf = &self.buf[..];
        let Some(&[tag_type, s0, s1, s2, t0, t1, t2, t3, ..]) = buf.get(..TAG_HEADER_LEN) else {
            return Ok(None);
        };
        if ![TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT].contains(&tag_type) {
            return Err(Error::Field(FieldError::Invalid {
                what: "FLV TagType",
                value: tag_type.into(),
                expected: "8 (audio), 9 (video) or 18 (script); encrypted tags are not supported",
            }));
        }
        let size = u32::from_be_bytes([0, s0, s1, s2]) as usize;
        let timestamp = u32::from_be_bytes([t3, t0, t1, t2]);
        let tag_len = TAG_HEADER_LEN + size;
        let Some(prev) = read_u32(buf, tag_len) else {
            return Ok(None);
        };
        if prev != tag_len as u32 {
            return Err(Error::PreviousTagSize {
                expected: tag_len as u32,
                found: prev,
            });
        }
        let mut tag = self.buf.split_to(tag_len + 4);
        tag.truncate(tag_len);
        let body = tag.split_off(TAG_HEADER_LEN).freeze();
        Ok(Some(Tag {
            tag_type,
            timestamp,
            body,
        }))
    }

    /// Consumes the file header and PreviousTagSize0 once they are complete.
    fn read_header(&mut self) -> Result<bool, Error> {
        let Some(&[f, l, v, version, _flags, o0, o1, o2, o3]) = self.buf.get(..HEADER_LEN) else {
            return Ok(false);
        };
        if [f, l, v] != *b"FLV" {
            return Err(Error::BadSignature([f, l, v]));
        }
        if version != 1 {
            return Err(Error::Field(FieldError::Invalid {
                what: "FLV version",
                value: version.into(),
                expected: "1",
            }));
        }
        let offset = u32::from_be_bytes([o0, o1, o2, o3]);
        if (offset as usize) < HEADER_LEN {
            return Err(Error::Field(FieldError::Invalid {
                what: "FLV DataOffset",
                value: offset,
                expected: "at least 9 (the header length)",
            }));
        }
        let Some(prev0) = read_u32(&self.buf, offset as usize) else {
            return Ok(false);
        };
        if prev0 != 0 {
            return Err(Error::PreviousTagSize {
                expected: 0,
                found: prev0,
            });
        }
        self.buf.advance(offset as usize + 4);
        self.header_done = true;
        Ok(true)
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads every tag of a complete in-memory FLV file; panics on malformed or trailing data.
#[cfg(test)]
pub(crate) fn read_all(data: &[u8]) -> Vec<Tag> {
    let mut reader = FlvReader::new();
    reader.push(data);
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        tags.push(tag);
    }
    assert!(reader.buf.is_empty(), "{} trailing bytes", reader.buf.len());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::header::file_header;
    use crate::flv::tag::{AudioTagHeader, VideoTagHeader, encode_tag};
    use proptest::prelude::*;

    const AAC_FLV: &[u8] = include_bytes!("../../tests/fixtures/h264_aac_2s.flv");
    const MP3_FLV: &[u8] = include_bytes!("../../tests/fixtures/h264_mp3_2s.flv");

    fn count(tags: &[Tag], tag_type: u8) -> usize {
        tags.iter().filter(|t| t.tag_type == tag_type).count()
    }

    #[test]
    fn reads_every_fixture_tag() {
        let aac = read_all(AAC_FLV);
        assert_eq!(
            (count(&aac, 18), count(&aac, 9), count(&aac, 8)),
            (1, 62, 89)
        );
        let mp3 = read_all(MP3_FLV);
        assert_eq!(
            (count(&mp3, 18), count(&mp3, 9), count(&mp3, 8)),
            (1, 62, 78)
        );
    }

    #[test]
    fn byte_by_byte_matches_bulk() {
        let mut reader = FlvReader::new();
        let mut tags = Vec::new();
        for b in AAC_FLV {
            reader.push(&[*b]);
            while let Some(tag) = reader.next_tag().unwrap() {
                tags.push(tag);
            }
        }
        assert_eq!(tags, read_all(AAC_FLV));
    }

    #[test]
    fn fixture_video_tags() {
        for file in [AAC_FLV, MP3_FLV] {
            let video: Vec<_> = read_all(file)
                .into_iter()
                .filter(|t| t.tag_type == TAG_VIDEO)
                .map(|t| VideoTagHeader::parse(&t.body).unwrap())
                .collect();
            assert!(video[0].is_sequence_header() && video[0].is_keyframe());
            assert!(video[1].is_keyframe() && !video[1].is_sequence_header());
            assert!(
                video
                    .iter()
                    .all(|h| h.codec_id == 7 && h.composition_time >= 0)
            );
            assert!(video.iter().any(|h| h.composition_time > 0), "no B-frames");
        }
    }

    #[test]
    fn fixture_audio_tags() {
        for (file, format) in [(AAC_FLV, 10), (MP3_FLV, 2)] {
            for tag in read_all(file).iter().filter(|t| t.tag_type == TAG_AUDIO) {
                assert_eq!(
                    AudioTagHeader::parse(&tag.body).unwrap().sound_format,
                    format
                );
            }
        }
    }

    #[test]
    fn truncated_input_waits() {
        for len in 0..2048 {
            let mut reader = FlvReader::new();
            reader.push(&AAC_FLV[..len]);
            while reader.next_tag().unwrap().is_some() {}
        }
    }

    #[test]
    fn rejects_malformed_streams() {
        let tag = encode_tag(TAG_AUDIO, 0, &[0xaf, 1, 2]);
        let check = |data: &[u8]| {
            let mut reader = FlvReader::new();
            reader.push(data);
            let err = reader.next_tag().unwrap_err();
            assert_eq!(reader.next_tag().unwrap_err(), err, "errors must repeat");
            err
        };
        let header = file_header(true, false);

        let mut bad = header;
        bad[0] = b'X';
        assert_eq!(check(&bad), Error::BadSignature(*b"XLV"));
        bad = header;
        bad[3] = 2;
        assert!(matches!(
            check(&bad),
            Error::Field(FieldError::Invalid {
                what: "FLV version",
                ..
            })
        ));
        bad = header;
        bad[8] = 8;
        assert!(matches!(
            check(&bad),
            Error::Field(FieldError::Invalid {
                what: "FLV DataOffset",
                ..
            })
        ));
        bad = header;
        bad[12] = 1;
        assert_eq!(
            check(&bad),
            Error::PreviousTagSize {
                expected: 0,
                found: 1
            }
        );

        let mut stream = [&header[..], &tag].concat();
        *stream.last_mut().unwrap() += 1;
        let err = Error::PreviousTagSize {
            expected: 14,
            found: 15,
        };
        assert_eq!(check(&stream), err);
        assert!(err.to_string().contains("out of sync"));

        let mut stream = [&header[..], &tag].concat();
        stream[13] = 0x28; // audio with the encryption filter bit
        assert!(matches!(
            check(&stream),
            Error::Field(FieldError::Invalid {
                what: "FLV TagType",
                ..
            })
        ));
    }

    #[test]
    fn larger_data_offset_is_skipped() {
        let mut data = vec![
            b'F', b'L', b'V', 1, 5, 0, 0, 0, 12, 0xee, 0xee, 0xee, 0, 0, 0, 0,
        ];
        data.extend_from_slice(&encode_tag(TAG_SCRIPT, 7, b"x"));
        let tags = read_all(&data);
        assert_eq!(tags.len(), 1);
        assert_eq!((tags[0].tag_type, tags[0].timestamp), (TAG_SCRIPT, 7));
    }

    proptest! {
        #[test]
        fn encode_tag_round_trips(
            tags in proptest::collection::vec(
                (prop::sample::select(vec![TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT]), any::<u32>(),
                 proptest::collection::vec(any::<u8>(), 0..300)),
                0..20),
            chunk in 1usize..64,
        ) {
            let mut stream = file_header(true, true).to_vec();
            for (tag_type, ts, body) in &tags {
                stream.extend_from_slice(&encode_tag(*tag_type, *ts, body));
            }
            let mut reader = FlvReader::new();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                reader.push(piece);
                while let Some(tag) = reader.next_tag().unwrap() {
                    out.push((tag.tag_type, tag.timestamp, tag.body.to_vec()));
                }
            }
            prop_assert_eq!(out, tags);
        }

        #[test]
        fn reader_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..512)) {
            for prefix in [&[][..], &file_header(true, true)] {
                let mut reader = FlvReader::new();
                reader.push(prefix);
                reader.push(&garbage);
                while let Ok(Some(_)) = reader.next_tag() {}
            }
        }
    }
}
