//! The FLV container layer (Adobe FLV spec v10.1, Annex E): the 9-byte file header
//! ([`header`]), audio/video tag headers and whole-tag encoding ([`tag`], E.4), and an
//! incremental demuxer for FLV files and HTTP-FLV streams ([`reader`]). Sans-IO: callers
//! feed and receive bytes; every malformed input surfaces as an [`Error`], never a panic.

pub mod header;
pub mod reader;
pub mod tag;

use std::fmt;

/// Why FLV data could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A tag body is shorter than its header: `needed` bytes are required, `available` exist.
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// A field holds a reserved, forbidden or unsupported value.
    Invalid {
        what: &'static str,
        value: u32,
        expected: &'static str,
    },
    /// The stream does not start with the "FLV" signature.
    BadSignature([u8; 3]),
    /// A PreviousTagSize field disagrees with the size of the tag before it.
    PreviousTagSize { expected: u32, found: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "{what} is truncated: needs {needed} bytes but only {available} are available"
            ),
            Error::Invalid {
                what,
                value,
                expected,
            } => write!(f, "invalid {what} {value}: expected {expected}"),
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
