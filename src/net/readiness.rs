//! When a core's sockets have data to read, learned from one edge-triggered epoll set per core
//! ([`Readiness`]) instead of one io_uring poll per socket per read.
//!
//! glommio waits for a socket by arming an io_uring poll on it, and its rings (set up without
//! `IORING_SETUP_COOP_TASKRUN`) signal each completion with an inter-processor interrupt to the
//! core, plus a submission, a completion and an allocation per wait: with 500 publishers the
//! interrupts alone were 14 % of the core's samples. Here every connection's socket sits in the
//! core's epoll set, where the kernel only marks it ready; one task waits for the set as a
//! whole, so a core that is busy takes one wake-up for all the sockets that got data meanwhile
//! (the more load, the bigger the batch), and an idle core sleeps. No delay is added: the set
//! is waited on as soon as the last batch is handed out.
//!
//! A connection reads with a plain nonblocking `recv` ([`super::conn::Conn::read`]); when that
//! finds nothing, or found less than it asked for (the socket is empty), it waits on its
//! [`Watched`] until the set reports the socket again.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::AsyncRead;

/// Events taken per `epoll_wait`.
const BATCH: usize = 1024;
/// How soon [`Readiness::run`] looks again when it cannot wait for the set.
const RETRY: Duration = Duration::from_millis(1);

/// One core's epoll set and the sockets in it.
pub struct Readiness {
    epoll: OwnedFd,
    sockets: RefCell<HashMap<RawFd, Rc<SocketState>>>,
}

/// What the set knows about one socket.
#[derive(Default)]
struct SocketState {
    /// Reported readable since its reader last cleared it.
    ready: Cell<bool>,
    /// Reported closed or failed (for good: a read that stopped short at the end of the stream
    /// must not wait for a report that already came).
    hung_up: Cell<bool>,
    /// Its reader, while waiting.
    waiter: Cell<Option<Waker>>,
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
            sockets: RefCell::new(HashMap::new()),
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
        let state = Rc::new(SocketState::default());
        self.sockets.borrow_mut().insert(fd, state.clone());
        Ok(Watched {
            readiness: self.clone(),
            fd,
            state,
        })
    }

    /// Hands out readiness as soon as the set has any, forever (the server's mode).
    pub async fn run(self: Rc<Self>) {
        let mut events = event_buffer();
        loop {
            if let Err(e) = self.rung().await {
                // Out of descriptors, most likely: look again shortly.
                log::warn!("waiting for readable sockets: {e}");
                glommio::timer::sleep(RETRY).await;
            }
            self.drain(&mut events);
        }
    }

    /// Hands out readiness every `tick`, forever, without waiting on the set in between: a
    /// load generator on the same machine as the server under test is then never woken by its
    /// sockets, so the server does not pay for waking it (livego-bench's `--tick-ms`).
    pub async fn run_every(self: Rc<Self>, tick: Duration) {
        let mut events = event_buffer();
        loop {
            glommio::timer::sleep(tick).await;
            self.drain(&mut events);
        }
    }

    /// Completes once the set has events, through one io_uring poll on it. glommio 0.9 has no
    /// call to wait for an arbitrary descriptor, but a glommio stream arms a read poll on its
    /// descriptor as it is created and reports that poll's completion to the first read: a
    /// stream around a duplicate of the epoll descriptor is a one-shot doorbell. The read it
    /// then tries fails (an epoll descriptor is not a socket), which is the signal; the
    /// duplicate is closed with the stream.
    async fn rung(&self) -> io::Result<()> {
        // SAFETY: plain system call on our open descriptor.
        let fd = unsafe { libc::fcntl(self.epoll.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns; the stream closes it.
        let mut doorbell = unsafe { glommio::net::TcpStream::from_raw_fd(fd) };
        poll_fn(|cx| Pin::new(&mut doorbell).poll_read(cx, &mut []).map(|_| ())).await;
        Ok(())
    }

    /// Marks every socket the set reports as ready and wakes its reader.
    fn drain(&self, events: &mut [libc::epoll_event]) {
        loop {
            // SAFETY: `events` has room for the count given; timeout 0 never blocks.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    0,
                )
            };
            let sockets = self.sockets.borrow();
            for event in events.iter().take(n.max(0) as usize) {
                if let Some(state) = sockets.get(&(event.u64 as RawFd)) {
                    state.ready.set(true);
                    let hang_up = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
                    if event.events & hang_up != 0 {
                        state.hung_up.set(true);
                    }
                    if let Some(waker) = state.waiter.take() {
                        waker.wake();
                    }
                }
            }
            if n < events.len() as i32 {
                return;
            }
        }
    }
}

/// Where [`Readiness::drain`] receives events: made once per waiting loop, not per drain (it
/// is 12 KB to initialise).
fn event_buffer() -> Vec<libc::epoll_event> {
    vec![libc::epoll_event { events: 0, u64: 0 }; BATCH]
}

/// A socket in a [`Readiness`] set.
pub struct Watched {
    readiness: Rc<Readiness>,
    fd: RawFd,
    state: Rc<SocketState>,
}

impl Watched {
    /// Forgets what was reported so far: call it just before trying a read, so whatever
    /// arrives after that read is reported again.
    pub fn clear(&self) {
        self.state.ready.set(false);
    }

    /// Whether the socket was reported readable since the last [`Watched::clear`], or
    /// closed at any time.
    pub fn is_ready(&self) -> bool {
        self.state.ready.get() || self.state.hung_up.get()
    }

