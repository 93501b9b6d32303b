//! Executors run on the CPUs the process was given (`taskset`, systemd's `CPUAffinity=`),
//! not on CPUs 0..n regardless.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{Server, TestDir};

/// `Cpus_allowed_list` of every thread of `pid` whose name starts with `prefix`.
fn threads_allowed_cpus(pid: u32, prefix: &str) -> Vec<String> {
    let mut allowed = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).expect("list threads") {
        let status = fs::read_to_string(task.expect("thread").path().join("status"));
        let Ok(status) = status else { continue };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        if field("Name:").is_some_and(|n| n.starts_with(prefix)) {
            allowed.push(field("Cpus_allowed_list:").expect("Cpus_allowed_list"));
        }
    }
    allowed
}

#[test]
fn executors_are_pinned_to_the_cpus_the_process_may_use() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The last CPU: with two or more, not the one a 0..n pinning would pick for core 0.
    let cpu = cpus - 1;
    let dir = TestDir::new("affinity");
    let wrapper = dir.join("taskset-livego");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec taskset -c {cpu} {} \"$@\"\n",
            env!("CARGO_BIN_EXE_livego")
        ),
    )
    .expect("write wrapper");
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
    let server = Server::start_program(&wrapper, "cores: 0\n");
    let allowed = threads_allowed_cpus(server.pid(), "livego-core");
    // glommio names an executor's helper thread after it, too.
    assert!(!allowed.is_empty(), "no executor thread found");
    assert!(
        allowed.iter().all(|cpus| *cpus == cpu.to_string()),
        "executor threads should run on CPU {cpu} only: {allowed:?}"
    );
}
