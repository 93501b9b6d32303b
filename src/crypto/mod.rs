//! Cryptographic primitives implemented in-house (no external crates): SHA-256 (FIPS 180-4)
//! and HMAC-SHA256 (RFC 2104). They exist for the RTMP digest handshake, which only needs
//! message authentication, not secrecy; nothing here is hardened against side channels
//! beyond [`hmac::constant_time_eq`]. [`random`] reads the kernel's CSPRNG.

pub mod hmac;
pub mod random;
pub mod sha256;
