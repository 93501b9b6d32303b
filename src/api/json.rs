//! Response bodies of the control API, shaped like livego's (protocol/api/api.go): every
//! response is `{"status":N,"data":...}` with the HTTP status repeated in `status`, and errors
//! carry their message as a string in `data` (e.g. 400 `"url: /control/get?room=<ROOM_NAME>"`,
//! 404 `"room not found"`, 403 with the JWT error).
//!
//! `/stat/livestat` entries have livego's field names. livego's `*_speed` fields, despite their
//! Go name `...SpeedInBytesperMS`, are computed as `bytes * 8 / seconds / 1000`, i.e. kbit/s;
//! the same unit is expected here. Two livego defects are not copied: it puts the
//! `{"publishers","players"}` document into `data` as a `[]byte`, which Go encodes as a base64
//! string, and an empty list comes out as `null`. Here `data` is the object (README "Control API") and empty
//! lists are `[]`.
//!
//! Extension: a third list, `relays`, names every running relay (push, pull, static_push)
//! with its state; livego's tools read `publishers` and `players` and ignore it.

use serde::Serialize;
use serde_json::Value;

/// One publisher or player in `/stat/livestat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamStat {
    /// `app/name`.
    pub key: String,
    pub url: String,
    pub stream_id: u32,
    pub video_total_bytes: u64,
    /// kbit/s.
    pub video_speed: u64,
    pub audio_total_bytes: u64,
    /// kbit/s.
    pub audio_speed: u64,
}

/// One relay in `/stat/livestat`'s `relays` (an extension of livego's document).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelayStat {
    /// `push`, `pull` or `static_push`.
    pub kind: &'static str,
    /// The local stream, `app/name`.
    pub key: String,
    /// The remote stream.
    pub url: String,
    /// `connecting`, `live` or `retrying`.
    pub state: &'static str,
    pub video_total_bytes: u64,
    /// kbit/s over the relay's life.
    pub video_speed: u64,
    pub audio_total_bytes: u64,
    /// kbit/s over the relay's life.
    pub audio_speed: u64,
}

/// Field order as livego's (`status` first).
#[derive(Serialize)]
struct Response<T> {
    status: u16,
    data: T,
}

#[derive(Serialize)]
struct LiveStat<'a> {
    publishers: &'a [StreamStat],
    players: &'a [StreamStat],
    relays: &'a [RelayStat],
}

fn body<T: Serialize>(status: u16, data: T) -> String {
    serde_json::to_string(&Response { status, data }).expect("plain data serializes")
}

/// `{"status":200,"data":<data>}`.
pub fn ok(data: Value) -> String {
    body(200, data)
}

/// `{"status":<status>,"data":"<message>"}`.
pub fn error(status: u16, message: &str) -> String {
    body(status, message)
}

/// `{"status":200,"data":{"publishers":[...],"players":[...],"relays":[...]}}`.
pub fn livestat(publishers: &[StreamStat], players: &[StreamStat], relays: &[RelayStat]) -> String {
    body(
        200,
        LiveStat {
            publishers,
            players,
            relays,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_livegos_shape() {
        assert_eq!(ok(Value::from("Ok")), r#"{"status":200,"data":"Ok"}"#);
        assert_eq!(
            error(400, "url: /control/get?room=<ROOM_NAME>"),
            r#"{"status":400,"data":"url: /control/get?room=<ROOM_NAME>"}"#
        );
        assert_eq!(
            error(403, "say \"hi\"\n"),
            r#"{"status":403,"data":"say \"hi\"\n"}"#
        );
    }

    #[test]
    fn livestat_lists_streams_with_livegos_field_names() {
        let publisher = StreamStat {
            key: "live/movie".into(),
            url: "rtmp://127.0.0.1:1935/live/movie".into(),
            stream_id: 1,
            video_total_bytes: 1000,
            video_speed: 2500,
            audio_total_bytes: 200,
            audio_speed: 128,
        };
        assert_eq!(
            livestat(&[publisher], &[], &[]),
            concat!(
                r#"{"status":200,"data":{"publishers":[{"key":"live/movie","#,
                r#""url":"rtmp://127.0.0.1:1935/live/movie","stream_id":1,"#,
                r#""video_total_bytes":1000,"video_speed":2500,"#,
                r#""audio_total_bytes":200,"audio_speed":128}],"players":[],"relays":[]}}"#
            )
        );
        assert_eq!(
            livestat(&[], &[], &[]),
            r#"{"status":200,"data":{"publishers":[],"players":[],"relays":[]}}"#
        );
        let relay = RelayStat {
            kind: "push",
            key: "live/movie".into(),
            url: "rtmp://cdn/live/m".into(),
            state: "retrying",
            video_total_bytes: 5,
            video_speed: 1,
            audio_total_bytes: 0,
            audio_speed: 0,
        };
        assert_eq!(
            livestat(&[], &[], &[relay]),
            concat!(
                r#"{"status":200,"data":{"publishers":[],"players":[],"relays":[{"kind":"push","#,
                r#""key":"live/movie","url":"rtmp://cdn/live/m","state":"retrying","#,
                r#""video_total_bytes":5,"video_speed":1,"audio_total_bytes":0,"audio_speed":0}]}}"#
            )
        );
    }
}