    /// Completes once the socket is reported readable (or closed) after the last
    /// [`Watched::clear`].
    pub fn readable(&self) -> Readable<'_> {
        Readable { watched: self }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.readiness.sockets.borrow_mut().remove(&self.fd);
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
}

impl Future for Readable<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.watched.is_ready() {
            return Poll::Ready(());
        }
        self.watched.state.waiter.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Readable<'_> {
    fn drop(&mut self) {
        self.watched.state.waiter.take();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use bytes::BytesMut;
    use glommio::LocalExecutorBuilder;
    use glommio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::net::conn::Conn;

    /// How a test hands out readiness: [`Readiness::run`] or [`Readiness::run_every`].
    type Mode = fn(Rc<Readiness>) -> Pin<Box<dyn Future<Output = ()>>>;

    fn doorbell(readiness: Rc<Readiness>) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(readiness.run())
    }

    fn ticking(readiness: Rc<Readiness>) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(readiness.run_every(Duration::from_millis(1)))
    }

    /// Runs `test` on a fresh executor with a [`Readiness`] set handed out by [`doorbell`], and
    /// a connection whose peer is a plain blocking socket.
    fn with_connection<F, Fut>(test: F)
    where
        F: FnOnce(Conn, std::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        with_connection_in(doorbell, test)
    }

    /// [`with_connection`] with readiness handed out by `mode`.
    fn with_connection_in<F, Fut>(mode: Mode, test: F)
    where
        F: FnOnce(Conn, std::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        LocalExecutorBuilder::default()
            .spawn(move || async move {
                let readiness = Readiness::new().expect("epoll");
                let _running = glommio::spawn_local(mode(readiness.clone()));
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                let peer = std::net::TcpStream::connect(listener.local_addr().expect("addr"))
                    .expect("connect");
                let stream: TcpStream = listener.accept().await.expect("accept");
                test(Conn::new(stream, &readiness).expect("conn"), peer).await;
            })
            .expect("executor")
            .join()
            .expect("test executor");
    }

    /// The peer writes `parts` with pauses in between, then closes; the connection reads them
    /// all (waiting each time the socket is empty) and then sees the end of the stream.
    async fn reads_what_arrives_late(conn: Conn, mut peer: std::net::TcpStream) {
        let parts: Vec<Vec<u8>> = vec![b"hello".to_vec(), vec![7; 100_000], b"bye".to_vec()];
        let expected: Vec<u8> = parts.concat();
        let writer = std::thread::spawn(move || {
            for part in parts {
                std::thread::sleep(Duration::from_millis(30));
                peer.write_all(&part).expect("peer write");
            }
        });
        let mut got = BytesMut::new();
        loop {
            let n = conn.read(&mut got, 64 * 1024).await.expect("read");
            if n == 0 {
                break;
            }
        }
        writer.join().expect("writer");
        assert_eq!(got.len(), expected.len());
        assert!(got[..] == expected[..]);
    }

    #[test]
    fn reads_wait_for_data_and_see_the_end_of_stream_on_the_doorbell() {
        with_connection(reads_what_arrives_late);
    }

    #[test]
    fn reads_wait_for_data_and_see_the_end_of_stream_on_a_ticker() {
        with_connection_in(ticking, reads_what_arrives_late);
    }

    #[test]
    fn a_read_without_data_times_out() {
        with_connection(|conn, peer| async move {
            let _open = peer;
            conn.set_read_timeout(Some(Duration::from_millis(50)));
            let started = Instant::now();
            let err = conn
                .read(&mut BytesMut::new(), 1024)
                .await
                .expect_err("no data was sent");
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(started.elapsed() >= Duration::from_millis(50));
        });
    }

    #[test]
    fn a_read_timeout_counts_from_each_wait_not_from_the_first() {
        with_connection(|conn, mut peer| async move {
            let timeout = Duration::from_millis(80);
            conn.set_read_timeout(Some(timeout));
            let writer = std::thread::spawn(move || {
                for _ in 0..10 {
                    std::thread::sleep(Duration::from_millis(40));
                    peer.write_all(b"x").expect("peer write");
                }
                std::thread::sleep(Duration::from_millis(400));
            });
            let mut buf = BytesMut::new();
            // 400 ms of reads in all, each wait well within the timeout.
            for _ in 0..10 {
                let n = conn.read(&mut buf, 16).await.expect("data every 40 ms");
                assert_eq!(n, 1);
            }
            let started = Instant::now();
            let err = conn.read(&mut buf, 16).await.expect_err("no more data");
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            let waited = started.elapsed();
            assert!(waited >= timeout && waited < timeout * 3, "{waited:?}");
            writer.join().expect("writer");
        });
    }

    #[test]
    fn a_socket_leaves_the_set_with_its_connection() {
        LocalExecutorBuilder::default()
            .spawn(|| async {
                let readiness = Readiness::new().expect("epoll");
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                let _peer = std::net::TcpStream::connect(listener.local_addr().expect("addr"))
                    .expect("connect");
                let stream: TcpStream = listener.accept().await.expect("accept");
                let conn = Conn::new(stream, &readiness).expect("conn");
                assert_eq!(readiness.sockets.borrow().len(), 1);
                drop(conn);
                assert!(readiness.sockets.borrow().is_empty());
            })
            .expect("executor")
            .join()
            .expect("test executor");
    }
}
