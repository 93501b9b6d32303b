//! The control API as the tests call it: channel keys (`/control/get|reset|delete`), the
//! live statistics (`/stat/livestat`), the Prometheus metrics (`/metrics`), and HS256 JSON Web
//! Tokens (RFC 7519 / RFC 7515) made with ring's HMAC-SHA256 and the library's base64url
//! (RFC 4648 §5, no padding).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use livego::api::base64url;
use ring::hmac;
use serde_json::Value;

use super::http::{Response, http_get};
use super::{Server, poll_until};

/// `GET` an API path (`/control/get?room=x`) on `server`, with extra headers.
pub fn api_get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    http_get(&server.api_url(path), headers)
}

/// Checks the `{"status": N, "data": ...}` envelope: the HTTP status and the JSON `status` are
/// both `want`. Returns `data`.
pub fn envelope(resp: &Response, want: u16, what: &str) -> Value {
    assert_eq!(
        resp.status(),
        want,
        "{what}: HTTP status {} (want {want}), body {:?}",
        resp.status(),
        resp.text()
    );
    let json = resp.json();
    assert_eq!(
        json.get("status").and_then(Value::as_u64),
        Some(want as u64),
        "{what}: JSON status in {json}"
    );
    json.get("data")
        .cloned()
        .unwrap_or_else(|| panic!("{what}: no \"data\" in {json}"))
}

/// Whether `key` looks like a channel key: 48 ASCII alphanumerics.
pub fn is_channel_key(key: &str) -> bool {
    key.len() == 48 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn key_call(server: &Server, op: &str, room: &str, headers: &[(&str, &str)]) -> String {
    let what = format!("/control/{op}?room={room}");
    let data = envelope(&api_get(server, &what, headers), 200, &what);
    let key = data
        .as_str()
        .unwrap_or_else(|| panic!("{what}: data is not a string: {data}"))
        .to_string();
    assert!(
        is_channel_key(&key),
        "{what}: {key:?} is not 48 alphanumerics"
    );
    key
}

/// `/control/get?room=ROOM` → the room's channel key (checked: 48 alphanumerics).
pub fn get_key(server: &Server, room: &str) -> String {
    key_call(server, "get", room, &[])
}

/// `/control/reset?room=ROOM` → the room's new key.
pub fn reset_key(server: &Server, room: &str) -> String {
    key_call(server, "reset", room, &[])
}

/// `/control/delete?room=ROOM`: the response (200 `"Ok"`, or 404).
pub fn delete_key(server: &Server, room: &str) -> Response {
    api_get(server, &format!("/control/delete?room={room}"), &[])
}

/// One publisher or player entry of `/stat/livestat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatEntry {
    pub key: String,
    pub url: String,
    pub stream_id: u64,
    pub video_total_bytes: u64,
    pub video_speed: u64,
    pub audio_total_bytes: u64,
    pub audio_speed: u64,
}

impl StatEntry {
    /// Parses an entry, listing every missing or mistyped field.
    pub fn parse(v: &Value) -> Result<StatEntry, String> {
        let mut errors = Vec::new();
        let mut string = |k: &str| match v.get(k).and_then(Value::as_str) {
            Some(s) => s.to_string(),
            None => {
                errors.push(format!("{k} is not a string"));
                String::new()
            }
        };
        let (key, url) = (string("key"), string("url"));
        let mut number = |k: &str| match v.get(k).and_then(Value::as_u64) {
            Some(n) => n,
            None => {
                errors.push(format!("{k} is not a non-negative integer"));
                0
            }
        };
        let entry = StatEntry {
            key,
            url,
            stream_id: number("stream_id"),
            video_total_bytes: number("video_total_bytes"),
            video_speed: number("video_speed"),
            audio_total_bytes: number("audio_total_bytes"),
            audio_speed: number("audio_speed"),
        };
        if errors.is_empty() {
            Ok(entry)
        } else {
            Err(format!("livestat entry {v}: {}", errors.join(", ")))
        }
    }
}

/// `/stat/livestat` (optionally `?room=app/name`) parsed.
#[derive(Clone, Debug, Default)]
pub struct LiveStat {
    pub publishers: Vec<StatEntry>,
    pub players: Vec<StatEntry>,
}

impl LiveStat {
    pub fn players_of(&self, key: &str) -> Vec<&StatEntry> {
        self.players.iter().filter(|e| e.key == key).collect()
    }
    pub fn publishers_of(&self, key: &str) -> Vec<&StatEntry> {
        self.publishers.iter().filter(|e| e.key == key).collect()
    }
}

