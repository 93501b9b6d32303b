//! The README's first command is a newcomer's first step: run it as written (with `--version`
//! appended, so it ends at once) and check that it starts the server binary. It broke once
//! when a second binary (`livego-bench`) made `cargo run` ambiguous.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The README's run command: the first line of a `sh` block that starts with `cargo run`,
/// without its trailing comment.
fn readme_run_command() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("cargo run"))
        .expect("README.md has a `cargo run` line");
    line.split('#').next().unwrap_or(line).trim().to_string()
}

#[test]
fn readme_run_command_starts_the_server() {
    let command = readme_run_command();
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("cargo"));
    let mut args: Vec<&str> = words.collect();
    if !args.contains(&"--") {
        args.push("--");
    }
    args.push("--version");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // A release build from scratch takes a minute or two on a 2-core machine.
    let ran = crate::common::run(
        Command::new(cargo)
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR")),
        Duration::from_secs(600),
    );
    assert!(
        ran.success(),
        "`{command} -- --version` failed: {}",
        ran.stderr
    );
    let expected = format!("livego {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        ran.stdout.trim(),
        expected,
        "`{command} -- --version` printed {:?}; stderr: {}",
        ran.stdout,
        ran.stderr
    );
}
