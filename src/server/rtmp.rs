//! Drives one RTMP connection on its core: socket bytes into the handshake, chunk reader and
//! command session; publishers' frames into the hub; players' outbox out to the socket.
//!
//! A connection is a reader half and a writer task over one [`Transport`] (plain or TLS). The
//! writer is the only one that writes: it drains the connection's [`Outbox`] (replies and
//! shared frames) in batches, one socket write per wake-up. The connection ends when the writer ends; the reader
//! ends it by closing the outbox (what is queued still goes out, e.g. a refusal's onStatus).

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::future;
use ring::rand::{SecureRandom, SystemRandom};

use super::conn::{BIG_READ, PLAYER_READ, SMALL_READ, Transport};
use super::core::CoreContext;
use super::error::ConnError;
use super::publisher::Publisher;
use super::writer::{self, Framing};
use crate::rtmp::chunk::ChunkReader;
use crate::rtmp::handshake::{HandshakeStatus, RANDOM_LEN, ServerHandshake};
use crate::rtmp::session::{self, Event, Session};
use crate::stream::StreamKey;
use crate::stream::hub::Subscription;
use crate::stream::ingest::{self, Skip};
use crate::stream::queue::{Delivery, Outbox, QueueState};
use crate::stream::registry::StreamFull;
use crate::stream::stats::{Role as StatsRole, StatsGuard};

/// Largest RTMP message accepted from a publisher.
pub const MAX_MESSAGE_LEN: usize = 16 << 20;
/// Largest RTMP message accepted from a connection that is not publishing: commands before
/// `connect`, a player's commands. What a peer can make the server buffer before it is
/// authorised stays this small.
pub const MAX_UNAUTHORISED_MESSAGE_LEN: usize = 64 << 10;

/// Serve one accepted connection (RTMP, or RTMPS once TLS is on it) until it ends; logs once
/// why it ended.
pub async fn serve(conn: Transport, ctx: Rc<CoreContext>) {
    let conn = Rc::new(conn);
    let outbox = Rc::new(Outbox::new(ctx.shared.config.player_queue_ms as u32));
    let mut reader = Reader {
        conn: conn.clone(),
        ctx: ctx.clone(),
        outbox: outbox.clone(),
        role: Role::None,
        stream: None,
        setup_deadline: None,
    };
    let read_half = async {
        let result = reader.run().await;
        match &result {
            Ok(()) => log::info!("{}{}: closed", Who(&conn), reader.describe()),
            Err(e) => log::warn!("{}{}: {}: closing", Who(&conn), reader.describe(), e),
        }
        outbox.close();
        future::pending::<()>().await
    };
    let writer = writer::spawn(conn.clone(), outbox.clone(), ctx, RtmpFraming::default());
    let write_half = async {
        if let Err(e) = writer.await {
            log::info!("{}: {e}", Who(&conn));
        }
    };
    future::or(read_half, write_half).await;
}

/// How log lines name a connection: `rtmp PEER` or `rtmps PEER`.
struct Who<'a>(&'a Transport);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.0 {
            Transport::Plain(_) => "rtmp",
            Transport::Tls(_) => "rtmps",
        };
        write!(f, "{scheme} {}", self.0.peer())
    }
}

enum Role {
    None,
    Publisher(Box<Publisher>),
    /// Held for their `Drop`: leaving the role unsubscribes and unlists the player.
    Player(#[allow(dead_code)] (Subscription, StatsGuard)),
}

struct Reader {
    conn: Rc<Transport>,
    ctx: Rc<CoreContext>,
    outbox: Rc<Outbox>,
    role: Role,
    stream: Option<StreamKey>,
    /// Handshake, connect and publish/play must all be done by then (`read_timeout` after the
    /// connection came); cleared once the connection publishes or plays.
    setup_deadline: Option<Instant>,
}

impl Reader {
    fn describe(&self) -> String {
        let role = match self.role {
            Role::None => "",
            Role::Publisher(..) => " publisher",
            Role::Player(..) => " player",
        };
        match &self.stream {
            Some(key) => format!("{role} {key}"),
            None => role.to_string(),
        }
    }

