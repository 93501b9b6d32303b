//! The control API's sans-IO parts: the persistent channel-key store (also the RTMP publish
//! authorization), HS256 JWT verification, the JSON response bodies, the routes, and the
//! `/metrics` exposition text.

pub mod base64url;
pub mod json;
pub mod jwt;
pub mod keys;
pub mod metrics;
pub mod routes;
