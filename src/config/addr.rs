//! `ListenAddr`: a livego-style listen address.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A listen address: ":1935" means all interfaces (0.0.0.0:1935); also "127.0.0.1:1935",
/// `"[::1]:1935"` or "localhost:1935" (host names are resolved once, at load). Port 0 is allowed.
/// Displays as it is written in the config file (":1935" for 0.0.0.0:1935).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

impl ListenAddr {
    /// The IPv4 loopback interface on `port`: reachable from this machine only.
    pub const fn loopback(port: u16) -> Self {
        ListenAddr(SocketAddr::new(
            std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        ))
    }

    /// All IPv4 interfaces on `port`.
    pub const fn any(port: u16) -> Self {
        ListenAddr(SocketAddr::new(
            std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        ))
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let invalid = || format!("invalid address {s:?}");
        if let Some(port) = s.strip_prefix(':') {
            return port.parse().map(Self::any).map_err(|_| invalid());
        }
        if let Ok(addr) = s.parse() {
            return Ok(ListenAddr(addr));
        }
        s.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(ListenAddr)
            .ok_or_else(invalid)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.ip() == Ipv4Addr::UNSPECIFIED {
            write!(f, ":{}", self.0.port())
        } else {
            self.0.fmt(f)
        }
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
