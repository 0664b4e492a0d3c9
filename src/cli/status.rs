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
    let report = oneoff::status(&StatusOptions {
        database: global.database()?,
        dir: global.dir.clone(),
        scripts: global.scripts,
    })?;
    if args.json {
        println!("{}", render::status_json(&report));
    } else {
        print!("{}", render::status_table(&report));
    }
    Ok(EXIT_OK)
}
