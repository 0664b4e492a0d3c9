//! `oneoff mark ID succeeded --reason TEXT`: a person vouches for a script's
//! effect. It never runs anything.

use std::time::Duration;

use oneoff::error::EXIT_OK;
use oneoff::recovery::{self, Action, ManualOptions};
use oneoff::Error;

use super::confirm::{confirm, ConfirmArg};
use super::{parse_duration, GlobalArgs};
use crate::render;

/// The state `mark` records.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MarkAs {
    /// The script's effect was checked by hand and is complete.
    Succeeded,
}

/// Arguments of `oneoff mark`.
#[derive(Debug, clap::Args)]
pub struct MarkArgs {
    /// The script's 14-digit id.
    id: String,

    /// The state to record.
    #[arg(value_enum)]
    state: MarkAs,

    /// What was checked, by hand, that shows the effect is complete (recorded with who and when).
    #[arg(long, value_name = "TEXT")]
    reason: String,

    /// Also mark a script that never ran (its change was made another way).
    #[arg(long)]
    force: bool,

    /// Print JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,

    /// How long to wait for a runner's lock (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Option<Duration>,

    #[command(flatten)]
    confirm: ConfirmArg,
}

pub fn handle(args: &MarkArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let MarkAs::Succeeded = args.state;
    let target = global.target()?;
    confirm(
        &target,
        args.confirm.confirm.as_deref(),
        &format!("mark script {}", args.id),
    )?;
    let report = recovery::apply(
        Action::MarkSucceeded,
        &ManualOptions {
            database: target.url.clone(),
            dir: target.dir.clone(),
            id: args.id.clone(),
            reason: args.reason.clone(),
            force: args.force,
            lock_timeout: super::lock_timeout(args.lock_timeout, &target),
            environment: target.environment_name().map(str::to_string),
        },
    )?;
    println!("{}", render::manual(&report, args.json));
    Ok(EXIT_OK)
}
