//! The command line: clap types, one file per subcommand, and the mapping of
//! results to output and exit codes. Only this layer and `render` print.

mod approve;
mod changes;
mod check;
mod confirm;
mod log;
mod mark;
mod new;
mod revert;
mod run;
mod show;
mod skip;
mod status;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use oneoff::config::{Inputs, Target, UrlSource};
use oneoff::Error;

const EXIT_CODES: &str = "\
Exit codes:
  0  success, or nothing to do
  1  a script failed, or failed/interrupted scripts block the run, or an after-commit
     effect of a Rust script failed (its data change stays; the effect is not re-run)
  2  bad input: usage, configuration (oneoff.toml, --env), script files (a statement
     a script must not contain; any problem `oneoff check` finds), connection, a
     ledger this user cannot create or write, a Rust script this binary cannot run
     (the standalone oneoff; build your application's binary)
  3  refused by a guard: run lock not obtained in time or lost, a ledger row changed
     under the runner, --retry of a script whose committed part is unknown or whose
     file changed before its resume point, re-run of a completed script,
     skip/mark of a script in a state that does not allow it, a protected
     environment not confirmed, or a script it has not cleared (approvals, dry run),
     revert of a script that is not succeeded with a change log, revert refused by
     rows changed since the script ran (without --force)
  130  stopped by Ctrl-C or SIGTERM: the script in flight was rolled back (or, without
     a transaction, stopped after its committed statements)

Environment:
  DATABASE_URL   database when --database-url is not given; wins over --env's URL
                 (default: the environment's URL, else sqlite://oneoff.db)
  ONEOFF_DIR     script directory when --dir is not given (default: dir of
                 oneoff.toml, else one_off)
  ONEOFF_CONFIG  configuration file when --config is not given (default oneoff.toml)
  ONEOFF_ENV     environment of oneoff.toml when --env is not given
  ONEOFF_USER    who you are in the ledger (default: the OS user)
  ONEOFF_LOG     log filter for diagnostics on stderr (e.g. info, debug; default warn)
  NO_COLOR       disables colour";

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
#[command(next_help_heading = "Global options")]
struct GlobalArgs {
    /// Target database: sqlite://PATH (or a path ending in .db/.sqlite/.sqlite3), postgres://… or
    /// mysql://…; wins over the URL of --env.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,

    /// Directory of the scripts [default: `dir` of oneoff.toml, else one_off].
    #[arg(
        long,
        global = true,
        env = "ONEOFF_DIR",
        hide_env_values = true,
        value_name = "DIR"
    )]
    dir: Option<PathBuf>,

    /// The configuration file [default: oneoff.toml in the working directory, when there is one].
    #[arg(
        long,
        global = true,
        env = "ONEOFF_CONFIG",
        hide_env_values = true,
        value_name = "PATH"
    )]
    config: Option<PathBuf>,

    /// The environment of oneoff.toml to work on (its URL, protection and time limits).
    #[arg(
        long,
        global = true,
        env = "ONEOFF_ENV",
        hide_env_values = true,
        value_name = "NAME"
    )]
    env: Option<String>,

    /// Whether --database-url came from DATABASE_URL (filled after parsing).
    #[arg(skip)]
    url_from_env: bool,

    /// The scripts compiled into this binary, or `--dir` read from disk.
    #[arg(skip)]
    scripts: oneoff::Scripts,
}

impl GlobalArgs {
    /// The database, script directory and environment to work on; tells on
    /// stderr how they were picked when that may surprise.
    fn target(&self) -> Result<Target, Error> {
        let source = if self.url_from_env {
            UrlSource::Variable
        } else {
            UrlSource::Flag
        };
        let inputs = Inputs {
            config: self.config.clone(),
            env: self.env.clone().filter(|e| !e.is_empty()),
            url: self.database_url.clone().map(|u| (u, source)),
            dir: self.dir.clone(),
        };
        let target = oneoff::config::resolve(&inputs, &|k| std::env::var(k).ok())?;
        for note in &target.notes {
            eprintln!("note: {note}");
        }
        Ok(target)
    }

    /// The script directory alone (for `new`, which needs no database).
    fn dir(&self) -> Result<PathBuf, Error> {
        let inputs = Inputs {
            config: self.config.clone(),
            dir: self.dir.clone(),
            ..Inputs::default()
        };
        Ok(oneoff::config::resolve(&inputs, &|_| None)?.dir)
    }
}

