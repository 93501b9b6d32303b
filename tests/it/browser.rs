//! The browser test inside `cargo test`: runs `tests/browser/run.sh` (headless Chromium plays
//! livego's HLS with hls.js; see the script) against this build's livego, and the script's
//! self-test against ffmpeg's own HLS muxer. Chromium, Node and the script's node modules
//! (`npm ci --prefix tests/browser`) must be installed: the tests fail, not skip, without them.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{ClipKind, run, test_clip};

/// One Chromium at a time (2 cores).
static CHROMIUM: Mutex<()> = Mutex::new(());

fn run_script(args: &[&str], livego: &Path) {
    let _one = CHROMIUM.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/run.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .args(args)
        .env("LIVEGO_BIN", livego)
        .env("CLIP", test_clip(ClipKind::H264Aac, 30));
    let ran = run(&mut cmd, Duration::from_secs(180));
    assert!(
        ran.success(),
        "{} {args:?} ended with {:?}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        script.display(),
        ran.status,
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stdout.contains("PASS:"), "{}", ran.stdout);
}

fn livego() -> std::path::PathBuf {
    std::env::var_os("LIVEGO_TEST_SERVER")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_livego").into())
}

#[test]
fn chromium_hlsjs_plays_livego_hls() {
    run_script(&[], &livego());
}

#[test]
fn browser_script_selftest_against_ffmpeg_hls() {
    run_script(&["--selftest"], &livego());
}
