//! Opening connections: TCP to a resolved address ([`connect`]), and RTMP with livego's
//! sans-IO client session driven over it through the handshake and commands until
//! Publishing/Playing ([`open_rtmp`]).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::future;
use glommio::net::TcpStream;

use livego::rtmp::client::{ClientEvent, ClientSession, Role, RtmpUrl, setup_outcome};
use livego::rtmp::handshake::RANDOM_LEN;
use ring::rand::{SecureRandom, SystemRandom};

use livego::net::conn::Conn;
use livego::net::readiness::Readiness;

/// Connecting and reaching Publishing/Playing may take this long.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP connection to `addr` (TCP_NODELAY, as the server's own connections), readable and
/// writable from two tasks at once.
pub async fn connect(addr: SocketAddr, ready: &Rc<Readiness>) -> io::Result<Conn> {
    let stream = TcpStream::connect(addr).await.map_err(io::Error::from)?;
    Conn::new(stream, ready)
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
    pub sock: Conn,
    pub session: ClientSession,
    pub input: BytesMut,
    pub pending: Vec<ClientEvent>,
}

/// Connects and runs the client session until it publishes or plays (or fails, or
/// [`SETUP_TIMEOUT`] passes).
pub async fn open_rtmp(
    url: RtmpUrl,
    role: Role,
    read_size: usize,
    ready: &Rc<Readiness>,
) -> Result<Opened, String> {
    let setup = async {
        let addr = resolve(&url.host, url.port)?;
        let sock = connect(addr, ready)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let mut seed = [0u8; RANDOM_LEN];
        SystemRandom::new()
            .fill(&mut seed)
            .expect("the OS random source");
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
            if let Some(pending) = setup_outcome(
                session
                    .feed(&mut input, &mut out)
                    .map_err(|e| e.to_string())?,
            )? {
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
