//! Integration-test harness: runs the real `livego` binary on free loopback ports, drives it
//! with real clients (ffmpeg, rtmpdump) and judges what comes back (see `media`).
//!
//! Every child process is owned by a guard that kills it on drop, every wait has a deadline,
//! and every test gets its own temp dir, removed on drop (kept when `LIVEGO_KEEP_TEST_DIRS`
//! is set). When a test panics, the server's log is printed.

pub mod api;
pub mod flv;
pub mod hls;
pub mod http;
pub mod httpflv;
pub mod media;
pub mod nginx;
pub mod raw;
pub mod rtmp_client;
pub mod ts;

pub use media::{CLIP_SECS, ClipKind, analyze, default_clip, test_clip, video_frame_sizes};

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flv::TagExt as _;

/// `pid-counter`: unique among all test processes alive on this machine.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A loopback port that was free a moment ago, never handed out twice by this process (servers
/// use SO_REUSEPORT, so two of them on one port would silently share connections).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a free port")
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        let path = std::env::temp_dir().join(format!("livego-it-{}-{tag}", unique_suffix()));
        fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("LIVEGO_KEEP_TEST_DIRS").is_some() {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Output of a short-lived command run by [`run`].
pub struct Ran {
    /// `None` when it had to be killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Who has the machine: tests share it (libtest runs as many at once as there are CPUs), but
/// one that must have it to itself ([`alone`]) waits until no other test has a child process
/// running, and keeps them from starting any until it ends.
struct Turns {
    /// Child processes of tests sharing the machine ([`Turn`]s held).
    shared: usize,
    /// A test has the machine to itself.
    alone: bool,
}

static TURNS: Mutex<Turns> = Mutex::new(Turns {
    shared: 0,
    alone: false,
});
static TURNS_CHANGED: Condvar = Condvar::new();

thread_local! {
    /// This thread is the test that has the machine to itself.
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

fn turns() -> MutexGuard<'static, Turns> {
    TURNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held by every child process a test runs ([`Proc`], [`run`]); waits while another test has
/// the machine to itself.
struct Turn {
    shared: bool,
}

impl Turn {
    fn take() -> Turn {
        if ALONE.get() {
            return Turn { shared: false };
        }
        let mut turns = turns();
        while turns.alone {
            turns = TURNS_CHANGED.wait(turns).unwrap_or_else(|e| e.into_inner());
        }
        turns.shared += 1;
        Turn { shared: true }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.shared {
            turns().shared -= 1;
            TURNS_CHANGED.notify_all();
        }
    }
}

/// The machine to this test alone until dropped: for a test that loads a core on purpose and
/// is judged against a deadline (others' load would fail it, or its load them). Waits until
/// no other test has a child process running; meanwhile others start theirs as usual (a test
/// with one running may need another: waiting for them first could deadlock). The test must
/// start its own processes from its own thread.
pub struct Alone(());

pub fn alone() -> Alone {
    let mut turns = turns();
    while turns.alone || turns.shared > 0 {
        turns = TURNS_CHANGED.wait(turns).unwrap_or_else(|e| e.into_inner());
    }
    turns.alone = true;
    ALONE.set(true);
    Alone(())
}

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.set(false);
        turns().alone = false;
        TURNS_CHANGED.notify_all();
    }
}

/// Runs a command to completion with captured output, killing it at `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Ran {
    let _turn = Turn::take();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = wait_deadline(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// How long [`poll_until`] waits between two attempts.
const POLL: Duration = Duration::from_millis(50);

/// Tries `attempt` until it gives a value or `timeout` has passed (`None`), pausing 50 ms
/// between tries; it is tried at least once, and once more at the deadline. The way tests
/// wait for something to happen: a fixed sleep is only for letting time pass on purpose.
pub fn poll_until<T>(timeout: Duration, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let late = Instant::now() >= deadline;
        if let Some(value) = attempt() {
            return Some(value);
        }
        if late {
            return None;
        }
        thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// [`poll_until`] for a condition: whether it held within `timeout`.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    poll_until(timeout, || condition().then_some(())).is_some()
}

/// Polls a child until it exits or `timeout` passes (`None`: still running).
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    poll_until(timeout, || child.try_wait().ok().flatten())
}

/// Sends a signal by name (`TERM`, `INT`) with the `kill` command.
pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A long-running child with its output in a log file; killed (SIGKILL) on drop.
pub struct Proc {
    child: Child,
    log: PathBuf,
    _turn: Turn,
}

impl Proc {
    pub fn spawn(cmd: &mut Command, what: &str, log: PathBuf) -> Proc {
        let turn = Turn::take();
        let file = File::create(&log).expect("create log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what} ({cmd:?}): {e}"));
        Proc {
            child,
            log,
            _turn: turn,
        }
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_deadline(&mut self.child, timeout)
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// Sends `signal`, waits up to `grace`, then kills. The exit status, `None` if killed.
    pub fn stop(&mut self, signal: &str, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        send_signal(self.pid(), signal);
        let status = self.wait(grace);
        if status.is_none() {
            self.kill();
        }
        status
    }
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `livego --config FILE` on free loopback ports, in its own temp dir.
pub struct Server {
    proc: Mutex<Proc>,
    pub rtmp_port: u16,
    pub httpflv_port: u16,
    pub hls_port: u16,
    pub api_port: u16,
    dir: TestDir,
    /// The configuration file's text.
    yaml: String,
}

/// Writes `dir/livego.yaml`: the harness defaults on the given ports (rtmp, httpflv, hls, api)
/// with `extra_yaml`'s top-level keys replacing the defaults of the same name. Returns the
/// file's path and text.
fn write_config(dir: &TestDir, ports: [u16; 4], extra_yaml: &str) -> (PathBuf, String) {
    let [rtmp_port, httpflv_port, hls_port, api_port] = ports;
    let keys = dir.join("keys.json");
    let flv_dir = dir.join("flv");
    let defaults = [
        ("rtmp_addr", format!("\"127.0.0.1:{rtmp_port}\"")),
        ("httpflv_addr", format!("\"127.0.0.1:{httpflv_port}\"")),
        ("hls_addr", format!("\"127.0.0.1:{hls_port}\"")),
        ("api_addr", format!("\"127.0.0.1:{api_port}\"")),
        ("rtmp_noauth", "true".into()),
        ("key_store", format!("\"{}\"", keys.display())),
        ("flv_dir", format!("\"{}\"", flv_dir.display())),
        ("cores", "1".into()),
        ("gop_num", "1".into()),
        ("read_timeout", "10".into()),
        ("player_queue_ms", "3000".into()),
        ("level", "info".into()),
    ];
    let overridden: Vec<&str> = extra_yaml
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim()))
        .collect();
    let mut yaml = String::new();
    for (key, value) in defaults.iter().filter(|(k, _)| !overridden.contains(k)) {
        yaml.push_str(&format!("{key}: {value}\n"));
    }
    yaml.push_str(extra_yaml);
    yaml.push('\n');
    let config = dir.join("livego.yaml");
    fs::write(&config, &yaml).expect("write config");
    (config, yaml)
}

