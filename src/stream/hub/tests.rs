//! The hub driven as a state machine: several cores' hubs in one thread, joined by a simulated
//! link whose messages the tests deliver when and in the order they choose (per sender and
//! destination, order is kept, as the server's mesh keeps it).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use bytes::Bytes;

use super::*;
use crate::stream::frame::{Frame, FrameKind};
use crate::stream::queue::Delivery;

/// A message on its way: (from, to, message).
type Envelope = (usize, usize, CoreMsg);

/// What every core has sent and not yet been delivered, in sending order.
#[derive(Default)]
struct Wire {
    queue: RefCell<VecDeque<Envelope>>,
    /// Frame messages sent so far.
    frames_sent: Cell<usize>,
}

/// One core's end of the simulated link.
struct SimLink {
    core: usize,
    cores: usize,
    wire: Rc<Wire>,
}

impl CoreLink for SimLink {
    fn cores(&self) -> usize {
        self.cores
    }

    fn send(&self, core: usize, msg: CoreMsg) {
        assert_ne!(core, self.core, "a core sent a message to itself");
        assert!(core < self.cores, "no core {core}");
        if matches!(msg, CoreMsg::Frame { .. }) {
            self.wire.frames_sent.set(self.wire.frames_sent.get() + 1);
        }
        self.wire
            .queue
            .borrow_mut()
            .push_back((self.core, core, msg));
    }
}

struct Sim {
    hubs: Vec<Rc<CoreHub>>,
    registry: Arc<Registry>,
    wire: Rc<Wire>,
}

impl Sim {
    fn new(cores: usize, max_players_per_stream: usize) -> Sim {
        Sim::configured(
            cores,
            HubConfig {
                gop_num: 1,
                max_players_per_stream,
                audio_waits: false,
            },
        )
    }

    fn configured(cores: usize, config: HubConfig) -> Sim {
        let registry = Arc::new(Registry::new());
        let wire = Rc::new(Wire::default());
        let hubs = (0..cores)
            .map(|core| {
                let link: Rc<dyn CoreLink> = Rc::new(SimLink {
                    core,
                    cores,
                    wire: wire.clone(),
                });
                CoreHub::new(core, registry.clone(), Some(link), config)
            })
            .collect();
        Sim {
            hubs,
            registry,
            wire,
        }
    }

    /// Deliver the messages `pick(from, to)` selects, in order, including those that
    /// delivering them makes, until none selected is left.
    fn deliver(&self, pick: impl Fn(usize, usize) -> bool) {
        loop {
            let next = {
                let mut queue = self.wire.queue.borrow_mut();
                let at = queue.iter().position(|(from, to, _)| pick(*from, *to));
                at.and_then(|at| queue.remove(at))
            };
            let Some((_, to, msg)) = next else { return };
            self.hubs[to].handle(msg);
        }
    }

    fn run(&self) {
        self.deliver(|_, _| true);
    }

    fn frames_sent(&self) -> usize {
        self.wire.frames_sent.get()
    }

    fn publish(&self, core: usize) -> Publication {
        self.hubs[core].publish(key()).expect("publish")
    }

    fn play(&self, core: usize) -> (Subscription, Rc<Outbox>) {
        let outbox = Rc::new(Outbox::new(60_000));
        let subscription = self.hubs[core]
            .subscribe(key(), outbox.clone())
            .expect("subscribe");
        (subscription, outbox)
    }

    /// Every core forgot the stream, and so did the registry.
    fn assert_nothing_left(&self) {
        for hub in &self.hubs {
            assert!(hub.streams.borrow().is_empty(), "core {} kept it", hub.core);
            assert!(hub.by_session.borrow().is_empty(), "core {}", hub.core);
        }
        assert_eq!(self.registry.owner(&key()), None);
        assert!(self.wire.queue.borrow().is_empty(), "undelivered messages");
    }
}

fn key() -> StreamKey {
    StreamKey::new("live", "a")
}

fn video(ts: u32, keyframe: bool, seq_header: bool) -> SharedFrame {
    let body = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0xAA]);
    Arc::new(Frame::new(FrameKind::Video, ts, keyframe, seq_header, body))
}

/// A stream's start: its sequence header, then a keyframe at `ts`.
fn start_gop(publication: &Publication, ts: u32) {
    publication.send(video(ts, false, true));
    publication.send(video(ts, true, false));
}

