//! Executes a plan: takes the run lock, brings the ledger schema up to date,
//! turns rows left `running` by a dead runner into `interrupted`, plans, and
//! runs each selected script with its ledger update in one transaction.
//! Progress goes to an observer; nothing here prints.

pub mod execute;
pub mod lock;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::db::{self, AnyConnection, Backend, DatabaseUrl};
use crate::error::{Error, Result};
use crate::ledger::{self, migrate, Attempt};
use crate::plan::{Plan, Selection};
use crate::script::{self, Dialect, IgnoredFile, Script, Statement};
pub use execute::{Outcome, ScriptOutcome, StatementResult};

/// What `oneoff run` was asked to do, free of any command-line types.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory.
    pub dir: PathBuf,
    /// Only these ids (all when empty).
    pub ids: Vec<String>,
    /// Re-attempt failed and interrupted scripts first.
    pub retry: bool,
    /// Execute and always roll back; the ledger rows stay untouched.
    pub dry_run: bool,
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
}

/// Progress of a run, for the caller to render as it happens.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The scripts to run are known.
    Start {
        /// Redacted database URL.
        database: &'a str,
        /// How many scripts will run.
        scripts: usize,
        /// Whether this is a dry run.
        dry_run: bool,
    },
    /// A script is about to run (1-based `index` of `of`).
    ScriptStarted {
        /// Position in the run.
        index: usize,
        /// Scripts in the run.
        of: usize,
        /// Script id.
        id: &'a str,
        /// Script name.
        name: &'a str,
    },
    /// A script finished.
    ScriptFinished(&'a ScriptOutcome),
}

/// A succeeded script whose file changed after it ran.
#[derive(Debug, Clone, Serialize)]
pub struct ModifiedScript {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// Checksum recorded when it ran.
    pub recorded_checksum: String,
    /// Checksum of the file now.
    pub checksum: String,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Redacted database URL.
    pub database: String,
    /// The run's id, also in `oneoff_runs.run_id`.
    pub run_id: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Per script, in the order run; stops at the first failure.
    pub scripts: Vec<ScriptOutcome>,
    /// Scripts found `running` from a dead runner and marked `interrupted`.
    pub interrupted: Vec<String>,
    /// Succeeded scripts whose files changed (reported, never re-run).
    pub modified: Vec<ModifiedScript>,
    /// Files in the script directory that are not scripts.
    pub ignored: Vec<IgnoredFile>,
}

impl RunReport {
    /// The first failed script, if any.
    pub fn failure(&self) -> Option<&ScriptOutcome> {
        self.scripts.iter().find(|s| s.failed())
    }
}

