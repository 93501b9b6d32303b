//! FLV for the tests, on top of the library's demuxer and tag encoder (`livego::flv`): whole
//! files in and out, tags from a blocking byte source (a player's stdout), tag predicates, and
//! what the library has no use for: trimming the torn tail a killed player leaves behind.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use livego::flv::header::{HEADER_LEN, file_header};
use livego::flv::reader::FlvReader;
pub use livego::flv::reader::Tag;
use livego::flv::tag::{AudioTagHeader, VideoTagHeader, encode_tag, encoded_tag_len};
pub use livego::flv::tag::{TAG_AUDIO as AUDIO, TAG_SCRIPT as SCRIPT, TAG_VIDEO as VIDEO};

/// What a test wants to know about a tag.
pub trait TagExt {
    /// AVC sequence header (AVCDecoderConfigurationRecord).
    fn is_video_seq_header(&self) -> bool;
    /// AAC sequence header (AudioSpecificConfig).
    fn is_audio_seq_header(&self) -> bool;
    /// A coded video frame (not a sequence header).
    fn is_video_frame(&self) -> bool;
    /// A coded audio frame (not a sequence header).
    fn is_audio_frame(&self) -> bool;
    /// A video frame with FLV frame type 1.
    fn is_keyframe(&self) -> bool;
}

impl TagExt for Tag {
    fn is_video_seq_header(&self) -> bool {
        self.tag_type == VIDEO
            && VideoTagHeader::parse(&self.body).is_ok_and(|h| h.is_sequence_header())
    }
    fn is_audio_seq_header(&self) -> bool {
        self.tag_type == AUDIO
            && AudioTagHeader::parse(&self.body).is_ok_and(|h| h.is_sequence_header())
    }
    fn is_video_frame(&self) -> bool {
        self.tag_type == VIDEO
            && VideoTagHeader::parse(&self.body).is_ok_and(|h| !h.is_sequence_header())
    }
    fn is_audio_frame(&self) -> bool {
        self.tag_type == AUDIO
            && AudioTagHeader::parse(&self.body).is_ok_and(|h| !h.is_sequence_header())
    }
    fn is_keyframe(&self) -> bool {
        self.is_video_frame() && VideoTagHeader::parse(&self.body).is_ok_and(|h| h.is_keyframe())
    }
}

/// Tags, one at a time, from a blocking byte source.
pub struct TagStream<R: Read> {
    inner: R,
    flv: FlvReader,
}

impl<R: Read> TagStream<R> {
    pub fn new(inner: R) -> Self {
        TagStream {
            inner,
            flv: FlvReader::new(),
        }
    }

    /// The next tag; `None` at the end of the input (a torn last tag included), an error
    /// for a read error or malformed FLV.
    pub fn next_tag(&mut self) -> io::Result<Option<Tag>> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            if let Some(tag) = self.flv.next_tag().map_err(invalid)? {
                return Ok(Some(tag));
            }
            match self.inner.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.flv.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn invalid(e: livego::flv::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Every whole tag of `bytes` and the length of the well-formed prefix they occupy.
fn whole_tags(bytes: &[u8]) -> io::Result<(Vec<Tag>, usize)> {
    let mut flv = FlvReader::new();
    flv.push(bytes);
    let mut tags = Vec::new();
    let mut len = HEADER_LEN + 4;
    while let Some(tag) = flv.next_tag().map_err(invalid)? {
        len += encoded_tag_len(tag.body.len());
        tags.push(tag);
    }
    Ok((tags, len))
}

/// All tags of a file; an error if it is malformed or torn (see [`trim_torn_tail`]).
pub fn read_file(path: &Path) -> io::Result<Vec<Tag>> {
    let bytes = fs::read(path)?;
    let (tags, len) = whole_tags(&bytes)?;
    if len != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} bytes of a torn tag at the end", bytes.len() - len),
        ));
    }
    Ok(tags)
}

/// Writes `tags` as an FLV file whose header announces audio and video.
pub fn write_file(path: &Path, tags: &[Tag]) -> io::Result<()> {
    let mut out = file_header(true, true).to_vec();
    for tag in tags {
        out.extend_from_slice(&encode_tag(tag.tag_type, tag.timestamp, &tag.body));
    }
    fs::write(path, out)
}

/// Cuts a recording that a killed client left mid-tag back to its last whole tag. Only a
/// torn last tag is removed; returns the number of bytes cut.
pub fn trim_torn_tail(path: &Path) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    if bytes.len() <= HEADER_LEN + 4 || !bytes.starts_with(b"FLV") {
        return Ok(0);
    }
    let (_, len) = whole_tags(&bytes)?;
    let cut = (bytes.len() - len) as u64;
    if cut > 0 {
        fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(len as u64)?;
    }
    Ok(cut)
}
