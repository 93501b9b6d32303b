//! What cores tell each other about streams ([`CoreMsg`]), and the [`CoreLink`] that carries
//! it: the server's channel mesh between executors, or a simulated one in the hub's tests.

use super::frame::SharedFrame;
use super::hls::HlsUpdate;
use super::key::StreamKey;
use super::registry::SessionId;

#[derive(Debug)]
pub enum CoreMsg {
    /// To the owner: `core` has players for `key` and wants its frames.
    Subscribe { key: StreamKey, core: usize },
    /// To the owner: `core` has no players left for `key`.
    Unsubscribe { key: StreamKey, core: usize },
    /// To a subscriber: `key` is live as `session`; `bootstrap` is metadata, sequence headers
    /// and the GOP cache, to be followed by live frames.
    Start {
        key: StreamKey,
        session: SessionId,
        bootstrap: Vec<SharedFrame>,
    },
    Frame {
        session: SessionId,
        frame: SharedFrame,
    },
    /// The publisher of `session` left.
    End { session: SessionId },
    /// To every core: a stream's new HLS playlist and segments (or their removal).
    Hls(HlsUpdate),
}

/// The way from one core to the others.
pub trait CoreLink {
    /// How many cores the link joins (this one included).
    fn cores(&self) -> usize;

    /// Hand `msg` to `core` (never the sender's own) without waiting. Messages to one core
    /// arrive in the order they were sent; a link may drop [`CoreMsg::Frame`]s to a core that
    /// does not keep up, never the other messages.
    fn send(&self, core: usize, msg: CoreMsg);
}
