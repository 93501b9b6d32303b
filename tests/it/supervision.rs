//! A dead core is a dead server: a panic in a core's task, or a core that stops making
//! progress, ends the process with status 70 and a log line saying why, so that systemd
//! (`Restart=on-failure`, checked here in the shipped unit) starts a fresh one. The faults are
//! injected with `LIVEGO_FAULT_INJECT` (src/server/watchdog.rs). Before, a panicked core left
//! its listener accepting connections nobody served, and a stuck core stayed stuck.

use std::time::Duration;

use crate::common::Server;

#[track_caller]
fn assert_exits_70(fault: &str, why: &str) {
    let server = Server::start_env("", &[("LIVEGO_FAULT_INJECT", fault)]);
    let status = server.wait_exit(Duration::from_secs(12));
    let status = status.unwrap_or_else(|| panic!("{fault}: still running; log:\n{}", server.log()));
    assert_eq!(status.code(), Some(70), "{fault}: log:\n{}", server.log());
    assert!(
        server.log().contains(why),
        "{fault}: log:\n{}",
        server.log()
    );
}

#[test]
fn a_panic_in_a_core_ends_the_process() {
    assert_exits_70("panic", "panic on thread livego-core-0");
}

#[test]
fn a_core_that_makes_no_progress_ends_the_process() {
    assert_exits_70("stall", "core 0 has made no progress");
}

#[test]
fn the_systemd_unit_restarts_on_failure() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/livego.service"
    ))
    .expect("systemd/livego.service");
    assert!(
        unit.lines().any(|l| l.trim() == "Restart=on-failure"),
        "{unit}"
    );
    // Exit status 2 is a configuration error: restarting would not help; 70 must restart.
    let prevented = unit
        .lines()
        .find_map(|l| l.trim().strip_prefix("RestartPreventExitStatus="));
    assert!(
        prevented.is_none_or(|codes| !codes.split_whitespace().any(|c| c == "70")),
        "{unit}"
    );
}
