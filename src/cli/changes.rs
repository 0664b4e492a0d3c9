//! `oneoff changes ID`: what a revertible script changed.

use oneoff::changes::{self, ChangesOptions};
use oneoff::error::EXIT_OK;
use oneoff::Error;

use super::GlobalArgs;
use crate::render;

/// Arguments of `oneoff changes`.
#[derive(Debug, clap::Args)]
pub struct ChangesArgs {
    /// The script's 14-digit id.
    id: String,

    /// Print JSON: {"script", "changes": [{"table", "op", "key", "old", "new"}], "total"}.
    #[arg(long)]
    pub json: bool,

    /// Show at most N changes (the total is counted anyway).
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
}

pub fn handle(args: &ChangesArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let report = changes::changes(&ChangesOptions {
        database: global.target()?.url,
        id: args.id.clone(),
        limit: args.limit.map(i64::from),
    })?;
    println!("{}", render::changes::changes(&report, args.json));
    Ok(EXIT_OK)
}
