//! `oneoff new <DESCRIPTION>...`: writes a stub script and prints its path.

use oneoff::error::EXIT_OK;
use oneoff::Error;

use super::GlobalArgs;

/// Arguments of `oneoff new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// What the script does, in a few words; it names the file and heads the stub.
    #[arg(required = true, num_args = 1.., value_name = "DESCRIPTION")]
    description: Vec<String>,

    /// Write a Rust script (`.rs`, run by your application's own binary) instead of SQL.
    #[arg(long)]
    rust: bool,
}

pub fn handle(args: &NewArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let kind = if args.rust {
        oneoff::script::ScriptKind::Rust
    } else {
        oneoff::script::ScriptKind::Sql
    };
    let path = oneoff::script::stub::create_kind(
        &global.dir()?,
        &args.description.join(" "),
        chrono::Utc::now(),
        kind,
    )?;
    println!("{}", path.display());
    Ok(EXIT_OK)
}
