//! `oneoff check`: every problem in the scripts that can be found without
//! running them, all listed, for CI on every pull request; with a database,
//! what `run` would do there.

use oneoff::error::{EXIT_BAD_INPUT, EXIT_OK};
use oneoff::{Backend, CheckOptions, Error};

use super::GlobalArgs;
use crate::render_check;

/// Arguments of `oneoff check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,

    /// Never connect, even when --database-url or DATABASE_URL is set.
    #[arg(long)]
    offline: bool,

    /// Check the statements as this database's SQL [default: the backend of --database-url or
    /// DATABASE_URL, else sqlite].
    #[arg(long, value_enum, value_name = "BACKEND")]
    dialect: Option<DialectArg>,
}

/// A backend named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DialectArg {
    Sqlite,
    Postgres,
    Mysql,
}

impl From<DialectArg> for Backend {
    fn from(d: DialectArg) -> Backend {
        match d {
            DialectArg::Sqlite => Backend::Sqlite,
            DialectArg::Postgres => Backend::Postgres,
            DialectArg::Mysql => Backend::Mysql,
        }
    }
}

pub fn handle(args: &CheckArgs, global: &GlobalArgs) -> Result<i32, Error> {
    let target = global.target()?;
    // Only a database named (by URL or environment) is checked against.
    let named = global.database_url.is_some() || target.environment.is_some();
    let url = named.then(|| target.url.clone());
    let backend = match (args.dialect.map(Backend::from), &url) {
        (Some(asked), Some(url)) if asked != url.backend() && !args.offline => {
            return Err(Error::Usage(format!(
                "--dialect {asked:?} does not match the database URL's backend ({:?}); drop --dialect, or add --offline to check without the database",
                url.backend()
            ).to_lowercase()))
        }
        (Some(asked), _) => asked,
        (None, Some(url)) => url.backend(),
        (None, None) => Backend::Sqlite,
    };
    let report = oneoff::check(&CheckOptions {
        dir: target.dir.clone(),
        backend,
        database: url.filter(|_| !args.offline),
        runs_rust: global.scripts.is_embedded(),
    })?;
    if args.json {
        println!("{}", render_check::check_json(&report));
    } else {
        print!("{}", render_check::check_text(&report, &target.dir));
    }
    Ok(if report.clean() {
        EXIT_OK
    } else {
        EXIT_BAD_INPUT
    })
}
