use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A temp file with `text`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "livego-config-{}-{}.yaml",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run(args: &[&str]) -> Result<Config, ConfigError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match parse_args(&args)? {
        Command::Run(config) => Ok(config),
        other => panic!("expected Run, got {other:?}"),
    }
}

/// Loads `yaml` as the config file, with extra flags.
fn load(yaml: &str, flags: &[&str]) -> Result<Config, ConfigError> {
    let file = TempFile::new(yaml);
    let mut args = vec!["--config", file.path()];
    args.extend_from_slice(flags);
    run(&args)
}

/// Asserts that `yaml` is rejected with a message containing every one of `needles`.
fn rejects(yaml: &str, needles: &[&str]) {
    let message = load(yaml, &[]).unwrap_err().to_string();
    for needle in needles {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.level, "info");
    assert_eq!(c.rtmp_addr.0, addr("0.0.0.0:1935"));
    assert_eq!(c.httpflv_addr.0.port(), 7001);
    assert_eq!(c.hls_addr.0.port(), 7002);
    assert_eq!(c.api_addr.0, addr("127.0.0.1:8090"));
    assert_eq!(c.read_timeout(), Duration::from_secs(10));
    assert_eq!(c.write_timeout(), Duration::from_secs(10));
    assert_eq!((c.gop_num, c.hls_fragment, c.hls_window), (1, 2.0, 5));
    assert_eq!(
        c.jwt,
        JwtConfig {
            secret: "".into(),
            algorithm: "HS256".into()
        }
    );
    let live = c.app("live").unwrap();
    assert!(live.live && live.hls && live.flv && live.api && live.static_push.is_empty());
    assert!(c.app("other").is_none());
    assert_eq!(c.key_store, "data/channel_keys.json");
    assert_eq!(c.player_queue_ms, 3000);
    assert_eq!((c.audio_wait_ms, c.play_merge_ms), (50, 0));
    assert_eq!(c.level_filter(), log::LevelFilter::Info);
    assert_eq!(c.clone().validate().unwrap(), c);
}

#[test]
fn shipped_conf_file_is_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/livego.yaml");
    assert_eq!(run(&["--config", path]).unwrap(), Config::default());
    // ... and it lists every key explicitly.
    let text = std::fs::read_to_string(path).unwrap();
    let file: Mapping = serde_yaml::from_str(&text).unwrap();
    let keys = |m: &Mapping| m.keys().map(flow).collect::<Vec<_>>();
    let mut listed = keys(&file);
    let mut all = keys(defaults_value().as_mapping().unwrap());
    listed.sort();
    all.sort();
    assert_eq!(listed, all);
}

#[test]
fn empty_file_and_empty_mapping_are_defaults() {
    assert_eq!(load("", &[]).unwrap(), Config::default());
    assert_eq!(load("{}\n", &[]).unwrap(), Config::default());
    assert_eq!(load("# only a comment\n", &[]).unwrap(), Config::default());
}