    async fn run(&mut self) -> Result<(), ConnError> {
        let read_timeout = self.ctx.shared.config.read_timeout();
        self.setup_deadline = Some(Instant::now() + read_timeout);
        self.conn
            .set_write_timeout(Some(self.ctx.shared.config.write_timeout()))
            .map_err(ConnError::Setup)?;
        let mut buf = BytesMut::new();
        let mut out = BytesMut::new();
        // Boxed: the handshake's state (two 1.5 KB randoms) would otherwise stay part of this
        // connection's future, and its memory, for as long as the connection lives.
        Box::pin(self.handshake(&mut buf, &mut out)).await?;

        let mut chunks = ChunkReader::new(MAX_UNAUTHORISED_MESSAGE_LEN);
        let mut session = Session::new();
        loop {
            while let Some(msg) = chunks.read_message(&mut buf).map_err(ConnError::protocol)? {
                let event = session.handle(msg, &mut out).map_err(ConnError::protocol)?;
                if let Some(event) = event
                    && !self.on_event(event, &mut session, &mut out)
                {
                    log::debug!("{}: closing after refusal", Who(&self.conn));
                    self.flush(&mut out);
                    return Ok(());
                }
                chunks.set_max_message_len(match self.role {
                    Role::Publisher(..) => MAX_MESSAGE_LEN,
                    Role::None | Role::Player(..) => MAX_UNAUTHORISED_MESSAGE_LEN,
                });
                self.flush(&mut out);
            }
            session.acknowledge(chunks.bytes_received(), &mut out);
            self.flush(&mut out);
            if self.read(&mut buf).await? == 0 {
                log::debug!("{}: peer closed the connection", Who(&self.conn));
                return Ok(());
            }
        }
    }

    async fn handshake(&mut self, buf: &mut BytesMut, out: &mut BytesMut) -> Result<(), ConnError> {
        let mut random = [0u8; RANDOM_LEN];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| ConnError::Internal("no OS random source"))?;
        let mut handshake = ServerHandshake::new(self.ctx.uptime_ms(), &random);
        loop {
            let status = handshake.feed(buf, out).map_err(ConnError::protocol)?;
            self.flush(out);
            if status == HandshakeStatus::Done {
                return Ok(());
            }
            if self.read(buf).await? == 0 {
                return Err(ConnError::Disconnected("during handshake"));
            }
        }
    }

