//! `livego-bench`: the load generator for livego (benchmarks: `scripts/bench.sh`,
//! docs/BENCHMARKS.md; see `livego-bench --help`). One process, one glommio executor, one task
//! per connection. A publisher sends an FLV file over RTMP in real time; RTMP and HTTP-FLV
//! players count what arrives, and a latency probe matches each received video and audio
//! message to the instant it was published. Everything here is built to cost the generator
//! little CPU, since it shares the machine with the server under test.
//!
//! It uses livego's library as any client would: the sans-IO RTMP client session and the FLV
//! reader, and the socket layer the server is built on (`livego::net`: the epoll readiness
//! set, in its ticking mode with `--tick-ms`, and nonblocking connections).
//!
//! The pure parts ([`args`], [`hist`], [`http`], [`probe`], [`stats`], [`schedule`],
//! [`report`]) take values and return values; [`net`], [`publisher`], [`player`],
//! [`hls_probe`] and [`run`] are the glommio drivers.
//!
//! Prints one JSON summary on stdout; errors go to stderr with exit code 2.

mod args;
mod hist;
mod hls_probe;
mod http;
mod net;
mod player;
mod probe;
mod publisher;
mod report;
mod run;
mod schedule;
mod stats;

use std::process::ExitCode;

use args::{HELP, Parsed};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match args::parse(&args) {
        Ok(Parsed::Run(options)) => *options,
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("livego-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run::run(options) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livego-bench: {e}");
            ExitCode::from(2)
        }
    }
}
