//! A small blocking RTMP client for tests that need to see individual messages (onStatus
//! codes, sequence headers, the first frame after a republish) or to misbehave (stop reading).
//! Built from the library's sans-IO pieces: handshake, chunk reader/writer, AMF0.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use livego::amf::{Value, amf0, decode_message_values};
use livego::rtmp::chunk::{ChunkReader, ChunkWriter, control};
use livego::rtmp::handshake::{ClientHandshake, HandshakeStatus, RANDOM_LEN};
use livego::rtmp::message::{Message, msg_type, user_control};

/// Connecting, the handshake and each command reply must come within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunk stream for commands (any of 3..; one is enough for a client).
const CSID_COMMAND: u32 = 3;

/// The `info` object of an `onStatus` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub level: String,
    pub code: String,
}

/// The AMF values of a command message (type 20 or 17), `None` for any other message.
pub fn command_values(msg: &Message) -> Option<Vec<Value>> {
    let amf3 = match msg.type_id {
        msg_type::COMMAND_AMF0 => false,
        msg_type::COMMAND_AMF3 => true,
        _ => return None,
    };
    decode_message_values(amf3, &msg.payload).ok()
}

/// The status of an `onStatus` command message (`onStatus`, txn, null, info object).
pub fn status_of(msg: &Message) -> Option<Status> {
    let values = command_values(msg)?;
    if values.first()?.as_str()? != "onStatus" {
        return None;
    }
    let info = values.get(3)?;
    let field = |key| info.get(key).and_then(Value::as_str).map(str::to_string);
    Some(Status {
        level: field("level").unwrap_or_default(),
        code: field("code")?,
    })
}

pub struct RtmpClient {
    sock: TcpStream,
    chunks: ChunkReader,
    writer: ChunkWriter,
    /// Received bytes not yet parsed into messages.
    inbox: BytesMut,
    next_txn: f64,
    /// The server's window acknowledgement size, and the byte count last acknowledged.
    window: u64,
    acked: u64,
    /// Why the connection ended (EOF, read error, broken chunk stream), once it has.
    ended: Option<String>,
}

impl RtmpClient {
    /// Handshake, then `connect` to `app`; returns once the server answered `_result`.
    pub fn connect(addr: SocketAddr, app: &str) -> io::Result<RtmpClient> {
        Self::connect_with(addr, app, None)
    }

    /// The handshake only: what follows is up to the caller ([`send_raw`](Self::send_raw)).
    pub fn handshaken(addr: SocketAddr) -> io::Result<RtmpClient> {
        let mut client = Self::open(TcpStream::connect_timeout(&addr, STEP_TIMEOUT)?)?;
        client.handshake()?;
        Ok(client)
    }

    /// [`connect`](Self::connect) with SO_RCVBUF set to `recv_buffer` bytes before connecting
    /// (which also pins it: no autotuning). A client that then stops reading backs its server
    /// up after a few hundred kB rather than the tens of MB a default socket can take in.
    pub fn connect_with(
        addr: SocketAddr,
        app: &str,
        recv_buffer: Option<usize>,
    ) -> io::Result<RtmpClient> {
        let sock: TcpStream = match recv_buffer {
            None => TcpStream::connect_timeout(&addr, STEP_TIMEOUT)?,
            Some(size) => {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
                s.set_recv_buffer_size(size)?;
                s.connect_timeout(&addr.into(), STEP_TIMEOUT)?;
                s.into()
            }
        };
        let mut client = Self::open(sock)?;
        client.handshake()?;
        let props = Value::Object(vec![
            ("app".into(), Value::String(app.into())),
            ("flashVer".into(), Value::String("LNX 9,0,124,2".into())),
            (
                "tcUrl".into(),
                Value::String(format!("rtmp://{addr}/{app}")),
            ),
            ("fpad".into(), Value::Boolean(false)),
            ("capabilities".into(), Value::Number(15.0)),
            ("audioCodecs".into(), Value::Number(4071.0)),
            ("videoCodecs".into(), Value::Number(252.0)),
            ("videoFunction".into(), Value::Number(1.0)),
            ("objectEncoding".into(), Value::Number(0.0)),
        ]);
        client.call("connect", 0, vec![props])?;
        Ok(client)
    }

