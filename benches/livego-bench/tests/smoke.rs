//! The load generator does not rot: `livego-bench` against the real server with 20 RTMP and
//! 5 HTTP-FLV players for 10 s, judged on its JSON summary.
//!
//! The server is the `livego` binary next to `livego-bench` in the shared target directory
//! (`cargo test --workspace`, which `scripts/test.sh` runs, builds both), or the program named
//! by `LIVEGO_TEST_SERVER` (as for the server's own integration tests). The clip is made once
//! with ffmpeg and cached under cargo's per-target temp dir.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const CLIP_SECS: u32 = 10;
const PLAY_SECS: f64 = 10.0;
const RTMP_PLAYERS: u64 = 20;
const HTTP_PLAYERS: u64 = 5;

/// A fresh directory for this run under cargo's temp dir.
fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("livego-bench-smoke-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the work dir");
    dir
}

/// The server under test: `LIVEGO_TEST_SERVER`, or `livego` next to `livego-bench`.
fn server_program() -> PathBuf {
    if let Some(program) = std::env::var_os("LIVEGO_TEST_SERVER") {
        return program.into();
    }
    let bench = Path::new(env!("CARGO_BIN_EXE_livego-bench"));
    let server = bench.with_file_name("livego");
    assert!(
        server.is_file(),
        "{} is missing: build the server first (`cargo build`; `cargo test --workspace` \
         builds it too), or name another with LIVEGO_TEST_SERVER",
        server.display()
    );
    server
}

/// Waits until `child` exits or `timeout` passes (`None`: still running).
fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to completion within `timeout` (killed after it) with its stdout and stderr in
/// `dir/NAME.out` and `dir/NAME.err`; returns the status and both texts.
fn run(cmd: &mut Command, dir: &Path, name: &str, timeout: Duration) -> (bool, String, String) {
    let (out, err) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("create stdout file"))
        .stderr(File::create(&err).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let status = wait_deadline(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let read = |path: &Path| fs::read_to_string(path).unwrap_or_default();
    (status.is_some_and(|s| s.success()), read(&out), read(&err))
}

/// A 10 s 320x240 30 fps H.264 (2 s GOP) + AAC FLV clip, made on first use.
fn test_clip(dir: &Path) -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("livego-clips");
    let clip = cache.join(format!("livego-bench-smoke-{CLIP_SECS}s-v1.flv"));
    if clip.exists() {
        return clip;
    }
    fs::create_dir_all(&cache).expect("create the clip cache");
    let tmp = cache.join(format!("livego-bench-smoke.tmp-{}.flv", std::process::id()));
    let (made, _, stderr) = run(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args([
                "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
            ])
            .args(["-profile:v", "high", "-pix_fmt", "yuv420p", "-bf", "3"])
            .args([
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
                "-r",
                "30",
            ])
            .args(["-c:a", "aac", "-ar", "44100", "-ac", "2"])
            .args(["-t", &CLIP_SECS.to_string(), "-f", "flv", "-y"])
            .arg(&tmp),
        dir,
        "ffmpeg",
        Duration::from_secs(120),
    );
    assert!(made, "making {} with ffmpeg: {stderr}", clip.display());
    fs::rename(&tmp, &clip).expect("move the clip into place");
    clip
}

