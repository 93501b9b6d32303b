//! RTMP protocol: handshake, chunk stream, and the NetConnection/NetStream command session.
//! Everything here is sans-IO: bytes in, parsed values and bytes to send out.

pub mod chunk;
pub mod client;
pub mod handshake;
pub mod message;
pub mod session;
pub mod url;
