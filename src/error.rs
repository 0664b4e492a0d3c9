//! The errors oneoff reports. Every variant says what went wrong and what to
//! do next; [`Error::exit_code`] maps it to the documented process exit code.

use std::path::PathBuf;

/// Exit code: success, or nothing to do.
pub const EXIT_OK: i32 = 0;
/// Exit code: a script failed, or failed/interrupted scripts block the run.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad input (usage, configuration, script files, connection).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code: refused by a guard (lock not obtained, re-run of a completed script).
pub const EXIT_REFUSED: i32 = 3;
/// Exit code: stopped by a signal (Ctrl-C, SIGTERM), as shells report SIGINT.
pub const EXIT_CANCELLED: i32 = 130;

/// A script that stops `run` until someone looks at it.
#[derive(Debug, Clone)]
pub struct Blocker {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// `failed` or `interrupted`.
    pub status: String,
    /// The recorded error.
    pub error: Option<String>,
    /// Whether the script ran without a transaction (its effect may be partial).
    pub no_transaction: bool,
}

/// Everything that can stop oneoff. Its `Display` is the whole message,
/// ending in the next step; [`Error::exit_code`] maps it to the CLI's code.
#[derive(Debug, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "variant fields are the parts of the message Display renders; each variant is documented"
)]
pub enum Error {
    /// Bad command-line input or configuration.
    #[error("{0}")]
    Usage(String),

    /// `oneoff.toml` is unusable: the message names the key (and line).
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },

    /// The database URL is not one oneoff understands.
    #[error("unsupported database URL `{url}`: {reason}\nhint: use sqlite://PATH, a path ending in .db/.sqlite/.sqlite3, postgres://USER@HOST/DB or mysql://USER@HOST/DB")]
    BadUrl { url: String, reason: String },

    /// The database could not be reached.
    #[error("cannot connect to {url}: {reason}\nhint: check that the server is running, the credentials and the database name; the URL comes from --database-url, then DATABASE_URL")]
    Connect { url: String, reason: String },

    /// The SQLite file cannot be opened or written.
    #[error("cannot use the SQLite database {url}: {reason}\nhint: {hint}")]
    SqliteFile {
        url: String,
        reason: String,
        hint: String,
    },

    /// The ledger holds something this oneoff cannot read.
    #[error("the ledger in {database} is not as oneoff wrote it: {message}")]
    BadLedger { database: String, message: String },

    /// A script file (or the script directory) is unusable.
    #[error("{}: {message}", location(path, *line))]
    Script {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// Script files have problems found without a database (`oneoff check`
    /// lists the same ones).
    #[error("{}", problems_message(.0))]
    Scripts(Vec<crate::script::validate::Problem>),

    /// Another runner holds the run lock.
    #[error("another oneoff run holds the lock on {database} ({holder}); gave up after waiting {waited}\nhint: wait for it to finish and run again, or raise --lock-timeout")]
    LockTimeout {
        database: String,
        holder: String,
        waited: String,
    },

    /// `run ID` named a script that must not run again.
    #[error("script {id} ({name}) {status} {when} by {by}; it never runs again\nhint: write a new script with `oneoff new` for further changes")]
    AlreadyDone {
        id: String,
        name: String,
        status: String,
        when: String,
        by: String,
    },

    /// A guard refused a state change (e.g. skipping a succeeded script).
    #[error("{0}")]
    Refused(String),

    /// `run ID` named ids that exist neither on disk nor in the ledger.
    #[error("no script with id {}\nhint: `oneoff status` lists the scripts and their ids", .0.join(", "))]
    UnknownIds(Vec<String>),

    /// Failed or interrupted scripts wait for a person.
    #[error("{}", blocked_message(.0))]
    Blocked(Vec<Blocker>),

    /// The ledger could not be read or written.
    #[error("ledger error on {database}: {message}")]
    Ledger { database: String, message: String },

    /// The ledger cannot be created, read or written by this user.
    #[error("cannot use oneoff's ledger in {database}: {reason}\nhint: {hint}")]
    LedgerAccess {
        database: String,
        reason: String,
        hint: String,
    },

    /// A script's ledger row changed under the runner, or the runner lost
    /// its run lock: another runner or a person is at work.
    #[error("{message}\nhint: {hint}")]
    Conflict { message: String, hint: String },

    /// The ledger was written by a newer oneoff.
    #[error("the ledger in {database} has schema version {found}, newer than this oneoff ({tool}) knows\nhint: upgrade oneoff to the version that wrote it")]
    NewerLedger {
        database: String,
        found: String,
        tool: String,
    },

    /// A script ran and failed; its transaction was rolled back.
    #[error("script {id} ({name}) failed: {message}")]
    ScriptFailed {
        id: String,
        name: String,
        message: String,
    },
}

