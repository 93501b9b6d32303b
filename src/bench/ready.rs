//! When the players' sockets have data, learned without a wake-up per packet.
//!
//! glommio waits for a socket by arming an io_uring poll, and its rings notify with an
//! inter-processor interrupt per completion: on loopback the sender (the server under test)
//! pays for interrupting the generator's core once per message it sends, up to ~40 % of the
//! server's time with 500 players. A real player on another machine costs the server nothing of
//! the kind. So players wait here instead: their sockets sit in one edge-triggered epoll set
//! that a ticker task drains without blocking every [`TICK`] (the kernel only marks a socket
//! ready, nobody sleeps on the set), waking the players whose sockets got data. Measured
//! latencies gain at most one tick.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How often the ticker looks for ready sockets.
pub const TICK: Duration = Duration::from_millis(1);
/// Events taken per `epoll_wait`.
const BATCH: usize = 1024;

pub struct Readiness {
    epoll: OwnedFd,
    /// The tasks waiting for their socket, by file descriptor.
    waiting: RefCell<HashMap<RawFd, Waker>>,
}

impl Readiness {
    pub fn new() -> io::Result<Rc<Readiness>> {
        // SAFETY: plain system call; a non-negative result is a new descriptor we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Rc::new(Readiness {
            // SAFETY: `fd` was just created and is owned by nobody else.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            waiting: RefCell::new(HashMap::new()),
        }))
    }

    /// Watches `socket` until the returned guard is dropped (drop it before the socket).
    pub fn register(self: &Rc<Self>, socket: &impl AsRawFd) -> io::Result<Watched> {
        let fd = socket.as_raw_fd();
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: both descriptors are open; `event` is a valid epoll_event.
        let r =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Watched {
            readiness: self.clone(),
            fd,
        })
    }

    /// Wakes the waiting players whose sockets became ready, every [`TICK`], forever.
    pub async fn run(self: Rc<Self>) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; BATCH];
        loop {
            glommio::timer::sleep(TICK).await;
            loop {
                // SAFETY: `events` has room for BATCH entries; timeout 0 never blocks.
                let n = unsafe {
                    libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), BATCH as i32, 0)
                };
                let mut waiting = self.waiting.borrow_mut();
                for event in events.iter().take(n.max(0) as usize) {
                    if let Some(waker) = waiting.remove(&(event.u64 as RawFd)) {
                        waker.wake();
                    }
                }
                if n < BATCH as i32 {
                    break;
                }
            }
        }
    }
}

/// A socket in the [`Readiness`] set.
pub struct Watched {
    readiness: Rc<Readiness>,
    fd: RawFd,
}

impl Watched {
    /// Completes once the socket got data (or was closed) after this call. Call it only after a
    /// read found nothing: readiness is edge-triggered.
    pub fn readable(&self) -> Readable<'_> {
        Readable {
            watched: self,
            armed: false,
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.readiness.waiting.borrow_mut().remove(&self.fd);
        // SAFETY: both descriptors are still open (the socket outlives this guard).
        unsafe {
            libc::epoll_ctl(
                self.readiness.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.fd,
                std::ptr::null_mut(),
            );
        }
    }
}

pub struct Readable<'a> {
    watched: &'a Watched,
    armed: bool,
}

impl Future for Readable<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let fd = self.watched.fd;
        let mut waiting = self.watched.readiness.waiting.borrow_mut();
        // The ticker removes the entry when it wakes us.
        if self.armed && !waiting.contains_key(&fd) {
            return Poll::Ready(());
        }
        waiting.insert(fd, cx.waker().clone());
        drop(waiting);
        self.armed = true;
        Poll::Pending
    }
}

impl Drop for Readable<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.watched
                .readiness
                .waiting
                .borrow_mut()
                .remove(&self.watched.fd);
        }
    }
}
