//! An idle server sleeps: no busy polling on any core.

use std::thread;
use std::time::Duration;

use crate::common::Server;

/// utime + stime of a process, in clock ticks (field 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name (field 2) may hold spaces; the rest follows its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields[n - 3].parse::<u64>().expect("numeric stat field");
    field(14) + field(15)
}

#[test]
fn idle_server_uses_no_cpu() {
    let server = Server::start("cores: 2\n");
    // past the start-up's own work, then 3 s of idling (the subject)
    thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(server.pid());
    thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(server.pid()) - before;
    // Clock ticks are 10 ms: 3 ticks in 3 s is 1 % of one core, where a busy loop takes 300.
    assert!(used <= 3, "idle server used {used} ticks of CPU in 3 s");
}
