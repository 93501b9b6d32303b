//! The load generator behind `livego-bench` (benchmarks, issue 6): one process, one glommio
//! executor, one task per connection. A publisher sends an FLV file over RTMP in real time;
//! RTMP and HTTP-FLV players count what arrives, and a latency probe matches each received
//! video frame to the instant it was published. Everything here is built to cost the
//! generator little CPU, since it shares the machine with the server under test.
//!
//! The pure parts ([`args`], [`hist`], [`probe`], [`stats`], [`schedule`]) take values and
//! return values; [`publisher`], [`player`] and [`run`] are the glommio drivers.

pub mod args;
pub mod hist;
pub mod hls_probe;
pub mod net;
pub mod player;
pub mod probe;
pub mod publisher;
pub mod report;
pub mod run;
pub mod schedule;
pub mod stats;
