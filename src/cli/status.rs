//! `oneoff status`: every script and where it stands, as a table or JSON.

use oneoff::error::EXIT_OK;
use oneoff::{Error, StatusOptions};

use super::GlobalArgs;
use crate::render;

/// Arguments of `oneoff status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn handle(args: &StatusArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    let report = oneoff::status(&StatusOptions {
        database: target.url.clone(),
        dir: target.dir.clone(),
        environment: target.environment_name().map(str::to_string),
        scripts: global.scripts,
    })?;
    if args.json {
        println!("{}", render::status_json(&report));
    } else {
        print!("{}", render::status_table(&report));
    }
    Ok(EXIT_OK)
}
