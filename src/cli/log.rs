//! `oneoff log [ID]`: the history, newest first, one line per event.

use oneoff::error::EXIT_OK;
use oneoff::history::{self, HistoryOptions};
use oneoff::Error;

use super::GlobalArgs;
use crate::render;

/// Arguments of `oneoff log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Only this script's events.
    #[arg(value_name = "ID")]
    id: Option<String>,

    /// At most this many events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    limit: Option<i64>,

    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

pub fn handle(args: &LogArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    let report = history::log(&HistoryOptions {
        database: target.url.clone(),
        dir: target.dir.clone(),
        id: args.id.clone(),
        environment: target.environment_name().map(str::to_string),
        limit: args.limit,
    })?;
    print!("{}", render::audit::log(&report, args.json));
    if args.json {
        println!();
    }
    Ok(EXIT_OK)
}
