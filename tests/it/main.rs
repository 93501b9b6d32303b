//! The integration tests, one module per feature, in one binary so that the harness
//! (`common`) is compiled and linked once. Most drive the real `livego` binary with real
//! clients (ffmpeg, ffprobe, rtmpdump, curl, nginx-rtmp, Chromium); each test runs its own
//! server on free loopback ports in its own temp dir. Run one feature with
//! `cargo test --test it hls::`, one test with `cargo test --test it -- --exact hls::h264_aac_hls`.
//!
//! Concurrency: libtest runs the tests on as many threads as there are CPUs (or
//! `--test-threads`), as it did within each of the former per-feature binaries, which cargo
//! ran one after the other.

mod common;

mod abuse;
mod api;
mod archive;
mod browser;
mod connection_churn;
mod cpu_affinity;
mod fuzz_regressions;
mod harness_selftest;
mod hls;
mod hls_https;
mod hls_selftest;
mod http_client_selftest;
mod http_flv;
mod http_hostile;
mod late_joiner;
mod port_in_use;
mod readme_commands;
mod relay;
mod rtmp_hostile;
mod rtmp_playback;
mod rtmps;
mod server_idle;
mod supervision;
