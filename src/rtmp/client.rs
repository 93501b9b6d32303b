//! The client side of an RTMP connection (handshake, connect, createStream, publish or play),
//! sans-IO: the building block for relays (static push, /control/push, /control/pull).
//!
//! The driver opens the socket, calls [`ClientSession::start`] and sends what it appended, then
//! feeds every received chunk of bytes to [`ClientSession::feed`] and sends what that appended.
//! Events tell it when the stream is up ([`ClientEvent::Publishing`] /
//! [`ClientEvent::Playing`]), carry played media, and report refusals
//! ([`ClientEvent::Closed`]), after which the driver closes the connection.
//!
//! What goes out follows ffmpeg's RTMP client: connect (flashVer FMLE), Set Chunk Size 4096,
//! releaseStream + FCPublish before publishing, createStream, publish(name, "live") or
//! play(name) with Set Buffer Length. Ping requests are answered and received bytes are
//! acknowledged per the server's Window Acknowledgement Size.

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::chunk::{ChunkError, ChunkReader, ChunkSize, ChunkWriter, control};
use super::handshake::{ClientHandshake, HandshakeError, HandshakeStatus, RANDOM_LEN};
use super::message::{Message, msg_type, user_control};
use crate::amf::{self, Value};
use crate::logline::Peer;

pub use super::url::RtmpUrl;

const CSID_COMMAND: u32 = 3;
const CSID_AUDIO: u32 = 4;
const CSID_DATA: u32 = 5;
const CSID_VIDEO: u32 = 6;
/// Chunk stream for commands on the NetStream (publish, play), as ffmpeg uses.
const CSID_STREAM: u32 = 8;
/// Chunk size we announce after connect.
const OUT_CHUNK_SIZE: u32 = 4096;
/// Largest message accepted from the server.
const MAX_MESSAGE_LEN: usize = 16 << 20;
/// Buffer length announced to the server when playing.
const BUFFER_MS: u32 = 3000;
const CONNECT_TXN: f64 = 1.0;
const FLASH_VER: &str = "FMLE/3.0 (compatible; livego)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publish,
    Play,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `connect` succeeded; createStream is on its way.
    Connected,
    /// `NetStream.Publish.Start`: [`ClientSession::send_media`] may be used from now on.
    Publishing,
    /// `NetStream.Play.Start`: media follows as [`ClientEvent::Media`].
    Playing,
    /// Audio, video or data from the server while playing (its own `|RtmpSampleAccess` and
    /// `onStatus` data messages left out).
    Media(Message),
    /// `NetStream.Play.UnpublishNotify` while playing: the stream's publisher left.
    Unpublished,
    /// Any other `onStatus` that is not an error (e.g. `NetStream.Play.PublishNotify`).
    Status { level: String, code: String },
    /// The server refused or ended the session; the driver should close the connection.
    Closed(String),
}

/// Why the server's bytes are unusable (the driver closes the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    Handshake(HandshakeError),
    Chunks(ChunkError),
    /// A command whose AMF does not decode.
    Command(amf::Error),
    /// A protocol control message (named) that does not parse.
    Control(&'static str, ChunkError),
    /// A command whose name is not a string (the value, as debug text).
    CommandName(String),
    /// A `createStream` result that is no stream id (the value, as debug text).
    StreamId(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Handshake(e) => write!(f, "RTMP handshake failed: {e}"),
            ClientError::Chunks(e) => write!(f, "bad RTMP chunk stream from server: {e}"),
            ClientError::Command(e) => write!(f, "bad AMF in command from server: {e}"),
            ClientError::Control(what, e) => write!(f, "bad {what}: {e}"),
            ClientError::CommandName(v) => write!(f, "server command name is {v}, not a string"),
            ClientError::StreamId(v) => write!(f, "createStream result {v} is not a stream id"),
        }
    }
}

impl std::error::Error for ClientError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    AwaitConnect,
    AwaitStream { txn: u32 },
    AwaitStart,
    Publishing,
    Playing,
    Closed,
}

pub struct ClientSession {
    url: RtmpUrl,
    role: Role,
    handshake: ClientHandshake,
    state: State,
    reader: ChunkReader,
    writer: ChunkWriter,
    next_txn: u32,
    stream_id: u32,
    /// Server's Window Acknowledgement Size; 0 until it sends one.
    window: u32,
    acked: u64,
}

