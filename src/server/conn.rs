//! A TCP connection ([`Conn`]) shared by a connection's reader and writer halves on one core.
//!
//! glommio's `TcpStream` keeps separate read and write readiness, so the two halves can poll
//! it concurrently; the `RefCell` is only borrowed for the duration of one poll. A
//! [`Transport`] is a connection plain or with TLS on top.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

use super::tls::TlsConn;

/// How much a single read may bring in for a publisher ("read big, parse many").
pub const BIG_READ: usize = 64 * 1024;
/// For handshakes, commands and requests: small, so an idle connection holds little memory.
pub const SMALL_READ: usize = 4 * 1024;
/// The smallest read [`Conn::read`] asks for when more may be wanted.
const MIN_READ: usize = 4 * 1024;
/// For players, who only send the odd acknowledgement or command (or nothing, over HTTP-FLV):
/// the buffer a player's reader holds while it waits is this small.
pub const PLAYER_READ: usize = 128;

pub struct Conn {
    stream: RefCell<TcpStream>,
    /// How much the next read asks for (see [`Conn::read`]).
    read_size: Cell<usize>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.borrow().as_raw_fd()
    }
}

impl Conn {
    pub fn new(stream: TcpStream) -> io::Result<Self> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: RefCell::new(stream),
            read_size: Cell::new(MIN_READ),
            peer,
            local,
        })
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream
            .borrow()
            .set_read_timeout(timeout)
            .map_err(io::Error::from)
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream
            .borrow()
            .set_write_timeout(timeout)
            .map_err(io::Error::from)
    }

    /// Append up to `max` bytes to `buf`; Ok(0) at end of stream.
    ///
    /// The space read into is zeroed first, so a read asks for what recent reads brought
    /// (doubling while reads fill it, halving when they use under a quarter), not always
    /// `max`: a publisher sending a few KB at a time costs a few KB of zeroing, not 64 KB.
    pub async fn read(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        let (start, want) = self.make_room(buf, max);
        let result = poll_fn(|cx| {
            let mut stream = self.stream.borrow_mut();
            Pin::new(&mut *stream).poll_read(cx, &mut buf[start..])
        })
        .await;
        self.keep_read(buf, start, want, *result.as_ref().unwrap_or(&0));
        result
    }

    /// [`Conn::read`] without waiting: None when the socket holds nothing now.
    pub fn try_read(&self, buf: &mut BytesMut, max: usize) -> io::Result<Option<usize>> {
        let (start, want) = self.make_room(buf, max);
        let fd = self.as_raw_fd();
        let room = &mut buf[start..];
        // SAFETY: `fd` is this connection's open socket; the pointer and length describe `room`.
        let n = unsafe { libc::recv(fd, room.as_mut_ptr().cast(), room.len(), libc::MSG_DONTWAIT) };
        // A would-block (nothing now) and end of stream are both 0 from `sent_or_refused`.
        let result = match sent_or_refused(n) {
            Ok(0) if n < 0 => Ok(None),
            Ok(got) => Ok(Some(got)),
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(got)) => self.keep_read(buf, start, want, got),
            _ => buf.truncate(start),
        }
        result
    }

    /// Zeroed room at the end of `buf` for the next read: (where it starts, its length).
    fn make_room(&self, buf: &mut BytesMut, max: usize) -> (usize, usize) {
        let want = self.read_size.get().min(max);
        let start = buf.len();
        buf.resize(start + want, 0);
        (start, want)
    }

    /// Keeps the `got` bytes read into the room and sizes the next read.
    fn keep_read(&self, buf: &mut BytesMut, start: usize, want: usize, got: usize) {
        buf.truncate(start + got);
        self.read_size.set(next_read_size(want, got));
    }

    /// Send what the socket takes now without waiting (0 when its buffer is full).
    pub fn try_send(&self, data: &[u8]) -> io::Result<usize> {
        let fd = self.as_raw_fd();
        // SAFETY: `fd` is this connection's open socket; the pointer and length describe `data`.
        let n = unsafe {
            libc::send(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        sent_or_refused(n)
    }

    /// [`Conn::try_send`] of `first` then `second` in one system call (sendmsg with two
    /// buffers); returns how many bytes of the two went out.
    pub fn try_send_parts(&self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        let fd = self.as_raw_fd();
        let mut iov = [
            libc::iovec {
                iov_base: first.as_ptr() as *mut libc::c_void,
                iov_len: first.len(),
            },
            libc::iovec {
                iov_base: second.as_ptr() as *mut libc::c_void,
                iov_len: second.len(),
            },
        ];
        // SAFETY: a zeroed msghdr is valid; it points at `iov`, whose entries describe the two
        // borrowed slices, all alive for the duration of the call, which only reads them.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = iov.len();
            libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        sent_or_refused(n)
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let mut stream = self.stream.borrow_mut();
                Pin::new(&mut *stream).poll_write(cx, data)
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
        }
        Ok(())
    }
}

/// What to ask for after a read of `want` brought `got` bytes.
fn next_read_size(want: usize, got: usize) -> usize {
    if got == want {
        (want * 2).min(BIG_READ)
    } else if got < want / 4 {
        (want / 2).max(MIN_READ)
    } else {
        want
    }
}

/// A nonblocking send's (or receive's) result: bytes moved, 0 when the socket cannot take
/// (or has) any now, or the error.
fn sent_or_refused(n: isize) -> io::Result<usize> {
    if n >= 0 {
        return Ok(n as usize);
    }
    let err = io::Error::last_os_error();
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
        _ => Err(err),
    }
}

/// A client connection, plain or TLS ([`TlsConn`]). Plain sockets are used directly, so the
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

    pub fn local(&self) -> SocketAddr {
        self.conn().local
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_follows_what_reads_bring() {
        assert_eq!(next_read_size(MIN_READ, MIN_READ), 2 * MIN_READ);
        assert_eq!(next_read_size(BIG_READ, BIG_READ), BIG_READ);
        assert_eq!(next_read_size(8192, 3000), 8192);
        assert_eq!(next_read_size(16384, 1000), 8192);
        assert_eq!(next_read_size(MIN_READ, 10), MIN_READ);
        assert_eq!(next_read_size(512, 100), MIN_READ);
        assert_eq!(next_read_size(PLAYER_READ, PLAYER_READ), 2 * PLAYER_READ);
    }
}
