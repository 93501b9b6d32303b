//! livego: a live streaming server (RTMP ingest; RTMP, HTTP-FLV and HLS playback) built
//! thread-per-core on glommio. docs/ARCHITECTURE.md is the map of the parts and the data flow.

pub mod amf;
pub mod api;
pub mod codec;
pub mod config;
pub mod flv;
pub mod hls;
pub mod http;
pub mod logline;
pub mod net;
pub mod rtmp;
pub mod server;
pub mod stream;
pub mod ts;