/// The port of a `KEY: "HOST:PORT"` line in `extra_yaml`, so the harness waits on the port
/// the server really uses.
fn overridden_port(extra_yaml: &str, key: &str) -> Option<u16> {
    let line = extra_yaml.lines().find(|l| l.starts_with(key))?;
    let value = line.split_once(':')?.1.trim().trim_matches('"');
    value.rsplit_once(':')?.1.parse().ok()
}

impl Server {
    /// Starts the server with the harness defaults (`rtmp_noauth`, `cores: 1`, `gop_num: 1`,
    /// `read_timeout: 10`, `player_queue_ms: 3000`, `level: info`). A top-level key in
    /// `extra_yaml` replaces the default of the same name. Waits (up to 5 s) until the RTMP port
    /// accepts TCP; panics with the log if it does not or the process exits.
    ///
    /// `LIVEGO_TEST_SERVER=/path/to/program` runs the tests against another server that takes
    /// `--config FILE` (e.g. a wrapper around a reference implementation).
    pub fn start(extra_yaml: &str) -> Server {
        Self::start_env(extra_yaml, &[])
    }

    /// [`Server::start`] with these environment variables set for the server.
    pub fn start_env(extra_yaml: &str, env: &[(&str, &str)]) -> Server {
        let program = std::env::var_os("LIVEGO_TEST_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_livego")));
        Self::start_program_env(&program, extra_yaml, env)
    }

    /// [`Server::start`] with another program standing in for livego (harness self-tests).
    pub fn start_program(program: &Path, extra_yaml: &str) -> Server {
        Self::start_program_env(program, extra_yaml, &[])
    }

    fn start_program_env(program: &Path, extra_yaml: &str, env: &[(&str, &str)]) -> Server {
        let dir = TestDir::new("server");
        let (rtmp_port, httpflv_port, hls_port, api_port) = (
            overridden_port(extra_yaml, "rtmp_addr").unwrap_or_else(free_port),
            free_port(),
            free_port(),
            free_port(),
        );
        let (config, yaml) = write_config(
            &dir,
            [rtmp_port, httpflv_port, hls_port, api_port],
            extra_yaml,
        );
        let mut cmd = Command::new(program);
        cmd.arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .envs(env.iter().copied());
        let proc = Proc::spawn(&mut cmd, "livego", dir.join("server.log"));
        let server = Server {
            proc: Mutex::new(proc),
            rtmp_port,
            httpflv_port,
            hls_port,
            api_port,
            dir,
            yaml,
        };
        server.wait_listening(Duration::from_secs(5));
        server
    }

    /// [`Server::start`], then waits (up to 5 s) until the HTTP-FLV and API ports accept TCP
    /// too.
    pub fn start_http(extra_yaml: &str) -> Server {
        let server = Self::start(extra_yaml);
        server.wait_accepting(server.httpflv_addr(), Duration::from_secs(5));
        server.wait_accepting(server.api_addr(), Duration::from_secs(5));
        server
    }

    /// Runs the server with this configuration expecting it to exit by itself (a startup
    /// error) within `timeout`; killed if it does not (`Ran::status` is then `None`). Its
    /// stdout and stderr are captured separately.
    pub fn run_to_exit(extra_yaml: &str, timeout: Duration) -> Ran {
        let program = std::env::var_os("LIVEGO_TEST_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_livego")));
        let dir = TestDir::new("server-exit");
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let (config, _) = write_config(&dir, ports, extra_yaml);
        let mut cmd = Command::new(program);
        cmd.arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .env_remove("RUST_LOG");
        run(&mut cmd, timeout)
    }

    /// Expects startup with this configuration to fail: exit code 2 within 10 s, naming the
    /// config `key` and `file` on stderr; panics otherwise.
    #[track_caller]
    pub fn assert_startup_refused(extra_yaml: &str, key: &str, file: &Path) {
        let ran = Self::run_to_exit(extra_yaml, Duration::from_secs(10));
        let Some(status) = ran.status else {
            panic!(
                "livego still running 10 s after starting with {key}: {}; stderr: {}",
                file.display(),
                ran.stderr
            );
        };
        assert_eq!(
            status.code(),
            Some(2),
            "{key}: {} -> {status}; stderr: {}",
            file.display(),
            ran.stderr
        );
        let path = file.display().to_string();
        assert!(
            ran.stderr.contains(key) && ran.stderr.contains(&path),
            "stderr must name {key} and {path}: {:?}",
            ran.stderr
        );
    }

    /// [`Server::start`] with `rtmps`'s keys added, then waits (up to 5 s) until the RTMPS
    /// port accepts TCP too.
    pub fn start_rtmps(rtmps: &Rtmps, extra_yaml: &str) -> Server {
        let server = Self::start(&format!("{}{extra_yaml}", rtmps.yaml()));
        server.wait_accepting(rtmps.addr(), Duration::from_secs(5));
        server
    }

    /// [`Server::start`], then waits (up to 5 s) until the HLS port accepts TCP too.
    pub fn start_hls(extra_yaml: &str) -> Server {
        let server = Self::start(extra_yaml);
        server.wait_accepting(server.hls_addr(), Duration::from_secs(5));
        server
    }

    /// Waits until `addr` accepts TCP; panics with the log if it does not within `timeout`
    /// or the server exits.
    pub fn wait_accepting(&self, addr: SocketAddr, timeout: Duration) {
        let accepting = wait_until(timeout, || {
            if let Ok(Some(status)) = self.lock().child.try_wait() {
                panic!(
                    "livego exited ({status}) before listening on {addr}; config:\n{}",
                    self.yaml
                );
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(
            accepting,
            "livego not accepting on {addr} after {timeout:?}; config:\n{}",
            self.yaml
        );
    }

    fn wait_listening(&self, timeout: Duration) {
        self.wait_accepting(self.rtmp_addr(), timeout);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Proc> {
        self.proc.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn rtmp_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.rtmp_port))
    }
    /// `rtmp://127.0.0.1:PORT/live/NAME`, for publishing and playing.
    pub fn rtmp_url(&self, name: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{name}", self.rtmp_port)
    }
    pub fn httpflv_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.httpflv_port))
    }
    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.api_port))
    }
    /// `http://127.0.0.1:PORT/live/NAME.flv`, for HTTP-FLV playback.
    pub fn flv_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/live/{name}.flv", self.httpflv_port)
    }
    pub fn hls_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.hls_port))
    }
    /// `http://127.0.0.1:PORT{path}` on the HLS port (`path` starts with `/`).
    pub fn hls_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.hls_port)
    }
    /// `http://127.0.0.1:PORT/live/NAME.m3u8`, the playlist of `live/NAME`.
    pub fn m3u8_url(&self, name: &str) -> String {
        self.hls_url(&format!("/live/{name}.m3u8"))
    }
    /// `http://127.0.0.1:PORT{path}` on the API port (`path` starts with `/`).
    pub fn api_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }
    pub fn pid(&self) -> u32 {
        self.lock().pid()
    }
    pub fn is_alive(&self) -> bool {
        self.lock().is_running()
    }
    /// Waits up to `timeout` for the server to exit by itself.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        self.lock().wait(timeout)
    }
    /// How many players of `live/NAME` have started so far, by the log (the probes of
    /// [`Publisher::wait_published`] among them).
    pub fn players_started(&self, name: &str) -> usize {
        self.log()
            .matches(&format!(": playing live/{name}\n"))
            .count()
    }
    /// Waits until more than `before` players of `live/NAME` have started (see
    /// [`Server::players_started`]); panics with the log if none has within 10 s.
    #[track_caller]
    pub fn wait_player_started(&self, name: &str, before: usize) {
        assert!(
            wait_until(Duration::from_secs(10), || self.players_started(name)
                > before),
            "no new player of live/{name} within 10 s; log:\n{}",
            self.log()
        );
    }
    /// A memory figure of the server process in bytes, from /proc/PID/status: `VmRSS` (now)
    /// or `VmHWM` (peak so far).
    pub fn memory(&self, field: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"));
        kb * 1024
    }
    /// The client connections the server holds open on its four ports, by the kernel's table
    /// (/proc/net/tcp): sockets established or closed by the peer only, each an fd of the
    /// server's. Unlike asking the API, it opens none.
    pub fn open_connections(&self) -> usize {
        let ports = [
            self.rtmp_port,
            self.httpflv_port,
            self.hls_port,
            self.api_port,
        ];
        let table = fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
        table
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields
                    .get(1)
                    .and_then(|a| a.rsplit_once(':'))
                    .and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
                // 01 ESTABLISHED, 08 CLOSE_WAIT
                local_port.is_some_and(|p| ports.contains(&p))
                    && matches!(fields.get(3), Some(&"01" | &"08"))
            })
            .count()
    }
    /// Waits until the server holds no client connection ([`Server::open_connections`]), so
    /// that what they held is freed; panics with how many are left after 10 s.
    #[track_caller]
    pub fn wait_connections_closed(&self) {
        let closed = wait_until(Duration::from_secs(10), || self.open_connections() == 0);
        assert!(
            closed,
            "{} client connections still open after 10 s",
            self.open_connections()
        );
    }
    /// How many file descriptors the server process has open.
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("list fds")
            .count()
    }
    /// The server's stdout+stderr so far.
    pub fn log(&self) -> String {
        self.lock().log()
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// SIGTERM, then waits up to 10 s. Returns the exit status (`None` if it had to be killed)
    /// and how long it took to exit.
    pub fn stop_gracefully(&self) -> (Option<ExitStatus>, Duration) {
        let started = Instant::now();
        let status = self.lock().stop("TERM", Duration::from_secs(10));
        (status, started.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut proc = self.lock();
        proc.kill();
        if thread::panicking() {
            eprintln!(
                "----- livego log ({}) -----\n{}\n----- end of livego log -----",
                self.dir.path().display(),
                proc.log()
            );
        }
    }
}

/// An RTMPS listener for a test server: a free loopback port and a self-signed certificate
/// for 127.0.0.1 (made by the openssl CLI) in a temp dir of its own.
pub struct Rtmps {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TestDir,
}

impl Rtmps {
    pub fn new() -> Rtmps {
        let dir = TestDir::new("rtmps-cert");
        let (cert, key) = hls::self_signed_cert(dir.path());
        Rtmps {
            port: free_port(),
            cert,
            key,
            _dir: dir,
        }
    }
    /// The config keys that turn it on (`enable_rtmps`, `rtmps_addr`, `rtmps_cert`,
    /// `rtmps_key`), one per line.
    pub fn yaml(&self) -> String {
        format!(
            "enable_rtmps: true\nrtmps_addr: \"127.0.0.1:{}\"\nrtmps_cert: \"{}\"\n\
             rtmps_key: \"{}\"\n",
            self.port,
            self.cert.display(),
            self.key.display()
        )
    }
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
    /// `rtmps://127.0.0.1:PORT/live/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("rtmps://127.0.0.1:{}/live/{name}", self.port)
    }
}

