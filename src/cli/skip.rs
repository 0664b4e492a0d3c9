//! `oneoff skip ID --reason TEXT`: the script must never run.

use std::time::Duration;

use oneoff::error::EXIT_OK;
use oneoff::recovery::{self, Action, ManualOptions};
use oneoff::Error;

use super::confirm::{confirm, ConfirmArg};
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
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Option<Duration>,

    #[command(flatten)]
    confirm: ConfirmArg,
}

pub fn handle(args: &SkipArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    confirm(
        &target,
        args.confirm.confirm.as_deref(),
        &format!("skip script {}", args.id),
    )?;
    let report = recovery::apply(
        Action::Skip,
        &ManualOptions {
            database: target.url.clone(),
            dir: target.dir.clone(),
            id: args.id.clone(),
            reason: args.reason.clone(),
            force: false,
            lock_timeout: super::lock_timeout(args.lock_timeout, &target),
            environment: target.environment_name().map(str::to_string),
        },
    )?;
    println!("{}", render::manual(&report, args.json));
    Ok(EXIT_OK)
}
