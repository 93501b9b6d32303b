//! The harness of `tests/it/common`, for the test binaries not yet folded into `tests/it`
//! (bench_smoke.rs). Such a binary uses only part of the harness, so here, and only here, the
//! rest may be unused. Goes when the last of them moves into `tests/it`.
#![allow(dead_code, unused_imports)]

#[path = "../it/common/mod.rs"]
mod harness;

pub use harness::*;
