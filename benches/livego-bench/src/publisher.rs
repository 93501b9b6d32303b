//! The publishers: each sends a [`Schedule`] over RTMP in real time (headers once, then each
//! media message when its timestamp is due), recording every video and audio message's send
//! instant in the [`Probe`]. Acknowledgements and pings from the server are answered with the
//! next send.
//!
//! One pacing task ([`pace`]) sends for every publisher, so a thousand publishers cost the
//! generator one timer, not a thousand: it sleeps until the earliest due message, then sends
//! what is due for each publisher without waiting (what a socket refuses is kept and retried).
//! Publishers start spread over one second, as independent encoders would be.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use livego::flv::tag::{TAG_AUDIO, TAG_VIDEO};
use livego::rtmp::client::{ClientEvent, ClientSession};

use crate::net::Opened;
use crate::probe::{Probe, Sent, payload_key};
use crate::schedule::Schedule;
use livego::net::conn::Conn;

/// Publishers' first messages are spread over this long.
const START_SPREAD: Duration = Duration::from_secs(1);
/// How soon a publisher whose socket refused bytes tries again.
const RETRY: Duration = Duration::from_millis(5);
/// Bytes a publisher may hold unsent before it gives up (the server does not read).
const MAX_UNSENT: usize = 8 << 20;

/// What a running publisher reports.
#[derive(Default)]
pub struct PublisherState {
    /// Timestamp of the newest message sent.
    pub last_ts: Cell<u64>,
    pub bytes: Cell<u64>,
    pub video_frames: Cell<u64>,
    /// When the newest keyframe was sent (for the HLS probe).
    pub last_keyframe_at: Rc<Cell<Option<Instant>>>,
    pub error: RefCell<Option<String>>,
}

/// One publishing connection.
pub struct Publisher {
    index: usize,
    sock: Conn,
    session: RefCell<ClientSession>,
    /// What came after the setup, until [`Publisher::receive`] takes it.
    input: RefCell<BytesMut>,
    /// Replies (acks, pongs) produced while reading, sent with the next media.
    replies: RefCell<BytesMut>,
    schedule: RefCell<Schedule>,
    /// Serialised but not yet taken by the socket.
    unsent: RefCell<BytesMut>,
    /// When timestamp 0 is due.
    start: Instant,
    pub state: Rc<PublisherState>,
}

impl Publisher {
    /// Publisher `index` of `count`, whose timestamp 0 is due at `base` plus its share of
    /// `START_SPREAD`.
    pub fn new(
        opened: Opened,
        index: usize,
        count: usize,
        mut schedule: Schedule,
        base: Instant,
    ) -> Publisher {
        let mut unsent = BytesMut::new();
        let mut session = opened.session;
        for h in std::mem::take(&mut schedule.headers) {
            session.send_media(h.tag_type, 0, h.body, &mut unsent);
        }
        Publisher {
            index,
            sock: opened.sock,
            session: RefCell::new(session),
            input: RefCell::new(opened.input),
            replies: RefCell::new(BytesMut::new()),
            schedule: RefCell::new(schedule),
            unsent: RefCell::new(unsent),
            start: base + START_SPREAD.mul_f64(index as f64 / count.max(1) as f64),
            state: Rc::new(PublisherState::default()),
        }
    }

    fn fail(&self, why: String) {
        self.state.error.borrow_mut().get_or_insert(why);
    }

    fn failed(&self) -> bool {
        self.state.error.borrow().is_some()
    }

    /// When the next message is due.
    fn next_due(&self) -> Instant {
        self.start + Duration::from_millis(self.schedule.borrow().peek_ts())
    }

    /// Serialises what is due at `now`, sends what the socket takes, and says when to come
    /// back (None: the publisher failed).
    fn send_due(&self, now: Instant, probe: &RefCell<Probe>) -> Option<Instant> {
        let elapsed = now.saturating_duration_since(self.start).as_millis() as u64;
        let mut unsent = self.unsent.borrow_mut();
        let mut schedule = self.schedule.borrow_mut();
        let mut session = self.session.borrow_mut();
        let state = &self.state;
        while now >= self.start && schedule.peek_ts() <= elapsed {
            let item = schedule.next_item();
            if item.tag_type == TAG_VIDEO || item.tag_type == TAG_AUDIO {
                let sent = Sent {
                    at: now,
                    ts_ms: item.ts_ms,
                };
                let key = payload_key(self.index, item.tag_type, &item.body);
                probe.borrow_mut().record(key, sent);
            }
            if item.tag_type == TAG_VIDEO {
                state.video_frames.set(state.video_frames.get() + 1);
                if is_keyframe(&item.body) {
                    state.last_keyframe_at.set(Some(now));
                }
            }
            state.last_ts.set(item.ts_ms);
            session.send_media(item.tag_type, item.ts_ms as u32, item.body, &mut unsent);
        }
        drop((schedule, session));
        unsent.extend_from_slice(&self.replies.borrow_mut().split());
        match self.sock.try_send(&unsent) {
            Ok(n) => {
                unsent.advance(n);
                state.bytes.set(state.bytes.get() + n as u64);
            }
            Err(e) => {
                self.fail(format!("write: {e}"));
                return None;
            }
        }
        if unsent.len() > MAX_UNSENT {
            self.fail(format!("the server took nothing of {MAX_UNSENT} bytes"));
            return None;
        }
        let due = self.next_due();
        Some(if unsent.is_empty() {
            due
        } else {
            due.min(now + RETRY)
        })
    }

    /// Reads the server's messages (acks, pings) until the connection fails.
    pub async fn receive(&self) {
        let mut input = self.input.take();
        loop {
            let read = self.sock.read(&mut input, 4096).await;
            let events = match read {
                Ok(0) => Err("server closed the connection".to_string()),
                Ok(_) => self
                    .session
                    .borrow_mut()
                    .feed(&mut input, &mut self.replies.borrow_mut())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let closed = events.and_then(|events| {
                events.into_iter().try_for_each(|event| match event {
                    ClientEvent::Closed(why) => Err(why),
                    _ => Ok(()),
                })
            });
            if let Err(why) = closed {
                self.fail(why);
                return;
            }
        }
    }
}

/// Sends for every publisher in real time, until each has failed (the caller bounds it in
/// time).
pub async fn pace(publishers: Vec<Rc<Publisher>>, probe: Rc<RefCell<Probe>>) {
    let mut queue: BinaryHeap<Reverse<(Instant, usize)>> = publishers
        .iter()
        .enumerate()
        .map(|(i, p)| Reverse((p.start, i)))
        .collect();
    while let Some(&Reverse((due, _))) = queue.peek() {
        glommio::timer::sleep(due.saturating_duration_since(Instant::now())).await;
        let now = Instant::now();
        while let Some(&Reverse((due, i))) = queue.peek() {
            if due > now {
                break;
            }
            queue.pop();
            let publisher = &publishers[i];
            if publisher.failed() {
                continue;
            }
            if let Some(next) = publisher.send_due(now, &probe) {
                queue.push(Reverse((next, i)));
            }
        }
    }
}

/// An FLV video tag body holding an AVC keyframe (not a sequence header).
fn is_keyframe(body: &[u8]) -> bool {
    matches!(body, [first, 1, ..] if first >> 4 == 1)
}
