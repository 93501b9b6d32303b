//! The timer behind a connection's read timeout ([`ReadTimer`]), kept across reads.
//!
//! Arming a glommio timer for every wait of a busy connection (a B-tree insert and removal
//! and a clock read in the reactor each time) cost ~3 % of an ingest core. One armed timer
//! serves every later wait whose deadline is no earlier than its own; when it fires early (it
//! was armed for a wait that ended since) it is re-armed for the wait at hand, so a connection
//! that keeps receiving re-arms about once per timeout period, not once per message.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Instant;

use glommio::timer::Timer;

#[derive(Default)]
pub struct ReadTimer {
    /// The armed timer, when it fires, and whom it wakes.
    armed: RefCell<Option<(Timer, Instant, Waker)>>,
}

impl ReadTimer {
    /// Whether `deadline` has passed at `now`; if not, the task behind `cx` is woken by then.
    pub fn expired(&self, deadline: Instant, now: Instant, cx: &mut Context<'_>) -> bool {
        let mut armed = self.armed.borrow_mut();
        if now >= deadline {
            *armed = None;
            return true;
        }
        if let Some((_, fires, wakes)) = &*armed
            && now < *fires
            && *fires <= deadline
            && wakes.will_wake(cx.waker())
        {
            return false;
        }
        let mut timer = Timer::new(deadline - now);
        // Registers the waker; the deadline is in the future, so it is not ready.
        let _ = Pin::new(&mut timer).poll(cx);
        *armed = Some((timer, deadline, cx.waker().clone()));
        false
    }
}
