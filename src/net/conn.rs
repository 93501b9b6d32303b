//! A TCP connection ([`Conn`]) shared by a connection's reader and writer halves on one core.
//!
//! Reads are nonblocking `recv`s that wait on the core's [`Readiness`] set; sends are
//! nonblocking too, and what the socket does not take at once waits for glommio's write
//! readiness on its `TcpStream` (the `RefCell` is only borrowed for one poll), so the two
//! halves never wait on each other.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::AsyncWrite;
use glommio::net::TcpStream;
use socket2::SockRef;

use super::read_timer::ReadTimer;
use super::readiness::{Readiness, Watched};

/// The most a single read asks for ("read big, parse many"): what a publisher's reads grow to.
pub const BIG_READ: usize = 64 * 1024;
/// The smallest read [`Conn::read`] asks for when more may be wanted.
const MIN_READ: usize = 4 * 1024;

pub struct Conn {
    /// Where reads learn that the socket has data (declared before `stream`: it must leave
    /// the set before the socket closes).
    watched: Watched,
    /// Reads fail after this long without data.
    read_timeout: Cell<Option<Duration>>,
    read_timer: ReadTimer,
    /// The last read emptied the socket: wait for news before the next.
    drained: Cell<bool>,
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

/// For `socket2::SockRef`, which makes the nonblocking socket calls.
impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor belongs to `stream`, which this connection owns and closes
        // only when dropped, so it stays open for as long as `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.as_raw_fd()) }
    }
}

impl Conn {
    /// A connection whose reads learn of data from `readiness` (its core's set).
    pub fn new(stream: TcpStream, readiness: &Rc<Readiness>) -> io::Result<Self> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            watched: readiness.register(&stream)?,
            read_timeout: Cell::new(None),
            read_timer: ReadTimer::default(),
            drained: Cell::new(false),
            stream: RefCell::new(stream),
            read_size: Cell::new(MIN_READ),
            peer,
            local,
        })
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.read_timeout.set(timeout);
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream
            .borrow()
            .set_write_timeout(timeout)
            .map_err(io::Error::from)
    }

    /// Append up to `max` bytes to `buf`; Ok(0) at end of stream.
    ///
    /// A plain nonblocking `recv`; when it finds nothing, or the last one emptied the socket,
    /// the read waits until the core's [`Readiness`] set reports the socket. A read asks for
    /// what recent reads brought (doubling while reads fill it, halving when they use under a
    /// quarter), not always `max`, so a buffer reserves a few KB for a publisher sending a few
    /// KB at a time, not 64 KB.
    pub async fn read(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        loop {
            if self.drained.get() && !self.watched.is_ready() {
                self.readable().await?;
            }
            self.watched.clear();
            if let Some(got) = self.try_read(buf, max)? {
                return Ok(got);
            }
        }
    }

    /// Waits until the socket is reported readable, within the read timeout.
    async fn readable(&self) -> io::Result<()> {
        let Some(timeout) = self.read_timeout.get() else {
            self.watched.readable().await;
            return Ok(());
        };
        let mut readable = self.watched.readable();
        let mut deadline = None;
        poll_fn(|cx| {
            if Pin::new(&mut readable).poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + timeout);
            if self.read_timer.expired(deadline, now, cx) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "read timed out",
                )));
            }
            Poll::Pending
        })
        .await
    }

    /// One nonblocking `recv` appended to `buf`: None when the socket holds nothing now.
    fn try_read(&self, buf: &mut BytesMut, max: usize) -> io::Result<Option<usize>> {
        let want = self.read_size.get().min(max);
        buf.reserve(want);
        let room = &mut buf.spare_capacity_mut()[..want];
        let got = match SockRef::from(self).recv_with_flags(room, libc::MSG_DONTWAIT) {
            Ok(got) => got,
            Err(e) if is_retry(&e) => {
                self.drained.set(true);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // SAFETY: the kernel wrote `got` bytes at the start of the spare capacity.
        unsafe { buf.set_len(buf.len() + got) };
        self.read_size.set(next_read_size(want, got));
        // A read that brought less than it asked for emptied the socket.
        self.drained.set(got < want);
        Ok(Some(got))
    }

    /// Send what the socket takes now without waiting (0 when its buffer is full).
    pub fn try_send(&self, data: &[u8]) -> io::Result<usize> {
        sent_or_refused(SockRef::from(self).send_with_flags(data, SEND_FLAGS))
    }

    /// [`Conn::try_send`] of `first` then `second` in one system call (sendmsg with two
    /// buffers); returns how many bytes of the two went out.
    pub fn try_send_parts(&self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        let parts = [IoSlice::new(first), IoSlice::new(second)];
        sent_or_refused(SockRef::from(self).send_vectored_with_flags(&parts, SEND_FLAGS))
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
fn sent_or_refused(sent: io::Result<usize>) -> io::Result<usize> {
    match sent {
        Err(e) if is_retry(&e) => Ok(0),
        sent => sent,
    }
}

/// The socket has nothing (or no room) now, or the call was interrupted: try again later.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Nonblocking, and a peer that went away is an error, not a SIGPIPE.
const SEND_FLAGS: i32 = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

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
        assert_eq!(next_read_size(128, 128), 256);
    }
}