/// `ffmpeg -re -i CLIP -c copy -f flv URL`: publishes a clip in real time (to an rtmps:// URL
/// with `-tls_verify 0`: test certificates are self-signed).
pub struct Publisher {
    proc: Proc,
    pub url: String,
    _dir: TestDir,
}

impl Publisher {
    /// Publishes the whole clip once.
    pub fn start(url: &str, clip: &Path) -> Publisher {
        Self::spawn(url, clip, false, None)
    }
    /// Publishes the clip over and over (`-stream_loop -1`) until dropped.
    pub fn start_looping(url: &str, clip: &Path) -> Publisher {
        Self::spawn(url, clip, true, None)
    }
    /// Publishes the first `seconds` of the clip, then ends the session normally.
    pub fn start_for(url: &str, clip: &Path, seconds: f64) -> Publisher {
        Self::spawn(url, clip, false, Some(seconds))
    }

    fn spawn(url: &str, clip: &Path, looped: bool, seconds: Option<f64>) -> Publisher {
        let dir = TestDir::new("publisher");
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"]);
        if looped {
            cmd.args(["-stream_loop", "-1"]);
        }
        cmd.arg("-i").arg(clip);
        if let Some(s) = seconds {
            cmd.args(["-t", &s.to_string()]);
        }
        cmd.args(["-c", "copy", "-f", "flv"]);
        if url.starts_with("rtmps://") {
            cmd.args(["-tls_verify", "0"]);
        }
        cmd.arg(url);
        let proc = Proc::spawn(&mut cmd, "ffmpeg publisher", dir.join("publish.log"));
        Publisher {
            proc,
            url: url.to_string(),
            _dir: dir,
        }
    }

