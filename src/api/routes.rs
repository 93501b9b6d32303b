//! The control API's routes (README "Publish and play", "Control API"), sans-IO: a parsed request
//! in, a response out. livego-compatible JSON `{"status":N,"data":...}` with the HTTP status
//! repeated in `status`.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::json::{self, RelayStat, StreamStat};
use super::jwt;
use super::keys::KeyStore;
use crate::http::{Request, Response};
use crate::stream::stats::{ConnStats, Protocol, RelayStats, Role, StatsRegistry};

/// What the API answers from; shared by all cores.
pub struct Api {
    pub keys: Arc<KeyStore>,
    pub stats: Arc<StatsRegistry>,
    /// HS256 secret for `/control/*`; empty = no authentication.
    pub jwt_secret: String,
}

pub fn handle(api: &Api, request: &Request, now_unix_secs: u64) -> Response {
    let path = request.path.as_str();
    if path.starts_with("/control/")
        && let Err(response) = authorize(api, request, now_unix_secs)
    {
        return response;
    }
    match path {
        "/control/get" | "/control/reset" | "/control/delete" => channel_key(api, request, path),
        "/stat/livestat" => livestat(api, request.param("room")),
        _ => reply(404, json::error(404, &format!("no API at {path}"))),
    }
}

/// The JWT check of `/control/*`: Err is the 403 to answer.
pub fn authorize(api: &Api, request: &Request, now_unix_secs: u64) -> Result<(), Response> {
    check_jwt(api, request, now_unix_secs).map_err(|why| reply(403, json::error(403, &why)))
}

fn check_jwt(api: &Api, request: &Request, now_unix_secs: u64) -> Result<(), String> {
    if api.jwt_secret.is_empty() {
        return Ok(());
    }
    let bearer = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let token = request.query_param("jwt").or(bearer);
    let token = token.ok_or("a JWT is required (?jwt=TOKEN or Authorization: Bearer TOKEN)")?;
    jwt::verify_hs256(token.trim(), api.jwt_secret.as_bytes(), now_unix_secs)
        .map_err(|e| format!("invalid JWT: {e}"))
}

fn channel_key(api: &Api, request: &Request, path: &str) -> Response {
    let Some(room) = request.param("room").filter(|r| !r.is_empty()) else {
        return reply(
            400,
            json::error(400, &format!("url: {path}?room=<ROOM_NAME>")),
        );
    };
    let result = match path {
        "/control/get" => api.keys.get_or_create(room).map(Value::String),
        "/control/reset" => api.keys.reset(room).map(Value::String),
        _ => match api.keys.delete(room) {
            Ok(true) => Ok(Value::String("Ok".into())),
            Ok(false) => return reply(404, json::error(404, "room not found")),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(data) => reply(200, json::ok(data)),
        Err(e) if e.contains("room") => reply(400, json::error(400, &e)),
        Err(e) => {
            log::error!("api {path}: {e}");
            reply(500, json::error(500, &e))
        }
    }
}

fn livestat(api: &Api, room: Option<&str>) -> Response {
    let now = Instant::now();
    let (mut publishers, mut players) = (Vec::new(), Vec::new());
    for conn in api.stats.snapshot() {
        if room.is_some_and(|r| r != conn.key.to_string()) {
            continue;
        }
        let stat = stream_stat(&conn, now);
        match conn.role {
            Role::Publisher => publishers.push(stat),
            Role::Player => players.push(stat),
        }
    }
    let relays: Vec<RelayStat> = api
        .stats
        .relays()
        .iter()
        .filter(|relay| room.is_none_or(|r| r == relay.key.to_string()))
        .map(|relay| relay_stat(relay, now))
        .collect();
    reply(200, json::livestat(&publishers, &players, &relays))
}

/// kbit/s of `bytes` over the time since `started`.
fn kbps(bytes: u64, started: Instant, now: Instant) -> u64 {
    let secs = now.duration_since(started).as_secs_f64().max(0.001);
    (bytes as f64 * 8.0 / secs / 1000.0) as u64
}

fn relay_stat(relay: &RelayStats, now: Instant) -> RelayStat {
    let (video, audio) = (relay.bytes.video(), relay.bytes.audio());
    RelayStat {
        kind: relay.kind.name(),
        key: relay.key.to_string(),
        url: relay.url.clone(),
        state: relay.state().name(),
        video_total_bytes: video,
        video_speed: kbps(video, relay.started, now),
        audio_total_bytes: audio,
        audio_speed: kbps(audio, relay.started, now),
    }
}

fn stream_stat(conn: &ConnStats, now: Instant) -> StreamStat {
    let kbps = |bytes: u64| kbps(bytes, conn.started, now);
    let url = match conn.protocol {
        Protocol::Rtmp => format!("rtmp://{}/{}", conn.local, conn.key),
        Protocol::Rtmps => format!("rtmps://{}/{}", conn.local, conn.key),
        Protocol::HttpFlv => format!("http://{}/{}.flv", conn.local, conn.key),
    };
    StreamStat {
        key: conn.key.to_string(),
        url,
        stream_id: conn.id as u32,
        video_total_bytes: conn.video_bytes(),
        video_speed: kbps(conn.video_bytes()),
        audio_total_bytes: conn.audio_bytes(),
        audio_speed: kbps(conn.audio_bytes()),
    }
}

/// A JSON response of the control API (the body from [`json`]).
pub fn reply(status: u16, body: String) -> Response {
    Response::new(status).body("application/json", body)
}