/// `user@host`, recorded with every attempt.
pub fn run_by() -> String {
    let user = ["ONEOFF_USER", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{user}@{host}")
}

/// Runs the selected scripts. A failing script ends the run with `Ok` and a
/// report whose [`RunReport::failure`] is set; `Err` is for everything that
/// stops the run before or outside a script.
pub fn run(opts: &RunOptions, observe: &mut dyn FnMut(RunEvent<'_>)) -> Result<RunReport> {
    let set = script::load_dir(&opts.dir)?;
    warn_ignored(&set.ignored);
    let Session {
        mut conn,
        lock,
        database,
        run_by,
        interrupted,
    } = Session::open(&opts.database, opts.lock_timeout)?;
    let ledger_err = |e: &dyn std::fmt::Display| Error::Ledger {
        database: database.clone(),
        message: opts.database.scrub(&e.to_string()),
    };
    let rows = ledger::rows(&mut conn).map_err(|e| ledger_err(&e))?;
    let plan = build_plan(&set.scripts, &rows, &database)?;
    let modified = modified_scripts(&plan);
    let selected = plan.select(&Selection {
        ids: opts.ids.clone(),
        retry: opts.retry,
    })?;
    let dialect = dialect(opts.database.backend());
    let prepared: Vec<(&Script, Vec<Statement>)> = selected
        .iter()
        .filter_map(|e| e.script.as_ref())
        .map(|s| s.statements(dialect).map(|st| (s, st)))
        .collect::<Result<_>>()?;

    let mut report = RunReport {
        database: database.clone(),
        run_id: uuid::Uuid::new_v4().to_string(),
        dry_run: opts.dry_run,
        scripts: Vec::new(),
        interrupted: interrupted.iter().map(|r| r.id.clone()).collect(),
        modified,
        ignored: set.ignored.clone(),
    };
    observe(RunEvent::Start {
        database: &database,
        scripts: prepared.len(),
        dry_run: opts.dry_run,
    });
    let attempt_base = Attempt {
        run_id: report.run_id.clone(),
        run_by,
        started_at: ledger::now(),
    };
    report.scripts = if opts.dry_run {
        let outcomes = execute::always_rolled_back(&mut conn, |c| {
            run_each(c, &prepared, &attempt_base, true, observe)
        })
        .map_err(|e| ledger_err(&e))?;
        for out in &outcomes {
            execute::record_dry_run(&mut conn, out, &attempt_base).map_err(|e| ledger_err(&e))?;
        }
        outcomes
    } else {
        run_each(&mut conn, &prepared, &attempt_base, false, observe).map_err(|e| ledger_err(&e))?
    };
    lock.release(&mut conn).map_err(|e| ledger_err(&e))?;
    Ok(report)
}

/// Runs (or dry-runs) the prepared scripts in order, stopping at the first failure.
fn run_each(
    conn: &mut AnyConnection,
    prepared: &[(&Script, Vec<Statement>)],
    attempt: &Attempt,
    dry_run: bool,
    observe: &mut dyn FnMut(RunEvent<'_>),
) -> diesel::QueryResult<Vec<ScriptOutcome>> {
    let mut outcomes = Vec::with_capacity(prepared.len());
    for (index, (script, statements)) in prepared.iter().enumerate() {
        observe(RunEvent::ScriptStarted {
            index: index + 1,
            of: prepared.len(),
            id: &script.id,
            name: &script.name,
        });
        let attempt = Attempt {
            started_at: ledger::now(),
            ..attempt.clone()
        };
        let outcome = if dry_run {
            execute::dry_run_script(conn, script, statements)?
        } else {
            execute::run_script(conn, script, statements, &attempt)?
        };
        observe(RunEvent::ScriptFinished(&outcome));
        let failed = outcome.failed();
        outcomes.push(outcome);
        if failed {
            break;
        }
    }
    Ok(outcomes)
}

/// A connection holding the run lock, with the ledger schema current and
/// dead runners' rows turned `interrupted`: what every writing command needs.
pub struct Session {
    /// The connection.
    pub conn: AnyConnection,
    /// The run lock, held.
    pub lock: lock::RunLock,
    /// Redacted database URL.
    pub database: String,
    /// `user@host`.
    pub run_by: String,
    /// Rows found `running` and marked `interrupted`.
    pub interrupted: Vec<ledger::LedgerRow>,
}

impl Session {
    /// Connects, waits for the run lock, migrates the ledger, recovers.
    pub fn open(url: &DatabaseUrl, lock_timeout: Duration) -> Result<Session> {
        let mut conn = db::connect(url)?;
        let database = url.redacted();
        let ledger_err = |e: &dyn std::fmt::Display| Error::Ledger {
            database: database.clone(),
            message: url.scrub(&e.to_string()),
        };
        let Some(lock) = lock::acquire(&mut conn, url, lock_timeout).map_err(|e| ledger_err(&e))?
        else {
            return Err(lock_timeout_error(&mut conn, &database, lock_timeout));
        };
        refuse_newer_ledger(&mut conn, &database)?;
        migrate::migrate(&mut conn).map_err(|e| ledger_err(&e))?;
        let run_by = run_by();
        ledger::write_lock_holder(&mut conn, &run_by).map_err(|e| ledger_err(&e))?;
        let interrupted = ledger::recover_running(&mut conn).map_err(|e| ledger_err(&e))?;
        for row in &interrupted {
            tracing::warn!(id = %row.id, name = %row.name, "script was left running by a runner that is gone; marked interrupted");
        }
        Ok(Session {
            conn,
            lock,
            database,
            run_by,
            interrupted,
        })
    }
}

pub(crate) fn warn_ignored(ignored: &[IgnoredFile]) {
    for file in ignored {
        tracing::warn!(file = %file.path.display(), "ignored, never run: {}", file.reason);
    }
}

/// The statement-splitting dialect of a backend.
pub fn dialect(backend: Backend) -> Dialect {
    match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
        Backend::Mysql => Dialect::Mysql,
    }
}

/// Builds the plan, turning an unknown ledger status into a clear error.
pub fn build_plan(scripts: &[Script], rows: &[ledger::LedgerRow], database: &str) -> Result<Plan> {
    Plan::build(scripts, rows).map_err(|u| Error::Ledger {
        database: database.to_string(),
        message: format!(
            "script {} has unknown status `{}` in oneoff_ledger; it was written by a newer oneoff or by hand: upgrade oneoff or correct the row",
            u.id, u.status
        ),
    })
}

fn modified_scripts(plan: &Plan) -> Vec<ModifiedScript> {
    plan.modified()
        .map(|e| {
            let recorded = e.row.as_ref().map(|r| r.checksum.clone()).unwrap_or_default();
            let checksum = e.script.as_ref().map(|s| s.checksum.clone()).unwrap_or_default();
            tracing::warn!(id = %e.id, name = %e.name, %recorded, %checksum, "file changed after the script succeeded; it will not run again");
            ModifiedScript {
                id: e.id.clone(),
                name: e.name.clone(),
                recorded_checksum: recorded,
                checksum,
            }
        })
        .collect()
}

/// Refuses a ledger whose schema was written by a newer oneoff.
pub(crate) fn refuse_newer_ledger(conn: &mut AnyConnection, database: &str) -> Result<()> {
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.to_string(),
        message: e.to_string(),
    };
    if !ledger::exists(conn).map_err(ledger_err)? {
        return Ok(());
    }
    let unknown = migrate::unknown_versions(conn).map_err(ledger_err)?;
    match unknown.last() {
        Some(found) => Err(Error::NewerLedger {
            database: database.to_string(),
            found: found.clone(),
            tool: ledger::TOOL_VERSION.to_string(),
        }),
        None => Ok(()),
    }
}

fn lock_timeout_error(conn: &mut AnyConnection, database: &str, waited: Duration) -> Error {
    let holder = ledger::read_lock_holder(conn)
        .ok()
        .flatten()
        .unwrap_or_else(|| "holder unknown: it has not recorded itself yet".into());
    Error::LockTimeout {
        database: database.to_string(),
        holder: format!("held by {holder}"),
        waited: humantime::format_duration(waited).to_string(),
    }
}