    fn open(sock: TcpStream) -> io::Result<RtmpClient> {
        sock.set_nodelay(true)?;
        sock.set_write_timeout(Some(STEP_TIMEOUT))?;
        Ok(RtmpClient {
            sock,
            chunks: ChunkReader::new(32 << 20),
            writer: ChunkWriter::new(),
            inbox: BytesMut::new(),
            next_txn: 1.0,
            window: 2_500_000,
            acked: 0,
            ended: None,
        })
    }

    /// Writes `bytes` as they are (hand-made chunks); an error once the server has closed.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// Sends one message through this client's chunk writer (chunk size 128 unless changed
    /// with a Set Chunk Size message sent here).
    pub fn send_message(&mut self, msg: &Message) -> io::Result<()> {
        self.send(msg)
    }

    fn handshake(&mut self) -> io::Result<()> {
        let mut random = [0u8; RANDOM_LEN];
        for (i, b) in random.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let mut handshake = ClientHandshake::new(0, &random, false);
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut out = BytesMut::new();
        loop {
            let status = handshake
                .feed(&mut self.inbox, &mut out)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.sock.write_all(&out)?;
            out.clear();
            if status == HandshakeStatus::Done {
                return Ok(());
            }
            if !self.fill(deadline) {
                return Err(self.failure("during the handshake"));
            }
        }
    }

    /// `createStream`, then `play NAME`. Returns the first onStatus code after
    /// `NetStream.Play.Reset` (normally `NetStream.Play.Start`).
    pub fn play(&mut self, name: &str) -> io::Result<String> {
        let stream = self.create_stream()?;
        self.send_command("play", 0.0, stream, vec![Value::String(name.into())])?;
        let status = self.wait_for(STEP_TIMEOUT, |m| {
            status_of(m).filter(|s| s.code != "NetStream.Play.Reset")
        })?;
        Ok(status.code)
    }

    /// `createStream`, then `publish NAME live`; returns the server's onStatus answer.
    pub fn publish(&mut self, name: &str) -> io::Result<Status> {
        let stream = self.create_stream()?;
        let args = vec![Value::String(name.into()), Value::String("live".into())];
        self.send_command("publish", 0.0, stream, args)?;
        self.wait_for(STEP_TIMEOUT, status_of)
    }

    /// A command round trip (`createStream`): once it returns, the server has read everything
    /// sent before.
    pub fn sync(&mut self) -> io::Result<()> {
        self.create_stream().map(drop)
    }

    fn create_stream(&mut self) -> io::Result<u32> {
        let result = self.call("createStream", 0, vec![])?;
        match result.get(3).and_then(Value::as_f64) {
            Some(id) => Ok(id as u32),
            None => Err(io::Error::other(format!(
                "createStream answered {result:?}"
            ))),
        }
    }

    /// Sends a command with a fresh transaction id and waits for its `_result` (an `_error`
    /// is an error). Returns all values of the answer.
    fn call(&mut self, name: &str, stream: u32, args: Vec<Value>) -> io::Result<Vec<Value>> {
        let txn = self.next_txn;
        self.next_txn += 1.0;
        self.send_command(name, txn, stream, args)?;
        let answer = self.wait_for(STEP_TIMEOUT, |m| {
            let values = command_values(m)?;
            (values.get(1)?.as_f64()? == txn).then_some(values)
        })?;
        match answer[0].as_str() {
            Some("_result") => Ok(answer),
            _ => Err(io::Error::other(format!("{name} answered {answer:?}"))),
        }
    }