/// `--lock-timeout`, else the environment's `lock_timeout`, else 60 s.
fn lock_timeout(given: Option<std::time::Duration>, target: &Target) -> std::time::Duration {
    given
        .or(target.environment.as_ref().and_then(|e| e.lock_timeout))
        .unwrap_or(std::time::Duration::from_secs(60))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a stub script in the script directory and print its path.
    New(new::NewArgs),
    /// Run the pending scripts, each exactly once.
    Run(run::RunArgs),
    /// Show every script and where it stands; writes nothing.
    Status(status::StatusArgs),
    /// List every problem in the scripts found without running them (for CI); writes nothing.
    ///
    /// With a database (--database-url or DATABASE_URL) it also reports what `run` would do there,
    /// scripts merged out of order and succeeded scripts edited since. Exit 2 with problems.
    Check(check::CheckArgs),
    /// Mark a pending, failed or interrupted script `skipped`: it never runs. Requires a reason.
    Skip(skip::SkipArgs),
    /// Record that a person checked a failed or interrupted script's effect by hand.
    ///
    /// This NEVER runs the script: it only writes `succeeded` to the ledger, with your reason, who
    /// and when. Refused for a script that never ran, unless --force.
    Mark(mark::MarkArgs),
    /// List the rows a revertible script (`-- oneoff:revertible`) inserted, updated or deleted.
    Changes(changes::ChangesArgs),
    /// Undo a revertible script's recorded changes, last first; the script becomes `reverted`.
    ///
    /// Rows changed since the script ran are conflicts: nothing is changed, they are listed, and
    /// the exit code is 3, unless --force overwrites them (recorded in the history).
    Revert(revert::RevertArgs),
    /// Approve the current version (checksum) of a script for the environment of --env.
    ///
    /// A protected environment's `run` counts approvals by people other than the one who runs
    /// it, of the file as it is now: a changed file needs approving again.
    Approve(approve::ApproveArgs),
    /// The history, newest first, one line per event: attempts, dry runs, approvals, skips, marks.
    Log(log::LogArgs),
    /// One script: its file, checksum now and as run, every attempt with its output, approvals.
    Show(show::ShowArgs),
    /// Print a completion script for bash, zsh, fish or powershell.
    Completions(CompletionsArgs),
    /// Print the man page (roff) generated from these definitions (`make man`).
    #[command(hide = true)]
    Man,
}

/// Arguments of `oneoff completions`.
#[derive(Debug, clap::Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
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
    let exit = |code: i32| std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return exit(usage_error(e)),
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return exit(usage_error(e)),
    };
    cli.global.url_from_env = url_from_env(&matches);
    cli.global.scripts = scripts;
    let filter = EnvFilter::try_from_env("ONEOFF_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
    exit(run(cli))
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let (result, json) = match &cli.command {
        Command::New(args) => (new::handle(args, &cli.global), false),
        Command::Run(args) => (run::handle(args, &cli.global), args.json),
        Command::Status(args) => (status::handle(args, &cli.global), args.json),
        Command::Check(args) => (check::handle(args, &cli.global), args.json),
        Command::Skip(args) => (skip::handle(args, &cli.global), args.json),
        Command::Mark(args) => (mark::handle(args, &cli.global), args.json),
        Command::Approve(args) => (approve::handle(args, &cli.global), args.json),
        Command::Log(args) => (log::handle(args, &cli.global), args.json),
        Command::Show(args) => (show::handle(args, &cli.global), args.json),
        Command::Completions(args) => (completions(args.shell), false),
        Command::Man => (man(), false),
        Command::Changes(args) => (changes::handle(args, &cli.global), args.json),
        Command::Revert(args) => (revert::handle(args, &cli.global), args.json),
    };
    match result {
        Ok(code) => code,
        Err(error) => report_error(&error, json),
    }
}

/// `oneoff completions SHELL`.
fn completions(shell: clap_complete::Shell) -> Result<i32, Error> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "oneoff", &mut std::io::stdout());
    Ok(oneoff::error::EXIT_OK)
}

/// `oneoff man`: the man page, from the same definitions as `--help`.
fn man() -> Result<i32, Error> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| Error::Usage(format!("cannot write the man page: {e}")))?;
    Ok(oneoff::error::EXIT_OK)
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
    oneoff::config::parse_duration(text)
}

/// Whether the database URL came from `DATABASE_URL` rather than the flag
/// (global flags are recorded in the subcommand's matches).
fn url_from_env(matches: &clap::ArgMatches) -> bool {
    let mut m = matches;
    loop {
        if let Some(source) = m.value_source("database_url") {
            return source == clap::parser::ValueSource::EnvVariable;
        }
        match m.subcommand() {
            Some((_, sub)) => m = sub,
            None => return false,
        }
    }
}

/// A usage error (or `--help`, `--version`): as clap prints it, and as JSON
/// on stdout too when `--json` is among the arguments.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let code = e.exit_code();
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !shown && std::env::args().any(|a| a == "--json") {
        let message = e
            .kind()
            .as_str()
            .map_or_else(|| e.to_string(), str::to_string);
        let doc = serde_json::json!({
            "error": { "kind": "usage", "message": message, "detail": e.to_string(), "exit_code": code }
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    }
    let _ = e.print();
    code
}