fn location(path: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

fn problems_message(problems: &[crate::script::validate::Problem]) -> String {
    let mut msg = match problems {
        [one] => one.to_string(),
        many => {
            let mut msg = format!("{} problems in the scripts:", many.len());
            for p in many {
                msg.push_str(&format!("\n  {p}"));
            }
            msg
        }
    };
    msg.push_str("\nhint: nothing ran and nothing was written; fix the scripts (`oneoff check` lists every problem without connecting)");
    msg
}

fn blocked_message(blockers: &[Blocker]) -> String {
    let mut msg = String::from("nothing was run: these scripts need attention first:\n");
    for b in blockers {
        msg.push_str(&format!("  {} {} is {}", b.id, b.name, b.status));
        if let Some(e) = &b.error {
            msg.push_str(&format!(": {e}"));
        }
        if b.no_transaction {
            msg.push_str(
                " (it runs without a transaction: check its effect by hand before retrying)",
            );
        }
        msg.push('\n');
    }
    msg.push_str("hint: fix the script if needed, then `oneoff run --retry` re-attempts them before the pending ones");
    msg
}

impl Error {
    /// The process exit code documented for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::Config { .. }
            | Error::BadUrl { .. }
            | Error::Connect { .. }
            | Error::SqliteFile { .. }
            | Error::BadLedger { .. }
            | Error::Script { .. }
            | Error::Scripts(_)
            | Error::UnknownIds(_)
            | Error::NewerLedger { .. }
            | Error::LedgerAccess { .. } => EXIT_BAD_INPUT,
            Error::LockTimeout { .. }
            | Error::AlreadyDone { .. }
            | Error::Refused(_)
            | Error::Conflict { .. } => EXIT_REFUSED,
            Error::Blocked(_) | Error::Ledger { .. } | Error::ScriptFailed { .. } => EXIT_FAILED,
        }
    }

    /// A short machine-readable name of the error kind (used in JSON output).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Config { .. } => "config",
            Error::BadUrl { .. } => "bad_url",
            Error::Connect { .. } => "connect",
            Error::SqliteFile { .. } => "sqlite_file",
            Error::BadLedger { .. } => "bad_ledger",
            Error::Script { .. } | Error::Scripts(_) => "script",
            Error::LockTimeout { .. } => "lock_timeout",
            Error::AlreadyDone { .. } => "already_done",
            Error::Refused(_) => "refused",
            Error::UnknownIds(_) => "unknown_ids",
            Error::Blocked(_) => "blocked",
            Error::Ledger { .. } => "ledger",
            Error::NewerLedger { .. } => "newer_ledger",
            Error::LedgerAccess { .. } => "ledger_access",
            Error::Conflict { .. } => "conflict",
            Error::ScriptFailed { .. } => "script_failed",
        }
    }

    pub(crate) fn script(
        path: impl Into<PathBuf>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Script {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

/// Result with oneoff's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `--reason` of a decision, trimmed; a blank one is a usage error
/// that shows how to say why (`example`, a reason as it would be written).
pub(crate) fn reason<'a>(reason: &'a str, what: &str, example: &str) -> Result<&'a str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Usage(format!(
            "--reason is blank; say {what}, e.g. --reason \"{example}\""
        )));
    }
    Ok(reason)
}
