//! Configuration: `livego.yaml` keys (livego's names and defaults, plus a few extensions),
//! command-line overrides and validation. Any error is fatal at startup (exit code 2).

mod addr;
mod args;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

pub use addr::ListenAddr;
pub use args::{help_text, parse_args};

/// The whole configuration. Field names are the `livego.yaml` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub level: String,
    pub flv_archive: bool,
    pub flv_dir: String,
    pub rtmp_noauth: bool,
    pub rtmp_addr: ListenAddr,
    pub enable_rtmps: bool,
    pub rtmps_cert: String,
    pub rtmps_key: String,
    pub rtmps_addr: ListenAddr,
    pub enable_tls_verify: bool,
    pub httpflv_addr: ListenAddr,
    pub hls_addr: ListenAddr,
    pub use_hls_https: bool,
    pub hls_server_crt: String,
    pub hls_server_key: String,
    pub hls_keep_after_end: bool,
    pub api_addr: ListenAddr,
    pub read_timeout: u64,
    pub write_timeout: u64,
    pub gop_num: usize,
    pub jwt: JwtConfig,
    pub server: Vec<AppConfig>,
    pub cores: usize,
    pub hls_fragment: f64,
    pub hls_window: usize,
    pub key_store: String,
    pub max_connections: usize,
    pub max_players_per_stream: usize,
    /// Relays started through `/control/push` and `/control/pull`, over all cores.
    pub max_relays: usize,
    pub player_queue_ms: u64,
    /// How long audio and data messages may wait for the next video message of their stream,
    /// to go out with it (0: never).
    pub audio_wait_ms: u64,
    /// Least time between two writes to one player (0: write whenever there is data).
    pub play_merge_ms: u64,
    /// Keys of the Go livego that this server accepts but does not use (see
    /// [`LIVEGO_ONLY_KEYS`]); logged at startup.
    #[serde(skip)]
    pub ignored_keys: Vec<String>,
}

/// Keys a livego.yaml may hold that mean nothing here: Redis is replaced by the `key_store`
/// file. Accepted (and reported) so that an existing livego.yaml starts unchanged.
pub const LIVEGO_ONLY_KEYS: [&str; 3] = ["redis_addr", "redis_pwd", "config_file"];

/// One `server:` entry. As in livego, a flag left out of an entry is false.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub appname: String,
    #[serde(default)]
    pub live: bool,
    #[serde(default)]
    pub hls: bool,
    #[serde(default)]
    pub flv: bool,
    #[serde(default)]
    pub api: bool,
    #[serde(default)]
    pub static_push: Vec<String>,
}

/// API authentication: with a non-empty `secret`, `/control/*` needs an HS256 token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    pub secret: String,
    pub algorithm: String,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            secret: String::new(),
            algorithm: "HS256".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            level: "info".into(),
            flv_archive: false,
            flv_dir: "tmp".into(),
            rtmp_noauth: false,
            rtmp_addr: ListenAddr::any(1935),
            enable_rtmps: false,
            rtmps_cert: String::new(),
            rtmps_key: String::new(),
            rtmps_addr: ListenAddr::any(1936),
            enable_tls_verify: true,
            httpflv_addr: ListenAddr::any(7001),
            hls_addr: ListenAddr::any(7002),
            use_hls_https: false,
            hls_server_crt: "server.crt".into(),
            hls_server_key: "server.key".into(),
            hls_keep_after_end: false,
            api_addr: ListenAddr::loopback(8090),
            read_timeout: 10,
            write_timeout: 10,
            gop_num: 1,
            jwt: JwtConfig::default(),
            server: vec![AppConfig {
                appname: "live".into(),
                live: true,
                hls: true,
                flv: true,
                api: true,
                static_push: Vec::new(),
            }],
            cores: 0,
            hls_fragment: 2.0,
            hls_window: 5,
            key_store: "data/channel_keys.json".into(),
            max_connections: 0,
            max_players_per_stream: 0,
            max_relays: 64,
            player_queue_ms: 3000,
            audio_wait_ms: 50,
            play_merge_ms: 0,
            ignored_keys: Vec::new(),
        }
    }
}

impl Config {
    /// The risk of this configuration's control API, if any: listening beyond loopback with no
    /// `jwt.secret`, anyone who can reach it can read and reset channel keys and start relays.
    pub fn api_exposure_warning(&self) -> Option<String> {
        if self.api_addr.0.ip().is_loopback() || !self.jwt.secret.is_empty() {
            return None;
        }
        Some(format!(
            "the control API listens on {} without jwt.secret: anyone who can reach it can read \
             and reset channel keys and start relays; set jwt.secret or bind api_addr to \
             127.0.0.1",
            self.api_addr
        ))
    }

