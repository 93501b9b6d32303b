//! RTMP chunk stream layer (Adobe RTMP spec §5.3) and protocol control messages (§5.4, user
//! control §7.1.7), sans-IO: bytes in, [`Message`](crate::rtmp::message::Message)s out, and back.
//!
//! This module owns:
//! - [`ChunkReader`]: parses basic and message headers (fmt 0..3, 1/2/3-byte basic headers,
//!   extended timestamps), reassembles interleaved chunk streams into messages, and applies Set
//!   Chunk Size and Abort as soon as they arrive.
//! - [`ChunkWriter`]: per-connection encoder that compresses headers (fmt 1/2/3) against the
//!   previous message on the same chunk stream.
//! - [`encode_independent`] / [`encoded_len`]: stateless fmt 0 encoding whose bytes can be
//!   shared between many players.
//! - [`control`]: builders and parsers for protocol control and user control messages.
//!
//! Interoperability choices (the spec is silent or commonly violated here):
//! - A fmt 3 header starting a new message adds the timestamp field of the last fmt 0/1/2 header
//!   on that chunk stream, which after a fmt 0 header is its absolute timestamp (as SRS and ffmpeg
//!   read it). The writer never relies on this: it never starts a message with fmt 3 right after
//!   a fmt 0 header.
//! - Per spec, fmt 3 chunks following a header that used the extended timestamp repeat those 4
//!   bytes. Some old encoders omit them, so the reader (like SRS/ffmpeg) consumes 4 bytes only if
//!   they equal the stored extended timestamp and otherwise treats them as payload.
//! - librtmp sends its first acknowledgement / ping response on csid 2 with a fmt 1 header; that
//!   one case is accepted with stream id 0 and previous timestamp 0 (as SRS does).
//! - The reader consumes whole chunks only: a partial chunk stays in the caller's buffer.

pub mod control;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::ChunkReader;
pub use writer::{ChunkWriter, encode_independent, encoded_len};

use std::fmt;

/// Largest chunk size a Set Chunk Size message may carry (its top bit must be 0).
const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;

/// Maximum payload size for a chunk, always in `1..=0x7FFF_FFFF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkSize(u32);

impl ChunkSize {
    /// The chunk size both directions start with (spec §5.4.1).
    pub const DEFAULT: ChunkSize = ChunkSize(128);

    pub fn new(size: u32) -> Result<ChunkSize, ChunkError> {
        if (1..=MAX_CHUNK_SIZE).contains(&size) {
            Ok(ChunkSize(size))
        } else {
            Err(ChunkError::InvalidChunkSize(size))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Everything that makes a received chunk stream unusable; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// Set Chunk Size carried 0 or a value with the top bit set.
    InvalidChunkSize(u32),
    /// A message header announced more bytes than the reader accepts.
    MessageTooLong { len: u32, limit: usize },
    /// A fmt 1/2/3 header on a chunk stream that never had a fmt 0 header.
    NoPreviousHeader { csid: u32, fmt: u8 },
    /// A fmt 0/1/2 header on a chunk stream whose previous message is incomplete.
    InterruptedMessage { csid: u32, fmt: u8, missing: usize },
    /// Too many chunk streams hold a partial message at once.
    TooManyPartialMessages { limit: usize },
    /// Partial messages together hold too many bytes.
    PartialBytesExceeded { limit: usize },
    /// The peer used more distinct chunk stream ids than a connection may keep state for.
    TooManyChunkStreams { limit: usize },
    /// A control message payload is shorter than its fixed fields.
    ShortControlPayload { needed: usize, actual: usize },
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChunkError::InvalidChunkSize(size) => {
                write!(
                    f,
                    "chunk size {size} is invalid (must be 1..={MAX_CHUNK_SIZE})"
                )
            }
            ChunkError::MessageTooLong { len, limit } => {
                write!(f, "message length {len} exceeds limit {limit}")
            }
            ChunkError::NoPreviousHeader { csid, fmt } => write!(
                f,
                "chunk stream {csid} continues (fmt {fmt}) before any type-0 header"
            ),
            ChunkError::InterruptedMessage { csid, fmt, missing } => write!(
                f,
                "chunk stream {csid} starts a new message (fmt {fmt}) while {missing} bytes of the previous one are missing"
            ),
            ChunkError::TooManyChunkStreams { limit } => {
                write!(f, "more than {limit} chunk streams in use")
            }
            ChunkError::TooManyPartialMessages { limit } => {
                write!(
                    f,
                    "more than {limit} chunk streams have partial messages in flight"
                )
            }
            ChunkError::PartialBytesExceeded { limit } => {
                write!(f, "partial messages in flight exceed {limit} bytes")
            }
            ChunkError::ShortControlPayload { needed, actual } => write!(
                f,
                "control message payload has {actual} bytes, needs at least {needed}"
            ),
        }
    }
}

impl std::error::Error for ChunkError {}
