//! The channel mesh between cores: the [`CoreLink`] the hubs talk through.
//!
//! Every core has a bounded lock-free SPSC channel to every other core (glommio's
//! `channel_mesh`). Sending never waits: when a channel is full, messages queue in a per-peer
//! backlog drained by a task, which keeps their order; past [`MAX_BACKLOG`] queued messages,
//! frames are dropped (and counted) while control messages are still kept.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use glommio::GlommioError;
use glommio::ResourceType;
use glommio::channels::channel_mesh::Senders;

use crate::stream::link::{CoreLink, CoreMsg};
use crate::stream::stats::StatsRegistry;

/// Capacity of each core-to-core channel, in messages.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Messages a backlog may hold before frames are dropped.
pub const MAX_BACKLOG: usize = 16 * 1024;

pub struct MeshSender {
    senders: Senders<CoreMsg>,
    backlogs: Vec<RefCell<VecDeque<CoreMsg>>>,
    /// Where dropped frames are counted.
    stats: Arc<StatsRegistry>,
    /// This sender, for the backlog tasks it spawns.
    this: Weak<MeshSender>,
}

impl MeshSender {
    pub fn new(senders: Senders<CoreMsg>, stats: Arc<StatsRegistry>) -> Rc<Self> {
        let backlogs = (0..senders.nr_consumers())
            .map(|_| RefCell::default())
            .collect();
        Rc::new_cyclic(|this| MeshSender {
            senders,
            backlogs,
            stats,
            this: this.clone(),
        })
    }

    fn spawn_flusher(&self, core: usize) {
        let Some(this) = self.this.upgrade() else {
            return;
        };
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

impl CoreLink for MeshSender {
    fn cores(&self) -> usize {
        self.backlogs.len()
    }

    fn send(&self, core: usize, msg: CoreMsg) {
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
}
