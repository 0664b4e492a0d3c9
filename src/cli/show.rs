//! `oneoff show ID`: one script's file, checksums, attempts with their
//! output, approvals and last dry run.

use oneoff::error::EXIT_OK;
use oneoff::history::{self, HistoryOptions};
use oneoff::Error;

use super::GlobalArgs;
use crate::render;

/// Arguments of `oneoff show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The script's 14-digit id.
    id: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn handle(args: &ShowArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    let report = history::show(&HistoryOptions {
        database: target.url.clone(),
        dir: target.dir.clone(),
        id: Some(args.id.clone()),
        environment: target.environment_name().map(str::to_string),
        limit: None,
    })?;
    print!("{}", render::audit::show(&report, args.json));
    if args.json {
        println!();
    }
    Ok(EXIT_OK)
}
