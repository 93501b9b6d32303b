//! The per-core hub, a deterministic state machine: streams published on this core (owned)
//! and streams this core plays, driven by events (publish, frame, subscribe, unsubscribe, a
//! message from another core) and answering with messages to other cores (through a
//! [`CoreLink`]) and deliveries to local players' [`Outbox`]es. It spawns nothing, waits for
//! nothing and reads no clock: the server's tasks and channel mesh drive it, and its unit
//! tests drive several hubs in one thread with a simulated link.
//!
//! A publisher's session gets a [`Publication`] (this core becomes the owner); a player gets a
//! [`Subscription`] that feeds its [`Outbox`]. Both end their part when dropped. The registry
//! lock is taken on publish/unpublish and on each player's join and leave, never per frame.
//!
//! With `audio_wait_ms`, the owner keeps a stream's audio and data frames back until its next
//! video frame, and fans them out together with it: players' writers then wake once per video
//! frame instead of once per message. A stream without video is never held back; when video
//! stops coming, the server's timer calls [`CoreHub::tick`] every half `audio_wait_ms`, and
//! frames held for two ticks go out without waiting any longer.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use super::core_stream::{CoreStream, HeldTick};
use super::frame::{FrameKind, SharedFrame};
use super::hls::{HlsUpdate, HlsView, Snapshot};
use super::key::StreamKey;
use super::link::{CoreLink, CoreMsg};
use super::queue::Outbox;
use super::registry::{AlreadyPublishing, Registry, SessionId, StreamFull};

/// Frames a stream may hold back at once (a flood of tiny audio messages must not pile up).
const MAX_HELD_FRAMES: usize = 64;

#[cfg(test)]
mod tests;

pub struct CoreHub {
    pub core: usize,
    registry: Arc<Registry>,
    /// None when running on a single core.
    link: Option<Rc<dyn CoreLink>>,
    config: HubConfig,
    /// Streams owned by this core or played on it.
    streams: RefCell<HashMap<StreamKey, Rc<CoreStream>>>,
    /// The same streams by the session they play, for frames from their owners.
    by_session: RefCell<HashMap<SessionId, Rc<CoreStream>>>,
    /// This core's copy of every stream's HLS state, for its HTTP handlers.
    hls: HlsView,
    /// Owned streams holding frames back, for [`CoreHub::tick`].
    holding: RefCell<Vec<Rc<CoreStream>>>,
    /// The timer task waiting for frames to be held.
    holding_waker: Cell<Option<Waker>>,
}

/// How a core's hub behaves.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub gop_num: usize,
    pub max_players_per_stream: usize,
    /// Audio and data wait for the next video frame (at most `audio_wait_ms`).
    pub audio_waits: bool,
}

impl CoreHub {
    pub fn new(
        core: usize,
        registry: Arc<Registry>,
        link: Option<Rc<dyn CoreLink>>,
        config: HubConfig,
    ) -> Rc<Self> {
        Rc::new(CoreHub {
            core,
            registry,
            link,
            config,
            streams: RefCell::default(),
            by_session: RefCell::default(),
            hls: HlsView::default(),
            holding: RefCell::default(),
            holding_waker: Cell::new(None),
        })
    }

