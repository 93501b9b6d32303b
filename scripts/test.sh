#!/usr/bin/env bash
# The project's one test command: formatting, lints, then every unit and integration test
# (integration tests drive the real server with ffmpeg, ffprobe and rtmpdump).
set -euo pipefail
cd "$(dirname "$0")/.."
# hls.js and playwright-core for the browser test (tests/browser), pinned by its lock file.
[[ -d tests/browser/node_modules ]] || npm ci --prefix tests/browser --no-audit --no-fund
# --workspace: the server and the load generator (benches/livego-bench), whose smoke test
# plays against the server binary this builds.
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# Documentation builds without warnings (broken or private intra-doc links).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace --all-targets
