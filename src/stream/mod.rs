//! The stream hub: which streams are live, who owns them, and how their frames reach every
//! player on every core.
//!
//! Data flows one way: a publisher's session turns each media message into a [`Frame`]
//! (serialised once for every output format), hands it to the [`hub::CoreHub`] of its core,
//! which is the stream's owner; the owner keeps the GOP cache and sends the frame once to each
//! subscribing core (itself included) where a [`local::LocalStream`] pushes it into the
//! bounded [`queue::Outbox`] of every local player. Players never learn where the owner is.

pub mod frame;
pub mod gop;
pub mod hub;
pub mod ingest;
pub mod key;
pub mod local;
pub mod mesh;
pub mod queue;
pub mod registry;
pub mod stats;

pub use frame::{Frame, FrameKind, SharedFrame};
pub use key::StreamKey;
