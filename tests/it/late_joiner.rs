//! A player joining a stream that has been live for a while: what it gets first (metadata,
//! sequence headers, the cached GOP) must be stamped in one timeline. Metadata and sequence
//! headers carry the time they were published (0); sent as is ahead of a GOP at 4,000 ms, a
//! recorder such as VLC takes the jump for hours of media.

use std::thread;
use std::time::Duration;

use crate::common::httpflv::{TagInfo, record_http_flv};
use crate::common::rtmp_client::RtmpClient;
use crate::common::{Server, live_stream};
use livego::rtmp::message::msg_type;

/// Joined this long after the publisher started.
const LATE: Duration = Duration::from_secs(4);

/// Panics unless everything before the first frame (`(timestamp, is a frame)` in arrival
/// order) is stamped like that frame, which is itself late.
#[track_caller]
fn assert_one_timeline(who: &str, first: &[(u32, bool)]) {
    let frame = first.iter().position(|(_, is_frame)| *is_frame);
    let frame = frame.unwrap_or_else(|| panic!("{who}: no frame in {first:?}"));
    let start = first[frame].0;
    assert!(start >= 2000, "{who}: the first frame is at {start} ms");
    assert!(
        frame >= 2,
        "{who}: no headers before the first frame: {first:?}"
    );
    for (ts, _) in &first[..frame] {
        assert_eq!(*ts, start, "{who}: headers and first frame: {first:?}");
    }
}

#[test]
fn late_joiners_get_headers_at_the_time_of_their_first_frame() {
    let server = Server::start_http("");
    let (_, _publisher) = live_stream(&server, "late");
    thread::sleep(LATE);

    let flv = record_http_flv(&server.flv_url("late"), Duration::from_secs(2));
    let tags: Vec<(u32, bool)> = flv
        .tags
        .iter()
        .take(8)
        .map(|t: &TagInfo| (t.timestamp, t.frame))
        .collect();
    assert_one_timeline("HTTP-FLV", &tags);

    let mut client = RtmpClient::connect(server.rtmp_addr(), "live").expect("connect");
    assert_eq!(client.play("late").expect("play"), "NetStream.Play.Start");
    let mut first = Vec::new();
    while first.len() < 8 {
        let msg = client
            .next_message(Duration::from_secs(5))
            .expect("media within 5 s");
        let is_frame = match msg.type_id {
            msg_type::DATA_AMF0 if msg.payload.starts_with(b"\x02\x00\x0aonMetaData") => false,
            msg_type::AUDIO => msg.payload.get(1) != Some(&0),
            msg_type::VIDEO => msg.payload.get(1) != Some(&0),
            _ => continue, // |RtmpSampleAccess and the like: not the stream's
        };
        first.push((msg.timestamp, is_frame));
    }
    assert_one_timeline("RTMP", &first);
}
