//! `audio_wait_ms` end to end, with raw RTMP clients: players get every message in the order
//! it was published with its timestamp unchanged, whether audio waits for video or not; audio
//! that waits goes out within `audio_wait_ms` when no video comes; a stream without video (or
//! `audio_wait_ms: 0`) does not hold audio back.

use std::time::{Duration, Instant};

use crate::common::Server;
use crate::common::rtmp_client::RtmpClient;
use livego::rtmp::message::{Message, msg_type};

const VIDEO_HEADER: &[u8] = &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff];
const AUDIO_HEADER: &[u8] = &[0xAF, 0, 0x12, 0x10];

fn media(type_id: u8, timestamp: u32, payload: &[u8]) -> Message {
    let csid = if type_id == msg_type::VIDEO { 6 } else { 4 };
    Message {
        csid,
        timestamp,
        type_id,
        stream_id: 1,
        payload: payload.to_vec().into(),
    }
}

/// The video frame at `ts` of a 30 fps stream (a keyframe every 12th), its payload naming it.
fn video(ts: u32) -> Message {
    let kind = if (ts / 33).is_multiple_of(12) {
        0x17
    } else {
        0x27
    };
    let [a, b, c, d] = ts.to_be_bytes();
    media(
        msg_type::VIDEO,
        ts,
        &[kind, 1, 0, 0, 0, 0, 0, 0, 2, a, b, c, d],
    )
}

fn audio(ts: u32) -> Message {
    let [a, b, c, d] = ts.to_be_bytes();
    media(msg_type::AUDIO, ts, &[0xAF, 1, a, b, c, d])
}

/// A publisher of `name` that sent its sequence headers (audio only: no video header).
fn publisher(server: &Server, name: &str, with_video: bool) -> RtmpClient {
    let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
    let status = client.publish(name).expect("publish");
    assert_eq!(status.code, "NetStream.Publish.Start");
    if with_video {
        let header = media(msg_type::VIDEO, 0, VIDEO_HEADER);
        client.send_message(&header).expect("send");
    }
    let header = media(msg_type::AUDIO, 0, AUDIO_HEADER);
    client.send_message(&header).expect("send");
    client
}

fn player(server: &Server, name: &str) -> RtmpClient {
    let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
    assert_eq!(client.play(name).expect("play"), "NetStream.Play.Start");
    client
}

/// The next audio or video message that is not a sequence header, as (type, timestamp).
fn next_frame(player: &mut RtmpClient, timeout: Duration) -> Option<(u8, u32)> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let msg = player.next_message(left)?;
        let header = msg.payload.get(1) == Some(&0);
        if matches!(msg.type_id, msg_type::AUDIO | msg_type::VIDEO) && !header {
            return Some((msg.type_id, msg.timestamp));
        }
    }
}

#[test]
fn players_get_what_was_published_in_order_whether_audio_waits_or_not() {
    for extra in ["", "audio_wait_ms: 0"] {
        let server = Server::start(extra);
        let mut watcher = player(&server, "a");
        let mut publisher = publisher(&server, "a", true);
        // 30 fps video and 43 fps audio, interleaved by timestamp as an encoder sends them.
        let mut published = Vec::new();
        let (mut v, mut a) = (0, 0);
        while v < 2000 {
            let msg = if v <= a { video(v) } else { audio(a) };
            published.push((msg.type_id, msg.timestamp));
            publisher.send_message(&msg).expect("send");
            if msg.type_id == msg_type::VIDEO {
                v += 33;
            } else {
                a += 23;
            }
        }
        let received: Vec<_> = (0..published.len())
            .map_while(|_| next_frame(&mut watcher, Duration::from_secs(5)))
            .collect();
        assert_eq!(received, published, "with {extra:?}");
    }
}

/// How long after it was sent `player` gets the next audio frame `publisher` sends.
fn audio_delay(publisher: &mut RtmpClient, player: &mut RtmpClient, ts: u32) -> Duration {
    let sent = Instant::now();
    publisher.send_message(&audio(ts)).expect("send");
    let got = next_frame(player, Duration::from_secs(5));
    assert_eq!(got, Some((msg_type::AUDIO, ts)));
    sent.elapsed()
}

#[test]
fn audio_waits_for_video_at_most_audio_wait_ms() {
    let server = Server::start("audio_wait_ms: 600");
    let mut watcher = player(&server, "a");
    let mut publisher = publisher(&server, "a", true);
    publisher.send_message(&video(0)).expect("send");
    assert_eq!(
        next_frame(&mut watcher, Duration::from_secs(5)),
        Some((msg_type::VIDEO, 0))
    );
    // The video stopped: audio waits for it for one to two timer ticks of 300 ms.
    for ts in [20, 43] {
        let delay = audio_delay(&mut publisher, &mut watcher, ts);
        assert!(
            delay >= Duration::from_millis(250),
            "audio did not wait: {delay:?}"
        );
        assert!(
            delay < Duration::from_millis(1600),
            "audio waited {delay:?}"
        );
    }
}

#[test]
fn audio_without_video_or_with_audio_wait_0_is_not_held_back() {
    for (extra, with_video) in [("audio_wait_ms: 600", false), ("audio_wait_ms: 0", true)] {
        let server = Server::start(extra);
        let mut watcher = player(&server, "a");
        let mut publisher = publisher(&server, "a", with_video);
        if with_video {
            publisher.send_message(&video(0)).expect("send");
            next_frame(&mut watcher, Duration::from_secs(5)).expect("the keyframe");
        }
        for ts in [20, 43, 66] {
            let delay = audio_delay(&mut publisher, &mut watcher, ts);
            // Held audio would wait at least one 300 ms tick.
            assert!(
                delay < Duration::from_millis(250),
                "{extra}, video: {with_video}: audio waited {delay:?}"
            );
        }
    }
}