/// What a player's outbox holds, taken out: `S` start, `E` end, frames as their timestamp
/// with `K` for keyframes and `H` for sequence headers.
fn taken(outbox: &Outbox) -> Vec<String> {
    let mut items = Vec::new();
    outbox.take_batch(usize::MAX, &mut items);
    items
        .into_iter()
        .map(|item| match item {
            Delivery::StreamStart => "S".to_string(),
            Delivery::StreamEnd => "E".to_string(),
            Delivery::Frame(f) if f.seq_header => format!("H{}", f.ts),
            Delivery::Frame(f) if f.keyframe => format!("K{}", f.ts),
            Delivery::Frame(f) => f.ts.to_string(),
            Delivery::Raw(_) => "raw".to_string(),
        })
        .collect()
}

#[test]
fn a_late_player_on_another_core_gets_the_gop_cache_then_live_frames() {
    let sim = Sim::new(3, 0);
    let publication = sim.publish(0);
    start_gop(&publication, 0);
    publication.send(video(40, false, false));
    sim.run();
    assert_eq!(
        sim.frames_sent(),
        0,
        "frames sent to a core without players"
    );
    let (_subscription, outbox) = sim.play(2);
    sim.run();
    assert_eq!(taken(&outbox), ["S", "H0", "K0", "40"]);
    publication.send(video(80, false, false));
    sim.run();
    assert_eq!(taken(&outbox), ["80"]);
}

#[test]
fn each_frame_crosses_to_each_subscribing_core_once_whatever_its_players() {
    let sim = Sim::new(3, 0);
    let publication = sim.publish(0);
    let players: Vec<_> = [0, 1, 2, 2, 2].iter().map(|&core| sim.play(core)).collect();
    sim.run();
    start_gop(&publication, 0);
    for ts in (40..400).step_by(40) {
        publication.send(video(ts, false, false));
    }
    sim.run();
    assert_eq!(
        sim.frames_sent(),
        2 * 11,
        "one message per frame per other core"
    );
    for (_, outbox) in &players {
        let got = taken(outbox);
        assert_eq!(got.len(), 1 + 11, "{got:?}");
        assert_eq!(got[..3], ["S", "H0", "K0"]);
    }
}

#[test]
fn players_waiting_for_a_stream_start_when_it_is_published() {
    let sim = Sim::new(3, 0);
    let (first, first_outbox) = sim.play(0);
    let (second, second_outbox) = sim.play(1);
    sim.run();
    assert!(!first.is_live() && !second.is_live());
    let publication = sim.publish(2);
    sim.run();
    assert!(first.is_live() && second.is_live());
    start_gop(&publication, 1000);
    sim.run();
    for outbox in [&first_outbox, &second_outbox] {
        assert_eq!(taken(outbox), ["S", "H1000", "K1000"]);
    }
}

#[test]
fn a_player_on_the_owner_core_starts_from_its_one_gop_cache() {
    let sim = Sim::new(2, 0);
    let publication = sim.publish(1);
    start_gop(&publication, 0);
    publication.send(video(40, false, false));
    start_gop(&publication, 80);
    publication.send(video(120, false, false));
    // gop_num is 1: only the last GOP is cached, headers are kept.
    let (_subscription, outbox) = sim.play(1);
    assert_eq!(taken(&outbox), ["S", "H80", "K80", "120"]);
    assert_eq!(sim.hubs[1].streams.borrow().len(), 1);
    assert_eq!(sim.frames_sent(), 0);
}

#[test]
fn a_republish_on_another_core_restarts_players_and_stale_messages_are_ignored() {
    let sim = Sim::new(3, 0);
    let first = sim.publish(0);
    let (_subscription, outbox) = sim.play(1);
    sim.run();
    start_gop(&first, 0);
    sim.run();
    assert_eq!(taken(&outbox), ["S", "H0", "K0"]);
    // Frames of the first session still on their way when it ends and the stream is
    // published again on core 2, whose start overtakes them.
    first.send(video(40, false, false));
    drop(first);
    let second = sim.publish(2);
    start_gop(&second, 5000);
    sim.deliver(|from, _| from == 2);
    sim.run();
    assert_eq!(taken(&outbox), ["S", "H5000", "K5000"]);
    second.send(video(5040, false, false));
    sim.run();
    assert_eq!(taken(&outbox), ["5040"]);
}

#[test]
fn a_republish_on_the_owner_core_restarts_its_players() {
    let sim = Sim::new(2, 0);
    let first = sim.publish(0);
    let (_subscription, outbox) = sim.play(0);
    start_gop(&first, 0);
    drop(first);
    let second = sim.publish(0);
    start_gop(&second, 100);
    assert_eq!(taken(&outbox), ["S", "H0", "K0", "E", "S", "H100", "K100"]);
}

