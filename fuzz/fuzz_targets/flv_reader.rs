//! The incremental FLV demuxer (src/flv/reader.rs) over arbitrary bytes in arbitrary pieces, with
//! the tag header parsers (src/flv/tag.rs) on every body.
//!
//! Input: [mode][rest]. `mode & 0x80`: `rest` follows a valid 13-byte file header (so mutations
//! go to the tags), else `rest` is the whole stream. `mode` also picks the split.
//!
//! Asserts: no panic; an error repeats on the next call (nothing consumed); every tag has a valid
//! type and is, re-encoded with `encode_tag`, the exact bytes it was read from (the StreamID
//! field aside, which the reader ignores and the writer zeroes); tag header parsers never
//! claim more bytes than the body has; the re-encoded stream reads back to the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livego::flv::header::file_header;
use livego::flv::reader::FlvReader;
use livego::flv::tag::{
    AudioTagHeader, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, VideoTagHeader, encode_tag,
};
use livego_fuzz::{Bound, Input, bounded, split};

/// The reader buffers what was pushed and not yet read (its `BytesMut` may double: 2 bytes per
/// input byte); tags are views into it; the re-encoded copy we keep is the input again (doubled
/// while it grows). 8 leaves room and still catches any per-tag amplification.
const PER_BYTE: usize = 8;
const BASE: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    let mut stream = Vec::new();
    if mode & 0x80 != 0 {
        stream.extend_from_slice(&file_header(true, true));
    }
    stream.extend_from_slice(input.rest());
    let reenc = bounded("flv read", stream.len(), Bound::new(PER_BYTE, BASE), || {
        read(&stream, mode)
    });
    // The re-encoded stream reads back to itself.
    let again = read(&reenc, 0);
    assert_eq!(again, reenc, "re-encoded stream did not read back the same");
});

/// Reads every tag; returns a file header followed by every tag re-encoded.
fn read(stream: &[u8], mode: u8) -> Vec<u8> {
    let mut reader = FlvReader::new();
    let mut out = file_header(true, true).to_vec();
    // Where the next tag starts in `stream`: after the header and PreviousTagSize0.
    let mut pos = stream.get(5..9).map_or(0, |o| {
        u32::from_be_bytes(o.try_into().unwrap()) as usize + 4
    });
    for piece in split(stream, mode) {
        reader.push(piece);
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => {
                    assert!([TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT].contains(&tag.tag_type));
                    check_body(tag.tag_type, &tag.body);
                    let bytes = encode_tag(tag.tag_type, tag.timestamp, &tag.body);
                    let original = &stream[pos..pos + bytes.len()];
                    assert_eq!(original[..8], bytes[..8], "tag header at {pos}");
                    assert_eq!(original[11..], bytes[11..], "tag body at {pos}");
                    pos += bytes.len();
                    out.extend_from_slice(&bytes);
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(reader.next_tag(), Err(e), "error did not repeat");
                    return out;
                }
            }
        }
    }
    out
}

fn check_body(tag_type: u8, body: &Bytes) {
    assert!(body.len() <= 0xFF_FFFF);
    match tag_type {
        TAG_VIDEO => {
            if let Ok(h) = VideoTagHeader::parse(body) {
                assert!(h.header_len() <= body.len());
                assert!((1..=5).contains(&h.frame_type));
            }
        }
        TAG_AUDIO => {
            if let Ok(h) = AudioTagHeader::parse(body) {
                assert!(h.header_len() <= body.len());
                assert!(h.sound_format != 9);
            }
        }
        _ => {}
    }
}
