//! The publisher: sends a [`Schedule`] over RTMP in real time (headers once, then each media
//! message when its timestamp is due), recording every video frame's send instant in the
//! [`Probe`]. Acknowledgements and pings from the server are answered on the next send.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::future;

use super::net::{Conn, Opened};
use super::probe::{Probe, Sent, payload_key};
use super::schedule::Schedule;
use crate::flv::tag::TAG_VIDEO;
use crate::rtmp::client::{ClientEvent, ClientSession};

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

/// Publishes until an error (recorded in `state`); the caller bounds it in time.
pub async fn run(
    opened: Opened,
    index: usize,
    mut schedule: Schedule,
    probe: Rc<RefCell<Probe>>,
    state: Rc<PublisherState>,
) {
    let Opened {
        sock,
        session,
        mut input,
        ..
    } = opened;
    let session = RefCell::new(session);
    // Replies (acks, pongs) produced while reading, flushed with the next media write.
    let replies = RefCell::new(BytesMut::new());
    let send = async {
        let start = Instant::now();
        let mut out = BytesMut::new();
        for h in &schedule.headers {
            session
                .borrow_mut()
                .send_media(h.tag_type, 0, h.body.clone(), &mut out);
        }
        loop {
            let now = Instant::now();
            let elapsed = now.duration_since(start).as_millis() as u64;
            while schedule.peek_ts() <= elapsed {
                let item = schedule.next_item();
                if item.tag_type == TAG_VIDEO {
                    let sent = Sent {
                        at: now,
                        ts_ms: item.ts_ms,
                    };
                    probe
                        .borrow_mut()
                        .record(payload_key(index, &item.body), sent);
                    state.video_frames.set(state.video_frames.get() + 1);
                    if is_keyframe(&item.body) {
                        state.last_keyframe_at.set(Some(now));
                    }
                }
                state.last_ts.set(item.ts_ms);
                let ts = item.ts_ms as u32;
                session
                    .borrow_mut()
                    .send_media(item.tag_type, ts, item.body, &mut out);
            }
            out.extend_from_slice(&replies.borrow_mut().split());
            if !out.is_empty() {
                sock.write_all(&out)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                state.bytes.set(state.bytes.get() + out.len() as u64);
                out.clear();
            }
            let due = start + Duration::from_millis(schedule.peek_ts());
            glommio::timer::sleep(due.saturating_duration_since(Instant::now())).await;
        }
    };
    let receive = receive(&sock, &session, &mut input, &replies);
    let result: Result<(), String> = future::or(send, receive).await;
    if let Err(e) = result {
        *state.error.borrow_mut() = Some(e);
    }
}

/// An FLV video tag body holding an AVC keyframe (not a sequence header).
fn is_keyframe(body: &[u8]) -> bool {
    matches!(body, [first, 1, ..] if first >> 4 == 1)
}

async fn receive(
    sock: &Conn,
    session: &RefCell<ClientSession>,
    input: &mut BytesMut,
    replies: &RefCell<BytesMut>,
) -> Result<(), String> {
    loop {
        let n = sock.read(input, 4096).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
        let events = session
            .borrow_mut()
            .feed(input, &mut replies.borrow_mut())?;
        for event in events {
            if let ClientEvent::Closed(why) = event {
                return Err(why);
            }
        }
    }
}