#[test]
fn a_core_falling_behind_catches_up_in_order_without_holding_back_the_others() {
    let sim = Sim::new(3, 0);
    let publication = sim.publish(0);
    let (_fast, fast_outbox) = sim.play(1);
    let (_slow, slow_outbox) = sim.play(2);
    sim.run();
    for outbox in [&fast_outbox, &slow_outbox] {
        assert_eq!(taken(outbox), ["S"]);
    }
    start_gop(&publication, 0);
    for ts in (40..4000).step_by(40) {
        publication.send(video(ts, false, false));
    }
    sim.deliver(|_, to| to != 2);
    let expected: Vec<String> = ["H0", "K0"]
        .into_iter()
        .map(String::from)
        .chain((40..4000).step_by(40).map(|ts: u32| ts.to_string()))
        .collect();
    assert_eq!(taken(&fast_outbox), expected);
    assert_eq!(taken(&slow_outbox), Vec::<String>::new());
    sim.run();
    assert_eq!(taken(&slow_outbox), expected);
}

#[test]
fn a_player_leaving_before_its_core_is_started_unsubscribes_it() {
    let sim = Sim::new(2, 0);
    let publication = sim.publish(0);
    start_gop(&publication, 0);
    drop(sim.play(1));
    sim.run();
    publication.send(video(40, false, false));
    sim.run();
    assert_eq!(sim.frames_sent(), 0, "frames sent to a core that left");
    drop(publication);
    sim.run();
    sim.assert_nothing_left();
}

#[test]
fn a_core_whose_last_player_leaves_and_another_joins_before_the_owner_hears_keeps_playing() {
    let sim = Sim::new(2, 0);
    let publication = sim.publish(0);
    start_gop(&publication, 0);
    let first = sim.play(1);
    sim.run();
    drop(first);
    let (_second, outbox) = sim.play(1);
    sim.run();
    publication.send(video(40, false, false));
    sim.run();
    assert_eq!(taken(&outbox), ["S", "H0", "K0", "40"]);
}

#[test]
fn a_core_stays_subscribed_while_a_subscription_lives_even_after_outboxes_closed() {
    let sim = Sim::new(2, 0);
    let publication = sim.publish(0);
    start_gop(&publication, 0);
    let (first, first_outbox) = sim.play(1);
    let (second, second_outbox) = sim.play(1);
    sim.run();
    // Both players' connections end; their outboxes are let go at the next frame, but
    // their subscriptions are dropped only later.
    first_outbox.close();
    second_outbox.close();
    publication.send(video(40, false, false));
    sim.run();
    drop(first);
    let (_third, third_outbox) = sim.play(1);
    drop(second);
    sim.run();
    publication.send(video(80, false, false));
    sim.run();
    assert_eq!(taken(&third_outbox), ["S", "H0", "K0", "40", "80"]);
}

#[test]
fn players_per_stream_are_limited_over_all_cores() {
    let sim = Sim::new(3, 2);
    let outbox = || Rc::new(Outbox::new(1000));
    let first = sim.hubs[0].subscribe(key(), outbox()).expect("first");
    let _second = sim.hubs[1].subscribe(key(), outbox()).expect("second");
    assert!(sim.hubs[2].subscribe(key(), outbox()).is_err());
    assert!(sim.hubs[0].subscribe(key(), outbox()).is_err());
    drop(first);
    assert!(sim.hubs[2].subscribe(key(), outbox()).is_ok());
}

#[test]
fn nothing_is_left_behind_once_publishers_and_players_are_gone() {
    let sim = Sim::new(3, 0);
    let early = sim.play(1);
    let publication = sim.publish(0);
    sim.run();
    start_gop(&publication, 0);
    let late = [sim.play(0), sim.play(2), sim.play(2)];
    sim.run();
    drop(publication);
    sim.run();
    let (_, outbox) = &late[1];
    assert_eq!(taken(outbox), ["S", "H0", "K0", "E"]);
    drop(early);
    drop(late);
    sim.run();
    sim.assert_nothing_left();
}

#[test]
fn hls_snapshots_reach_every_core_and_an_older_one_never_replaces_a_newer() {
    let sim = Sim::new(3, 0);
    let update = |version, target_duration_s| HlsUpdate {
        key: key(),
        version,
        snapshot: Some(Arc::new(Snapshot {
            target_duration_s,
            ..Snapshot::default()
        })),
    };
    sim.hubs[0].publish_hls(update(2, 6));
    sim.hubs[1].publish_hls(update(1, 4));
    sim.run();
    for hub in &sim.hubs {
        let snapshot = hub.hls_snapshot(&key()).expect("snapshot");
        assert_eq!(snapshot.target_duration_s, 6, "core {}", hub.core);
    }
}

