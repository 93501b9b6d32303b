//! The control API's one router (README "Publish and play", "Control API"), sans-IO: a parsed
//! request in, an [`Answer`] out. livego-compatible JSON `{"status":N,"data":...}` with the HTTP
//! status repeated in `status`. What only the server knows or can do (`/metrics` figures,
//! relays) it asks through [`ApiServer`]; channel-key changes, which write and fsync a file,
//! come back as work for a blocking thread.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::json::{self, RelayStat, StreamStat};
use super::jwt;
use super::keys::{KeyError, KeyStore};
use super::metrics;
use crate::http::{Request, Response};
use crate::rtmp::url::RtmpUrl;
use crate::stream::StreamKey;
use crate::stream::stats::{ConnStats, Protocol, RelayStats, Role, StatsRegistry};

/// What the API answers from; shared by all cores.
pub struct Api {
    pub keys: Arc<KeyStore>,
    pub stats: Arc<StatsRegistry>,
    /// HS256 secret for `/control/*`; empty = no authentication.
    pub jwt_secret: String,
}

/// What the router asks of the server it runs in.
pub trait ApiServer {
    /// The figures of the whole server for `/metrics`, gathered now.
    fn metrics(&self) -> metrics::Snapshot;
    /// Whether `app` is a configured live application (relays need one).
    fn is_live_app(&self, app: &str) -> bool;
    /// Start or stop a relay (the command is valid).
    fn relay(&self, command: RelayCommand) -> RelayOutcome;
}

/// How a request is answered.
pub enum Answer {
    Now(Response),
    /// Work that may block (file writes and fsync): run it off the executor.
    Blocking(Box<dyn FnOnce() -> Response + Send>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `/control/push`: send a local stream to another server.
    Push,
    /// `/control/pull`: play a remote stream and publish it here.
    Pull,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Push => "push to",
            Direction::Pull => "pull from",
        })
    }
}

/// `/control/push` or `/control/pull` with `oper=start|stop`.
pub struct RelayCommand {
    pub direction: Direction,
    pub start: bool,
    pub key: StreamKey,
    /// The remote URL as given (with `remote`, its parsed form), which names the relay.
    pub url: String,
    pub remote: RtmpUrl,
}

pub enum RelayOutcome {
    Started,
    /// Starting a relay that runs: it goes on (one stop still stops it).
    AlreadyRunning,
    Stopped,
    NotRunning,
    /// `max_relays` relays are running.
    Full {
        limit: usize,
    },
}

