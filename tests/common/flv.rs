//! Just enough FLV (Adobe FLV spec, "FLV File Format") to read what players write, doctor test
//! files for the harness self-tests, and time the first frame a raw player receives.
//! A file is a 9-byte header, `PreviousTagSize0`, then tags: 11-byte header (type, 24-bit size,
//! 24-bit timestamp + 8-bit extension, 24-bit stream id), body, 32-bit previous tag size.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const SCRIPT: u8 = 18;

#[derive(Clone, Debug)]
pub struct Tag {
    pub kind: u8,
    /// Milliseconds (24 bits + the extension byte as bits 24..32).
    pub ts: u32,
    pub body: Vec<u8>,
}

impl Tag {
    /// AVC sequence header (AVCDecoderConfigurationRecord): codec id 7, AVCPacketType 0.
    pub fn is_video_seq_header(&self) -> bool {
        self.kind == VIDEO && self.body.len() >= 2 && self.body[0] & 0x0f == 7 && self.body[1] == 0
    }
    /// AAC sequence header (AudioSpecificConfig): sound format 10, AACPacketType 0.
    pub fn is_audio_seq_header(&self) -> bool {
        self.kind == AUDIO && self.body.len() >= 2 && self.body[0] >> 4 == 10 && self.body[1] == 0
    }
    /// A coded video frame (not a sequence header).
    pub fn is_video_frame(&self) -> bool {
        self.kind == VIDEO && self.body.len() >= 2 && !self.is_video_seq_header()
    }
    pub fn is_audio_frame(&self) -> bool {
        self.kind == AUDIO && self.body.len() >= 2 && !self.is_audio_seq_header()
    }
    /// FLV frame type 1 = keyframe.
    pub fn is_keyframe(&self) -> bool {
        self.is_video_frame() && self.body[0] >> 4 == 1
    }
}

/// Reads tags one at a time from any byte source (a file or a player's stdout).
pub struct Reader<R: Read> {
    inner: R,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the file header; returns the reader and the header's flags byte
    /// (4 = audio, 1 = video).
    pub fn new(mut inner: R) -> io::Result<(Self, u8)> {
        let mut header = [0u8; 9];
        inner.read_exact(&mut header)?;
        if &header[..3] != b"FLV" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an FLV stream",
            ));
        }
        let header_len = u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize;
        let mut skip = vec![0u8; header_len.saturating_sub(9) + 4]; // rest of header + PreviousTagSize0
        inner.read_exact(&mut skip)?;
        Ok((Reader { inner }, header[4]))
    }

    /// The next tag, `None` at a clean end of stream, an error on a torn tag.
    pub fn next_tag(&mut self) -> io::Result<Option<Tag>> {
        let mut h = [0u8; 11];
        let got = read_full(&mut self.inner, &mut h)?;
        if got == 0 {
            return Ok(None);
        }
        if got < h.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let mut body = vec![0u8; size + 4];
        self.inner.read_exact(&mut body)?;
        body.truncate(size);
        Ok(Some(Tag {
            kind: h[0] & 0x1f,
            ts,
            body,
        }))
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// All tags of a file (an error if the file is torn; see [`trim_torn_tail`]).
pub fn read_file(path: &Path) -> io::Result<(u8, Vec<Tag>)> {
    let (mut reader, flags) = Reader::new(io::BufReader::new(fs::File::open(path)?))?;
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag()? {
        tags.push(tag);
    }
    Ok((flags, tags))
}

pub fn write_file(path: &Path, flags: u8, tags: &[Tag]) -> io::Result<()> {
    let mut out = Vec::new();
    out.extend_from_slice(b"FLV\x01");
    out.push(flags);
    out.extend_from_slice(&9u32.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    for tag in tags {
        let size = tag.body.len() as u32;
        let ts = tag.ts.to_be_bytes();
        out.push(tag.kind);
        out.extend_from_slice(&size.to_be_bytes()[1..]);
        out.extend_from_slice(&[ts[1], ts[2], ts[3], ts[0]]);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&tag.body);
        out.extend_from_slice(&(size + 11).to_be_bytes());
    }
    fs::write(path, out)
}

/// Cuts a recording that a killed client left mid-tag back to its last complete tag.
/// Only a torn last tag is removed; returns the number of bytes cut.
pub fn trim_torn_tail(path: &Path) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    if bytes.len() < 13 || &bytes[..3] != b"FLV" {
        return Ok(0);
    }
    let mut pos = 13;
    while pos + 11 <= bytes.len() {
        let size = u32::from_be_bytes([0, bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]) as usize;
        let end = pos + 11 + size;
        if end + 4 > bytes.len() {
            break;
        }
        pos = end + 4;
    }
    let cut = (bytes.len() - pos) as u64;
    if cut > 0 {
        fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(pos as u64)?;
    }
    Ok(cut)
}