#[test]
fn file_values() {
    let c = load(
        "level: WARNING\nrtmp_addr: 127.0.0.1:0\nhls_fragment: 1.5\nhls_window: 3\n\
         jwt: {secret: s}\nserver:\n  - appname: a\n    live: true\n    static_push: [rtmp://x/a]\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.level, "warn");
    assert_eq!(c.level_filter(), log::LevelFilter::Warn);
    assert_eq!(c.rtmp_addr.0, addr("127.0.0.1:0"));
    assert_eq!((c.hls_fragment, c.hls_window), (1.5, 3));
    assert_eq!(
        c.jwt,
        JwtConfig {
            secret: "s".into(),
            algorithm: "HS256".into()
        }
    );
    // `server:` replaces the default list; flags missing from an entry are false (livego).
    assert_eq!(
        c.server,
        vec![AppConfig {
            appname: "a".into(),
            live: true,
            hls: false,
            flv: false,
            api: false,
            static_push: vec!["rtmp://x/a".into()],
        }]
    );
    assert!(c.app("live").is_none());
    // An integer is fine for a fractional key.
    assert_eq!(load("hls_fragment: 4\n", &[]).unwrap().hls_fragment, 4.0);
}

#[test]
fn listen_addresses() {
    let parse = |s: &str| s.parse::<ListenAddr>();
    assert_eq!(parse(":1935").unwrap().0, addr("0.0.0.0:1935"));
    assert_eq!(parse(":0").unwrap().0.port(), 0);
    assert_eq!(parse("127.0.0.1:1940").unwrap().0, addr("127.0.0.1:1940"));
    assert_eq!(parse("[::1]:1935").unwrap().0, addr("[::1]:1935"));
    assert_eq!(parse("[::]:7001").unwrap().0, addr("[::]:7001"));
    let local = parse("localhost:1935").unwrap().0;
    assert!(local.ip().is_loopback() && local.port() == 1935);
    for bad in ["abc", "", ":", ":65536", "1.2.3.4", "[::1]", ":x"] {
        assert_eq!(parse(bad).unwrap_err(), format!("invalid address {bad:?}"));
    }
    for s in [":1935", "127.0.0.1:0", "[::1]:1935"] {
        assert_eq!(parse(s).unwrap().to_string(), s);
    }
    assert_eq!(parse("0.0.0.0:80").unwrap().to_string(), ":80");
}

#[test]
fn validation_errors_name_the_key() {
    rejects(
        "rtmp_addr: abc\n",
        &["config key `rtmp_addr`: invalid address \"abc\""],
    );
    rejects("api_addr: 8090\n", &["config key `api_addr`"]);
    rejects("rtmp_adr: \":1935\"\n", &["unknown config key `rtmp_adr`"]);
    rejects(
        "jwt: {secrt: x}\n",
        &["config key `jwt`", "unknown field `secrt`"],
    );
    rejects(
        "server: [{appname: a, hsl: true}]\n",
        &["config key `server`", "`hsl`"],
    );
    rejects(
        "server: [{live: true}]\n",
        &["config key `server`", "`appname`"],
    );
    rejects("gop_num: x\n", &["config key `gop_num`", "invalid type"]);
    rejects("gop_num: -1\n", &["config key `gop_num`"]);
    rejects("flv_archive: yes please\n", &["config key `flv_archive`"]);
    rejects("level: verbose\n", &["config key `level`", "\"verbose\""]);
    rejects("hls_fragment: 0\n", &["config key `hls_fragment`"]);
    rejects("hls_fragment: -1.5\n", &["config key `hls_fragment`"]);
    rejects("hls_fragment: .nan\n", &["config key `hls_fragment`"]);
    rejects("hls_fragment: .inf\n", &["config key `hls_fragment`"]);
    rejects("hls_window: 0\n", &["config key `hls_window`"]);
    rejects("read_timeout: 0\n", &["config key `read_timeout`"]);
    rejects("write_timeout: 0\n", &["config key `write_timeout`"]);
    rejects("cores: 1025\n", &["config key `cores`"]);
    rejects("player_queue_ms: 99\n", &["config key `player_queue_ms`"]);
    rejects("audio_wait_ms: 1001\n", &["config key `audio_wait_ms`"]);
    rejects("play_merge_ms: 1001\n", &["config key `play_merge_ms`"]);
    rejects("jwt: {algorithm: HS512}\n", &["config key `jwt.algorithm`"]);
    rejects(
        "server: [{appname: ''}]\n",
        &["config key `server[0].appname`"],
    );
    rejects(
        "server: [{appname: a/b}]\n",
        &["config key `server[0].appname`"],
    );
    rejects(
        "server: [{appname: a}, {appname: b}, {appname: a}]\n",
        &["config key `server[2].appname`", "duplicate appname \"a\""],
    );
    rejects(
        "server: [{appname: a, static_push: [rtmp://ok/a, http://x/a]}]\n",
        &["config key `server[0].static_push`", "\"http://x/a\""],
    );
    rejects("- a\n- b\n", &["expected a mapping"]);
    rejects("level: [\n", &["cannot parse"]);
}

#[test]
fn tls_files_must_be_readable_when_enabled() {
    let missing = std::env::temp_dir().join("livego-config-no-such.pem");
    let missing = missing.to_str().unwrap();
    rejects(
        &format!("use_hls_https: true\nhls_server_crt: {missing}\n"),
        &["config key `hls_server_crt`", missing],
    );
    rejects(
        "enable_rtmps: true\n",
        &["config key `rtmps_cert`", "`enable_rtmps`"],
    );
    let pem = TempFile::new("PEM");
    let c = load(
        &format!(
            "enable_rtmps: true\nrtmps_cert: {0}\nrtmps_key: {0}\n",
            pem.path()
        ),
        &[],
    )
    .unwrap();
    assert!(c.enable_rtmps);
    rejects(
        &format!(
            "enable_rtmps: true\nrtmps_cert: {}\nrtmps_key: {missing}\n",
            pem.path()
        ),
        &["config key `rtmps_key`", missing],
    );
    // Not checked while disabled.
    assert!(load(&format!("hls_server_crt: {missing}\n"), &[]).is_ok());
}

#[test]
fn flags_override_the_file() {
    let yaml = "rtmp_addr: \":1935\"\ngop_num: 3\njwt: {algorithm: HS256}\n";
    let c = load(
        yaml,
        &["--rtmp_addr", ":1940", "--gop_num=2", "--jwt.secret", "123"],
    )
    .unwrap();
    assert_eq!(c.rtmp_addr.0, addr("0.0.0.0:1940"));
    assert_eq!(c.gop_num, 2);
    assert_eq!(
        c.jwt,
        JwtConfig {
            secret: "123".into(),
            algorithm: "HS256".into()
        }
    );
    // Flags before --config, the --config_file and --config= spellings, IPv6.
    let file = TempFile::new(yaml);
    let c = run(&[
        "--api_addr",
        "[::1]:0",
        &format!("--config_file={}", file.path()),
    ])
    .unwrap();
    assert_eq!(c.api_addr.0, addr("[::1]:0"));
    assert_eq!(c.rtmp_addr.0.port(), 1935);
    // Bool flags: alone means true; true/false may follow.
    let c = load(
        "",
        &[
            "--flv_archive",
            "--rtmp_noauth",
            "true",
            "--hls_keep_after_end=false",
        ],
    );
    let c = c.unwrap();
    assert!(c.flv_archive && c.rtmp_noauth && !c.hls_keep_after_end);
    // Other types, and whole structured values in YAML flow style.
    let c = load(
        "",
        &[
            "--hls_fragment",
            "0.5",
            "--server",
            "[{appname: tv, live: true}]",
        ],
    );
    let c = c.unwrap();
    assert_eq!(c.hls_fragment, 0.5);
    assert!(c.app("tv").unwrap().live && c.app("live").is_none());
    // Flag values are validated like the file's.
    let err = load("", &["--hls_window", "0"]).unwrap_err().to_string();
    assert!(err.contains("config key `hls_window`"), "{err}");
}

#[test]
fn flag_errors() {
    let err = |args: &[&str]| load("", args).unwrap_err().to_string();
    assert_eq!(
        err(&["--gop_num", "x"]),
        "--gop_num: expected an integer, got \"x\""
    );
    assert_eq!(
        err(&["--gop_num=-1"]),
        "--gop_num: expected an integer, got \"-1\""
    );
    assert_eq!(
        err(&["--hls_fragment", "soon"]),
        "--hls_fragment: expected a number, got \"soon\""
    );
    assert_eq!(
        err(&["--flv_archive=yes"]),
        "--flv_archive: expected true or false, got \"yes\""
    );
    assert_eq!(err(&["--rtmp_adr", ":1"]), "unknown flag `--rtmp_adr`");
    assert_eq!(err(&["--jwt.secrt", "x"]), "unknown flag `--jwt.secrt`");
    assert_eq!(err(&["--rtmp_addr"]), "--rtmp_addr: missing value");
    assert_eq!(
        err(&["--rtmp_addr", "--gop_num", "2"]),
        "--rtmp_addr: missing value"
    );
    assert_eq!(err(&["stray"]), "unexpected argument `stray`");
    assert_eq!(
        err(&["--rtmp_addr", "abc"]),
        "config key `rtmp_addr`: invalid address \"abc\""
    );
    let missing = run(&["--config"]).unwrap_err().to_string();
    assert_eq!(missing, "--config: missing value");
    let unreadable = run(&["--config", "conf/no-such.yaml"])
        .unwrap_err()
        .to_string();
    assert!(
        unreadable.starts_with("cannot read conf/no-such.yaml: "),
        "{unreadable}"
    );
}

#[test]
fn help_and_version() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let version = format!("livego {}", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        assert_eq!(
            parse_args(&args(&[flag])).unwrap(),
            Command::Version(version.clone())
        );
    }
    for flag in ["--help", "-h"] {
        assert_eq!(
            parse_args(&args(&["--gop_num", "3", flag])).unwrap(),
            Command::Help(help_text())
        );
    }
    let help = help_text();
    assert!(help.contains(env!("CARGO_PKG_VERSION")));
    assert!(help.contains("--rtmp_addr (default: :1935)"), "{help}");
    assert!(help.contains("--jwt.algorithm (default: HS256)"), "{help}");
    assert!(help.contains("--hls_fragment (default: 2.0)"), "{help}");
    assert!(
        help.contains("--server (default: [{appname: live, live: true"),
        "{help}"
    );
}

