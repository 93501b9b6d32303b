//! Command line: `livego [--config FILE] [--KEY VALUE | --KEY=VALUE ...]`, `--help`, `--version`.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::{Command, Config, ConfigError, defaults_value, flow};

/// Every key (nested ones dotted) with a one-line description, in `Config` field order.
pub(super) const KEYS: &[(&str, &str)] = &[
    (
        "level",
        "log level: trace, debug, info, warn (or warning), error, off",
    ),
    (
        "flv_archive",
        "record every published stream to flv_dir/APP/NAME_UNIXTIME.flv",
    ),
    ("flv_dir", "directory of the FLV recordings"),
    (
        "rtmp_noauth",
        "publish to rtmp://HOST/APP/ROOM without a channel key",
    ),
    ("rtmp_addr", "RTMP listen address"),
    (
        "enable_rtmps",
        "also serve RTMPS (RTMP over TLS) on rtmps_addr",
    ),
    ("rtmps_cert", "PEM certificate file for RTMPS"),
    ("rtmps_key", "PEM private key file for RTMPS"),
    ("rtmps_addr", "RTMPS listen address (with enable_rtmps)"),
    (
        "enable_tls_verify",
        "verify rtmps:// relay targets' certificates against the system CAs",
    ),
    ("httpflv_addr", "HTTP-FLV listen address"),
    ("hls_addr", "HLS listen address"),
    ("use_hls_https", "serve HLS over HTTPS"),
    ("hls_server_crt", "PEM certificate file for HLS over HTTPS"),
    ("hls_server_key", "PEM private key file for HLS over HTTPS"),
    (
        "hls_keep_after_end",
        "keep serving the HLS playlist after the stream ends",
    ),
    ("api_addr", "control API listen address"),
    ("read_timeout", "network read timeout, seconds"),
    ("write_timeout", "network write timeout, seconds"),
    ("gop_num", "GOPs cached per stream for new players"),
    (
        "jwt.secret",
        "when set, /control/* requires an HS256 JWT signed with it",
    ),
    ("jwt.algorithm", "JWT algorithm (only HS256)"),
    (
        "server",
        "applications; a flag missing from an entry is false",
    ),
    (
        "cores",
        "executor threads, one per core (0 = all online CPUs)",
    ),
    (
        "hls_fragment",
        "target HLS segment duration, seconds (cut at keyframes)",
    ),
    ("hls_window", "segments listed in the HLS playlist"),
    ("key_store", "file the channel keys are kept in"),
    (
        "max_connections",
        "maximum client connections (0 = unlimited)",
    ),
    (
        "max_players_per_stream",
        "maximum players of one stream (0 = unlimited)",
    ),
    (
        "max_relays",
        "maximum relays started through /control/push and /control/pull",
    ),
    (
        "player_queue_ms",
        "how far a slow player may fall behind before frames are dropped",
    ),
    (
        "audio_wait_ms",
        "how long audio may wait for the next video frame, to go out with it (0 = never)",
    ),
    (
        "play_merge_ms",
        "least time between two writes to a player (0 = write whenever there is data)",
    ),
];

/// The `--help` text: usage, then every key with its default and description.
pub fn help_text() -> String {
    let defaults = defaults_value();
    let mut text = format!(
        "livego {} - live streaming server (RTMP, HTTP-FLV, HLS)\n\n\
         Usage: livego [--config FILE] [--KEY VALUE | --KEY=VALUE ...]\n\n\
         \x20 --config FILE     YAML config file, alias --config_file\n\
         \x20                   (default: conf/livego.yaml, else ./livego.yaml, else built-in defaults)\n\
         \x20 -h, --help        print this help\n\
         \x20 -V, --version     print the version\n\n\
         Keys, set in the config file or as flags (flags win). A bool flag alone means true;\n\
         nested keys are dotted (--jwt.secret X); lists take YAML flow style\n\
         (--server '[{{appname: live, live: true}}]').\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for (key, description) in KEYS {
        let default = lookup(&defaults, key).map(flow).unwrap_or_default();
        text.push_str(&format!(
            "  --{key} (default: {default})\n        {description}\n"
        ));
    }
    text
}