/// `/stat/livestat[?room=ROOM]`, checked: 200, envelope, every entry complete.
pub fn livestat(server: &Server, room: Option<&str>) -> LiveStat {
    let path = match room {
        Some(r) => format!("/stat/livestat?room={r}"),
        None => "/stat/livestat".to_string(),
    };
    let data = envelope(&api_get(server, &path, &[]), 200, &path);
    let list = |name: &str| -> Vec<StatEntry> {
        match data.get(name) {
            // Go's encoding/json writes an empty slice as null
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| StatEntry::parse(v).unwrap_or_else(|e| panic!("{path}: {e}")))
                .collect(),
            Some(other) => panic!("{path}: {name} is not a list: {other}"),
        }
    };
    LiveStat {
        publishers: list("publishers"),
        players: list("players"),
    }
}

/// Polls `/stat/livestat` until it lists `want` players of `key`, and returns
/// that answer; panics (`what` says when) if it does not within `within`.
#[track_caller]
pub fn wait_players(
    server: &Server,
    key: &str,
    want: usize,
    within: Duration,
    what: &str,
) -> LiveStat {
    let mut last = String::new();
    poll_until(within, || {
        let stat = livestat(server, None);
        let n = stat.players_of(key).len();
        if n == want {
            return Some(stat);
        }
        last = format!("{n} player(s) of {key}: {stat:?}");
        None
    })
    .unwrap_or_else(|| panic!("{what}: after {within:?} livestat lists {last}; want {want}"))
}

/// A compact JWS: `header.claims.signature` with the given header JSON, signed HS256 with
/// `secret` (the header's `alg` is not looked at: tests use this to forge tokens too).
pub fn sign_jws(header_json: &str, claims_json: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        base64url::encode(header_json.as_bytes()),
        base64url::encode(claims_json.as_bytes())
    );
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", base64url::encode(mac.as_ref()))
}

/// An HS256 JWT over `claims_json` (`{"alg":"HS256","typ":"JWT"}`).
pub fn sign_hs256(claims_json: &str, secret: &str) -> String {
    sign_jws(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        claims_json,
        secret.as_bytes(),
    )
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `GET /metrics`, parsed: each sample's series (`name{labels}` as written) and its value.
#[derive(Debug)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    /// The value of `series`; panics if the server did not write it.
    #[track_caller]
    pub fn get(&self, series: &str) -> f64 {
        *self
            .0
            .get(series)
            .unwrap_or_else(|| panic!("/metrics has no {series}: {:?}", self.0))
    }

    /// The sum over every series of the family `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.series_of(name).map(|(_, v)| v).sum()
    }

    /// The series of the family `name`.
    pub fn series_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> {
        self.0
            .iter()
            .filter(move |(series, _)| series.split('{').next() == Some(name))
            .map(|(series, v)| (series.as_str(), *v))
    }
}

/// `GET /metrics` on `server`, checked against the text exposition format as it is parsed:
/// status 200, its `Content-Type`, every sample's family announced by `# HELP` and `# TYPE`
/// before it, no series twice, every value a number.
#[track_caller]
pub fn metrics(server: &Server) -> Metrics {
    let resp = api_get(server, "/metrics", &[]);
    assert_eq!(resp.status(), 200, "/metrics: {:?}", resp.text());
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let (mut helped, mut typed) = (BTreeSet::new(), BTreeSet::new());
    let mut samples = BTreeMap::new();
    for line in resp.text().lines() {
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some("#"), Some("HELP"), Some(name)) => assert!(helped.insert(name.to_string())),
            (Some("#"), Some("TYPE"), Some(name)) => {
                let kind = words.next();
                assert!(
                    matches!(kind, Some("counter" | "gauge")),
                    "{name} has type {kind:?}"
                );
                assert!(helped.contains(name), "# TYPE before # HELP: {line}");
                assert!(typed.insert(name.to_string()), "{name} typed twice");
            }
            (Some(series), Some(value), None) => {
                let name = series.split('{').next().unwrap_or_default();
                assert!(typed.contains(name), "sample before its # TYPE: {line}");
                let value: f64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("not a number: {line}"));
                assert!(
                    samples.insert(series.to_string(), value).is_none(),
                    "{series} written twice"
                );
            }
            _ => panic!("/metrics: not a sample or comment: {line:?}"),
        }
    }
    Metrics(samples)
}

/// Polls `/metrics` until `ready` holds, and returns that answer; panics (`what`
/// says what was awaited) if it does not within `within`.
#[track_caller]
pub fn wait_metrics(
    server: &Server,
    within: Duration,
    what: &str,
    ready: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let mut last = None;
    poll_until(within, || {
        let metrics = metrics(server);
        if ready(&metrics) {
            return Some(metrics);
        }
        last = Some(metrics);
        None
    })
    .unwrap_or_else(|| panic!("/metrics: no {what} after {within:?}: {last:?}"))
}
