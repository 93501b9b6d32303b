//! Supervision: a dead core is a dead server. A panic anywhere, or a core whose executor makes
//! no progress for [`STALL_LIMIT`], logs what is known and ends the process with
//! [`EXIT_DEAD_CORE`], so that the service manager (systemd `Restart=on-failure`) starts a
//! fresh one, instead of a core that keeps accepting connections it can never serve.
//!
//! Each core runs a heartbeat task that records the time every [`BEAT`]; it only runs when the
//! executor gets around to it, so a core stuck in a lock, a blocking call or an endless loop
//! stops beating. A watchdog thread checks the beats.
//!
//! `LIVEGO_FAULT_INJECT=panic` or `=stall` makes core 0 panic, or block its thread, a second
//! after it starts: the supervision's own test (tests/it/supervision.rs) and a way to try a
//! deployment's restart policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How often a core records that it is alive.
const BEAT: Duration = Duration::from_millis(500);
/// A core silent for this long is considered dead.
pub const STALL_LIMIT: Duration = Duration::from_secs(5);
/// Exit status after a panic or a stalled core (EX_SOFTWARE).
pub const EXIT_DEAD_CORE: i32 = 70;

/// The last beat of each core, in ms since `started` (0: not started yet).
pub struct Heartbeats {
    started: Instant,
    beats: Vec<AtomicU64>,
    /// Set when the server stops: cores winding down are not stalled.
    stopping: AtomicBool,
}

impl Heartbeats {
    pub fn new(cores: usize) -> Arc<Heartbeats> {
        Arc::new(Heartbeats {
            started: Instant::now(),
            beats: (0..cores).map(|_| AtomicU64::new(0)).collect(),
            stopping: AtomicBool::new(false),
        })
    }

    /// The server is stopping: the watchdog stands down.
    pub fn stop_watching(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        // Never 0, which means "not started".
        self.started.elapsed().as_millis() as u64 + 1
    }

    fn beat(&self, core: usize) {
        self.beats[core].store(self.now_ms(), Ordering::Relaxed);
    }

    /// The first core silent for longer than `limit` (one that never beat counts from the
    /// start), with how long it has been silent.
    fn stalled(&self, limit: Duration) -> Option<(usize, Duration)> {
        let now = self.now_ms();
        self.beats.iter().enumerate().find_map(|(core, beat)| {
            let silent = Duration::from_millis(now - beat.load(Ordering::Relaxed).min(now));
            (silent > limit).then_some((core, silent))
        })
    }
}

/// Core `core`'s heartbeat task: runs for the executor's life.
pub async fn beat(heartbeats: Arc<Heartbeats>, core: usize) {
    loop {
        heartbeats.beat(core);
        glommio::timer::sleep(BEAT).await;
    }
}

/// Starts the thread that ends the process when a core stalls.
pub fn spawn_watchdog(heartbeats: Arc<Heartbeats>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("livego-watchdog".into())
        .spawn(move || {
            loop {
                thread::sleep(BEAT);
                if heartbeats.stopping.load(Ordering::Relaxed) {
                    return;
                }
                if let Some((core, silent)) = heartbeats.stalled(STALL_LIMIT) {
                    log::error!(
                        "core {core} has made no progress for {silent:?} (stuck or dead): \
                         exiting so the service manager restarts the server"
                    );
                    std::process::exit(EXIT_DEAD_CORE);
                }
            }
        })
        .map(drop)
}

/// Makes any panic, on any thread, end the process after logging it: a core whose task
/// panicked would otherwise keep its listeners while serving nothing.
pub fn exit_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = thread::current();
        let name = thread.name().unwrap_or("unnamed");
        log::error!("panic on thread {name}: {info}: exiting");
        default(info);
        std::process::exit(EXIT_DEAD_CORE);
    }));
}

/// The fault `LIVEGO_FAULT_INJECT` asks core 0 to simulate, if any.
pub async fn inject_fault(core: usize) {
    let fault = std::env::var("LIVEGO_FAULT_INJECT").unwrap_or_default();
    if core != 0 || fault.is_empty() {
        return;
    }
    glommio::timer::sleep(Duration::from_secs(1)).await;
    match fault.as_str() {
        "panic" => panic!("LIVEGO_FAULT_INJECT=panic"),
        "stall" => loop {
            thread::sleep(Duration::from_secs(3600));
        },
        other => log::warn!("LIVEGO_FAULT_INJECT={other:?}: unknown fault (panic, stall)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_that_stops_beating_is_found() {
        let beats = Heartbeats::new(2);
        beats.beat(0);
        beats.beat(1);
        assert_eq!(beats.stalled(Duration::from_millis(50)), None);
        thread::sleep(Duration::from_millis(80));
        beats.beat(0);
        let (core, silent) = beats.stalled(Duration::from_millis(50)).expect("core 1");
        assert_eq!(core, 1);
        assert!(silent >= Duration::from_millis(80), "{silent:?}");
    }
}