/// Parses the arguments (without `argv[0]`), reads the config file and applies the flags.
pub fn parse_args(args: &[String]) -> Result<Command, ConfigError> {
    let defaults = defaults_value();
    let mut file = None;
    let mut flags = Vec::new();
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help(help_text())),
            "-V" | "--version" => {
                return Ok(Command::Version(format!(
                    "livego {}",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            _ => {}
        }
        let flag = arg
            .strip_prefix("--")
            .ok_or_else(|| ConfigError::new(format!("unexpected argument `{arg}`")))?;
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let default = match name {
            "config" | "config_file" => None,
            _ => Some(
                lookup(&defaults, name)
                    .ok_or_else(|| ConfigError::new(format!("unknown flag `--{name}`")))?,
            ),
        };
        // A bool flag alone means true (as with livego's pflag); "true"/"false" may follow.
        let takes_value = |next: &&String| match default {
            Some(Value::Bool(_)) => next.as_str() == "true" || next.as_str() == "false",
            _ => !next.starts_with("--"),
        };
        let value = match inline {
            Some(value) => value,
            None => match args.next_if(takes_value) {
                Some(value) => value.clone(),
                None if matches!(default, Some(Value::Bool(_))) => "true".into(),
                None => return Err(ConfigError::new(format!("--{name}: missing value"))),
            },
        };
        match default {
            None => file = Some(value),
            Some(default) => flags.push((name, flag_value(name, default, &value)?)),
        }
    }

    let mut root = read_file(file.as_deref())?;
    for (name, value) in flags {
        set(&mut root, name, value);
    }
    Config::from_value(root).map(Command::Run)
}

/// The value of `--name raw`, typed like the key's default.
fn flag_value(name: &str, default: &Value, raw: &str) -> Result<Value, ConfigError> {
    let wrong =
        |expected: &str| ConfigError::new(format!("--{name}: expected {expected}, got {raw:?}"));
    match default {
        Value::String(_) => Ok(Value::String(raw.into())),
        Value::Bool(_) => raw
            .parse()
            .map(Value::Bool)
            .map_err(|_| wrong("true or false")),
        Value::Number(n) if n.is_f64() => raw
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| wrong("a number")),
        Value::Number(_) => raw
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| wrong("an integer")),
        _ => serde_yaml::from_str(raw).map_err(|_| wrong("a YAML value")),
    }
}

/// The mapping of the config file: the one given, else the first default file found, else empty.
fn read_file(path: Option<&str>) -> Result<Mapping, ConfigError> {
    let path = match path {
        Some(path) => path,
        None => match ["conf/livego.yaml", "livego.yaml"]
            .into_iter()
            .find(|path| Path::new(path).exists())
        {
            Some(path) => path,
            None => return Ok(Mapping::new()),
        },
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(format!("cannot read {path}: {e}")))?;
    match serde_yaml::from_str(&text) {
        Ok(Value::Null) => Ok(Mapping::new()),
        Ok(Value::Mapping(map)) => Ok(map),
        Ok(_) => Err(ConfigError::new(format!(
            "{path}: expected a mapping of config keys"
        ))),
        Err(e) => Err(ConfigError::new(format!("cannot parse {path}: {e}"))),
    }
}

/// The value at a dotted path (`jwt.secret`).
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, key| value.get(key))
}

/// Sets the value at a dotted path, creating (or replacing non-mapping) parents.
fn set(map: &mut Mapping, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.into(), value);
        }
        Some((parent, rest)) => {
            let entry = map.entry(parent.into()).or_insert(Value::Null);
            if !entry.is_mapping() {
                *entry = Value::Mapping(Mapping::new());
            }
            if let Value::Mapping(inner) = entry {
                set(inner, rest, value);
            }
        }
    }
}