    /// Waits until a player of the same URL receives a video frame; panics (with the
    /// publisher's log) if that does not happen within `timeout` or the publisher exits.
    pub fn wait_published(&mut self, timeout: Duration) {
        let url = self.url.clone();
        self.wait_playable(&url, timeout);
    }

    /// Waits until an RTMP player of `play_url` receives a video frame (for publishing under a
    /// channel key, where the stream plays under the room's name); panics like
    /// [`Publisher::wait_published`].
    pub fn wait_playable(&mut self, play_url: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let playable = wait_until(timeout, || {
            if !self.proc.is_running() {
                panic!("publisher of {} exited: {}", self.url, self.proc.log());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            first_video_frame(play_url, left.clamp(POLL, Duration::from_secs(5))).is_some()
        });
        assert!(
            playable,
            "no player of {play_url} got a video frame within {timeout:?}; publisher of {} \
             log: {}",
            self.url,
            self.proc.log()
        );
    }
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }
    /// `Err("{who} ended: LOG")` once the publisher has exited.
    pub fn check_running(&mut self, who: &str) -> Result<(), String> {
        if self.is_running() {
            Ok(())
        } else {
            Err(format!("{who} ended: {}", self.log()))
        }
    }
    /// Panics (with its log) if the publisher has exited; `who` names it in the message.
    #[track_caller]
    pub fn assert_running(&mut self, who: &str) {
        if let Err(e) = self.check_running(who) {
            panic!("{e}");
        }
    }
    /// For a publish the server must refuse: panics unless ffmpeg gives up with an error
    /// within 10 s. `why` says what makes it a refusal.
    #[track_caller]
    pub fn assert_refused(&mut self, why: &str) {
        match self.wait_exit(Duration::from_secs(10)) {
            None => panic!(
                "{why}: publisher to {} still running after 10 s (accepted?)",
                self.url
            ),
            Some(status) => assert!(
                !status.success(),
                "{why}: publisher to {} exited successfully: {}",
                self.url,
                self.log()
            ),
        }
    }
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait(timeout)
    }
    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// Starts a publisher of `live/NAME` with `start(RTMP URL)` and waits (up to 10 s) until a
