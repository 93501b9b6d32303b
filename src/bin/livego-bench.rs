//! `livego-bench`: the load generator for livego (see `livego-bench --help` and
//! [`livego::bench`]). Prints one JSON summary on stdout; errors go to stderr with exit code 2.

use std::process::ExitCode;

use livego::bench::args::{self, HELP, Parsed};

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
    match livego::bench::run::run(options) {
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
