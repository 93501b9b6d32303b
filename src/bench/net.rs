//! A client TCP connection on glommio with the RTMP client session driven over it: connect,
//! handshake and commands until Publishing/Playing ([`open_rtmp`]).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite, future};
use glommio::net::TcpStream;

use crate::crypto::random;
use crate::rtmp::client::{ClientEvent, ClientSession, Role, RtmpUrl, setup_outcome};
use crate::rtmp::handshake::RANDOM_LEN;

/// Connecting and reaching Publishing/Playing may take this long.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A socket shared by a reading and a writing task on one executor: the `RefCell` is only
/// borrowed for one poll.
pub struct Sock(RefCell<TcpStream>);

impl Sock {
    pub async fn connect(addr: SocketAddr) -> io::Result<Sock> {
        let stream = TcpStream::connect(addr).await.map_err(io::Error::from)?;
        stream.set_nodelay(true)?;
        Ok(Sock(RefCell::new(stream)))
    }

    /// Appends up to `max` bytes to `buf`; Ok(0) at end of stream.
    pub async fn read(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        let start = buf.len();
        buf.resize(start + max, 0);
        let result = poll_fn(|cx| {
            let mut stream = self.0.borrow_mut();
            Pin::new(&mut *stream).poll_read(cx, &mut buf[start..])
        })
        .await;
        buf.truncate(start + *result.as_ref().unwrap_or(&0));
        result
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let mut stream = self.0.borrow_mut();
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

/// `host:port` resolved to its first address.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve {host}"))
}

/// An RTMP connection that reached Publishing/Playing, with the bytes and events that came
/// after that in the same read (e.g. the first frames).
pub struct Opened {
    pub sock: Sock,
    pub session: ClientSession,
    pub input: BytesMut,
    pub pending: Vec<ClientEvent>,
}

/// Connects and runs the client session until it publishes or plays (or fails, or
/// [`SETUP_TIMEOUT`] passes).
pub async fn open_rtmp(url: RtmpUrl, role: Role, read_size: usize) -> Result<Opened, String> {
    let setup = async {
        let addr = resolve(&url.host, url.port)?;
        let sock = Sock::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let mut seed = [0u8; RANDOM_LEN];
        random::fill(&mut seed);
        let mut session = ClientSession::new(url, role, 0, &seed);
        let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
        session.start(&mut out);
        loop {
            sock.write_all(&out).await.map_err(|e| e.to_string())?;
            out.clear();
            if sock
                .read(&mut input, read_size)
                .await
                .map_err(|e| e.to_string())?
                == 0
            {
                return Err("server closed the connection during setup".into());
            }
            if let Some(pending) = setup_outcome(session.feed(&mut input, &mut out)?)? {
                sock.write_all(&out).await.map_err(|e| e.to_string())?;
                return Ok(Opened {
                    sock,
                    session,
                    input,
                    pending,
                });
            }
        }
    };
    let timeout = async {
        glommio::timer::sleep(SETUP_TIMEOUT).await;
        Err(format!("not playing/publishing within {SETUP_TIMEOUT:?}"))
    };
    future::or(setup, timeout).await
}
