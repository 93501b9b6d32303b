//! A connection's writer: drains its [`Outbox`] to the socket, one write per batch of what is
//! queued, whatever the protocol ([`Framing`] turns queued items into the protocol's bytes).
//!
//! The batch is gathered in the core's scratch buffer and sent without waiting; only what the
//! socket does not take at once is copied into a buffer of this connection's, to be sent when
//! it can (within `write_timeout`, else the player is dropped). Over TLS the batch is encrypted
//! into the session instead, and what the socket does not take at once waits there.
//!
//! With `play_merge_ms`, a writer sends at most once per that many milliseconds: what arrives
//! meanwhile goes out in the next batch (fewer, larger writes for large audiences, at the
//! cost of up to that much added latency). Only batches of live frames count: protocol
//! replies (a player's setup), a stream's start and its end never wait, nor make the next
//! batch wait, so merging does not slow a player's join.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;

use super::conn::Transport;
use super::core::CoreContext;
use super::error::ConnError;
use super::stoppable::{self, Stoppable};
use crate::stream::queue::{Delivery, IDLE_CAPACITY, Outbox, QueueState};

/// Bytes a writer gathers into one socket write.
pub const WRITE_BATCH: usize = 256 * 1024;

pub trait Framing {
    /// Append the bytes of `batch` (drained) to `buf`; false ends the connection after this
    /// batch is sent.
    fn encode(&mut self, batch: &mut Vec<Delivery>, buf: &mut Vec<u8>) -> bool;
}

/// [`run`] as a task of its own, so that a queued frame wakes only the writer, not the
/// connection's reader and the futures around it. Dropping the returned task stops it.
pub fn spawn(
    conn: Rc<Transport>,
    outbox: Rc<Outbox>,
    ctx: Rc<CoreContext>,
    framing: impl Framing + 'static,
) -> Stoppable<Result<(), ConnError>> {
    stoppable::spawn(async move {
        let config = &ctx.shared.config;
        let pace = Pace {
            linger: config.read_timeout(),
            merge: Duration::from_millis(config.play_merge_ms),
        };
        run(&conn, &outbox, &ctx.write_scratch, pace, framing).await
    })
}

/// How a writer paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// How long a player whose stream ended waits for it to come back.
    pub linger: Duration,
    /// Least time between two sends (`play_merge_ms`; zero: send whenever there is data).
    pub merge: Duration,
}

/// Run until the outbox is closed and drained (Ok), the player lags or the socket fails, or
/// the stream has ended and not come back within `pace.linger`.
pub async fn run(
    conn: &Transport,
    outbox: &Outbox,
    scratch: &RefCell<Vec<u8>>,
    pace: Pace,
    mut framing: impl Framing,
) -> Result<(), ConnError> {
    let Pace { linger, merge } = pace;
    let mut batch = Vec::new();
    let mut last_send: Option<Instant> = None;
    loop {
        if let Some(wait) =
            last_send.and_then(|at| (at + merge).checked_duration_since(Instant::now()))
            && !wait.is_zero()
        {
            glommio::timer::sleep(wait).await;
        }
        if outbox.stream_ended() {
            let more = async {
                outbox.ready().await;
                true
            };
            let gone = async {
                glommio::timer::sleep(linger).await;
                false
            };
            if !future::or(more, gone).await {
                return Err(ConnError::StreamGone(linger));
            }
        } else {
            outbox.ready().await;
        }
        outbox.take_batch(WRITE_BATCH, &mut batch);
        let live_frames_only = batch.iter().all(|d| matches!(d, Delivery::Frame(_)));
        last_send = (!merge.is_zero() && live_frames_only).then(Instant::now);
        if batch.is_empty() {
            return match outbox.state() {
                QueueState::Lagging => Err(ConnError::Lagging(outbox.limit_ms())),
                _ => Ok(()),
            };
        }
        let (unsent, more) = {
            let mut buf = scratch.borrow_mut();
            buf.clear();
            let more = framing.encode(&mut batch, &mut buf);
            batch.shrink_to(IDLE_CAPACITY);
            let sent = conn.try_send(&buf).map_err(ConnError::Write)?;
            (buf[sent..].to_vec(), more)
        };
        // TLS: the batch is in the session, encrypted; what the socket did not take is sent here.
        if !unsent.is_empty() || conn.wants_write() {
            let started = Instant::now();
            conn.write_all(&unsent)
                .await
                .map_err(|e| ConnError::from_write(e, started.elapsed()))?;
        }
        if !more {
            return Ok(());
        }
    }
}
