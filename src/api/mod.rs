//! The control API's sans-IO parts: the persistent channel-key store (also the RTMP publish
//! authorization), HS256 JWT verification, and the JSON response bodies.

pub mod json;
pub mod jwt;
pub mod keys;