impl ClientSession {
    /// `time` and `random` go into C1 (digest handshake, as Flash-lineage clients send).
    pub fn new(url: RtmpUrl, role: Role, time: u32, random: &[u8; RANDOM_LEN]) -> Self {
        ClientSession {
            url,
            role,
            handshake: ClientHandshake::new(time, random, true),
            state: State::Handshake,
            reader: ChunkReader::new(MAX_MESSAGE_LEN),
            writer: ChunkWriter::new(),
            next_txn: 2,
            stream_id: 0,
            window: 0,
            acked: 0,
        }
    }

    pub fn url(&self) -> &RtmpUrl {
        &self.url
    }

    /// True after [`ClientEvent::Publishing`] until the session closed.
    pub fn is_publishing(&self) -> bool {
        self.state == State::Publishing
    }

    /// True after [`ClientEvent::Playing`] until the session closed.
    pub fn is_playing(&self) -> bool {
        self.state == State::Playing
    }

    /// Appends the bytes to send first (C0+C1).
    pub fn start(&mut self, out: &mut BytesMut) {
        self.handshake.start(out);
    }

    /// Consumes received bytes (a partial chunk stays in `input`), appends replies and commands
    /// to `out`, and returns the events in order. After [`ClientEvent::Closed`], input is
    /// discarded. An `Err` means the server's bytes are unusable: close the connection.
    pub fn feed(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<Vec<ClientEvent>, ClientError> {
        let mut events = Vec::new();
        if self.state == State::Handshake {
            let status = self.handshake.feed(input, out);
            match status.map_err(ClientError::Handshake)? {
                HandshakeStatus::InProgress => return Ok(events),
                HandshakeStatus::Done => self.connect(out),
            }
        }
        while self.state != State::Closed {
            let Some(msg) = self
                .reader
                .read_message(input)
                .map_err(ClientError::Chunks)?
            else {
                break;
            };
            self.handle(msg, out, &mut events)?;
        }
        if self.state == State::Closed {
            input.clear();
        } else {
            self.acknowledge(out);
        }
        Ok(events)
    }

    /// While publishing, appends one audio (8), video (9) or data (18, 15) message as chunks;
    /// anything else, or any message before [`ClientEvent::Publishing`], is dropped.
    /// Data messages go as given: metadata should carry its `@setDataFrame` prefix.
    pub fn send_media(&mut self, type_id: u8, timestamp: u32, body: Bytes, out: &mut BytesMut) {
        let csid = match type_id {
            msg_type::AUDIO => CSID_AUDIO,
            msg_type::VIDEO => CSID_VIDEO,
            msg_type::DATA_AMF0 | msg_type::DATA_AMF3 => CSID_DATA,
            _ => return,
        };
        if self.state != State::Publishing {
            return;
        }
        let msg = Message {
            csid,
            timestamp,
            type_id,
            stream_id: self.stream_id,
            payload: body,
        };
        self.writer.write(&msg, out);
    }

    fn handle(
        &mut self,
        msg: Message,
        out: &mut BytesMut,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        match msg.type_id {
            msg_type::COMMAND_AMF0 | msg_type::COMMAND_AMF3 => {
                let amf3 = msg.type_id == msg_type::COMMAND_AMF3;
                let values =
                    amf::decode_message_values(amf3, &msg.payload).map_err(ClientError::Command)?;
                self.command(values, out, events)
            }
            msg_type::AUDIO | msg_type::VIDEO | msg_type::DATA_AMF0 | msg_type::DATA_AMF3 => {
                if self.state == State::Playing && !is_server_data(&msg) {
                    events.push(ClientEvent::Media(msg));
                }
                Ok(())
            }
            msg_type::WINDOW_ACK_SIZE => {
                self.window = control::parse_u32(&msg.payload)
                    .map_err(|e| ClientError::Control("Window Acknowledgement Size", e))?;
                Ok(())
            }
            msg_type::USER_CONTROL => {
                let (event, data) = control::parse_user_control(&msg.payload)
                    .map_err(|e| ClientError::Control("user control message", e))?;
                if event == user_control::PING_REQUEST {
                    let ts = control::parse_u32(data)
                        .map_err(|e| ClientError::Control("ping request", e))?;
                    self.writer.write(&control::ping_response(ts), out);
                }
                Ok(())
            }
            // Set Chunk Size and Abort are applied by the reader; the rest needs no answer.
            _ => Ok(()),
        }
    }

    fn command(
        &mut self,
        values: Vec<Value>,
        out: &mut BytesMut,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        let name = match values.first() {
            Some(Value::String(s)) => s.as_str(),
            other => return Err(ClientError::CommandName(format!("{other:?}"))),
        };
        let txn = values.get(1).and_then(Value::as_f64).unwrap_or(0.0);
        let info = values.get(3);
        match (name, self.state) {
            ("_result", State::AwaitConnect) if txn == CONNECT_TXN => {
                self.after_connect(out);
                events.push(ClientEvent::Connected);
            }
            ("_error", State::AwaitConnect) if txn == CONNECT_TXN => {
                self.close(format!("connect rejected: {}", describe(info)), events);
            }
            ("_result", State::AwaitStream { txn: expected }) if txn == f64::from(expected) => {
                let id = info.and_then(Value::as_f64).unwrap_or(-1.0);
                if !(0.0..=f64::from(u32::MAX)).contains(&id) || id.fract() != 0.0 {
                    return Err(ClientError::StreamId(format!("{info:?}")));
                }
                self.stream_id = id as u32;
                self.start_stream(out);
            }
            ("_error", State::AwaitStream { txn: expected }) if txn == f64::from(expected) => {
                self.close(format!("createStream rejected: {}", describe(info)), events);
            }
            ("onStatus", _) => self.on_status(info, events),
            ("close", _) => self.close("server closed the connection".into(), events),
            // Results of releaseStream/FCPublish, onBWDone, onFCPublish, ...
            _ => log::debug!("RTMP client ignores `{}` from server", Peer(name)),
        }
        Ok(())
    }

    fn on_status(&mut self, info: Option<&Value>, events: &mut Vec<ClientEvent>) {
        let field = |key| {
            let value = info.and_then(|i| i.get(key)).and_then(Value::as_str);
            value.unwrap_or("").to_string()
        };
        let (level, code) = (field("level"), field("code"));
        let waiting = self.state == State::AwaitStart;
        match (self.role, code.as_str()) {
            (Role::Publish, "NetStream.Publish.Start") if waiting => {
                self.state = State::Publishing;
                events.push(ClientEvent::Publishing);
            }
            (Role::Play, "NetStream.Play.Start") if waiting => {
                self.state = State::Playing;
                events.push(ClientEvent::Playing);
            }
            (Role::Play, "NetStream.Play.UnpublishNotify") if self.state == State::Playing => {
                events.push(ClientEvent::Unpublished);
            }
            _ if level == "error" => {
                let verb = match self.role {
                    Role::Publish => "publish",
                    Role::Play => "play",
                };
                self.close(format!("{verb} rejected: {}", describe(info)), events);
            }
            _ => events.push(ClientEvent::Status { level, code }),
        }
    }

    fn close(&mut self, reason: String, events: &mut Vec<ClientEvent>) {
        self.state = State::Closed;
        events.push(ClientEvent::Closed(reason));
    }

    fn connect(&mut self, out: &mut BytesMut) {
        let object = Value::Object(vec![
            ("app".into(), Value::String(self.url.app.clone())),
            ("type".into(), Value::String("nonprivate".into())),
            ("flashVer".into(), Value::String(FLASH_VER.into())),
            ("tcUrl".into(), Value::String(self.url.tc_url.clone())),
        ]);
        self.invoke("connect", CONNECT_TXN, 0, &[object], out);
        self.state = State::AwaitConnect;
    }

    fn after_connect(&mut self, out: &mut BytesMut) {
        let size = ChunkSize::new(OUT_CHUNK_SIZE).expect("4096 is a valid chunk size");
        self.writer.write(&control::set_chunk_size(size), out);
        self.writer.set_chunk_size(size);
        if self.role == Role::Publish {
            let name = Value::String(self.url.stream.clone());
            for command in ["releaseStream", "FCPublish"] {
                let txn = self.txn();
                self.invoke(command, txn, 0, &[Value::Null, name.clone()], out);
            }
        }
        let txn = self.txn();
        self.invoke("createStream", txn, 0, &[Value::Null], out);
        self.state = State::AwaitStream { txn: txn as u32 };
    }

    fn start_stream(&mut self, out: &mut BytesMut) {
        let name = Value::String(self.url.stream.clone());
        let txn = self.txn();
        let id = self.stream_id;
        match self.role {
            Role::Publish => {
                let args = [Value::Null, name, Value::String("live".into())];
                self.invoke("publish", txn, id, &args, out);
            }
            Role::Play => {
                // Start -2000: live if there is a live stream, else recorded (as ffmpeg).
                let args = [Value::Null, name, Value::Number(-2000.0)];
                self.invoke("play", txn, id, &args, out);
                let mut data = [0; 8];
                data[..4].copy_from_slice(&id.to_be_bytes());
                data[4..].copy_from_slice(&BUFFER_MS.to_be_bytes());
                let msg = control::user_control(user_control::SET_BUFFER_LENGTH, &data);
                self.writer.write(&msg, out);
            }
        }
        self.state = State::AwaitStart;
    }

    fn txn(&mut self) -> f64 {
        let txn = self.next_txn;
        self.next_txn += 1;
        f64::from(txn)
    }

    fn invoke(&mut self, name: &str, txn: f64, stream_id: u32, args: &[Value], out: &mut BytesMut) {
        let mut payload = Vec::new();
        amf::amf0::encode(&Value::String(name.into()), &mut payload);
        amf::amf0::encode(&Value::Number(txn), &mut payload);
        amf::amf0::encode_all(args, &mut payload);
        let msg = Message {
            csid: if stream_id == 0 {
                CSID_COMMAND
            } else {
                CSID_STREAM
            },
            timestamp: 0,
            type_id: msg_type::COMMAND_AMF0,
            stream_id,
            payload: payload.into(),
        };
        self.writer.write(&msg, out);
    }

    /// Acknowledge received bytes each time a window's worth arrived (spec §5.4.3).
    fn acknowledge(&mut self, out: &mut BytesMut) {
        let received = self.reader.bytes_received();
        if self.window > 0 && received - self.acked >= u64::from(self.window) {
            self.acked = received;
            self.writer
                .write(&control::acknowledgement(received as u32), out);
        }
    }
}

/// "code (description)" of an info object, for Closed reasons.
fn describe(info: Option<&Value>) -> String {
    let field = |key| info.and_then(|i| i.get(key)).and_then(Value::as_str);
    match (field("code"), field("description")) {
        (Some(code), Some(d)) if !d.is_empty() => format!("{code} ({d})"),
        (Some(code), _) => code.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => format!("{info:?}"),
    }
}

/// The server's own data messages around play (`|RtmpSampleAccess`, `onStatus`
/// NetStream.Data.Start), which are not the stream's data.
fn is_server_data(msg: &Message) -> bool {
    const OWN: [&[u8]; 2] = [b"\x02\x00\x11|RtmpSampleAccess", b"\x02\x00\x08onStatus"];
    msg.type_id == msg_type::DATA_AMF0 && OWN.iter().any(|p| msg.payload.starts_with(p))
}

/// What the events of one setup step mean to a driver: `Some(rest)` once the session publishes
/// or plays (`rest`: the events that came after it in the same input, e.g. the first frames),
/// an error when the server refused or closed the session, `None` while setup goes on.
pub fn setup_outcome(events: Vec<ClientEvent>) -> Result<Option<Vec<ClientEvent>>, String> {
    let mut events = events.into_iter();
    while let Some(event) = events.next() {
        match event {
            ClientEvent::Publishing | ClientEvent::Playing => return Ok(Some(events.collect())),
            ClientEvent::Closed(why) => return Err(why),
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk::encode_independent;
    use crate::rtmp::handshake::ServerHandshake;
    use crate::rtmp::session::{Event, Session, player_chunk_size, stream_ended};
    use proptest::prelude::*;

    #[test]
    fn setup_outcome_reports_ready_with_what_followed_or_the_refusal() {
        let status = |code: &str| ClientEvent::Status {
            level: "status".into(),
            code: code.into(),
        };
        assert_eq!(setup_outcome(vec![ClientEvent::Connected]).unwrap(), None);
        let ready = setup_outcome(vec![
            ClientEvent::Connected,
            ClientEvent::Playing,
            status("NetStream.Data.Start"),
        ]);
        assert_eq!(ready.unwrap(), Some(vec![status("NetStream.Data.Start")]));
        let refused = setup_outcome(vec![ClientEvent::Closed("publish rejected".into())]);
        assert_eq!(refused.unwrap_err(), "publish rejected");
    }

    /// Our own server session, driven like src/server/rtmp.rs drives it.
    struct Server {
        handshake: ServerHandshake,
        handshaken: bool,
        reader: ChunkReader,
        session: Session,
        /// Refuse publishes with this code.
        reject: Option<&'static str>,
        events: Vec<Event>,
        /// Everything the client sent after the handshake.
        received: Vec<Message>,
    }

    impl Server {
        fn new() -> Self {
            Server {
                handshake: ServerHandshake::new(7, &[0x5A; RANDOM_LEN]),
                handshaken: false,
                reader: ChunkReader::new(MAX_MESSAGE_LEN),
                session: Session::new(),
                reject: None,
                events: Vec::new(),
                received: Vec::new(),
            }
        }

        fn feed(&mut self, input: &mut BytesMut, out: &mut BytesMut) {
            if !self.handshaken {
                let status = self.handshake.feed(input, out).expect("client handshake");
                if status == HandshakeStatus::InProgress {
                    return;
                }
                self.handshaken = true;
            }
            while let Some(msg) = self.reader.read_message(input).expect("client chunks") {
                self.received.push(msg.clone());
                let event = self.session.handle(msg, out).expect("client commands");
                match &event {
                    Some(Event::Publish { name, .. }) => match self.reject {
                        Some(code) => self.session.reject_publish(code, "taken", out),
                        None => self.session.accept_publish(name, out),
                    },
                    Some(Event::Play { name, .. }) => self.session.accept_play(name, out),
                    _ => {}
                }
                self.events.extend(event);
            }
            self.session.acknowledge(self.reader.bytes_received(), out);
        }
    }

    struct Pair {
        client: ClientSession,
        server: Server,
        to_server: BytesMut,
        to_client: BytesMut,
        events: Vec<ClientEvent>,
    }

    impl Pair {
        fn new(url: &str, role: Role) -> Pair {
            let url = RtmpUrl::parse(url).expect("url");
            let mut pair = Pair {
                client: ClientSession::new(url, role, 1, &[0xA5; RANDOM_LEN]),
                server: Server::new(),
                to_server: BytesMut::new(),
                to_client: BytesMut::new(),
                events: Vec::new(),
            };
            pair.client.start(&mut pair.to_server);
            pair
        }

        /// Passes bytes back and forth until both sides are quiet.
        fn pump(&mut self) {
            for _ in 0..50 {
                if self.to_server.is_empty() && self.to_client.is_empty() {
                    return;
                }
                self.server.feed(&mut self.to_server, &mut self.to_client);
                let events = self.client.feed(&mut self.to_client, &mut self.to_server);
                self.events.extend(events.expect("server bytes"));
            }
            panic!("the conversation does not settle");
        }

        /// Client messages waiting for the server, decoded by the server's reader.
        fn client_messages(&mut self) -> Vec<Message> {
            let mut msgs = Vec::new();
            while let Some(m) = self
                .server
                .reader
                .read_message(&mut self.to_server)
                .unwrap()
            {
                msgs.push(m);
            }
            msgs
        }
    }

    fn status(level: &str, code: &str) -> ClientEvent {
        ClientEvent::Status {
            level: level.into(),
            code: code.into(),
        }
    }

    fn server_message(type_id: u8, csid: u32, timestamp: u32, payload: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        let size = player_chunk_size();
        encode_independent(csid, timestamp, type_id, 1, payload, size, &mut out);
        out
    }

    #[test]
    fn publish_reaches_publishing_with_app_name_and_query() {
        let mut pair = Pair::new("rtmp://127.0.0.1:1935/live/cam?k=v", Role::Publish);
        pair.pump();
        assert_eq!(
            pair.events,
            vec![ClientEvent::Connected, ClientEvent::Publishing]
        );
        assert!(pair.client.is_publishing());
        assert_eq!(pair.server.session.app(), "live");
        let expected = Event::Publish {
            app: "live".into(),
            name: "cam".into(),
            query: "k=v".into(),
        };
        assert_eq!(pair.server.events, vec![expected]);
        let commands: Vec<_> = (pair.server.received.iter())
            .filter(|m| m.type_id == msg_type::COMMAND_AMF0)
            .map(|m| amf::decode_message_values(false, &m.payload).unwrap())
            .collect();
        let names: Vec<_> = commands.iter().map(|v| v[0].as_str().unwrap()).collect();
        let expected = [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
        ];
        assert_eq!(names, expected);
        let publish = &commands[4];
        assert_eq!(publish[3].as_str(), Some("cam?k=v"));
        assert_eq!(publish[4].as_str(), Some("live"));
        assert_eq!(pair.server.received[1].type_id, msg_type::SET_CHUNK_SIZE);
    }

    #[test]
    fn refused_publish_closes_with_the_code() {
        let mut pair = Pair::new("rtmp://h/live/cam", Role::Publish);
        pair.server.reject = Some("NetStream.Publish.BadName");
        pair.pump();
        let Some(ClientEvent::Closed(reason)) = pair.events.last() else {
            panic!("not closed: {:?}", pair.events);
        };
        assert!(reason.contains("publish rejected: NetStream.Publish.BadName"));
        assert!(!pair.client.is_publishing());
        // Nothing is sent after a refusal, and later bytes are ignored.
        let mut out = BytesMut::new();
        pair.client
            .send_media(9, 0, Bytes::from_static(b"x"), &mut out);
        assert!(out.is_empty());
        let mut garbage = BytesMut::from(&[0xFF; 64][..]);
        assert_eq!(pair.client.feed(&mut garbage, &mut out), Ok(vec![]));
    }

    #[test]
    fn sent_media_arrives_with_the_same_bytes_and_timestamps() {
        let mut pair = Pair::new("rtmp://h/live/cam", Role::Publish);
        pair.pump();
        let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let frames = [
            (
                msg_type::DATA_AMF0,
                0,
                b"\x02\x00\x0d@setDataFrame".to_vec(),
            ),
            (msg_type::VIDEO, 0, vec![0x17, 0, 0, 0, 0, 1, 2]),
            (msg_type::AUDIO, 0, vec![0xAF, 0, 0x12, 0x10]),
            (msg_type::VIDEO, 40, big.clone()),
            (msg_type::AUDIO, 23, vec![0xAF, 1, 9]),
            (msg_type::VIDEO, 80, big),
            (msg_type::VIDEO, 0x0100_0000, vec![0x27, 1]),
            (msg_type::VIDEO, 0x0100_0040, vec![0x27, 1]),
        ];
        for (type_id, ts, body) in &frames {
            let body = Bytes::from(body.clone());
            pair.client
                .send_media(*type_id, *ts, body, &mut pair.to_server);
        }
        pair.pump();
        let got: Vec<_> = pair.server.events[1..]
            .iter()
            .map(|e| match e {
                Event::Media(m) => (m.type_id, m.timestamp, m.payload.to_vec()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, frames);
    }

    #[test]
    fn play_reaches_playing_and_delivers_media() {
        let mut pair = Pair::new("rtmp://[::1]/live/cam", Role::Play);
        pair.pump();
        let expected = vec![
            ClientEvent::Connected,
            status("status", "NetStream.Play.Reset"),
            ClientEvent::Playing,
        ];
        assert_eq!(pair.events, expected);
        assert!(pair.client.is_playing());
        assert!(matches!(&pair.server.events[..], [Event::Play { name, .. }] if name == "cam"));

        let big = vec![7u8; 9000];
        pair.to_client
            .extend_from_slice(&server_message(msg_type::VIDEO, 6, 40, &big));
        pair.to_client.extend_from_slice(&stream_ended());
        pair.events.clear();
        pair.pump();
        let ClientEvent::Media(video) = &pair.events[0] else {
            panic!("{:?}", pair.events);
        };
        assert_eq!((video.type_id, video.timestamp), (msg_type::VIDEO, 40));
        assert_eq!(&video.payload[..], &big[..]);
        assert_eq!(pair.events[1..], [ClientEvent::Unpublished]);
    }

    #[test]
    fn play_sends_set_buffer_length_and_answers_pings_and_acknowledges() {
        let mut pair = Pair::new("rtmp://h/live/cam", Role::Play);
        pair.pump();
        let received = &pair.server.received;
        let buffer = received
            .iter()
            .find(|m| m.type_id == msg_type::USER_CONTROL);
        let buffer = buffer.expect("Set Buffer Length");
        assert_eq!(&buffer.payload[..], &[0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8]);
        let commands: Vec<_> = received
            .iter()
            .filter(|m| m.type_id == msg_type::COMMAND_AMF0)
            .map(|m| amf::decode_message_values(false, &m.payload).unwrap())
            .collect();
        let names: Vec<_> = commands.iter().map(|v| v[0].as_str().unwrap()).collect();
        assert_eq!(names, ["connect", "createStream", "play"]);
        let connect = &commands[0][2];
        let field = |k| connect.get(k).and_then(Value::as_str);
        assert_eq!(field("tcUrl"), Some("rtmp://h/live"));
        assert_eq!(field("flashVer"), Some(FLASH_VER));
        assert_eq!(field("type"), Some("nonprivate"));

        let ping = control::ping_request(0x0102_0304);
        let mut input = server_message(ping.type_id, 2, 0, &ping.payload);
        let window = control::window_ack_size(1000);
        input.extend_from_slice(&server_message(window.type_id, 2, 0, &window.payload));
        input.extend_from_slice(&server_message(msg_type::AUDIO, 4, 0, &[1; 2000]));
        let events = pair.client.feed(&mut input, &mut pair.to_server);
        assert_eq!(events.expect("ok").len(), 1);
        let msgs = pair.client_messages();
        let kinds: Vec<_> = msgs
            .iter()
            .map(|m| (m.type_id, m.payload.to_vec()))
            .collect();
        let received = pair.client.reader.bytes_received() as u32;
        let expected = vec![
            (msg_type::USER_CONTROL, vec![0, 7, 1, 2, 3, 4]),
            (msg_type::ACKNOWLEDGEMENT, received.to_be_bytes().to_vec()),
        ];
        assert_eq!(kinds, expected);
    }

    #[test]
    fn connect_error_closes() {
        let mut pair = Pair::new("rtmp://h/live/cam", Role::Publish);
        pair.server.feed(&mut pair.to_server, &mut pair.to_client);
        pair.client
            .feed(&mut pair.to_client, &mut pair.to_server)
            .expect("handshake");
        let mut payload = Vec::new();
        let info = Value::Object(vec![
            ("level".into(), Value::String("error".into())),
            (
                "code".into(),
                Value::String("NetConnection.Connect.Rejected".into()),
            ),
        ]);
        let values = [
            Value::String("_error".into()),
            Value::Number(1.0),
            Value::Null,
            info,
        ];
        amf::amf0::encode_all(&values, &mut payload);
        let mut input = server_message(msg_type::COMMAND_AMF0, 3, 0, &payload);
        let events = pair.client.feed(&mut input, &mut BytesMut::new());
        let expected = "connect rejected: NetConnection.Connect.Rejected";
        assert_eq!(events, Ok(vec![ClientEvent::Closed(expected.into())]));
    }

    /// A client that finished its handshake with our server (connect sent).
    fn handshaken() -> ClientSession {
        let mut pair = Pair::new("rtmp://h/live/cam", Role::Publish);
        pair.server.feed(&mut pair.to_server, &mut pair.to_client);
        let events = pair.client.feed(&mut pair.to_client, &mut pair.to_server);
        assert_eq!(events, Ok(vec![]));
        pair.client
    }

    #[test]
    fn malformed_input_is_an_error() {
        let mut out = BytesMut::new();
        let mut client = handshaken();
        let mut continuation = BytesMut::from(&[0xC5, 1, 2, 3][..]);
        let err = client.feed(&mut continuation, &mut out).unwrap_err();
        assert!(matches!(err, ClientError::Chunks(_)), "{err}");

        let mut client = handshaken();
        let mut bad_amf = server_message(msg_type::COMMAND_AMF0, 3, 0, &[0x02, 0, 9, b'c']);
        let err = client.feed(&mut bad_amf, &mut out).unwrap_err();
        assert!(matches!(err, ClientError::Command(_)), "{err}");

        let mut client = handshaken();
        let mut no_name = server_message(msg_type::COMMAND_AMF0, 3, 0, &[0x05]);
        let err = client.feed(&mut no_name, &mut out).unwrap_err();
        assert!(matches!(err, ClientError::CommandName(_)), "{err}");
        assert!(err.to_string().contains("not a string"), "{err}");

        let url = RtmpUrl::parse("rtmp://h/a/s").unwrap();
        let mut client = ClientSession::new(url, Role::Play, 0, &[0; RANDOM_LEN]);
        let mut http = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n"[..]);
        let err = client.feed(&mut http, &mut out).unwrap_err();
        assert!(matches!(err, ClientError::Handshake(_)), "{err}");
    }

    proptest! {
        #[test]
        fn random_bytes_after_the_handshake_never_panic(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8)
        ) {
            let mut client = handshaken();
            let mut out = BytesMut::new();
            for chunk in chunks {
                let mut input = BytesMut::from(&chunk[..]);
                if client.feed(&mut input, &mut out).is_err() {
                    break;
                }
            }
        }
    }
}