    /// Command `name` with transaction id `txn`, then `args`; every command but `connect`
    /// (whose `args` are its command object) gets a null command object before them.
    fn send_command(
        &mut self,
        name: &str,
        txn: f64,
        stream: u32,
        args: Vec<Value>,
    ) -> io::Result<()> {
        let mut payload = Vec::new();
        amf0::encode(&Value::String(name.into()), &mut payload);
        amf0::encode(&Value::Number(txn), &mut payload);
        if name != "connect" {
            amf0::encode(&Value::Null, &mut payload); // command object
        }
        amf0::encode_all(&args, &mut payload);
        self.send(&Message {
            csid: CSID_COMMAND,
            timestamp: 0,
            type_id: msg_type::COMMAND_AMF0,
            stream_id: stream,
            payload: payload.into(),
        })
    }

    fn send(&mut self, msg: &Message) -> io::Result<()> {
        let mut out = BytesMut::new();
        self.writer.write(msg, &mut out);
        self.sock.write_all(&out)
    }

    /// Reads messages until `pick` returns something or `timeout` passes (an error, as is the
    /// connection ending first).
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Message) -> Option<T>,
    ) -> io::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_message(left) {
                Some(msg) => {
                    if let Some(found) = pick(&msg) {
                        return Ok(found);
                    }
                }
                None => return Err(self.failure(&format!("within {timeout:?}"))),
            }
        }
    }

    /// The next message from the server, `None` after `timeout` or once the connection ended
    /// (see [`ended`](Self::ended)). Acknowledges received bytes and answers pings on the way.
    /// Not calling this at all is how a test plays a stalled player.
    pub fn next_message(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.chunks.read_message(&mut self.inbox) {
                Ok(Some(msg)) => {
                    self.answer(&msg);
                    return Some(msg);
                }
                Ok(None) => {}
                Err(e) => {
                    self.ended
                        .get_or_insert(format!("broken chunk stream: {e}"));
                    return None;
                }
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Reads once more into the inbox; false on timeout or when the connection has ended.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.ended.is_some() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = self.sock.set_read_timeout(Some(left));
        let mut buf = [0u8; 64 * 1024];
        match self.sock.read(&mut buf) {
            Ok(0) => self.ended = Some("closed by the server".into()),
            Ok(n) => {
                self.inbox.extend_from_slice(&buf[..n]);
                return true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => self.ended = Some(format!("read error: {e}")),
        }
        false
    }

    /// The minimal replies a live player owes: acknowledgements and ping responses.
    fn answer(&mut self, msg: &Message) {
        match msg.type_id {
            msg_type::WINDOW_ACK_SIZE => {
                if let Ok(size) = control::parse_u32(&msg.payload) {
                    self.window = u64::from(size.max(1));
                }
            }
            msg_type::USER_CONTROL => {
                if let Ok((user_control::PING_REQUEST, &[a, b, c, d, ..])) =
                    control::parse_user_control(&msg.payload)
                {
                    let _ = self.send(&control::ping_response(u32::from_be_bytes([a, b, c, d])));
                }
            }
            _ => {}
        }
        let received = self.chunks.bytes_received();
        if received - self.acked >= self.window {
            self.acked = received;
            let _ = self.send(&control::acknowledgement(received as u32));
        }
    }

    /// Reads and discards everything until the server closes the connection (true) or
    /// `timeout` passes (false).
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.ended.is_none() && Instant::now() < deadline {
            self.inbox.clear(); // only the end matters: skip parsing
            self.fill(deadline);
        }
        self.ended.is_some()
    }

    /// Why the connection ended, `None` while it is open (as far as reading has seen).
    pub fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    /// The socket, to go on with raw bytes.
    pub fn into_socket(self) -> TcpStream {
        self.sock
    }

    /// Our end of the connection (the peer address in the server's log lines).
    pub fn local_addr(&self) -> SocketAddr {
        self.sock
            .local_addr()
            .expect("local address of a connected socket")
    }

    fn failure(&self, when: &str) -> io::Error {
        match &self.ended {
            Some(why) => io::Error::new(io::ErrorKind::ConnectionAborted, format!("{why} {when}")),
            None => io::Error::new(io::ErrorKind::TimedOut, format!("nothing {when}")),
        }
    }
}