fn audio(ts: u32) -> SharedFrame {
    let body = Bytes::from_static(&[0xAF, 1, 0x21]);
    Arc::new(Frame::new(FrameKind::Audio, ts, false, false, body))
}

/// Hubs whose streams' audio waits for video.
fn waiting_audio(cores: usize) -> Sim {
    Sim::configured(
        cores,
        HubConfig {
            gop_num: 1,
            max_players_per_stream: 0,
            audio_waits: true,
        },
    )
}

/// Frames as [`taken`] shows them, audio marked `a`.
fn taken_marked(outbox: &Outbox) -> Vec<String> {
    let mut items = Vec::new();
    outbox.take_batch(usize::MAX, &mut items);
    items
        .into_iter()
        .filter_map(|item| match item {
            Delivery::Frame(f) if f.kind == FrameKind::Audio => Some(format!("a{}", f.ts)),
            Delivery::Frame(f) => Some(f.ts.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn audio_waits_for_the_next_video_frame_and_goes_out_with_it_in_order() {
    let sim = waiting_audio(2);
    let publication = sim.publish(0);
    let (_local, local) = sim.play(0);
    let (_remote, remote) = sim.play(1);
    sim.run();
    start_gop(&publication, 0);
    sim.run();
    taken(&local);
    taken(&remote);
    publication.send(audio(10));
    publication.send(audio(33));
    sim.run();
    assert!(
        taken(&local).is_empty() && taken(&remote).is_empty(),
        "audio did not wait"
    );
    publication.send(video(40, false, false));
    sim.run();
    for outbox in [&local, &remote] {
        assert_eq!(taken_marked(outbox), ["a10", "a33", "40"]);
    }
}

#[test]
fn held_audio_goes_out_after_two_ticks_without_video() {
    let sim = waiting_audio(2);
    let publication = sim.publish(0);
    let (_player, outbox) = sim.play(1);
    sim.run();
    start_gop(&publication, 0);
    sim.run();
    taken(&outbox);
    publication.send(audio(10));
    sim.hubs[0].tick();
    sim.run();
    assert!(taken(&outbox).is_empty(), "released after one tick");
    publication.send(audio(33));
    sim.hubs[0].tick();
    sim.run();
    assert_eq!(taken_marked(&outbox), ["a10", "a33"]);
    // The next batch waits its own two ticks.
    publication.send(audio(56));
    sim.hubs[0].tick();
    sim.run();
    assert!(taken(&outbox).is_empty());
    sim.hubs[0].tick();
    sim.run();
    assert_eq!(taken_marked(&outbox), ["a56"]);
    assert!(sim.hubs[0].holding.borrow().is_empty());
}

#[test]
fn a_stream_without_video_never_holds_audio_back() {
    let sim = waiting_audio(1);
    let publication = sim.publish(0);
    let (_player, outbox) = sim.play(0);
    for ts in [0, 23, 46] {
        publication.send(audio(ts));
    }
    assert_eq!(taken_marked(&outbox), ["a0", "a23", "a46"]);
    assert!(sim.hubs[0].holding.borrow().is_empty());
}

#[test]
fn held_audio_is_sent_when_the_publisher_leaves() {
    let sim = waiting_audio(2);
    let publication = sim.publish(0);
    let (_player, outbox) = sim.play(1);
    sim.run();
    start_gop(&publication, 0);
    publication.send(audio(10));
    drop(publication);
    sim.run();
    assert_eq!(taken(&outbox), ["S", "H0", "K0", "10", "E"]);
}

#[test]
fn a_stream_holds_at_most_max_held_frames_back() {
    let sim = waiting_audio(1);
    let publication = sim.publish(0);
    let (_player, outbox) = sim.play(0);
    start_gop(&publication, 0);
    taken(&outbox);
    let flood = MAX_HELD_FRAMES as u32 + 1;
    for ts in 1..=flood {
        publication.send(audio(ts));
    }
    let released: Vec<String> = (1..=MAX_HELD_FRAMES as u32)
        .map(|ts| format!("a{ts}"))
        .collect();
    assert_eq!(
        taken_marked(&outbox),
        released,
        "a full hold is released at once"
    );
    assert_eq!(
        sim.hubs[0].holding.borrow().len(),
        1,
        "the next frame waits again"
    );
}
