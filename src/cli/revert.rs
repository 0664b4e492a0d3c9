//! `oneoff revert ID --reason TEXT`: undo what a revertible script changed.

use std::time::Duration;

use oneoff::changes::{self, RevertOptions};
use oneoff::error::{EXIT_OK, EXIT_REFUSED};
use oneoff::Error;

use super::confirm::{confirm, ConfirmArg};
use super::{parse_duration, GlobalArgs};
use crate::render;

/// Arguments of `oneoff revert`.
#[derive(Debug, clap::Args)]
pub struct RevertArgs {
    /// The script's 14-digit id.
    id: String,

    /// Why its changes must be undone (recorded with who and when).
    #[arg(long, value_name = "TEXT")]
    reason: String,

    /// Undo the changes, report, and roll back: nothing changes.
    #[arg(long)]
    dry_run: bool,

    /// Also overwrite rows changed since the script ran (recorded in the history).
    #[arg(long)]
    force: bool,

    /// Print JSON instead of sentences.
    #[arg(long)]
    pub json: bool,

    /// How long to wait for a runner's lock (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Option<Duration>,

    #[command(flatten)]
    confirm: ConfirmArg,
}

pub fn handle(args: &RevertArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    if !args.dry_run {
        confirm(
            &target,
            args.confirm.confirm.as_deref(),
            &format!("revert script {}", args.id),
        )?;
    }
    let report = changes::revert(&RevertOptions {
        database: target.url.clone(),
        dir: target.dir.clone(),
        id: args.id.clone(),
        reason: args.reason.clone(),
        dry_run: args.dry_run,
        force: args.force,
        lock_timeout: super::lock_timeout(args.lock_timeout, &target),
        environment: target.environment_name().map(str::to_string),
    })?;
    println!("{}", render::changes::revert(&report, args.json));
    let blocked = !report.conflicts.is_empty() && !args.force;
    Ok(if blocked { EXIT_REFUSED } else { EXIT_OK })
}
