//! A stream as one core holds it: the session it plays, its players, and its GOP cache (one
//! per stream per core: fed by the publisher on the owner core, by the owner's frames on the
//! others), plus, on the owner core, the other cores that subscribe to it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::frame::SharedFrame;
use super::gop::GopCache;
use super::key::StreamKey;
use super::queue::{Delivery, Outbox, QueueState};
use super::registry::SessionId;

/// What a timer tick means for a stream's held frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldTick {
    Wait,
    Due,
    Leave,
}

pub struct CoreStream {
    pub key: StreamKey,
    /// The publishing session this core plays (None: not live here yet, or ended).
    session: Cell<Option<SessionId>>,
    cache: RefCell<GopCache>,
    /// The players' outboxes still open (closed and lagging ones are let go at the next frame).
    players: RefCell<Vec<Rc<Outbox>>>,
    /// Subscriptions on this core, open or not: the core leaves the stream when the last one
    /// ends, not when the last outbox closes.
    subscriptions: Cell<usize>,
    /// Whether this core owns the stream (its publisher is here).
    owned: Cell<bool>,
    /// On the owner core: the other cores with players.
    subscribers: RefCell<Vec<usize>>,
    /// On the owner core: audio and data frames waiting for the next video frame
    /// (`audio_wait_ms`), in the order they were published.
    held: RefCell<Vec<SharedFrame>>,
    /// Timer ticks the held frames have seen.
    held_ticks: Cell<u8>,
    /// Whether the hub's list of streams holding frames has this one.
    in_holding: Cell<bool>,
    /// Whether this session has sent video (audio waits only for a stream that has some).
    has_video: Cell<bool>,
}

impl CoreStream {
    pub fn new(key: StreamKey, gop_num: usize) -> Self {
        CoreStream {
            key,
            session: Cell::new(None),
            cache: RefCell::new(GopCache::new(gop_num)),
            players: RefCell::default(),
            subscriptions: Cell::new(0),
            owned: Cell::new(false),
            subscribers: RefCell::default(),
            held: RefCell::default(),
            held_ticks: Cell::new(0),
            in_holding: Cell::new(false),
            has_video: Cell::new(false),
        }
    }

    pub fn session(&self) -> Option<SessionId> {
        self.session.get()
    }

    pub fn is_owned(&self) -> bool {
        self.owned.get()
    }

    pub fn subscriptions(&self) -> usize {
        self.subscriptions.get()
    }

    /// Nothing keeps the stream on this core: no subscription, not owned.
    pub fn is_unused(&self) -> bool {
        self.subscriptions.get() == 0 && !self.owned.get()
    }

    /// A player joins; it starts at once (GOP cache first) when the stream is live.
    pub fn add_player(&self, outbox: Rc<Outbox>) {
        if self.session.get().is_some() {
            outbox.start_stream(&self.cache.borrow().bootstrap());
        }
        self.players.borrow_mut().push(outbox);
        self.subscriptions.set(self.subscriptions.get() + 1);
    }

    /// A player leaves; returns the subscriptions left on this core.
    pub fn remove_player(&self, outbox: &Rc<Outbox>) -> usize {
        self.players.borrow_mut().retain(|p| !Rc::ptr_eq(p, outbox));
        let left = self.subscriptions.get().saturating_sub(1);
        self.subscriptions.set(left);
        left
    }

    /// This core becomes the owner, as `session`.
    pub fn own(&self, session: SessionId, remote_subscribers: Vec<usize>) {
        self.owned.set(true);
        self.has_video.set(false);
        *self.subscribers.borrow_mut() = remote_subscribers;
        self.start(session, &[]);
    }

    /// The owner's publisher left: returns the cores to tell.
    pub fn disown(&self) -> Vec<usize> {
        self.owned.set(false);
        self.end();
        std::mem::take(&mut *self.subscribers.borrow_mut())
    }

    /// Adds `core` to the subscribers; false when it was one already.
    pub fn add_subscriber(&self, core: usize) -> bool {
        let mut subscribers = self.subscribers.borrow_mut();
        let new = !subscribers.contains(&core);
        if new {
            subscribers.push(core);
        }
        new
    }

    pub fn remove_subscriber(&self, core: usize) {
        self.subscribers.borrow_mut().retain(|&c| c != core);
    }

    pub fn subscribers(&self) -> std::cell::Ref<'_, Vec<usize>> {
        self.subscribers.borrow()
    }

    /// Whether a frame would reach anyone beyond the cache.
    pub fn has_audience(&self) -> bool {
        !self.players.borrow().is_empty() || !self.subscribers.borrow().is_empty()
    }

    pub fn has_video(&self) -> bool {
        self.has_video.get()
    }

    pub fn saw_video(&self) {
        self.has_video.set(true);
    }

    /// Keeps `frame` back until the next video frame or timer; true when the stream must be
    /// added to the hub's list of streams holding frames.
    pub fn hold(&self, frame: SharedFrame) -> bool {
        self.held.borrow_mut().push(frame);
        !self.in_holding.replace(true)
    }

    /// The held frames, oldest first, handed back for delivery.
    pub fn release_held(&self) -> Vec<SharedFrame> {
        self.held_ticks.set(0);
        std::mem::take(&mut *self.held.borrow_mut())
    }

    pub fn held_count(&self) -> usize {
        self.held.borrow().len()
    }

    pub fn holds_frames(&self) -> bool {
        !self.held.borrow().is_empty()
    }

    /// A timer tick: whether the stream stays in the hub's holding list (frames held for
    /// less than two ticks), leaves it (nothing held), or has frames due now.
    pub fn held_tick(&self) -> HeldTick {
        if !self.holds_frames() {
            self.in_holding.set(false);
            return HeldTick::Leave;
        }
        let ticks = self.held_ticks.get().saturating_add(1);
        self.held_ticks.set(ticks);
        if ticks < 2 {
            return HeldTick::Wait;
        }
        self.in_holding.set(false);
        HeldTick::Due
    }

    pub fn bootstrap(&self) -> Vec<SharedFrame> {
        self.cache.borrow().bootstrap()
    }

    /// The stream goes live here as `session`, starting with `bootstrap`.
    pub fn start(&self, session: SessionId, bootstrap: &[SharedFrame]) {
        self.session.set(Some(session));
        self.cache.borrow_mut().load(bootstrap);
        self.broadcast(|outbox| outbox.start_stream(bootstrap));
    }

    /// A live frame: cached, and queued for every player.
    pub fn frame(&self, frame: &SharedFrame) {
        self.cache.borrow_mut().push(frame);
        self.broadcast(|outbox| outbox.push(Delivery::Frame(frame.clone())));
    }

    pub fn end(&self) {
        self.session.set(None);
        self.cache.borrow_mut().clear();
        self.broadcast(|outbox| outbox.push(Delivery::StreamEnd));
    }

    /// Apply `f` to every player; players that stopped (closed or lagging) are let go.
    fn broadcast(&self, f: impl Fn(&Outbox)) {
        let mut players = self.players.borrow_mut();
        for outbox in players.iter() {
            f(outbox);
        }
        players.retain(|p| p.state() == QueueState::Open);
    }
}