/// A free loopback port (bound and released: another process may take it in between, as
/// anywhere ports are picked this way).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// `livego --config FILE` on free loopback ports; killed on drop.
struct Server {
    child: Child,
    rtmp_port: u16,
    httpflv_port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let ports: Vec<u16> = std::iter::repeat_with(free_port).take(4).collect();
        let [rtmp_port, httpflv_port, hls_port, api_port] = ports[..] else {
            unreachable!("four ports");
        };
        let config = dir.join("livego.yaml");
        let yaml = format!(
            "rtmp_addr: \"127.0.0.1:{rtmp_port}\"\nhttpflv_addr: \"127.0.0.1:{httpflv_port}\"\n\
             hls_addr: \"127.0.0.1:{hls_port}\"\napi_addr: \"127.0.0.1:{api_port}\"\n\
             rtmp_noauth: true\nkey_store: \"{}\"\nflv_dir: \"{}\"\ncores: 1\ngop_num: 1\n\
             read_timeout: 10\nplayer_queue_ms: 3000\nlevel: warn\n",
            dir.join("keys.json").display(),
            dir.join("flv").display(),
        );
        fs::write(&config, yaml).expect("write the server config");
        let log = dir.join("server.log");
        let file = File::create(&log).expect("create the server log");
        let child = Command::new(server_program())
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log handle"))
            .stderr(file)
            .spawn()
            .expect("spawn the server");
        let mut server = Server {
            child,
            rtmp_port,
            httpflv_port,
            log,
        };
        server.wait_accepting(rtmp_port);
        server.wait_accepting(httpflv_port);
        server
    }

    /// Waits (up to 5 s) until `port` accepts TCP; panics with the log if the server exits.
    fn wait_accepting(&mut self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(self.is_alive(), "livego exited:\n{}", self.log());
            assert!(
                Instant::now() < deadline,
                "livego not on {addr}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bench_smoke_rtmp_and_http_flv_players() {
    let dir = work_dir();
    let clip = test_clip(&dir);
    let clip_bits = fs::metadata(&clip).expect("clip").len() as f64 * 8.0;
    let clip_mbit_s = clip_bits / f64::from(CLIP_SECS) / 1e6;
    let mut server = Server::start(&dir);
    let rtmp_url = format!("rtmp://127.0.0.1:{}/live/bench", server.rtmp_port);
    let flv_url = format!("http://127.0.0.1:{}/live/bench.flv", server.httpflv_port);
    let (ok, stdout, stderr) = run(
        Command::new(env!("CARGO_BIN_EXE_livego-bench"))
            .args(["--url", &rtmp_url, "--flv"])
            .arg(&clip)
            .args(["--players", &RTMP_PLAYERS.to_string()])
            .args(["--http-players", &HTTP_PLAYERS.to_string()])
            .args(["--http-flv", &flv_url])
            .args(["--duration", &PLAY_SECS.to_string(), "--warmup", "1"]),
        &dir,
        "livego-bench",
        Duration::from_secs(40),
    );
    assert!(
        ok,
        "livego-bench failed:\n{stderr}\nserver log:\n{}",
        server.log()
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
    let report = serde_json::to_string_pretty(&v).expect("JSON");
    eprintln!("livego-bench summary:\n{report}");
    let num = |path: &[&str]| {
        let mut x = &v;
        for p in path {
            x = &x[p];
        }
        x.as_f64()
            .unwrap_or_else(|| panic!("{path:?} is not a number in\n{report}"))
    };
    let players = (RTMP_PLAYERS + HTTP_PLAYERS) as f64;
    assert_eq!(num(&["players"]), players, "{report}");
    assert_eq!(num(&["connected"]), players, "{report}");
    assert_eq!(num(&["failed"]), 0.0, "{report}");
    assert_eq!(num(&["disconnected"]), 0.0, "{report}");
    assert_eq!(num(&["first_frame_ms", "count"]), players, "{report}");
    assert!(num(&["first_frame_ms", "p95"]) < 1000.0, "{report}");
    assert!(num(&["latency_ms", "samples"]) > 100.0, "{report}");
    assert!(num(&["latency_ms", "p50"]) < 250.0, "{report}");
    assert_eq!(num(&["frame_holes"]), 0.0, "{report}");
    assert_eq!(num(&["lagging_players"]), 0.0, "{report}");
    // 30 fps for (nearly) the whole run, for every player.
    let frames = num(&["video_frames"]);
    assert!(frames > players * 30.0 * PLAY_SECS * 0.8, "{report}");
    let delivered = num(&["delivered_mbit_s"]);
    let expected = clip_mbit_s * players;
    assert!(
        delivered > expected * 0.5 && delivered < expected * 2.0,
        "delivered {delivered:.2} Mbit/s, expected ~{expected:.2} ({clip_mbit_s:.3} x {players})\n\
         {report}"
    );
    assert!(
        server.is_alive(),
        "the server died under the load generator:\n{}",
        server.log()
    );
    drop(server);
    let _ = fs::remove_dir_all(&dir);
}