/// player of it receives video. Returns the RTMP URL and the publisher.
pub fn publish_live(
    server: &Server,
    name: &str,
    start: impl FnOnce(&str) -> Publisher,
) -> (String, Publisher) {
    let url = server.rtmp_url(name);
    let mut publisher = start(&url);
    publisher.wait_published(Duration::from_secs(10));
    (url, publisher)
}

/// [`publish_live`] of the [`default_clip`], published once in real time.
pub fn live_stream(server: &Server, name: &str) -> (String, Publisher) {
    publish_live(server, name, |url| Publisher::start(url, &default_clip()))
}

/// Which client records a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Ffmpeg,
    Rtmpdump,
}

/// A player recording a live URL into an FLV file in the background.
pub struct Player {
    proc: Proc,
    tool: Tool,
    pub out: PathBuf,
    started: Instant,
}

/// What a finished player left behind.
#[derive(Debug)]
pub struct Played {
    pub tool: Tool,
    /// Stopped with SIGINT by [`Player::interrupt`].
    pub interrupted: bool,
    /// `None` when the player had to be killed.
    pub status: Option<ExitStatus>,
    pub took: Duration,
    /// The player's stderr (warnings and errors).
    pub log: String,
    pub out: PathBuf,
}

impl Player {
    /// `ffmpeg -rw_timeout 15s -i URL [-t SECONDS] -c copy -copyinkf -f flv OUT`. `-copyinkf`
    /// keeps what the server sends before its first keyframe (ffmpeg drops it by default), so
    /// "keyframe first" judges the server, not ffmpeg. `-t` counts stream time.
    pub fn ffmpeg(url: &str, seconds: Option<f64>, out: &Path) -> Player {
        Self::ffmpeg_as(url, seconds, "flv", out)
    }

