//! The load generator does not rot, and the server's latency settings do what they say:
//! `livego-bench` against the real server, judged on its JSON summary. With the defaults, 20
//! RTMP and 5 HTTP-FLV players for 10 s (audio waits for video at most `audio_wait_ms`); with
//! `play_merge_ms: 200`, a few players for 6 s (latency grows, but within the merge window).
//! The tests run one at a time, so that neither's latencies pay for the other's load.
//!
//! The server is the `livego` binary next to `livego-bench` in the shared target directory
//! (`cargo test --workspace`, which `scripts/test.sh` runs, builds both), or the program named
//! by `LIVEGO_TEST_SERVER` (as for the server's own integration tests). The clip is made once
//! with ffmpeg and cached under cargo's per-target temp dir.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

const CLIP_SECS: u32 = 10;
/// The server's `audio_wait_ms` default: how much later than video audio may arrive.
const AUDIO_WAIT_MS: f64 = 50.0;
/// The `play_merge_ms` under test.
const MERGE_MS: u32 = 200;
/// Slack for a loaded machine on top of what a setting may add to latency.
const MARGIN_MS: f64 = 150.0;

/// Held by each test for its whole run.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A fresh directory for this run of test `name` under cargo's temp dir.
fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("livego-bench-smoke-{name}-{}", std::process::id()));
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

