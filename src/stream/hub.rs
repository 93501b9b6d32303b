//! The per-core hub: streams published on this core (owned) and streams this core plays
//! (local), and the handling of messages from other cores.
//!
//! A publisher's session gets a [`Publication`] (this core becomes the owner); a player gets a
//! [`Subscription`] that feeds its [`Outbox`]. Both end their part when dropped. The registry
//! lock is taken on publish/unpublish and on each player's join and leave, never per frame.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::frame::SharedFrame;
use super::gop::GopCache;
use super::key::StreamKey;
use super::local::LocalStream;
use super::mesh::{CoreMsg, MeshSender};
use super::queue::Outbox;
use super::registry::{AlreadyPublishing, Owner, Registry, SessionId, StreamFull};
use crate::hls::store::{HlsUpdate, HlsView, Snapshot};

pub struct CoreHub {
    pub core: usize,
    registry: Arc<Registry>,
    /// None when running on a single core.
    mesh: Option<Rc<MeshSender>>,
    gop_num: usize,
    max_players_per_stream: usize,
    owned: RefCell<HashMap<StreamKey, Rc<Owned>>>,
    local: RefCell<HashMap<StreamKey, Rc<LocalStream>>>,
    local_by_session: RefCell<HashMap<SessionId, Rc<LocalStream>>>,
    /// This core's copy of every stream's HLS state, for its HTTP handlers.
    hls: HlsView,
}

/// Owner-side state of a stream published on this core.
struct Owned {
    owner: Owner,
    cache: RefCell<GopCache>,
    /// Cores with players, this one included when it has some.
    subscribers: RefCell<Vec<usize>>,
}

impl CoreHub {
    pub fn new(
        core: usize,
        registry: Arc<Registry>,
        mesh: Option<Rc<MeshSender>>,
        gop_num: usize,
        max_players_per_stream: usize,
    ) -> Rc<Self> {
        Rc::new(CoreHub {
            core,
            registry,
            mesh,
            gop_num,
            max_players_per_stream,
            owned: RefCell::default(),
            local: RefCell::default(),
            local_by_session: RefCell::default(),
            hls: HlsView::default(),
        })
    }

    /// The HLS snapshot of `key` as this core knows it.
    pub fn hls_snapshot(&self, key: &StreamKey) -> Option<Arc<Snapshot>> {
        self.hls.snapshot(key)
    }