    /// [`Player::ffmpeg`] writing `format` (`mpegts` for HLS: the source's 90 kHz timestamps
    /// kept as they are).
    pub fn ffmpeg_as(url: &str, seconds: Option<f64>, format: &str, out: &Path) -> Player {
        Self::ffmpeg_opts(url, &[], seconds, format, out)
    }

    /// [`Player::ffmpeg_as`] with input options before `-i` (`-tls_verify 1 -ca_file F`).
    pub fn ffmpeg_opts(
        url: &str,
        input_opts: &[&str],
        seconds: Option<f64>,
        format: &str,
        out: &Path,
    ) -> Player {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "warning"])
            .args(["-rw_timeout", "15000000"])
            .args(input_opts)
            .args(["-i", url]);
        if let Some(s) = seconds {
            cmd.args(["-t", &s.to_string()]);
        }
        cmd.args(["-c", "copy", "-copyinkf", "-f", format, "-y"])
            .arg(out);
        Self::spawn(cmd, Tool::Ffmpeg, out)
    }

    /// `rtmpdump -v -r URL -m 15 -o OUT` (live, 15 s network timeout); runs until stopped.
    pub fn rtmpdump(url: &str, out: &Path) -> Player {
        let mut cmd = Command::new("rtmpdump");
        cmd.args(["-q", "-v", "-r", url, "-m", "15", "-o"]).arg(out);
        Self::spawn(cmd, Tool::Rtmpdump, out)
    }

    fn spawn(mut cmd: Command, tool: Tool, out: &Path) -> Player {
        let started = Instant::now();
        let log = out.with_extension("log");
        let proc = Proc::spawn(&mut cmd, &format!("{tool:?} player"), log);
        Player {
            proc,
            tool,
            out: out.to_path_buf(),
            started,
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// Waits for the player to end on its own (killed after `timeout`).
    pub fn finish(mut self, timeout: Duration) -> Played {
        let status = self.proc.wait(timeout);
        if status.is_none() {
            self.proc.kill();
        }
        self.played(status, false)
    }

    /// Stops the player the way a user would (SIGINT: both tools then close the file
    /// properly), killing it if it has not exited 5 s later.
    pub fn interrupt(mut self) -> Played {
        let status = self.proc.stop("INT", Duration::from_secs(5));
        self.played(status, true)
    }

    fn played(self, status: Option<ExitStatus>, interrupted: bool) -> Played {
        // a killed player may leave a torn last tag behind
        let _ = flv::trim_torn_tail(&self.out);
        Played {
            tool: self.tool,
            interrupted,
            status,
            took: self.started.elapsed(),
            log: self.proc.log(),
            out: self.out.clone(),
        }
    }
}

impl Played {
    /// What went wrong with the player itself (exit status, empty output).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let code = self.status.and_then(|s| s.code());
        // when interrupted, ffmpeg exits 255 ("Exiting normally, received signal 2") and
        // rtmpdump 2 ("download may be incomplete"), both after closing the file properly
        let ok = match (self.tool, self.interrupted) {
            (Tool::Ffmpeg, false) => code == Some(0),
            (Tool::Ffmpeg, true) => matches!(code, Some(0 | 255)),
            (Tool::Rtmpdump, _) => matches!(code, Some(0 | 2)),
        };
        if !ok {
            p.push(format!(
                "{:?} player ended with {:?} after {:.1} s: {}",
                self.tool,
                self.status,
                self.took.as_secs_f64(),
                self.log.trim()
            ));
        }
        let size = fs::metadata(&self.out).map(|m| m.len()).unwrap_or(0);
        if size <= 13 {
            p.push(format!(
                "{:?} player wrote {size} bytes to {}",
                self.tool,
                self.out.display()
            ));
        }
        p
    }

    pub fn assert_ok(&self) {
        let p = self.problems();
        assert!(p.is_empty(), "{}", p.join("\n"));
    }

    /// Panics unless the player ended well and recorded clean H.264 + AAC covering at least
    /// `min_secs` (see [`Played::all_problems`]).
    #[track_caller]
    pub fn assert_clean(&self, min_secs: f64) {
        let problems = self.all_problems(min_secs);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            self.out.display(),
            problems.join("\n")
        );
    }

    /// Player problems followed by recording problems (for a clean H.264 + AAC recording of
    /// at least `min_secs`).
    pub fn all_problems(&self, min_secs: f64) -> Vec<String> {
        let mut p = self.problems();
        if p.is_empty() {
            let report = analyze(&self.out);
            p.extend(report.problems(min_secs));
            if !p.is_empty() {
                p.push(report.summary());
            }
        }
        p
    }
}

