//! The control API (channel keys, stats). For now: the channel-key lookup used by RTMP
//! publish authorization.

pub mod keys;
