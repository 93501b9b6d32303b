//! nginx with nginx-rtmp (libnginx-mod-rtmp) as a real third-party RTMP peer for the relay
//! tests: one foreground process (`daemon off; master_process off;`) on a free loopback port,
//! with its config, pid file and logs in its own temp dir, killed on drop.
//!
//! nginx-rtmp keeps no GOP cache: a player joining a live stream would get the frames after
//! the sequence headers as they come. The generated config has `wait_key on; wait_video on;`
//! so a player starts at a keyframe (and audio waits for video), which is what the playback
//! checks ("keyframe first") expect from any server. `idle_streams off` makes a play of a
//! stream nobody publishes fail at once instead of waiting.
//!
//! A machine without nginx or the module makes the tests fail with a message saying what to
//! install (`.ci/run` installs both); they never skip silently.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use super::{Proc, TestDir, free_port, wait_until};

pub const NGINX: &str = "/usr/sbin/nginx";
pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// A running nginx-rtmp with one application, `live`.
pub struct NginxRtmp {
    proc: Proc,
    pub port: u16,
    dir: TestDir,
}

impl NginxRtmp {
    /// Starts nginx-rtmp on a free loopback port.
    pub fn start() -> NginxRtmp {
        Self::start_on(free_port())
    }

    /// Starts nginx-rtmp on `port` (e.g. again after [`NginxRtmp::kill`], or on a port a
    /// relay already targets) and waits (up to 5 s) until it accepts TCP; panics with its
    /// error log if it does not.
    pub fn start_on(port: u16) -> NginxRtmp {
        for (path, what) in [(NGINX, "nginx"), (RTMP_MODULE, "the nginx RTMP module")] {
            assert!(
                Path::new(path).exists(),
                "{what} ({path}) is missing: the relay tests need a real nginx-rtmp peer; \
                 install it with `apt-get install nginx libnginx-mod-rtmp` (.ci/run does)"
            );
        }
        let dir = TestDir::new("nginx");
        let d = dir.path().display();
        let conf = format!(
            "load_module {RTMP_MODULE};\n\
             daemon off;\n\
             master_process off;\n\
             worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             rtmp {{\n\
             \x20   server {{\n\
             \x20       listen 127.0.0.1:{port};\n\
             \x20       chunk_size 4096;\n\
             \x20       application live {{\n\
             \x20           live on;\n\
             \x20           record off;\n\
             \x20           wait_key on;\n\
             \x20           wait_video on;\n\
             \x20           idle_streams off;\n\
             \x20       }}\n\
             \x20   }}\n\
             }}\n"
        );
        let config = dir.join("nginx.conf");
        fs::write(&config, conf).expect("write nginx.conf");
        let mut cmd = Command::new(NGINX);
        // -e: the error log before the config is read (else /var/log/nginx/error.log)
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&config);
        let mut proc = Proc::spawn(&mut cmd, "nginx", dir.join("nginx.out"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let accepting = wait_until(Duration::from_secs(5), || {
            if !proc.is_running() {
                panic!(
                    "nginx on port {port} exited at start: {}\nerror log:\n{}",
                    proc.log(),
                    read(&dir.join("error.log"))
                );
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(
            accepting,
            "nginx not accepting on {addr} after 5 s; error log:\n{}",
            read(&dir.join("error.log"))
        );
        NginxRtmp { proc, port, dir }
    }

    /// `rtmp://127.0.0.1:PORT/live/NAME`.
    pub fn rtmp_url(&self, name: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{name}", self.port)
    }

    /// `rtmp://127.0.0.1:PORT/live`: the base URL of a `static_push`.
    pub fn app_url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/live", self.port)
    }

    /// nginx's error log so far (with its stdout/stderr), for failure messages.
    pub fn error_log(&self) -> String {
        format!("{}{}", self.proc.log(), read(&self.dir.join("error.log")))
    }

    /// A place for recordings, removed with nginx.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }

    /// Kills nginx (SIGKILL): every connection drops at once, as in a crash or restart.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        self.proc.kill();
        if thread::panicking() {
            eprintln!(
                "----- nginx-rtmp on port {} ({}) -----\n{}\n----- end of nginx log -----",
                self.port,
                self.dir.path().display(),
                self.error_log()
            );
        }
    }
}

fn read(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
