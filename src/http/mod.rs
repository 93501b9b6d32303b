//! Sans-IO HTTP/1.1 for the HTTP-FLV, HLS and control-API listeners: [`request`] parses one
//! request at a time out of a connection's read buffer under fixed [`Limits`] (RFC 9112
//! message syntax, RFC 9110 semantics), [`url`] percent-decodes targets and query strings
//! (RFC 3986 §2.1, plus `+` for space in queries) and [`response`] writes status lines,
//! headers, bodies and chunked stream framing. Nothing here touches sockets or clocks: the
//! caller feeds bytes, passes the current time for `Date`, and sends what is written to its
//! output buffer. Every malformed request maps to one [`Error`] whose [`Error::status`] is
//! the status to answer with before closing the connection.

pub mod request;
pub mod response;
pub mod url;

pub use request::{Limits, Method, Request, awaits_continue, parse_request};
pub use response::{
    LAST_CHUNK, Response, error_response, http_date, preflight_response, reason_phrase, write_chunk,
};
pub use url::{parse_query, percent_decode};

use std::fmt;

/// Why a request was rejected. After any of these the connection's framing can no longer be
/// trusted: answer with [`Error::status`] and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Malformed request line, header field, target, framing or percent-encoding (400).
    BadRequest(&'static str),
    /// `Content-Length` above [`Limits::max_body`] (413).
    BodyTooLarge,
    /// Request target longer than [`Limits::max_uri_len`] (414).
    UriTooLong,
    /// Head longer than [`Limits::max_head_bytes`] or with more than
    /// [`Limits::max_headers`] fields (431).
    HeadTooLarge,
    /// `Transfer-Encoding` on a request: we accept no chunked uploads (501).
    TransferEncoding,
    /// The request line's version is not HTTP/1.0 or HTTP/1.1, e.g. an HTTP/2 preface (505).
    Version,
}

impl Error {
    /// The response status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::BodyTooLarge => 413,
            Error::UriTooLong => 414,
            Error::HeadTooLarge => 431,
            Error::TransferEncoding => 501,
            Error::Version => 505,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadRequest(why) => f.write_str(why),
            Error::BodyTooLarge => f.write_str("request body too large"),
            Error::UriTooLong => f.write_str("request target too long"),
            Error::HeadTooLarge => f.write_str("request header fields too large or too many"),
            Error::TransferEncoding => {
                f.write_str("Transfer-Encoding on requests is not supported")
            }
            Error::Version => f.write_str("only HTTP/1.0 and HTTP/1.1 are supported"),
        }
    }
}

impl std::error::Error for Error {}
