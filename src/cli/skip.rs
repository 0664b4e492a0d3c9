//! `oneoff skip ID --reason TEXT`: the script must never run.

use std::time::Duration;

use oneoff::error::EXIT_OK;
use oneoff::recovery::{self, Action, ManualOptions};
use oneoff::Error;

use super::{parse_duration, GlobalArgs};
use crate::render;

/// Arguments of `oneoff skip`.
#[derive(Debug, clap::Args)]
pub struct SkipArgs {
    /// The script's 14-digit id.
    id: String,

    /// Why it must never run (recorded with who and when).
    #[arg(long, value_name = "TEXT")]
    reason: String,

    /// Print JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,

    /// How long to wait for a runner's lock (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    lock_timeout: Duration,
}

pub fn handle(args: &SkipArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let report = recovery::apply(
        Action::Skip,
        &ManualOptions {
            database: global.database()?,
            dir: global.dir.clone(),
            id: args.id.clone(),
            reason: args.reason.clone(),
            force: false,
            lock_timeout: args.lock_timeout,
        },
    )?;
    println!("{}", render::manual(&report, args.json));
    Ok(EXIT_OK)
}
