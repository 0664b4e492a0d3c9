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
}

pub fn handle(args: &NewArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let path = oneoff::script::stub::create(
        &global.dir()?,
        &args.description.join(" "),
        chrono::Utc::now(),
    )?;
    println!("{}", path.display());
    Ok(EXIT_OK)
}
