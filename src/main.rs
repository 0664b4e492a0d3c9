//! The `oneoff` binary: parse arguments, set up diagnostics, run, exit.

mod cli;
mod progress;
mod render;

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = cli::Cli::parse();
    let filter = EnvFilter::try_from_env("ONEOFF_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
    std::process::exit(cli::run(cli));
}