/// `livego --config FILE` on free loopback ports, with `extra` YAML lines at the end of the
/// config; killed on drop.
struct Server {
    child: Child,
    rtmp_port: u16,
    httpflv_port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, extra: &str) -> Server {
        let ports: Vec<u16> = std::iter::repeat_with(free_port).take(4).collect();
        let [rtmp_port, httpflv_port, hls_port, api_port] = ports[..] else {
            unreachable!("four ports");
        };
        let config = dir.join("livego.yaml");
        let yaml = format!(
            "rtmp_addr: \"127.0.0.1:{rtmp_port}\"\nhttpflv_addr: \"127.0.0.1:{httpflv_port}\"\n\
             hls_addr: \"127.0.0.1:{hls_port}\"\napi_addr: \"127.0.0.1:{api_port}\"\n\
             rtmp_noauth: true\nkey_store: \"{}\"\nflv_dir: \"{}\"\ncores: 1\ngop_num: 1\n\
             read_timeout: 10\nplayer_queue_ms: 3000\nlevel: warn\n{extra}",
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

    /// The end of a run: the server must still be running; it is then stopped and `dir`
    /// removed.
    fn assert_survived_and_clean_up(mut self, dir: &Path) {
        assert!(
            self.is_alive(),
            "the server died under the load generator:\n{}",
            self.log()
        );
        drop(self);
        let _ = fs::remove_dir_all(dir);
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

/// How one run of the load generator is set up.
struct Load {
    rtmp_players: u64,
    http_players: u64,
    secs: f64,
}

impl Load {
    fn players(&self) -> f64 {
        (self.rtmp_players + self.http_players) as f64
    }
}

/// The load generator's summary, shown in every failed assertion.
struct Summary {
    json: serde_json::Value,
    pretty: String,
}

impl Summary {
    /// The number at `path`; panics (with the summary) if there is none.
    fn num(&self, path: &[&str]) -> f64 {
        path.iter()
            .fold(&self.json, |x, p| &x[p])
            .as_f64()
            .unwrap_or_else(|| panic!("{path:?} is not a number in\n{}", self.pretty))
    }
}

/// Runs `livego-bench` with `load` against `server`, publishing `clip`; panics if it fails.
fn run_bench(server: &Server, dir: &Path, clip: &Path, load: &Load) -> Summary {
    let rtmp_url = format!("rtmp://127.0.0.1:{}/live/bench", server.rtmp_port);
    let flv_url = format!("http://127.0.0.1:{}/live/bench.flv", server.httpflv_port);
    let (ok, stdout, stderr) = run(
        Command::new(env!("CARGO_BIN_EXE_livego-bench"))
            .args(["--url", &rtmp_url, "--flv"])
            .arg(clip)
            .args(["--players", &load.rtmp_players.to_string()])
            .args(["--http-players", &load.http_players.to_string()])
            .args(["--http-flv", &flv_url])
            .args(["--duration", &load.secs.to_string(), "--warmup", "1"]),
        dir,
        "livego-bench",
        Duration::from_secs_f64(load.secs + 30.0),
    );
    assert!(
        ok,
        "livego-bench failed:\n{stderr}\nserver log:\n{}",
        server.log()
    );
    let json: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
    let pretty = serde_json::to_string_pretty(&json).expect("JSON");
    eprintln!("livego-bench summary:\n{pretty}");
    Summary { json, pretty }
}

/// Every player connected and kept receiving all of the video, with no holes, none lagging.
fn assert_all_played(s: &Summary, load: &Load) {
    let (players, report) = (load.players(), &s.pretty);
    assert_eq!(s.num(&["players"]), players, "{report}");
    assert_eq!(s.num(&["connected"]), players, "{report}");
    assert_eq!(s.num(&["failed"]), 0.0, "{report}");
    assert_eq!(s.num(&["disconnected"]), 0.0, "{report}");
    assert_eq!(s.num(&["first_frame_ms", "count"]), players, "{report}");
    assert_eq!(s.num(&["frame_holes"]), 0.0, "{report}");
    assert_eq!(s.num(&["lagging_players"]), 0.0, "{report}");
    // 30 fps for (nearly) the whole run, for every player.
    let frames = s.num(&["video_frames"]);
    assert!(frames > players * 30.0 * load.secs * 0.8, "{report}");
    assert!(s.num(&["latency_ms", "samples"]) > 100.0, "{report}");
    assert!(s.num(&["audio_latency_ms", "samples"]) > 100.0, "{report}");
}

#[test]
fn bench_smoke_rtmp_and_http_flv_players() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = work_dir("defaults");
    let clip = test_clip(&dir);
    let clip_bits = fs::metadata(&clip).expect("clip").len() as f64 * 8.0;
    let clip_mbit_s = clip_bits / f64::from(CLIP_SECS) / 1e6;
    let server = Server::start(&dir, "");
    let load = Load {
        rtmp_players: 20,
        http_players: 5,
        secs: 10.0,
    };
    let s = run_bench(&server, &dir, &clip, &load);
    let report = &s.pretty;
    assert_all_played(&s, &load);
    assert!(s.num(&["first_frame_ms", "p95"]) < 1000.0, "{report}");
    assert!(s.num(&["latency_ms", "p50"]) < 250.0, "{report}");
    // Audio waits for the next video frame, at most audio_wait_ms.
    let (video_p99, audio_p99) = (
        s.num(&["latency_ms", "p99"]),
        s.num(&["audio_latency_ms", "p99"]),
    );
    assert!(
        audio_p99 < video_p99 + AUDIO_WAIT_MS + MARGIN_MS,
        "audio p99 {audio_p99} ms, video p99 {video_p99} ms\n{report}"
    );
    let delivered = s.num(&["delivered_mbit_s"]);
    let players = load.players();
    let expected = clip_mbit_s * players;
    assert!(
        delivered > expected * 0.5 && delivered < expected * 2.0,
        "delivered {delivered:.2} Mbit/s, expected ~{expected:.2} ({clip_mbit_s:.3} x {players})\n\
         {report}"
    );
    server.assert_survived_and_clean_up(&dir);
}

/// `play_merge_ms` bounds the latency it adds: a player's writer sends at most every 200 ms,
/// so frames wait up to that long (about half of it on average: the median shows that merging
/// happens, where the defaults' is a few ms), and not much more; and they keep coming. A
/// player's setup replies and first frames do not wait for the merge window (it took ~600 ms
/// of three setup steps, 200 ms each, to join before they were exempt).
#[test]
fn bench_smoke_play_merge_bounds_latency() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = work_dir("merge");
    let clip = test_clip(&dir);
    let server = Server::start(&dir, &format!("play_merge_ms: {MERGE_MS}\n"));
    let load = Load {
        rtmp_players: 4,
        http_players: 2,
        secs: 6.0,
    };
    let s = run_bench(&server, &dir, &clip, &load);
    let report = &s.pretty;
    assert_all_played(&s, &load);
    let first_frame = s.num(&["first_frame_ms", "max"]);
    assert!(
        first_frame < 400.0,
        "first frame after {first_frame} ms\n{report}"
    );
    let (p50, p99) = (s.num(&["latency_ms", "p50"]), s.num(&["latency_ms", "p99"]));
    assert!(p50 >= 30.0, "video p50 {p50} ms: no merging?\n{report}");
    let merge = f64::from(MERGE_MS);
    assert!(p99 < merge + MARGIN_MS, "video p99 {p99} ms\n{report}");
    let audio_p99 = s.num(&["audio_latency_ms", "p99"]);
    assert!(
        audio_p99 < merge + AUDIO_WAIT_MS + MARGIN_MS,
        "audio p99 {audio_p99} ms\n{report}"
    );
    server.assert_survived_and_clean_up(&dir);
}
