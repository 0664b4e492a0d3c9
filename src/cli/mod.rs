//! The command line: clap types, one file per subcommand, and the mapping of
//! results to output and exit codes. Only this layer and `render` print.

mod mark;
mod new;
mod run;
mod skip;
mod status;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use oneoff::{DatabaseUrl, Error};

const EXIT_CODES: &str = "\
Exit codes:
  0  success, or nothing to do
  1  a script failed, or failed/interrupted scripts block the run, or an after-commit
     effect of a Rust script failed (its data change stays; the effect is not re-run)
  2  bad input: usage, configuration, script files (a statement a script must not
     contain), connection, a ledger this user cannot create or write, a Rust script
     this binary cannot run (the standalone oneoff; build your application's binary)
  3  refused by a guard: run lock not obtained in time or lost, a ledger row changed
     under the runner, --retry of a script whose committed part is unknown or whose
     file changed before its resume point, re-run of a completed script,
     skip/mark of a script in a state that does not allow it
  130  stopped by Ctrl-C or SIGTERM: the script in flight was rolled back (or, without
     a transaction, stopped after its committed statements)

Environment:
  DATABASE_URL  database when --database-url is not given (default sqlite://oneoff.db)
  ONEOFF_DIR    script directory when --dir is not given (default one_off)
  ONEOFF_LOG    log filter for diagnostics on stderr (e.g. info, debug; default warn)
  NO_COLOR      disables colour";

/// Run one-off production data scripts exactly once, with a ledger in the target database.
#[derive(Debug, Parser)]
#[command(name = "oneoff", version, about, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, clap::Args)]
struct GlobalArgs {
    /// Target database: sqlite://PATH (or a path ending in .db/.sqlite/.sqlite3), postgres://… or mysql://…
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,

    /// Directory of the scripts.
    #[arg(
        long,
        global = true,
        env = "ONEOFF_DIR",
        value_name = "DIR",
        default_value = "one_off"
    )]
    dir: PathBuf,

    /// The scripts compiled into this binary, or `--dir` read from disk.
    #[arg(skip)]
    scripts: oneoff::Scripts,
}

impl GlobalArgs {
    fn database(&self) -> Result<DatabaseUrl, Error> {
        DatabaseUrl::parse(
            self.database_url
                .as_deref()
                .unwrap_or(oneoff::db::DEFAULT_URL),
        )
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a stub script in the script directory and print its path.
    New(new::NewArgs),
    /// Run the pending scripts, each exactly once.
    Run(run::RunArgs),
    /// Show every script and where it stands; writes nothing.
    Status(status::StatusArgs),
    /// Mark a pending, failed or interrupted script `skipped`: it never runs. Requires a reason.
    Skip(skip::SkipArgs),
    /// Record that a person checked a failed or interrupted script's effect by hand.
    ///
    /// This NEVER runs the script: it only writes `succeeded` to the ledger, with your reason, who
    /// and when. Refused for a script that never ran, unless --force.
    Mark(mark::MarkArgs),
}

/// The whole command line: parses the process arguments, sets up
/// diagnostics on stderr (filtered by `ONEOFF_LOG`), runs the command on
/// `scripts` and returns the process exit code.
///
/// An application's own binary, with its scripts compiled in:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     oneoff::cli::main(oneoff::Scripts::from_disk())
///     // in an application: oneoff::cli::main(oneoff::embed_scripts!("one_off"))
/// }
/// ```
pub fn main(scripts: oneoff::Scripts) -> std::process::ExitCode {
    let mut cli = Cli::parse();
    cli.global.scripts = scripts;
    let filter = EnvFilter::try_from_env("ONEOFF_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
    let code = run(cli);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let (result, json) = match &cli.command {
        Command::New(args) => (new::handle(args, &cli.global), false),
        Command::Run(args) => (run::handle(args, &cli.global), args.json),
        Command::Status(args) => (status::handle(args, &cli.global), args.json),
        Command::Skip(args) => (skip::handle(args, &cli.global), args.json),
        Command::Mark(args) => (mark::handle(args, &cli.global), args.json),
    };
    match result {
        Ok(code) => code,
        Err(error) => report_error(&error, json),
    }
}

/// Prints an error on stderr (and, for `--json`, as JSON on stdout).
fn report_error(error: &Error, json: bool) -> i32 {
    let code = error.exit_code();
    eprintln!("error: {error}");
    if json {
        let doc = serde_json::json!({
            "error": { "kind": error.kind(), "message": error.to_string(), "exit_code": code }
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    }
    code
}

/// Parses `30s`, `2m`, `1h30m` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e}; write a duration like 30s, 2m or 1h"))
}
