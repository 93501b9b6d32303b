//! The server side of the NetConnection/NetStream command exchange (Adobe RTMP spec §7.2),
//! sans-IO: messages in, events for the driver and reply bytes out.
//!
//! It answers what real clients (ffmpeg, OBS/librtmp, Flash-lineage encoders) wait for:
//! connect → window ack size, peer bandwidth, chunk size, `_result`; createStream → stream 1;
//! publish/play are handed to the driver as [`Event`]s, which answers with
//! [`Session::accept_publish`], [`Session::reject_publish`] or [`Session::accept_play`].
//! Every reply is encoded with an independent (type 0) chunk header on csid 2 or 3, so replies
//! can be queued between shared media chunks in any order.

use bytes::{Bytes, BytesMut};

use super::chunk::{self, ChunkSize, control};
use super::message::{Message, msg_type, user_control};
use crate::amf::{self, Value};
use crate::logline::Peer;

/// Chunk size every player receives (sent with Set Chunk Size right after connect), so one
/// chunk serialisation of a frame serves them all.
pub const PLAYER_CHUNK_SIZE: u32 = 4096;
/// Message stream id of the one NetStream a client gets from `createStream`.
pub const MEDIA_STREAM_ID: u32 = 1;

/// [`PLAYER_CHUNK_SIZE`] as a chunk size.
pub fn player_chunk_size() -> ChunkSize {
    ChunkSize::new(PLAYER_CHUNK_SIZE).expect("PLAYER_CHUNK_SIZE is a valid chunk size")
}

const CSID_COMMAND: u32 = 3;
/// Window acknowledgement size and peer bandwidth we announce.
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;
/// Longest command message accepted: real clients' commands take a few hundred bytes.
pub const MAX_COMMAND_LEN: usize = 64 * 1024;
/// Longest application or stream name (bytes).
pub const MAX_NAME_LEN: usize = 256;