pub fn handle(api: &Api, server: &dyn ApiServer, request: &Request, now_unix_secs: u64) -> Answer {
    let path = request.path.as_str();
    if path.starts_with("/control/")
        && let Err(why) = check_jwt(api, request, now_unix_secs)
    {
        return Answer::Now(reply(403, json::error(403, &why)));
    }
    let response = match path {
        "/control/get" | "/control/reset" | "/control/delete" => {
            return channel_key(api, request, path);
        }
        "/control/push" => relay(server, Direction::Push, request),
        "/control/pull" => relay(server, Direction::Pull, request),
        "/stat/livestat" => livestat(api, request.param("room")),
        "/metrics" => Response::new(200)
            .body(metrics::CONTENT_TYPE, metrics::render(&server.metrics()))
            .header("Cache-Control", "no-cache"),
        _ => reply(404, json::error(404, &format!("no API at {path}"))),
    };
    Answer::Now(response)
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

fn channel_key(api: &Api, request: &Request, path: &str) -> Answer {
    let Some(room) = request.param("room").filter(|r| !r.is_empty()) else {
        let usage = format!("url: {path}?room=<ROOM_NAME>");
        return Answer::Now(reply(400, json::error(400, &usage)));
    };
    let (keys, room, path) = (api.keys.clone(), room.to_string(), path.to_string());
    Answer::Blocking(Box::new(move || change_key(&keys, &room, &path)))
}

fn change_key(keys: &KeyStore, room: &str, path: &str) -> Response {
    let result = match path {
        "/control/get" => keys.get_or_create(room).map(Value::String),
        "/control/reset" => keys.reset(room).map(Value::String),
        _ => match keys.delete(room) {
            Ok(true) => Ok(Value::String("Ok".into())),
            Ok(false) => return reply(404, json::error(404, "room not found")),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(data) => reply(200, json::ok(data)),
        Err(KeyError::BadRoom(why)) => reply(400, json::error(400, &why.to_string())),
        Err(e) => {
            log::error!("api {path}: {e}");
            reply(500, json::error(500, &e.to_string()))
        }
    }
}

fn relay(server: &dyn ApiServer, direction: Direction, request: &Request) -> Response {
    let path = &request.path;
    let usage = format!("url: {path}?oper=start|stop&app=APP&name=NAME&url=rtmp://HOST/APP/NAME");
    let param = |name| request.param(name).filter(|v| !v.is_empty());
    let (Some(oper), Some(app), Some(name), Some(url)) =
        (param("oper"), param("app"), param("name"), param("url"))
    else {
        return reply(400, json::error(400, &usage));
    };
    let start = match oper {
        "start" => true,
        "stop" => false,
        _ => return reply(400, json::error(400, &usage)),
    };
    let remote = match RtmpUrl::parse(url) {
        Ok(remote) => remote,
        Err(e) => return reply(400, json::error(400, &format!("{e}; {usage}"))),
    };
    if !server.is_live_app(app) || name.contains('/') {
        let why = format!("no live application {app:?}");
        return reply(400, json::error(400, &why));
    }
    let command = RelayCommand {
        direction,
        start,
        key: StreamKey::new(app, name),
        url: url.to_string(),
        remote,
    };
    match server.relay(command) {
        RelayOutcome::Started | RelayOutcome::Stopped => reply(200, json::ok("Ok".into())),
        RelayOutcome::AlreadyRunning => reply(200, json::ok("Ok (already running)".into())),
        RelayOutcome::NotRunning => reply(404, json::error(404, "no such relay")),
        RelayOutcome::Full { limit } => {
            let why = format!("{limit} relays are running (max_relays)");
            reply(503, json::error(503, &why))
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
fn reply(status: u16, body: String) -> Response {
    Response::new(status).body("application/json", body)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use bytes::BytesMut;

    use super::*;
    use crate::http::{Limits, parse_request};

    /// Records the relay commands it gets and answers with `outcome`.
    struct FakeServer {
        commands: RefCell<Vec<(Direction, bool, String, String)>>,
        outcome: fn() -> RelayOutcome,
    }

    impl FakeServer {
        fn answering(outcome: fn() -> RelayOutcome) -> FakeServer {
            FakeServer {
                commands: RefCell::default(),
                outcome,
            }
        }
    }

    impl ApiServer for FakeServer {
        fn metrics(&self) -> metrics::Snapshot {
            metrics::Snapshot {
                uptime_seconds: 1.0,
                heap_bytes: None,
                connections: 7,
                protocols: Vec::new(),
                relays: Vec::new(),
                totals: Default::default(),
                cores: Vec::new(),
            }
        }

        fn is_live_app(&self, app: &str) -> bool {
            app == "live"
        }

        fn relay(&self, command: RelayCommand) -> RelayOutcome {
            let RelayCommand {
                direction,
                start,
                key,
                url,
                ..
            } = command;
            let entry = (direction, start, key.to_string(), url);
            self.commands.borrow_mut().push(entry);
            (self.outcome)()
        }
    }

    /// An API whose key store is `keys.json` in a directory of its own (made at the first key
    /// change), named after `test`.
    fn api(jwt_secret: &str, test: &str) -> Api {
        let dir = std::env::temp_dir().join(format!("livego-{test}-{}", std::process::id()));
        let keys = KeyStore::open(&dir.join("keys.json")).expect("key store");
        Api {
            keys: Arc::new(keys),
            stats: StatsRegistry::new(),
            jwt_secret: jwt_secret.to_string(),
        }
    }

    fn get(target: &str) -> Request {
        let mut buf = BytesMut::from(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_str());
        let request = parse_request(&mut buf, &Limits::default());
        request.expect("valid").expect("complete")
    }

    /// The status and body of an answer given at once.
    fn now(answer: Answer) -> (u16, String) {
        let Answer::Now(response) = answer else {
            panic!("an answer for a blocking thread");
        };
        let body = String::from_utf8_lossy(response.body_bytes()).into_owned();
        (response.status(), body)
    }

    const PULL: &str = "/control/pull?oper=start&app=live&name=a&url=rtmp://origin/live/a";

    #[test]
    fn relays_are_validated_then_handed_to_the_server() {
        let server = FakeServer::answering(|| RelayOutcome::Started);
        let api = api("", "validated");
        assert_eq!(now(handle(&api, &server, &get(PULL), 0)).0, 200);
        let stop = "/control/push?oper=stop&app=live&name=b&url=rtmp://edge/live/b";
        assert_eq!(now(handle(&api, &server, &get(stop), 0)).0, 200);
        let expected = vec![
            (
                Direction::Pull,
                true,
                "live/a".into(),
                "rtmp://origin/live/a".into(),
            ),
            (
                Direction::Push,
                false,
                "live/b".into(),
                "rtmp://edge/live/b".into(),
            ),
        ];
        assert_eq!(*server.commands.borrow(), expected);
        for bad in [
            "/control/pull?oper=go&app=live&name=a&url=rtmp://origin/live/a",
            "/control/pull?oper=start&app=vod&name=a&url=rtmp://origin/live/a",
            "/control/pull?oper=start&app=live&name=a/b&url=rtmp://origin/live/a",
            "/control/pull?oper=start&app=live&name=a&url=http://origin/live/a",
            "/control/pull?oper=start&app=live&url=rtmp://origin/live/a",
        ] {
            assert_eq!(now(handle(&api, &server, &get(bad), 0)).0, 400, "{bad}");
        }
        assert_eq!(
            server.commands.borrow().len(),
            2,
            "an invalid command was run"
        );
    }

    #[test]
    fn relay_outcomes_become_statuses() {
        let api = api("", "outcomes");
        let cases: [(fn() -> RelayOutcome, u16); 3] = [
            (|| RelayOutcome::AlreadyRunning, 200),
            (|| RelayOutcome::NotRunning, 404),
            (|| RelayOutcome::Full { limit: 3 }, 503),
        ];
        for (outcome, status) in cases {
            let server = FakeServer::answering(outcome);
            assert_eq!(now(handle(&api, &server, &get(PULL), 0)).0, status);
        }
    }

    #[test]
    fn control_routes_need_the_jwt_when_a_secret_is_set() {
        let server = FakeServer::answering(|| RelayOutcome::Started);
        let api = api("secret", "jwt");
        for target in [PULL, "/control/get?room=a"] {
            let (status, body) = now(handle(&api, &server, &get(target), 0));
            assert_eq!(status, 403, "{target}: {body}");
        }
        assert!(server.commands.borrow().is_empty());
        let token = jwt::sign_hs256("{}", b"secret");
        let signed = format!("{PULL}&jwt={token}");
        assert_eq!(now(handle(&api, &server, &get(&signed), 0)).0, 200);
        let (status, _) = now(handle(&api, &server, &get("/stat/livestat"), 0));
        assert_eq!(status, 200, "livestat is open");
    }

    #[test]
    fn metrics_are_the_servers_figures_and_key_changes_run_off_the_core() {
        let server = FakeServer::answering(|| RelayOutcome::Started);
        let api = api("", "metrics-keys");
        let (status, body) = now(handle(&api, &server, &get("/metrics"), 0));
        assert_eq!(status, 200);
        assert!(body.contains("livego_connections 7"), "{body}");
        let Answer::Blocking(work) = handle(&api, &server, &get("/control/reset?room=r"), 0) else {
            panic!("a key change answered on the core");
        };
        let response = work();
        assert_eq!(response.status(), 200);
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("livego-metrics-keys-{}", std::process::id())),
        );
        let (status, _) = now(handle(&api, &server, &get("/control/get"), 0));
        assert_eq!(status, 400, "no room");
        assert_eq!(now(handle(&api, &server, &get("/nothing"), 0)).0, 404);
    }
}
