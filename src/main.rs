//! `livego` binary: parse the configuration, set up logging, run the server.

use std::process::ExitCode;

use livego::config::{self, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::parse_args(&args) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help(text) | Command::Version(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("livego: {e}");
            return ExitCode::from(2);
        }
    };
    let mut logger = env_logger::Builder::new();
    logger.filter_level(config.level_filter());
    if let Ok(spec) = std::env::var("RUST_LOG") {
        logger.parse_filters(&spec);
    }
    logger.init();
    for key in &config.ignored_keys {
        log::warn!("config key `{key}` is a livego setting this server does not use: ignored");
    }
    if let Some(risk) = config.api_exposure_warning() {
        log::warn!("{risk}");
    }
    match livego::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("livego: {e}");
            ExitCode::from(2)
        }
    }
}
