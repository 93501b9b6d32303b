//! The stream hub: which streams are live, who owns them, and how their frames reach every
//! player on every core.
//!
//! Data flows one way: a publisher's session turns each media message into a [`Frame`]
//! (serialised once for every output format), hands it to the [`hub::CoreHub`] of its core,
//! which is the stream's owner; the owner caches it and queues it for its own players, and
//! sends it once to each other subscribing core (over a [`link::CoreLink`]), where the core's
//! [`core_stream::CoreStream`] caches it and pushes it into the bounded [`queue::Outbox`] of
//! every local player. Players never learn where the owner is. HLS snapshots
//! ([`hls::HlsUpdate`]) travel to every core the same way. Nothing here runs a task: the
//! server drives it.

pub mod core_stream;
pub mod frame;
pub mod gop;
pub mod hls;
pub mod hub;
pub mod ingest;
pub mod key;
pub mod link;
pub mod queue;
pub mod registry;
pub mod stats;

pub use frame::{Frame, FrameKind, SharedFrame};
pub use key::StreamKey;