#[derive(Debug)]
pub enum Error {
    Amf(amf::Error),
    /// A command message over [`MAX_COMMAND_LEN`] bytes.
    CommandTooLong(usize),
    /// A command that makes no sense in the current state, or lacks required fields.
    Protocol(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Amf(e) => write!(f, "bad AMF in command: {e}"),
            Error::CommandTooLong(len) => {
                write!(f, "command of {len} bytes (at most {MAX_COMMAND_LEN})")
            }
            Error::Protocol(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}

impl From<amf::Error> for Error {
    fn from(e: amf::Error) -> Self {
        Error::Amf(e)
    }
}

/// What the driver must act on.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// The client asks to publish `name` (query string split off) in `app`.
    Publish {
        app: String,
        name: String,
        query: String,
    },
    /// The client asks to play `name` in `app`.
    Play {
        app: String,
        name: String,
        query: String,
    },
    /// Audio, video or data from a publishing client.
    Media(Message),
    /// The client stopped publishing or playing (deleteStream, closeStream, FCUnpublish).
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshaken,
    Connected,
    Publishing,
    Playing,
}

#[derive(Debug)]
pub struct Session {
    state: State,
    app: String,
    object_encoding: f64,
    /// Chunk size of what we send; 128 until our Set Chunk Size went out.
    out_chunk_size: ChunkSize,
    peer_window: u32,
    acked: u64,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub fn new() -> Self {
        Session {
            state: State::Handshaken,
            app: String::new(),
            object_encoding: 0.0,
            out_chunk_size: ChunkSize::new(128).expect("128 is a valid chunk size"),
            peer_window: WINDOW_ACK_SIZE,
            acked: 0,
        }
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    /// Handle one message from the client; replies are appended to `out`.
    pub fn handle(&mut self, msg: Message, out: &mut BytesMut) -> Result<Option<Event>, Error> {
        match msg.type_id {
            msg_type::COMMAND_AMF0 | msg_type::COMMAND_AMF3 => {
                if msg.payload.len() > MAX_COMMAND_LEN {
                    return Err(Error::CommandTooLong(msg.payload.len()));
                }
                let amf3 = msg.type_id == msg_type::COMMAND_AMF3;
                let values = amf::decode_message_values(amf3, &msg.payload)?;
                self.command(values, out)
            }
            msg_type::AUDIO | msg_type::VIDEO | msg_type::DATA_AMF0 | msg_type::DATA_AMF3 => {
                if self.state == State::Publishing {
                    Ok(Some(Event::Media(msg)))
                } else {
                    Ok(None)
                }
            }
            msg_type::WINDOW_ACK_SIZE => {
                let size = control::parse_u32(&msg.payload).map_err(protocol)?;
                self.peer_window = size.max(1);
                Ok(None)
            }
            msg_type::USER_CONTROL => {
                let (event, data) = control::parse_user_control(&msg.payload).map_err(protocol)?;
                if event == user_control::PING_REQUEST && data.len() >= 4 {
                    let ts = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                    self.send(&control::ping_response(ts), out);
                }
                Ok(None)
            }
            // Set Chunk Size and Abort are applied by the chunk reader; the rest needs no answer.
            _ => Ok(None),
        }
    }

    /// Acknowledge received bytes when the client's window is full (spec §5.4.3).
    pub fn acknowledge(&mut self, bytes_received: u64, out: &mut BytesMut) {
        if bytes_received - self.acked >= u64::from(self.peer_window) {
            self.acked = bytes_received;
            self.send(&control::acknowledgement(bytes_received as u32), out);
        }
    }

    fn command(&mut self, values: Vec<Value>, out: &mut BytesMut) -> Result<Option<Event>, Error> {
        let mut args = values.into_iter();
        let name = match args.next() {
            Some(Value::String(s)) => s,
            other => {
                let what = other.as_ref().map_or("missing", Value::type_name);
                return Err(protocol(format!("command name is {what}, not a string")));
            }
        };
        let txn = args.next().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let _command_object = args.next();
        let args: Vec<Value> = args.collect();
        if name != "connect" && self.state == State::Handshaken {
            return Err(protocol(format!("`{}` before connect", Peer(&name))));
        }
        match name.as_str() {
            "connect" => {
                self.connect(_command_object.unwrap_or(Value::Null), txn, out)?;
                Ok(None)
            }
            "createStream" => {
                let result = [Value::Null, Value::Number(f64::from(MEDIA_STREAM_ID))];
                self.result("_result", txn, &result, out);
                Ok(None)
            }
            "releaseStream" | "FCPublish" | "getStreamLength" | "_checkbw" => {
                if txn != 0.0 {
                    let value = if name == "getStreamLength" {
                        Value::Number(0.0)
                    } else {
                        Value::Undefined
                    };
                    self.result("_result", txn, &[Value::Null, value], out);
                }
                Ok(None)
            }
            "publish" => {
                let (name, query) = stream_name(&args)?;
                self.expect_connected("publish")?;
                Ok(Some(Event::Publish {
                    app: self.app.clone(),
                    name,
                    query,
                }))
            }
            "play" => {
                let (name, query) = stream_name(&args)?;
                self.expect_connected("play")?;
                Ok(Some(Event::Play {
                    app: self.app.clone(),
                    name,
                    query,
                }))
            }
            "deleteStream" | "closeStream" | "FCUnpublish" => {
                let active = matches!(self.state, State::Publishing | State::Playing);
                self.state = State::Connected;
                Ok(active.then_some(Event::Stop))
            }
            other => {
                log::debug!("ignoring RTMP command `{}`", Peer(other));
                Ok(None)
            }
        }
    }

    fn expect_connected(&self, what: &str) -> Result<(), Error> {
        match self.state {
            State::Connected => Ok(()),
            _ => Err(protocol(format!(
                "`{what}` while already publishing or playing"
            ))),
        }
    }

    fn connect(&mut self, cmd: Value, txn: f64, out: &mut BytesMut) -> Result<(), Error> {
        if self.state != State::Handshaken {
            return Err(protocol("second `connect` on one connection"));
        }
        let app = cmd.get("app").and_then(Value::as_str);
        let app = app.ok_or_else(|| protocol("connect without an `app` string"))?;
        let app = app.split('?').next().unwrap_or("").trim_matches('/');
        check_name("application", app)?;
        self.app = app.to_string();
        self.object_encoding = cmd
            .get("objectEncoding")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        self.state = State::Connected;

        self.send(&control::window_ack_size(WINDOW_ACK_SIZE), out);
        self.send(&control::set_peer_bandwidth(WINDOW_ACK_SIZE, 2), out);
        self.send(&control::set_chunk_size(player_chunk_size()), out);
        self.out_chunk_size = player_chunk_size();
        let properties = Value::Object(vec![
            ("fmsVer".into(), Value::String("FMS/3,0,1,123".into())),
            ("capabilities".into(), Value::Number(31.0)),
        ]);
        let mut info = status(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded.",
        );
        if let Value::Object(props) = &mut info {
            props.push(("objectEncoding".into(), Value::Number(self.object_encoding)));
        }
        self.result("_result", txn, &[properties, info], out);
        Ok(())
    }

    // The replies below come after connect, when our chunk size is the player chunk size.

    pub fn accept_publish(&mut self, name: &str, out: &mut BytesMut) {
        self.state = State::Publishing;
        let description = format!("{name} is now published.");
        encode_play_status("status", "NetStream.Publish.Start", &description, out);
    }

    /// Refuse a publish with an `onStatus` error, so the encoder can show why; the driver closes
    /// the connection after sending it.
    pub fn reject_publish(&mut self, code: &str, description: &str, out: &mut BytesMut) {
        encode_play_status("error", code, description, out);
    }

    pub fn accept_play(&mut self, name: &str, out: &mut BytesMut) {
        self.state = State::Playing;
        self.send(&control::stream_begin(MEDIA_STREAM_ID), out);
        let reset = format!("Playing and resetting {name}.");
        encode_play_status("status", "NetStream.Play.Reset", &reset, out);
        let start = format!("Started playing {name}.");
        encode_play_status("status", "NetStream.Play.Start", &start, out);
        let mut access = Vec::new();
        amf::amf0::encode_all(
            &[
                Value::String("|RtmpSampleAccess".into()),
                Value::Boolean(true),
                Value::Boolean(true),
            ],
            &mut access,
        );
        self.send_data(access, out);
        let mut data_start = Vec::new();
        amf::amf0::encode_all(
            &[
                Value::String("onStatus".into()),
                Value::Object(vec![(
                    "code".into(),
                    Value::String("NetStream.Data.Start".into()),
                )]),
            ],
            &mut data_start,
        );
        self.send_data(data_start, out);
    }

    fn send_data(&self, payload: Vec<u8>, out: &mut BytesMut) {
        self.encode(msg_type::DATA_AMF0, MEDIA_STREAM_ID, &payload, out);
    }

    fn result(&self, name: &str, txn: f64, values: &[Value], out: &mut BytesMut) {
        let mut payload = Vec::new();
        amf::amf0::encode(&Value::String(name.into()), &mut payload);
        amf::amf0::encode(&Value::Number(txn), &mut payload);
        amf::amf0::encode_all(values, &mut payload);
        self.encode(msg_type::COMMAND_AMF0, 0, &payload, out);
    }

    fn send(&self, msg: &Message, out: &mut BytesMut) {
        encode_message(msg, self.out_chunk_size, out);
    }

    fn encode(&self, type_id: u8, stream_id: u32, payload: &[u8], out: &mut BytesMut) {
        let size = self.out_chunk_size;
        chunk::encode_independent(CSID_COMMAND, 0, type_id, stream_id, payload, size, out);
    }
}

/// An onStatus for a client's NetStream (publish/play replies, and for players: stream
/// started again, ended, not found). Only sent after connect, so at our chunk size; the same
/// bytes for every player.
pub fn play_status(level: &str, code: &str, description: &str) -> Bytes {
    let mut out = BytesMut::new();
    encode_play_status(level, code, description, &mut out);
    out.freeze()
}

fn encode_play_status(level: &str, code: &str, description: &str, out: &mut BytesMut) {
    let mut payload = Vec::new();
    let values = [
        Value::String("onStatus".into()),
        Value::Number(0.0),
        Value::Null,
        status(level, code, description),
    ];
    amf::amf0::encode_all(&values, &mut payload);
    let (csid, ty, size) = (CSID_COMMAND, msg_type::COMMAND_AMF0, player_chunk_size());
    chunk::encode_independent(csid, 0, ty, MEDIA_STREAM_ID, &payload, size, out);
}

/// What a player gets when its publisher leaves: Stream EOF and `NetStream.Play.UnpublishNotify`.
pub fn stream_ended() -> Bytes {
    let eof = control::stream_eof(MEDIA_STREAM_ID);
    let description = "The stream is no longer published.";
    notification(&eof, "NetStream.Play.UnpublishNotify", description)
}

/// What a waiting player gets when the stream is published again: Stream Begin and
/// `NetStream.Play.PublishNotify`.
pub fn stream_restarted() -> Bytes {
    let begin = control::stream_begin(MEDIA_STREAM_ID);
    notification(
        &begin,
        "NetStream.Play.PublishNotify",
        "The stream is published.",
    )
}

/// A user control event followed by a status onStatus, as shared bytes.
fn notification(event: &Message, code: &str, description: &str) -> Bytes {
    let mut out = BytesMut::new();
    encode_control(event, &mut out);
    encode_play_status("status", code, description, &mut out);
    out.freeze()
}

fn encode_control(msg: &Message, out: &mut BytesMut) {
    encode_message(msg, player_chunk_size(), out);
}

fn encode_message(msg: &Message, size: ChunkSize, out: &mut BytesMut) {
    let (csid, ty, stream, payload) = (msg.csid, msg.type_id, msg.stream_id, &msg.payload);
    chunk::encode_independent(csid, msg.timestamp, ty, stream, payload, size, out);
}

fn status(level: &str, code: &str, description: &str) -> Value {
    Value::Object(vec![
        ("level".into(), Value::String(level.into())),
        ("code".into(), Value::String(code.into())),
        ("description".into(), Value::String(description.into())),
    ])
}

/// The stream name argument of publish/play, split at `?` into name and query string.
fn stream_name(args: &[Value]) -> Result<(String, String), Error> {
    let raw = args.first().and_then(Value::as_str);
    let raw = raw.ok_or_else(|| protocol("publish/play without a stream name"))?;
    let (name, query) = raw.split_once('?').unwrap_or((raw, ""));
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(protocol(format!("invalid stream name {:?}", Peer(name))));
    }
    check_name("stream", name)?;
    Ok((name.to_string(), query.to_string()))
}

/// An application or stream name must be at most [`MAX_NAME_LEN`] bytes without control
/// characters (they end up in URLs, file names and log lines).
fn check_name(what: &str, name: &str) -> Result<(), Error> {
    if name.len() > MAX_NAME_LEN {
        return Err(protocol(format!(
            "{what} name of {} bytes (at most {MAX_NAME_LEN})",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(protocol(format!(
            "{what} name {:?} has control characters",
            Peer(name)
        )));
    }
    Ok(())
}

fn protocol(e: impl std::fmt::Display) -> Error {
    Error::Protocol(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk::ChunkReader;

    fn command(name: &str, txn: f64, rest: &[Value]) -> Message {
        let mut payload = Vec::new();
        amf::amf0::encode(&Value::String(name.into()), &mut payload);
        amf::amf0::encode(&Value::Number(txn), &mut payload);
        amf::amf0::encode_all(rest, &mut payload);
        Message {
            csid: 3,
            timestamp: 0,
            type_id: msg_type::COMMAND_AMF0,
            stream_id: 0,
            payload: payload.into(),
        }
    }

    fn connect_message() -> Message {
        let app = Value::Object(vec![
            ("app".into(), Value::String("live?token=1".into())),
            (
                "tcUrl".into(),
                Value::String("rtmp://127.0.0.1/live".into()),
            ),
        ]);
        command("connect", 1.0, &[app])
    }

    /// Decode everything the session sent: (type id, AMF values or raw payload).
    fn replies(out: &mut BytesMut) -> Vec<(u8, Vec<Value>, Bytes)> {
        let mut reader = ChunkReader::new(1 << 20);
        let mut msgs = Vec::new();
        while let Some(m) = reader.read_message(out).expect("valid chunks") {
            let values = match m.type_id {
                msg_type::COMMAND_AMF0 | msg_type::DATA_AMF0 => {
                    amf::decode_message_values(false, &m.payload).expect("valid AMF")
                }
                _ => Vec::new(),
            };
            msgs.push((m.type_id, values, m.payload));
        }
        assert!(out.is_empty(), "trailing bytes");
        msgs
    }

    /// A reader that already got our Set Chunk Size (replies after connect use it).
    fn player_reader() -> ChunkReader {
        let mut reader = ChunkReader::new(1 << 20);
        let mut set_chunk_size = BytesMut::new();
        let msg = control::set_chunk_size(player_chunk_size());
        let size = ChunkSize::new(128).expect("valid");
        chunk::encode_independent(
            2,
            0,
            msg.type_id,
            0,
            &msg.payload,
            size,
            &mut set_chunk_size,
        );
        reader
            .read_message(&mut set_chunk_size)
            .expect("set chunk size");
        reader
    }

    fn status_code(values: &[Value]) -> Option<&str> {
        values.get(3)?.get("code")?.as_str()
    }

    fn connected() -> Session {
        let mut session = Session::new();
        let mut out = BytesMut::new();
        session
            .handle(connect_message(), &mut out)
            .expect("connect");
        session
    }

    #[test]
    fn connect_gets_control_messages_then_success() {
        let mut session = Session::new();
        let mut out = BytesMut::new();
        assert_eq!(
            session
                .handle(connect_message(), &mut out)
                .expect("connect"),
            None
        );
        assert_eq!(session.app(), "live");
        let msgs = replies(&mut out);
        let types: Vec<u8> = msgs.iter().map(|m| m.0).collect();
        assert_eq!(types, vec![5, 6, 1, msg_type::COMMAND_AMF0]);
        assert_eq!(&msgs[2].2[..], &PLAYER_CHUNK_SIZE.to_be_bytes());
        let result = &msgs[3].1;
        assert_eq!(result[0].as_str(), Some("_result"));
        assert_eq!(result[1].as_f64(), Some(1.0));
        assert_eq!(status_code(result), Some("NetConnection.Connect.Success"));
    }

    #[test]
    fn create_stream_returns_stream_one() {
        let mut session = connected();
        let mut out = BytesMut::new();
        session
            .handle(command("createStream", 4.0, &[Value::Null]), &mut out)
            .expect("ok");
        let mut reader = player_reader();
        let msg = reader
            .read_message(&mut out)
            .expect("chunks")
            .expect("a message");
        let values = amf::decode_message_values(false, &msg.payload).expect("AMF");
        assert_eq!(values[0].as_str(), Some("_result"));
        assert_eq!(values[1].as_f64(), Some(4.0));
        assert_eq!(values[3].as_f64(), Some(1.0));
    }

    #[test]
    fn publish_and_play_are_events_with_the_query_split_off() {
        let mut session = connected();
        let mut out = BytesMut::new();
        let publish = command(
            "publish",
            5.0,
            &[Value::Null, Value::String("cam?k=v".into())],
        );
        let event = session.handle(publish, &mut out).expect("publish");
        let expected = Event::Publish {
            app: "live".into(),
            name: "cam".into(),
            query: "k=v".into(),
        };
        assert_eq!(event, Some(expected));

        let mut session = connected();
        let play = command("play", 5.0, &[Value::Null, Value::String("cam".into())]);
        let event = session.handle(play, &mut out).expect("play");
        assert!(matches!(event, Some(Event::Play { name, .. }) if name == "cam"));
    }

    #[test]
    fn media_is_forwarded_only_while_publishing() {
        let mut session = connected();
        let mut out = BytesMut::new();
        let video = Message {
            csid: 6,
            timestamp: 40,
            type_id: msg_type::VIDEO,
            stream_id: 1,
            payload: Bytes::from_static(&[0x17, 1, 0, 0, 0]),
        };
        assert_eq!(session.handle(video.clone(), &mut out).expect("ok"), None);
        session.accept_publish("cam", &mut out);
        let event = session.handle(video.clone(), &mut out).expect("ok");
        assert_eq!(event, Some(Event::Media(video)));
    }

    #[test]
    fn refused_publish_sends_an_error_status() {
        let mut session = connected();
        let mut out = BytesMut::new();
        // Skip the connect replies, which were sent at chunk size 128 and 4096.
        session.reject_publish("NetStream.Publish.BadName", "taken", &mut out);
        let mut reader = player_reader();
        let msg = reader
            .read_message(&mut out)
            .expect("chunks")
            .expect("a message");
        let values = amf::decode_message_values(false, &msg.payload).expect("AMF");
        assert_eq!(values[0].as_str(), Some("onStatus"));
        assert_eq!(status_code(&values), Some("NetStream.Publish.BadName"));
        assert_eq!(
            values[3].get("level").and_then(Value::as_str),
            Some("error")
        );
    }

    #[test]
    fn protocol_errors_are_errors_not_panics() {
        let mut out = BytesMut::new();
        let publish = command("publish", 5.0, &[Value::Null, Value::String("x".into())]);
        assert!(
            Session::new().handle(publish, &mut out).is_err(),
            "publish before connect"
        );
        let mut session = connected();
        let nameless = command("play", 5.0, &[Value::Null, Value::Number(3.0)]);
        assert!(session.handle(nameless, &mut out).is_err());
        let traversal = command("play", 5.0, &[Value::Null, Value::String("../x".into())]);
        assert!(session.handle(traversal, &mut out).is_err());
        let not_a_name = Message {
            payload: Bytes::from_static(&[0x00, 0, 0, 0, 0, 0, 0, 0, 0]),
            ..connect_message()
        };
        assert!(Session::new().handle(not_a_name, &mut out).is_err());
        let truncated = Message {
            payload: Bytes::from_static(&[0x02, 0, 9, b'c']),
            ..connect_message()
        };
        assert!(Session::new().handle(truncated, &mut out).is_err());
    }

    #[test]
    fn ping_request_gets_a_pong() {
        let mut session = connected();
        let mut out = BytesMut::new();
        let ping = control::ping_request(0x01020304);
        session.handle(ping, &mut out).expect("ping");
        let mut reader = player_reader();
        let msg = reader
            .read_message(&mut out)
            .expect("chunks")
            .expect("a message");
        assert_eq!(msg.type_id, msg_type::USER_CONTROL);
        assert_eq!(&msg.payload[..], &[0, 7, 1, 2, 3, 4]);
    }
}
