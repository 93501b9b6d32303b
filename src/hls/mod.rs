//! HLS output (RFC 8216): the per-stream [`Segmenter`] that cuts the published FLV frames into
//! MPEG-TS media segments (via [`crate::ts`]), and the media playlist text ([`playlist`]).
//! Sans-IO: time comes only from the frames' timestamps; serving is the server's business.

pub mod playlist;
pub mod segmenter;

pub use playlist::{SegmentInfo, render};
pub use segmenter::{Segment, Segmenter, SegmenterConfig};