    async fn read(&mut self, buf: &mut BytesMut) -> Result<usize, ConnError> {
        let config = &self.ctx.shared.config;
        let read_timeout = config.read_timeout();
        let too_slow = || ConnError::SetupTimeout(config.read_timeout);
        // Until the connection publishes or plays, the whole read (over TLS: however many
        // records it takes) must end by the setup deadline.
        let setup_left = match (self.setup_deadline, &self.role) {
            (Some(deadline), Role::None) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(too_slow());
                }
                Some(left)
            }
            (Some(_), role) => {
                self.setup_deadline = None;
                // Players send little (acks now and then): their liveness is judged by writes.
                let player = matches!(role, Role::Player(..));
                self.conn
                    .set_read_timeout((!player).then_some(read_timeout));
                None
            }
            (None, _) => None,
        };
        let max = match self.role {
            Role::Publisher(..) => BIG_READ,
            Role::Player(..) => {
                if buf.is_empty() && buf.capacity() > PLAYER_READ {
                    *buf = BytesMut::new(); // give back what the handshake and commands grew
                }
                PLAYER_READ
            }
            Role::None => SMALL_READ,
        };
        let read = async { Some(self.conn.read(buf, max).await) };
        let result = match setup_left {
            Some(left) => {
                let deadline = async {
                    glommio::timer::sleep(left).await;
                    None
                };
                future::or(read, deadline).await
            }
            None => read.await,
        };
        match result {
            None => Err(too_slow()),
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(ConnError::Idle(config.read_timeout))
            }
            Some(Err(e)) => Err(ConnError::Read(e)),
        }
    }

    fn flush(&self, out: &mut BytesMut) {
        if !out.is_empty() {
            // The whole buffer goes, not a split of it: a split would leave `out` holding the
            // allocation (the 3 KB handshake reply, first of all) for the connection's life.
            self.outbox
                .push(Delivery::Raw(std::mem::take(out).freeze()));
        }
    }

    /// Act on a session event; false ends the connection after what is queued is sent.
    fn on_event(&mut self, event: Event, session: &mut Session, out: &mut BytesMut) -> bool {
        match event {
            Event::Publish { app, name, .. } => self.publish(&app, &name, session, out),
            Event::Play { app, name, .. } => {
                self.play(&app, &name, session, out);
                true
            }
            Event::Media(msg) => {
                if let Role::Publisher(publisher) = &mut self.role {
                    match ingest::frame_from_message(msg.type_id, msg.timestamp, msg.payload) {
                        Ok(frame) => publisher.send(frame),
                        Err(Skip::Malformed(e)) => {
                            log::debug!("{}: dropped malformed tag: {e}", Who(&self.conn))
                        }
                        Err(Skip::Ignored | Skip::Empty | Skip::NotMedia) => {}
                    }
                }
                true
            }
            Event::Stop => {
                self.role = Role::None;
                true
            }
        }
    }

    fn publish(
        &mut self,
        app: &str,
        name: &str,
        session: &mut Session,
        out: &mut BytesMut,
    ) -> bool {
        let config = &self.ctx.shared.config;
        if !config.app(app).is_some_and(|a| a.live) {
            log::warn!(
                "{}: publish to unknown app {app:?} refused",
                Who(&self.conn)
            );
            let why = format!("no live application {app:?}");
            session.reject_publish("NetStream.Publish.BadName", &why, out);
            return false;
        }
        let room = if config.rtmp_noauth {
            Some(name.to_string())
        } else {
            self.ctx.shared.keys.room_for_key(name)
        };
        let Some(room) = room else {
            log::warn!(
                "{}: publish with unknown channel key refused",
                Who(&self.conn)
            );
            session.reject_publish("NetStream.Publish.BadName", "unknown channel key", out);
            return false;
        };
        let key = StreamKey::new(app, &room);
        let ends = (self.conn.peer(), self.conn.local());
        let protocol = self.conn.rtmp_protocol();
        match Publisher::start(&self.ctx, key.clone(), protocol, ends) {
            Ok(publisher) => {
                session.accept_publish(&room, out);
                log::info!("{}: publishing {key}", Who(&self.conn));
                self.role = Role::Publisher(Box::new(publisher));
                self.stream = Some(key);
                true
            }
            Err(_) => {
                log::warn!(
                    "{}: {key} is already being published: refused",
                    Who(&self.conn)
                );
                let why = format!("{key} is already being published");
                session.reject_publish("NetStream.Publish.BadName", &why, out);
                false
            }
        }
    }

    fn play(&mut self, app: &str, name: &str, session: &mut Session, out: &mut BytesMut) {
        let key = StreamKey::new(app, name);
        session.accept_play(name, out);
        self.flush(out);
        let subscription = match self.ctx.hub.subscribe(key.clone(), self.outbox.clone()) {
            Ok(subscription) => subscription,
            Err(StreamFull) => {
                let limit = self.ctx.shared.config.max_players_per_stream;
                log::warn!(
                    "{}: {key} has {limit} players already: refused",
                    Who(&self.conn)
                );
                let why = format!("{key} has too many players");
                let failed = session::play_status("error", "NetStream.Play.Failed", &why);
                self.outbox.push(Delivery::Raw(failed));
                self.outbox.close();
                return;
            }
        };
        if !subscription.is_live() {
            wait_for_stream(self.outbox.clone(), self.ctx.shared.config.read_timeout());
        }
        log::info!("{}: playing {key}", Who(&self.conn));
        let ends = (self.conn.peer(), self.conn.local());
        let stats = self.ctx.shared.stats.register(
            StatsRole::Player,
            self.conn.rtmp_protocol(),
            key.clone(),
            ends,
        );
        self.outbox.set_stats(stats.stats.clone());
        self.role = Role::Player((subscription, stats));
        self.stream = Some(key);
    }
}

/// Give a player of a stream that is not live `timeout` for it to start, then close.
fn wait_for_stream(outbox: Rc<Outbox>, timeout: Duration) {
    glommio::spawn_local(async move {
        glommio::timer::sleep(timeout).await;
        if !outbox.has_started() && outbox.state() == QueueState::Open {
            let why = "The stream was not published in time.";
            let not_found = session::play_status("error", "NetStream.Play.StreamNotFound", why);
            outbox.push(Delivery::Raw(not_found));
            outbox.close();
        }
    })
    .detach();
}

/// How a player's queued items become RTMP bytes: shared chunks as they are, per-player
/// notifications when the stream ends or starts again.
#[derive(Default)]
struct RtmpFraming {
    starts: u64,
}

impl Framing for RtmpFraming {
    fn encode(&mut self, batch: &mut Vec<Delivery>, buf: &mut Vec<u8>) -> bool {
        for item in batch.drain(..) {
            match item {
                Delivery::Frame(frame) => buf.extend_from_slice(frame.rtmp()),
                Delivery::Raw(bytes) => buf.extend_from_slice(&bytes),
                Delivery::StreamStart => {
                    self.starts += 1;
                    if self.starts > 1 {
                        buf.extend_from_slice(&session::stream_restarted());
                    }
                }
                Delivery::StreamEnd => buf.extend_from_slice(&session::stream_ended()),
            }
        }
        true
    }
}
