//! Why a connection ended ([`ConnError`]): one typed error for the connection drivers (RTMP,
//! HTTP, HTTP-FLV, the players' writers and the relays), logged once where the connection
//! ends. Its `Display` is the text of that log line, with whatever text a peer controls in it
//! (parser messages quoting its bytes, a remote server's refusal) shown as [`Peer`] text.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::logline::Peer;

#[derive(Debug)]
pub enum ConnError {
    /// Reading from the socket failed.
    Read(io::Error),
    /// Writing to the socket failed.
    Write(io::Error),
    /// The socket could not be set up (its options).
    Setup(io::Error),
    /// The peer closed the connection in the middle of a phase (named).
    Disconnected(&'static str),
    /// The peer broke its protocol: what the parser said.
    Protocol(String),
    /// An RTMP client did not publish or play within `read_timeout` (seconds).
    SetupTimeout(u64),
    /// A publisher or an HTTP client sent nothing for `read_timeout` (seconds).
    Idle(u64),
    /// An HTTP request did not arrive in full within `read_timeout` (seconds).
    RequestTimeout(u64),
    /// A player or push relay fell more than its queue's limit (ms) behind.
    Lagging(u32),
    /// A write could not go out for this long (`write_timeout`).
    WriteStalled(Duration),
    /// The stream a player plays ended and did not come back within this long.
    StreamGone(Duration),
    /// The server itself could not go on (e.g. no random source).
    Internal(&'static str),
    /// A relay's remote host name could not be resolved (no error: it has no address).
    Resolve {
        address: String,
        error: Option<io::Error>,
    },
    /// A relay could not connect to its remote server.
    Connect { address: String, error: io::Error },
    /// A relay's TLS session could not be set up.
    Tls(String),
    /// The publish or play was refused (by the remote server, or here), and why.
    Refused(String),
    /// A pull relay's remote stream ended (`NetStream.Play.UnpublishNotify`).
    RemoteEnded,
    /// A relay's remote server closed the connection.
    RemoteClosed,
    /// A relay's remote server did not get to publishing or playing within this long.
    NoAnswer(Duration),
    /// A relay gave up after this error because its local stream ended meanwhile.
    StreamEndedAfter(Box<ConnError>),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Read(e) => write!(f, "read error: {e}"),
            ConnError::Write(e) => write!(f, "write error: {e}"),
            ConnError::Setup(e) => write!(f, "socket setup: {e}"),
            ConnError::Disconnected(phase) => write!(f, "disconnected {phase}"),
            ConnError::Protocol(why) => write!(f, "{}", Peer(why)),
            ConnError::SetupTimeout(s) => write!(f, "did not publish or play within {s} s"),
            ConnError::Idle(s) => write!(f, "no data for {s} s"),
            ConnError::RequestTimeout(s) => write!(f, "no complete request within {s} s"),
            ConnError::Lagging(ms) => write!(f, "more than {ms} ms behind: disconnected"),
            ConnError::WriteStalled(d) => write!(f, "write stalled for {d:?}: disconnected"),
            ConnError::StreamGone(d) => {
                write!(
                    f,
                    "the stream ended and did not come back within {d:?}: closing"
                )
            }
            ConnError::Internal(why) => f.write_str(why),
            ConnError::Resolve { address, error } => match error {
                Some(e) => write!(f, "cannot resolve {address}: {e}"),
                None => write!(f, "{address} resolves to no address"),
            },
            ConnError::Connect { address, error } => write!(f, "connect to {address}: {error}"),
            ConnError::Tls(why) => write!(f, "TLS: {}", Peer(why)),
            ConnError::Refused(why) => write!(f, "{}", Peer(why)),
            ConnError::RemoteEnded => f.write_str("the remote stream ended"),
            ConnError::RemoteClosed => f.write_str("the remote server closed the connection"),
            ConnError::NoAnswer(d) => write!(f, "no answer within {d:?}"),
            ConnError::StreamEndedAfter(e) => write!(f, "{e}; the stream ended meanwhile"),
        }
    }
}

impl std::error::Error for ConnError {}

impl ConnError {
    /// A write error, told apart from a write that stalled past `write_timeout`.
    pub fn from_write(e: io::Error, stalled_for: Duration) -> ConnError {
        match e.kind() {
            io::ErrorKind::TimedOut => ConnError::WriteStalled(stalled_for),
            _ => ConnError::Write(e),
        }
    }

    /// A protocol error from one of the sans-IO parsers.
    pub fn protocol(e: impl fmt::Display) -> ConnError {
        ConnError::Protocol(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_texts_name_the_cause() {
        let texts = [
            ConnError::Read(io::Error::from(io::ErrorKind::ConnectionReset)).to_string(),
            ConnError::Disconnected("during handshake").to_string(),
            ConnError::SetupTimeout(10).to_string(),
            ConnError::Lagging(5000).to_string(),
            ConnError::from_write(io::ErrorKind::TimedOut.into(), Duration::from_secs(5))
                .to_string(),
            ConnError::from_write(io::ErrorKind::BrokenPipe.into(), Duration::ZERO).to_string(),
        ];
        assert_eq!(
            texts,
            [
                "read error: connection reset",
                "disconnected during handshake",
                "did not publish or play within 10 s",
                "more than 5000 ms behind: disconnected",
                "write stalled for 5s: disconnected",
                "write error: broken pipe",
            ]
        );
    }

    #[test]
    fn peer_text_cannot_forge_a_log_line() {
        let forged = "bad command\n[INFO] admin logged in";
        let texts = [
            ConnError::Protocol(forged.into()).to_string(),
            ConnError::Refused(forged.into()).to_string(),
            ConnError::StreamEndedAfter(Box::new(ConnError::Refused(forged.into()))).to_string(),
        ];
        for text in texts {
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("bad command\\n[INFO]"), "{text}");
        }
    }
}
