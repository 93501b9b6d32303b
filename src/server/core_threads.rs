//! Which kernel thread runs each core's executor, and how much CPU time each has used so far
//! (`/metrics`' per-core load), read from `/proc/self/task/TID/stat`.

use std::sync::atomic::{AtomicI32, Ordering};

pub struct CoreThreads {
    /// Per core, its executor's thread id; 0 until the core has started.
    tids: Vec<AtomicI32>,
}

impl CoreThreads {
    pub fn new(cores: usize) -> CoreThreads {
        CoreThreads {
            tids: (0..cores).map(|_| AtomicI32::new(0)).collect(),
        }
    }

    /// Record the calling thread as core `core`'s executor.
    pub fn record_current(&self, core: usize) {
        // SAFETY: plain system call without arguments.
        let tid = unsafe { libc::gettid() };
        if let Some(slot) = self.tids.get(core) {
            slot.store(tid, Ordering::Relaxed);
        }
    }

    /// Per core, the user + system CPU seconds its thread has used; None for a core that has
    /// not started or whose thread cannot be read.
    pub fn cpu_seconds(&self) -> Vec<Option<f64>> {
        // SAFETY: plain system call; it only reads the configuration.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        self.tids
            .iter()
            .map(|tid| {
                let tid = tid.load(Ordering::Relaxed);
                if tid == 0 || ticks_per_second <= 0 {
                    return None;
                }
                let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
                Some(cpu_ticks(&stat)? as f64 / ticks_per_second as f64)
            })
            .collect()
    }
}

/// utime + stime (clock ticks) from a `/proc/.../stat` line: fields 14 and 15, counted after
/// the command name, which is in parentheses and may itself hold spaces and parentheses.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // The fields after the name start with the 3rd (state): utime is the 14th overall.
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_whatever_the_name() {
        let stat = "4242 (livego (core) 0) S 1 4242 4242 0 -1 4194368 310 0 0 0 \
                    1234 567 0 0 20 0 3 0 100 2000000 500 18446744073709551615\n";
        assert_eq!(cpu_ticks(stat), Some(1234 + 567));
    }

    #[test]
    fn truncated_or_garbled_stat_lines_give_nothing() {
        assert_eq!(cpu_ticks(""), None);
        assert_eq!(cpu_ticks("4242 (x) S 1 2 3"), None);
        assert_eq!(cpu_ticks("4242 (x) S 1 2 3 4 5 6 7 8 9 10 ten 20"), None);
        assert_eq!(cpu_ticks("4242 no name at all"), None);
    }

    #[test]
    fn a_started_thread_has_used_cpu_time_and_others_are_unknown() {
        let threads = CoreThreads::new(2);
        threads.record_current(1);
        // Spin until this thread has run 50 ms, however busy the machine is.
        while thread_cpu_seconds() < 0.05 {
            std::hint::black_box(0);
        }
        let seconds = threads.cpu_seconds();
        assert_eq!(seconds[0], None);
        assert!(seconds[1].is_some_and(|s| s > 0.0), "{seconds:?}");
    }

    fn thread_cpu_seconds() -> f64 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
    }
}
