//! A stream as seen by one core: its local players, and a mirror of the owner's GOP cache so
//! that a second player on this core starts at once without asking the owner.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::frame::SharedFrame;
use super::gop::GopCache;
use super::key::StreamKey;
use super::queue::{Delivery, Outbox, QueueState};
use super::registry::SessionId;

pub struct LocalStream {
    pub key: StreamKey,
    session: Cell<Option<SessionId>>,
    cache: RefCell<GopCache>,
    players: RefCell<Vec<Rc<Outbox>>>,
}

impl LocalStream {
    pub fn new(key: StreamKey, gop_num: usize) -> Self {
        LocalStream {
            key,
            session: Cell::new(None),
            cache: RefCell::new(GopCache::new(gop_num)),
            players: RefCell::default(),
        }
    }

    pub fn session(&self) -> Option<SessionId> {
        self.session.get()
    }

    pub fn player_count(&self) -> usize {
        self.players.borrow().len()
    }

    pub fn add_player(&self, outbox: Rc<Outbox>) {
        if self.session.get().is_some() {
            outbox.start_stream(&self.cache.borrow().bootstrap());
        }
        self.players.borrow_mut().push(outbox);
    }

    pub fn remove_player(&self, outbox: &Rc<Outbox>) {
        self.players.borrow_mut().retain(|p| !Rc::ptr_eq(p, outbox));
    }

    pub fn start(&self, session: SessionId, bootstrap: &[SharedFrame]) {
        self.session.set(Some(session));
        self.cache.borrow_mut().load(bootstrap);
        self.broadcast(|outbox| outbox.start_stream(bootstrap));
    }

    pub fn frame(&self, frame: SharedFrame) {
        self.cache.borrow_mut().push(&frame);
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
