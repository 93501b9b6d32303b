//! Messages between cores and the sending side of the channel mesh.
//!
//! Every core has a bounded lock-free SPSC channel to every other core (glommio's
//! `channel_mesh`). Sending never waits: when a channel is full, messages queue in a per-peer
//! backlog drained by a task, which keeps their order; past [`MAX_BACKLOG`] queued messages,
//! frames are dropped (and counted) while control messages are still kept.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use glommio::GlommioError;
use glommio::ResourceType;
use glommio::channels::channel_mesh::Senders;

use super::frame::SharedFrame;
use super::key::StreamKey;
use super::registry::SessionId;
use super::stats::StatsRegistry;
use crate::hls::store::HlsUpdate;

/// Capacity of each core-to-core channel, in messages.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Messages a backlog may hold before frames are dropped.
pub const MAX_BACKLOG: usize = 16 * 1024;

#[derive(Debug)]
pub enum CoreMsg {
    /// To the owner: `core` has players for `key` and wants its frames.
    Subscribe { key: StreamKey, core: usize },
    /// To the owner: `core` has no players left for `key`.
    Unsubscribe { key: StreamKey, core: usize },
    /// To a subscriber: `key` is live as `session`; `bootstrap` is metadata, sequence headers
    /// and the GOP cache, to be followed by live frames.
    Start {
        key: StreamKey,
        session: SessionId,
        bootstrap: Vec<SharedFrame>,
    },
    Frame {
        session: SessionId,
        frame: SharedFrame,
    },
    /// The publisher of `session` left.
    End { session: SessionId },
    /// To every core: a stream's new HLS playlist and segments (or their removal).
    Hls(HlsUpdate),
}

pub struct MeshSender {
    senders: Senders<CoreMsg>,
    backlogs: Vec<RefCell<VecDeque<CoreMsg>>>,
    /// Where dropped frames are counted.
    stats: Arc<StatsRegistry>,
}

impl MeshSender {
    pub fn new(senders: Senders<CoreMsg>, stats: Arc<StatsRegistry>) -> Rc<Self> {
        let backlogs = (0..senders.nr_consumers())
            .map(|_| RefCell::default())
            .collect();
        Rc::new(MeshSender {
            senders,
            backlogs,
            stats,
        })
    }

    /// How many cores the mesh joins (this one included).
    pub fn cores(&self) -> usize {
        self.backlogs.len()
    }

    /// Send `msg` to `core` without waiting; order per destination is preserved.
    pub fn send(self: &Rc<Self>, core: usize, msg: CoreMsg) {
        let Some(backlog) = self.backlogs.get(core) else {
            log::error!("mesh: no core {core}");
            return;
        };
        if backlog.borrow().is_empty() {
            match self.senders.try_send_to(core, msg) {
                Ok(()) => return,
                Err(GlommioError::WouldBlock(ResourceType::Channel(msg))) => {
                    backlog.borrow_mut().push_back(msg);
                    self.spawn_flusher(core);
                }
                Err(e) => log::debug!("mesh: core {core} is gone: {e}"),
            }
            return;
        }
        let mut backlog = backlog.borrow_mut();
        if backlog.len() >= MAX_BACKLOG && matches!(msg, CoreMsg::Frame { .. }) {
            let dropped = self.stats.count_core_backlog_drop();
            if dropped.is_power_of_two() {
                log::warn!("mesh: core {core} is not keeping up ({dropped} frames dropped so far)");
            }
            return;
        }
        backlog.push_back(msg);
    }

    fn spawn_flusher(self: &Rc<Self>, core: usize) {
        let this = self.clone();
        glommio::spawn_local(async move {
            loop {
                let next = this.backlogs[core].borrow_mut().pop_front();
                let Some(msg) = next else { break };
                if this.senders.send_to(core, msg).await.is_err() {
                    this.backlogs[core].borrow_mut().clear();
                    break;
                }
            }
        })
        .detach();
    }
}