    /// Resolves once some stream holds frames back (then call [`CoreHub::tick`] periodically
    /// until it does not any more).
    pub async fn frames_held(&self) {
        poll_fn(|cx| {
            if self.holding.borrow().is_empty() {
                self.holding_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }

    /// The `audio_wait_ms` timer, every half of it: frames held for two ticks go out.
    pub fn tick(&self) {
        let due: Vec<Rc<CoreStream>> = {
            let mut holding = self.holding.borrow_mut();
            let mut due = Vec::new();
            holding.retain(|stream| match stream.held_tick() {
                HeldTick::Wait => true,
                HeldTick::Due => {
                    due.push(stream.clone());
                    false
                }
                HeldTick::Leave => false,
            });
            due
        };
        for stream in due {
            self.release_held(&stream);
        }
    }

    /// Send what `stream` holds back.
    fn release_held(&self, stream: &CoreStream) {
        for frame in stream.release_held() {
            self.fan_out(stream, frame);
        }
    }

    /// Cache `frame` on the owner core, queue it for this core's players and send it once to
    /// every subscribing core (with its RTMP form built here first, as soon as anyone plays:
    /// the owner serialises, the players' cores only share).
    fn fan_out(&self, stream: &CoreStream, frame: SharedFrame) {
        if stream.has_audience() {
            frame.rtmp();
        }
        stream.frame(&frame);
        let Some(session) = stream.session() else {
            return;
        };
        for &core in stream.subscribers().iter() {
            let frame = frame.clone();
            self.send(core, CoreMsg::Frame { session, frame });
        }
    }

    /// The HLS snapshot of `key` as this core knows it.
    pub fn hls_snapshot(&self, key: &StreamKey) -> Option<Arc<Snapshot>> {
        self.hls.snapshot(key)
    }

    /// Hand a stream's new HLS state to every core, this one included.
    pub fn publish_hls(&self, update: HlsUpdate) {
        if let Some(link) = &self.link {
            for core in (0..link.cores()).filter(|&c| c != self.core) {
                link.send(core, CoreMsg::Hls(update.clone()));
            }
        }
        self.hls.apply(update);
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// This core's entry for `key`, made if there is none.
    fn stream(&self, key: &StreamKey) -> Rc<CoreStream> {
        let mut streams = self.streams.borrow_mut();
        let stream = streams
            .entry(key.clone())
            .or_insert_with(|| Rc::new(CoreStream::new(key.clone(), self.config.gop_num)));
        stream.clone()
    }

    /// Forget `stream` if nothing keeps it here any more.
    fn release(&self, stream: &Rc<CoreStream>) {
        if !stream.is_unused() {
            return;
        }
        if let Some(session) = stream.session() {
            self.by_session.borrow_mut().remove(&session);
        }
        let mut streams = self.streams.borrow_mut();
        if streams
            .get(&stream.key)
            .is_some_and(|s| Rc::ptr_eq(s, stream))
        {
            streams.remove(&stream.key);
        }
    }

    /// `stream` plays `session` from now on (frames of an earlier session are ignored).
    fn map_session(&self, stream: &Rc<CoreStream>, session: SessionId) {
        let mut by_session = self.by_session.borrow_mut();
        if let Some(old) = stream.session() {
            by_session.remove(&old);
        }
        by_session.insert(session, stream.clone());
    }

    /// Become the owner of `key`, or learn that someone else publishes it.
    pub fn publish(self: &Rc<Self>, key: StreamKey) -> Result<Publication, AlreadyPublishing> {
        let (owner, waiting) = self.registry.publish(&key, self.core)?;
        let session = owner.session;
        let stream = self.stream(&key);
        let remote: Vec<usize> = waiting.into_iter().filter(|&c| c != self.core).collect();
        self.map_session(&stream, session);
        stream.own(session, remote.clone());
        for core in remote {
            self.send_start(core, key.clone(), session, Vec::new());
        }
        Ok(Publication {
            hub: self.clone(),
            stream,
            session,
        })
    }

    /// Add a player (its outbox) to `key`, live or not yet.
    pub fn subscribe(
        self: &Rc<Self>,
        key: StreamKey,
        outbox: Rc<Outbox>,
    ) -> Result<Subscription, StreamFull> {
        let max = self.config.max_players_per_stream;
        let owner = self.registry.add_player(&key, self.core, max)?;
        let stream = self.stream(&key);
        let first_here = stream.is_unused();
        stream.add_player(outbox.clone());
        if let Some(owner) = owner.filter(|o| first_here && o.core != self.core) {
            let core = self.core;
            self.send(owner.core, CoreMsg::Subscribe { key, core });
        }
        Ok(Subscription {
            hub: self.clone(),
            stream,
            outbox,
        })
    }

    /// Tell `core` that `key` is live as `session`, starting with `bootstrap`.
    fn send_start(
        &self,
        core: usize,
        key: StreamKey,
        session: SessionId,
        bootstrap: Vec<SharedFrame>,
    ) {
        let start = CoreMsg::Start {
            key,
            session,
            bootstrap,
        };
        self.send(core, start);
    }

    fn send(&self, core: usize, msg: CoreMsg) {
        match &self.link {
            Some(link) => link.send(core, msg),
            None => log::error!("core {}: no link to reach core {core}", self.core),
        }
    }

    /// A message from another core.
    pub fn handle(&self, msg: CoreMsg) {
        match msg {
            CoreMsg::Subscribe { key, core } => self.on_subscribe(key, core),
            CoreMsg::Unsubscribe { key, core } => {
                let stream = self.streams.borrow().get(&key).cloned();
                if let Some(stream) = stream.filter(|s| s.is_owned()) {
                    stream.remove_subscriber(core);
                }
            }
            CoreMsg::Start {
                key,
                session,
                bootstrap,
            } => {
                let stream = self.streams.borrow().get(&key).cloned();
                if let Some(stream) = stream.filter(|s| !s.is_owned()) {
                    self.map_session(&stream, session);
                    stream.start(session, &bootstrap);
                }
            }
            CoreMsg::Frame { session, frame } => {
                let stream = self.by_session.borrow().get(&session).cloned();
                if let Some(stream) = stream {
                    stream.frame(&frame);
                }
            }
            CoreMsg::End { session } => {
                let stream = self.by_session.borrow_mut().remove(&session);
                if let Some(stream) = stream {
                    stream.end();
                }
            }
            CoreMsg::Hls(update) => self.hls.apply(update),
        }
    }

    /// `core` has players of `key`: if this core owns it, start that core with the GOP cache.
    fn on_subscribe(&self, key: StreamKey, core: usize) {
        let stream = self.streams.borrow().get(&key).cloned();
        let Some(stream) = stream.filter(|s| s.is_owned()) else {
            return;
        };
        let Some(session) = stream.session() else {
            return;
        };
        if stream.add_subscriber(core) {
            self.send_start(core, key, session, stream.bootstrap());
        }
    }
}

/// A live stream published on this core; dropping it ends the stream for every player.
pub struct Publication {
    hub: Rc<CoreHub>,
    stream: Rc<CoreStream>,
    session: SessionId,
}

impl Publication {
    pub fn session(&self) -> SessionId {
        self.session
    }

    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// Fan `frame` out to every player on every core (see [`CoreHub`] on `audio_wait_ms`:
    /// audio and data may wait for the next video frame).
    pub fn send(&self, frame: SharedFrame) {
        let (hub, stream) = (&self.hub, &self.stream);
        if frame.kind == FrameKind::Video {
            stream.saw_video();
            hub.release_held(stream);
        } else if hub.config.audio_waits && stream.has_video() {
            if stream.held_count() >= MAX_HELD_FRAMES {
                hub.release_held(stream);
            }
            if stream.hold(frame) {
                hub.holding.borrow_mut().push(stream.clone());
                if let Some(waker) = hub.holding_waker.take() {
                    waker.wake();
                }
            }
            return;
        }
        hub.fan_out(stream, frame);
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        let (hub, stream, session) = (&self.hub, &self.stream, self.session);
        hub.release_held(stream);
        hub.registry.unpublish(&stream.key, session);
        hub.by_session.borrow_mut().remove(&session);
        for core in stream.disown() {
            hub.send(core, CoreMsg::End { session });
        }
        hub.release(stream);
    }
}

/// A player's place in a stream; dropping it removes the player (and, for the last player on
/// this core, the core's subscription).
pub struct Subscription {
    hub: Rc<CoreHub>,
    stream: Rc<CoreStream>,
    outbox: Rc<Outbox>,
}

impl Subscription {
    pub fn is_live(&self) -> bool {
        self.stream.session().is_some()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let (hub, stream) = (&self.hub, &self.stream);
        let last_on_core = stream.remove_player(&self.outbox) == 0;
        let owner = hub
            .registry
            .remove_player(&stream.key, hub.core, last_on_core);
        if !last_on_core || stream.is_owned() {
            return;
        }
        hub.release(stream);
        if let Some(owner) = owner.filter(|o| o.core != hub.core) {
            let (key, core) = (stream.key.clone(), hub.core);
            hub.send(owner.core, CoreMsg::Unsubscribe { key, core });
        }
    }
}