    /// The `server:` entry named `appname`.
    pub fn app(&self, appname: &str) -> Option<&AppConfig> {
        self.server.iter().find(|app| app.appname == appname)
    }

    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout)
    }

    /// `level` as a log filter (validated and normalized at load, so this cannot fail).
    pub fn level_filter(&self) -> log::LevelFilter {
        self.level.parse().unwrap_or(log::LevelFilter::Info)
    }

    /// Deserializes a merged YAML mapping (file + flags), naming the key of the first error.
    fn from_value(mut root: Mapping) -> Result<Config, ConfigError> {
        let known = defaults_value();
        let ignored_keys: Vec<String> = LIVEGO_ONLY_KEYS
            .iter()
            .filter(|key| root.remove(**key).is_some())
            .map(|key| key.to_string())
            .collect();
        for (key, value) in &root {
            let name = key
                .as_str()
                .filter(|name| known.get(name).is_some())
                .ok_or_else(|| ConfigError::new(format!("unknown config key `{}`", flow(key))))?;
            let single = Mapping::from_iter([(key.clone(), value.clone())]);
            serde_yaml::from_value::<Config>(Value::Mapping(single))
                .map_err(|e| ConfigError::key(name, e))?;
        }
        let mut config: Config =
            serde_yaml::from_value(Value::Mapping(root)).map_err(ConfigError::new)?;
        config.ignored_keys = ignored_keys;
        config.validate()
    }

    fn validate(mut self) -> Result<Config, ConfigError> {
        let level = self.level.to_ascii_lowercase();
        let level = if level == "warning" {
            "warn".into()
        } else {
            level
        };
        if level.parse::<log::LevelFilter>().is_err() {
            return Err(ConfigError::key(
                "level",
                format!(
                    "expected trace, debug, info, warn, warning, error or off, got {:?}",
                    self.level
                ),
            ));
        }
        self.level = level;
        check(
            self.read_timeout > 0,
            "read_timeout",
            "must be at least 1 second",
        )?;
        check(
            self.write_timeout > 0,
            "write_timeout",
            "must be at least 1 second",
        )?;
        check(self.cores <= 1024, "cores", "must be at most 1024")?;
        check(
            self.hls_fragment.is_finite() && self.hls_fragment > 0.0,
            "hls_fragment",
            "must be a positive number of seconds",
        )?;
        check(self.hls_window > 0, "hls_window", "must be at least 1")?;
        check(
            self.player_queue_ms >= 100,
            "player_queue_ms",
            "must be at least 100",
        )?;
        check(
            self.audio_wait_ms <= 1000,
            "audio_wait_ms",
            "must be at most 1000",
        )?;
        check(
            self.play_merge_ms <= 1000,
            "play_merge_ms",
            "must be at most 1000",
        )?;
        check(
            self.jwt.algorithm == "HS256",
            "jwt.algorithm",
            "only HS256 is supported",
        )?;
        for (i, app) in self.server.iter().enumerate() {
            let key = format!("server[{i}]");
            check(
                !app.appname.is_empty() && !app.appname.contains('/'),
                &format!("{key}.appname"),
                "must be non-empty and without '/'",
            )?;
            check(
                self.server[..i].iter().all(|a| a.appname != app.appname),
                &format!("{key}.appname"),
                &format!("duplicate appname {:?}", app.appname),
            )?;
            for url in &app.static_push {
                check(
                    url.starts_with("rtmp://") || url.starts_with("rtmps://"),
                    &format!("{key}.static_push"),
                    &format!("expected an rtmp:// or rtmps:// URL, got {url:?}"),
                )?;
            }
        }
        if self.enable_rtmps {
            // SO_REUSEPORT would let both listeners share the port and split its connections.
            check(
                self.rtmps_addr != self.rtmp_addr,
                "rtmps_addr",
                "must differ from rtmp_addr",
            )?;
            readable("rtmps_cert", &self.rtmps_cert, "enable_rtmps")?;
            readable("rtmps_key", &self.rtmps_key, "enable_rtmps")?;
        }
        if self.use_hls_https {
            readable("hls_server_crt", &self.hls_server_crt, "use_hls_https")?;
            readable("hls_server_key", &self.hls_server_key, "use_hls_https")?;
        }
        Ok(self)
    }
}

fn check(ok: bool, key: &str, message: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::key(key, message))
    }
}

/// A TLS file that must be readable because `switch` is on.
fn readable(key: &str, path: &str, switch: &str) -> Result<(), ConfigError> {
    check(
        !path.is_empty(),
        key,
        &format!("required when `{switch}` is true"),
    )?;
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| ConfigError::key(key, format!("cannot read {path}: {e}")))
}

/// `Config::default()` as YAML: the schema flags and help are checked against.
fn defaults_value() -> Value {
    serde_yaml::to_value(Config::default()).expect("the default config serializes")
}

/// A YAML value on one line, in flow style: `[{appname: live, live: true}]`.
fn flow(value: &Value) -> String {
    match value {
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Mapping(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", flow(k), flow(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        scalar => serde_yaml::to_string(scalar)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

/// What `parse_args` asks the program to do.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant, reason = "built once at startup")]
pub enum Command {
    Run(Config),
    Help(String),
    Version(String),
}

/// A startup error; its message names the config key, flag or file at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    fn new(message: impl fmt::Display) -> Self {
        ConfigError {
            message: message.to_string(),
        }
    }

    fn key(key: &str, message: impl fmt::Display) -> Self {
        Self::new(format!("config key `{key}`: {message}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
