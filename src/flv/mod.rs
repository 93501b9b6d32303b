//! The FLV container layer (Adobe FLV spec v10.1, Annex E): the 9-byte file header
//! ([`header`]), audio/video tag headers and whole-tag encoding ([`tag`], E.4), and an
//! incremental demuxer for FLV files and HTTP-FLV streams ([`reader`]). Sans-IO: callers
//! feed and receive bytes; every malformed input surfaces as an [`Error`], never a panic.

pub mod header;
pub mod reader;
pub mod tag;

use std::fmt;

/// A truncated structure or a field with a forbidden value: the same shapes as the codec
/// parsers' errors.
pub use crate::codec::Error as FieldError;

/// Why FLV data could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A tag or header is truncated, or a field holds a reserved or unsupported value.
    Field(FieldError),
    /// The stream does not start with the "FLV" signature.
    BadSignature([u8; 3]),
    /// A PreviousTagSize field disagrees with the size of the tag before it.
    PreviousTagSize { expected: u32, found: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Field(e) => e.fmt(f),
            Error::BadSignature(sig) => write!(
                f,
                "not an FLV stream: starts with {sig:02x?} instead of \"FLV\" (46 4c 56)"
            ),
            Error::PreviousTagSize { expected, found } => write!(
                f,
                "PreviousTagSize is {found} but the preceding tag occupies {expected} bytes; \
                 the stream is corrupt or out of sync"
            ),
        }
    }
}

impl std::error::Error for Error {}
