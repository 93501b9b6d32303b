//! Sans-IO parsers for the elementary-stream codecs carried in FLV/RTMP: H.264/AVC
//! ([`h264`], ISO/IEC 14496-15 §5.2.4 AVCDecoderConfigurationRecord and length-prefixed
//! NAL units), AAC ([`aac`], ISO/IEC 14496-3 §1.6.2.1 AudioSpecificConfig and ADTS framing)
//! and MP3 ([`mp3`], ISO/IEC 11172-3 / 13818-3 frame headers). Parsers borrow their input,
//! never panic, and report every malformed input through the single [`Error`] type.

pub mod aac;
pub mod h264;
pub mod mp3;

use std::fmt;

/// Why codec data could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input ends inside a structure: `needed` bytes are required, `available` exist.
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
        }
    }
}

impl std::error::Error for Error {}