/// Joins players that ran on threads, each labelled and returning its problems (none: it
/// played well), and panics listing every player that had problems or whose thread panicked.
#[track_caller]
pub fn assert_players_clean(players: Vec<(String, JoinHandle<Vec<String>>)>) {
    let total = players.len();
    let mut failed = Vec::new();
    for (label, player) in players {
        match player.join() {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => failed.push(format!("{label}:\n{}", problems.join("\n"))),
            Err(_) => failed.push(format!("{label}: harness thread panicked")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {total} players failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Records `seconds` of stream time with ffmpeg (killed after `seconds + 30` s of wall time).
pub fn play_ffmpeg(url: &str, seconds: f64, out: &Path) -> Played {
    Player::ffmpeg(url, Some(seconds), out).finish(Duration::from_secs_f64(seconds + 30.0))
}

/// Plays an HLS playlist with ffmpeg, recording `seconds` of stream time into an MPEG-TS file
/// (killed after `seconds + 30` s of wall time).
pub fn play_hls(url: &str, seconds: f64, out: &Path) -> Played {
    Player::ffmpeg_as(url, Some(seconds), "mpegts", out)
        .finish(Duration::from_secs_f64(seconds + 30.0))
}

/// Records `seconds` of wall time with rtmpdump, then interrupts it. (rtmpdump's `--stop`
/// counts stream timestamps, which a live server need not start at 0.)
pub fn play_rtmpdump(url: &str, seconds: f64, out: &Path) -> Played {
    let mut player = Player::rtmpdump(url, out);
    // the recording's length: `seconds` unless the player ends before
    wait_until(Duration::from_secs_f64(seconds), || !player.is_running());
    player.interrupt()
}

/// The first coded video frame a fresh RTMP player receives.
#[derive(Clone, Copy, Debug)]
pub struct FirstFrame {
    /// From starting the player to receiving the frame.
    pub after: Duration,
    pub keyframe: bool,
}

/// Joins `url` with rtmpdump writing FLV to a pipe and times the first video frame after the
/// sequence headers; `None` if none arrives within `limit`.
pub fn first_video_frame(url: &str, limit: Duration) -> Option<FirstFrame> {
    let started = Instant::now();
    let mut child = Command::new("rtmpdump")
        .args(["-q", "-v", "-r", url, "-m", "10", "-o", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rtmpdump");
    let stdout = child.stdout.take().expect("rtmpdump stdout");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut tags = flv::TagStream::new(stdout);
        while let Ok(Some(tag)) = tags.next_tag() {
            if tag.is_video_frame() {
                let frame = FirstFrame {
                    after: started.elapsed(),
                    keyframe: tag.is_keyframe(),
                };
                let _ = tx.send(frame);
                return;
            }
        }
    });
    let got = rx.recv_timeout(limit).ok();
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    got
}

/// The URL an [`ffmpeg_endpoint`] on `port` serves or receives: `rtmp://127.0.0.1:PORT/live/x`.
pub fn endpoint_url(port: u16) -> String {
    format!("rtmp://127.0.0.1:{port}/live/x")
}

/// ffmpeg as a one-client RTMP endpoint on [`endpoint_url`] (`-listen 1`):
/// serving `serve` to one player, or (`None`) receiving one publish into
/// `dir/received.flv`. A stand-in for a server in the harness self-tests.
pub fn ffmpeg_endpoint(serve: Option<&Path>, port: u16, dir: &TestDir) -> Proc {
    let url = endpoint_url(port);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    match serve {
        Some(clip) => {
            cmd.arg("-re")
                .arg("-i")
                .arg(clip)
                .args(["-t", "12", "-c", "copy", "-f", "flv"]);
            cmd.args(["-listen", "1", &url]);
        }
        None => {
            cmd.args(["-listen", "1", "-i", &url, "-c", "copy", "-f", "flv", "-y"]);
            cmd.arg(dir.join("received.flv"));
        }
    }
    let proc = Proc::spawn(
        &mut cmd,
        "ffmpeg endpoint",
        dir.join(&format!("endpoint-{port}.log")),
    );
    // wait until it listens, without connecting (it serves a single connection)
    let needle = format!(":{port:04X} ");
    let listening = wait_until(Duration::from_secs(5), || {
        let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let listening = |l: &str| l.contains(&needle) && l.split_whitespace().nth(3) == Some("0A");
        table.lines().any(listening)
    });
    assert!(
        listening,
        "ffmpeg endpoint not listening on {port}: {}",
        proc.log()
    );
    proc
}
