//! A client connection as the drivers use it ([`Transport`]: plain [`Conn`] or TLS on top),
//! and how much their reads ask for.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;

use super::tls::TlsConn;
pub use crate::net::conn::{BIG_READ, Conn};
use crate::stream::stats::Protocol;

/// For handshakes, commands and requests: small, so an idle connection holds little memory.
pub const SMALL_READ: usize = 4 * 1024;
/// For players, who only send the odd acknowledgement or command (or nothing, over HTTP-FLV):
/// the buffer a player's reader holds while it waits is this small.
pub const PLAYER_READ: usize = 128;

/// A client connection, plain or TLS (`TlsConn`). Plain sockets are used directly, so the
/// plain path costs nothing extra.
pub enum Transport {
    Plain(Rc<Conn>),
    Tls(Box<TlsConn>),
}

impl Transport {
    fn conn(&self) -> &Conn {
        match self {
            Transport::Plain(conn) => conn,
            Transport::Tls(tls) => &tls.conn,
        }
    }

    pub fn peer(&self) -> SocketAddr {
        self.conn().peer
    }

    /// How an RTMP session over this transport is listed in the stats.
    pub fn rtmp_protocol(&self) -> Protocol {
        match self {
            Transport::Plain(_) => Protocol::Rtmp,
            Transport::Tls(_) => Protocol::Rtmps,
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.conn().local
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.conn().set_read_timeout(timeout)
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.conn().set_write_timeout(timeout)
    }

    /// Append up to `max` bytes (plaintext) to `buf`; Ok(0) at end of stream.
    pub async fn read(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        match self {
            Transport::Plain(conn) => conn.read(buf, max).await,
            Transport::Tls(tls) => tls.read(buf, max).await,
        }
    }

    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain(conn) => conn.write_all(data).await,
            Transport::Tls(tls) => tls.write_all(data).await,
        }
    }

    /// Send `first` then `second`: one system call when the socket takes both at once (plain),
    /// the rest as [`Transport::write_all`] does.
    pub async fn write_all_parts(&self, first: &[u8], second: &[u8]) -> io::Result<()> {
        let Transport::Plain(conn) = self else {
            self.write_all(first).await?;
            return self.write_all(second).await;
        };
        let sent = conn.try_send_parts(first, second)?;
        if let Some(rest) = first.get(sent..).filter(|rest| !rest.is_empty()) {
            conn.write_all(rest).await?;
            return conn.write_all(second).await;
        }
        conn.write_all(&second[sent - first.len()..]).await
    }

    /// Take all of `data` without waiting and return how much of it the caller must still
    /// send with [`Transport::write_all`] (plain: what the socket refused; TLS: nothing, the
    /// session keeps it encrypted and [`Transport::wants_write`] says so).
    pub fn try_send(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(conn) => conn.try_send(data),
            Transport::Tls(tls) => tls.send_now(data).map(|()| data.len()),
        }
    }

    /// Whether bytes taken by [`Transport::try_send`] still wait to be sent.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.wants_write(),
        }
    }
}