    /// Hand a stream's new HLS state to every core, this one included.
    pub fn publish_hls(&self, update: HlsUpdate) {
        if let Some(mesh) = &self.mesh {
            for core in (0..mesh.cores()).filter(|&c| c != self.core) {
                mesh.send(core, CoreMsg::Hls(update.clone()));
            }
        }
        self.hls.apply(update);
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Become the owner of `key`, or learn that someone else publishes it.
    pub fn publish(self: &Rc<Self>, key: StreamKey) -> Result<Publication, AlreadyPublishing> {
        let (owner, waiting) = self.registry.publish(&key, self.core)?;
        let owned = Rc::new(Owned {
            owner,
            cache: RefCell::new(GopCache::new(self.gop_num)),
            subscribers: RefCell::new(waiting.clone()),
        });
        self.owned.borrow_mut().insert(key.clone(), owned.clone());
        for core in waiting {
            self.start_subscriber(core, &key, owner.session, Vec::new());
        }
        Ok(Publication {
            hub: self.clone(),
            key,
            owned,
        })
    }

    /// Add a player (its outbox) to `key`, live or not yet.
    pub fn subscribe(
        self: &Rc<Self>,
        key: StreamKey,
        outbox: Rc<Outbox>,
    ) -> Result<Subscription, StreamFull> {
        let max = self.max_players_per_stream;
        let owner = self.registry.add_player(&key, self.core, max)?;
        let existing = self.local.borrow().get(&key).cloned();
        let stream = match existing {
            Some(stream) => stream,
            None => {
                let stream = Rc::new(LocalStream::new(key.clone(), self.gop_num));
                self.local.borrow_mut().insert(key.clone(), stream.clone());
                if let Some(owner) = owner {
                    self.request_frames(&key, owner);
                }
                stream
            }
        };
        stream.add_player(outbox.clone());
        Ok(Subscription {
            hub: self.clone(),
            stream,
            outbox,
        })
    }

    fn request_frames(&self, key: &StreamKey, owner: Owner) {
        if owner.core != self.core {
            self.send(
                owner.core,
                CoreMsg::Subscribe {
                    key: key.clone(),
                    core: self.core,
                },
            );
            return;
        }
        let owned = self.owned.borrow().get(key).cloned();
        if let Some(owned) = owned {
            owned.subscribers.borrow_mut().push(self.core);
            let bootstrap = owned.cache.borrow().bootstrap();
            self.start_subscriber(self.core, key, owner.session, bootstrap);
        }
    }

    fn start_subscriber(
        &self,
        core: usize,
        key: &StreamKey,
        session: SessionId,
        bootstrap: Vec<SharedFrame>,
    ) {
        if core == self.core {
            self.on_start(key, session, &bootstrap);
        } else {
            self.send(
                core,
                CoreMsg::Start {
                    key: key.clone(),
                    session,
                    bootstrap,
                },
            );
        }
    }

    fn send(&self, core: usize, msg: CoreMsg) {
        match &self.mesh {
            Some(mesh) => mesh.send(core, msg),
            None => log::error!("core {}: no mesh to reach core {core}", self.core),
        }
    }

    /// A message from another core.
    pub fn handle(self: &Rc<Self>, msg: CoreMsg) {
        match msg {
            CoreMsg::Subscribe { key, core } => {
                let owned = self.owned.borrow().get(&key).cloned();
                if let Some(owned) = owned {
                    let mut subscribers = owned.subscribers.borrow_mut();
                    if !subscribers.contains(&core) {
                        subscribers.push(core);
                    }
                    let bootstrap = owned.cache.borrow().bootstrap();
                    self.start_subscriber(core, &key, owned.owner.session, bootstrap);
                }
            }
            CoreMsg::Unsubscribe { key, core } => {
                if let Some(owned) = self.owned.borrow().get(&key) {
                    owned.subscribers.borrow_mut().retain(|&c| c != core);
                }
            }
            CoreMsg::Start {
                key,
                session,
                bootstrap,
            } => self.on_start(&key, session, &bootstrap),
            CoreMsg::Frame { session, frame } => self.on_frame(session, frame),
            CoreMsg::End { session } => self.on_end(session),
            CoreMsg::Hls(update) => self.hls.apply(update),
        }
    }

    fn on_start(&self, key: &StreamKey, session: SessionId, bootstrap: &[SharedFrame]) {
        let Some(stream) = self.local.borrow().get(key).cloned() else {
            return;
        };
        if let Some(old) = stream.session() {
            self.local_by_session.borrow_mut().remove(&old);
        }
        stream.start(session, bootstrap);
        self.local_by_session.borrow_mut().insert(session, stream);
    }

    fn on_frame(&self, session: SessionId, frame: SharedFrame) {
        let stream = self.local_by_session.borrow().get(&session).cloned();
        if let Some(stream) = stream {
            stream.frame(frame);
        }
    }

    fn on_end(&self, session: SessionId) {
        let stream = self.local_by_session.borrow_mut().remove(&session);
        if let Some(stream) = stream {
            stream.end();
        }
    }
}

/// A live stream published on this core; dropping it ends the stream for every player.
pub struct Publication {
    hub: Rc<CoreHub>,
    pub key: StreamKey,
    owned: Rc<Owned>,
}

impl Publication {
    pub fn session(&self) -> SessionId {
        self.owned.owner.session
    }

    /// Cache `frame` and send it once to every subscribing core (with its RTMP form built here
    /// first, as soon as any core has players: the owner serialises, the players' cores only
    /// share).
    pub fn send(&self, frame: SharedFrame) {
        self.owned.cache.borrow_mut().push(&frame);
        let session = self.session();
        let subscribers = self.owned.subscribers.borrow();
        if !subscribers.is_empty() {
            frame.rtmp();
        }
        for &core in subscribers.iter() {
            if core == self.hub.core {
                self.hub.on_frame(session, frame.clone());
            } else {
                self.hub.send(
                    core,
                    CoreMsg::Frame {
                        session,
                        frame: frame.clone(),
                    },
                );
            }
        }
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        let session = self.session();
        self.hub.registry.unpublish(&self.key, session);
        self.hub.owned.borrow_mut().remove(&self.key);
        for &core in self.owned.subscribers.borrow().iter() {
            if core == self.hub.core {
                self.hub.on_end(session);
            } else {
                self.hub.send(core, CoreMsg::End { session });
            }
        }
    }
}

/// A player's place in a stream; dropping it removes the player (and, for the last player on
/// this core, the core's subscription).
pub struct Subscription {
    hub: Rc<CoreHub>,
    stream: Rc<LocalStream>,
    outbox: Rc<Outbox>,
}

impl Subscription {
    pub fn is_live(&self) -> bool {
        self.stream.session().is_some()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stream.remove_player(&self.outbox);
        let hub = &self.hub;
        let key = &self.stream.key;
        let last_on_core = self.stream.player_count() == 0;
        let owner = hub.registry.remove_player(key, hub.core, last_on_core);
        if !last_on_core {
            return;
        }
        hub.local.borrow_mut().remove(key);
        if let Some(session) = self.stream.session() {
            hub.local_by_session.borrow_mut().remove(&session);
        }
        let Some(owner) = owner else {
            return;
        };
        if owner.core == hub.core {
            if let Some(owned) = hub.owned.borrow().get(key) {
                owned.subscribers.borrow_mut().retain(|&c| c != hub.core);
            }
        } else {
            hub.send(
                owner.core,
                CoreMsg::Unsubscribe {
                    key: key.clone(),
                    core: hub.core,
                },
            );
        }
    }
}