#[test]
fn help_describes_every_key() {
    let defaults = defaults_value();
    let mut leaves = Vec::new();
    for (key, value) in defaults.as_mapping().unwrap() {
        let key = key.as_str().unwrap();
        match value.as_mapping() {
            Some(inner) => leaves.extend(
                inner
                    .keys()
                    .map(|k| format!("{key}.{}", k.as_str().unwrap())),
            ),
            None => leaves.push(key.to_string()),
        }
    }
    let described: Vec<&str> = args::KEYS.iter().map(|(key, _)| *key).collect();
    assert_eq!(described, leaves);
}

#[test]
fn default_file_is_conf_livego_yaml() {
    // `cargo test` runs in the crate root, where conf/livego.yaml exists.
    assert!(std::path::Path::new("conf/livego.yaml").exists());
    assert_eq!(run(&[]).unwrap(), Config::default());
}

#[test]
fn livego_only_keys_are_accepted_and_reported() {
    let config = load(
        "redis_addr: \"127.0.0.1:6379\"\nredis_pwd: x\ngop_num: 2\n",
        &[],
    )
    .expect("a livego.yaml with Redis settings loads");
    assert_eq!(config.ignored_keys, vec!["redis_addr", "redis_pwd"]);
    assert_eq!(config.gop_num, 2);
}

#[test]
fn rtmps_addr_and_enable_tls_verify_are_real_keys() {
    let c = Config::default();
    assert_eq!(c.rtmps_addr, ListenAddr::any(1936));
    assert!(c.enable_tls_verify);
    let c = load(
        "rtmps_addr: \"127.0.0.1:4443\"\nenable_tls_verify: false\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.rtmps_addr.to_string(), "127.0.0.1:4443");
    assert!(!c.enable_tls_verify);
    assert!(c.ignored_keys.is_empty());
    rejects(
        "enable_tls_verify: maybe\n",
        &["config key `enable_tls_verify`"],
    );
    rejects("rtmps_addr: nowhere\n", &["config key `rtmps_addr`"]);
}
