//! `oneoff approve ID --reason TEXT`: approve the current version of a
//! script for the selected environment.

use std::time::Duration;

use oneoff::approve::{self, ApproveOptions};
use oneoff::error::EXIT_OK;
use oneoff::Error;

use super::{parse_duration, GlobalArgs};
use crate::render;

/// Arguments of `oneoff approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The script's 14-digit id.
    id: String,

    /// What you reviewed (recorded with who, when, the checksum and the environment).
    #[arg(long, value_name = "TEXT")]
    reason: String,

    /// Print JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,

    /// How long to wait for a runner's lock (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Option<Duration>,
}

pub fn handle(args: &ApproveArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    let Some(env) = target.environment.as_ref() else {
        return Err(Error::Usage(
            "an approval is for one environment: pass --env NAME (or set ONEOFF_ENV)\nhint: the environments are the [environments.NAME] tables of oneoff.toml".into(),
        ));
    };
    let report = approve::approve(&ApproveOptions {
        database: target.url.clone(),
        dir: target.dir.clone(),
        id: args.id.clone(),
        reason: args.reason.clone(),
        environment: env.name.clone(),
        lock_timeout: super::lock_timeout(args.lock_timeout, &target),
    })?;
    println!("{}", render::audit::approved(&report, args.json));
    Ok(EXIT_OK)
}
