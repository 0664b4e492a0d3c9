//! Executes one script: its statements inside one transaction together with
//! the ledger update (or, for `no-transaction` scripts, each on its own), and
//! records the outcome: succeeded, failed (also for a timeout), or cancelled.

use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::outcome::{Outcome, ScriptOutcome, StatementResult};
use super::statements::{execute_all, is_ddl, StatementFailure};
use super::watchdog::{Stop, Watchdog};
use crate::db::{AnyConnection, Backend};
use crate::ledger::{self, Attempt, Begun, Finish, Status};
use crate::script::{Script, Statement};

/// Why the script's transaction did not commit.
#[derive(Debug)]
enum Abort {
    Statement(StatementFailure),
    Ledger(diesel::result::Error),
    Rollback,
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Ledger(e)
    }
}

/// Builds the ledger's `Finish` for an outcome.
type FinishFn<'a> = dyn Fn(Status, &[StatementResult], Option<String>) -> Finish + 'a;

/// One script to run, with what it needs.
pub struct Job<'a> {
    /// The script.
    pub script: &'a Script,
    /// Its statements.
    pub statements: &'a [Statement],
    /// Its time limit.
    pub timeout: Option<Duration>,
    /// Batched scripts: pause and batch limit.
    pub limits: super::batch::BatchLimits,
}

/// Runs a script for real. `Err` only when the ledger itself cannot be
/// written: the work is then rolled back, or its row left `running` for the
/// next run to report as interrupted.
pub fn run_script(
    conn: &mut AnyConnection,
    job: &Job<'_>,
    attempt: &Attempt,
    watchdog: &Watchdog,
) -> QueryResult<ScriptOutcome> {
    let script = job.script;
    let started = Instant::now();
    let begun = conn.transaction(|c| {
        ledger::begin_attempt(
            c,
            &script.id,
            &script.name,
            &script.checksum,
            attempt,
            false,
        )
    })?;
    let backend = backend(conn);
    let finish = |status, rows: &[StatementResult], error: Option<String>| Finish {
        status,
        finished_at: ledger::now(),
        duration_ms: started.elapsed().as_millis() as i64,
        rows_affected: Some(super::outcome::total(rows)),
        error,
    };
    watchdog.begin(job.timeout);
    let result = if script.directives.no_transaction {
        execute_all(conn, backend, job.statements, watchdog).map_err(Abort::Statement)
    } else {
        conn.transaction::<_, Abort, _>(|c| {
            let done =
                execute_all(c, backend, job.statements, watchdog).map_err(Abort::Statement)?;
            ledger::finish_attempt(
                c,
                &script.id,
                &attempt.run_id,
                &finish(Status::Succeeded, &done, None),
            )?;
            Ok(done)
        })
    };
    watchdog.end();
    let mut outcome = match result {
        Ok(done) => {
            if script.directives.no_transaction {
                let f = finish(Status::Succeeded, &done, None);
                ledger::finish_attempt(conn, &script.id, &attempt.run_id, &f)?;
            }
            ScriptOutcome::new(script, Outcome::Succeeded, done, started, None)
        }
        Err(Abort::Statement(failure)) => {
            record_failure(conn, job, attempt, &begun, failure, started, &finish)
        }
        // The ledger update or the commit failed: almost always a lost
        // connection. Whether the commit happened is unknown here; the
        // caller records the failure on a new connection only if the row is
        // still `running` (a commit would have made it `succeeded`).
        Err(Abort::Ledger(e)) => {
            let message = format!("connection lost while finishing the script: {e}");
            let mut out =
                ScriptOutcome::new(script, Outcome::Failed, Vec::new(), started, Some(message));
            out.connection_lost = true;
            out
        }
        Err(Abort::Rollback) => unreachable!("only dry runs roll back on purpose"),
    };
    outcome.attempts = begun.attempts;
    Ok(outcome)
}

/// Records a failed or stopped attempt. When that fails too, the connection
/// is gone: the outcome says so and the caller records it on a new one.
fn record_failure(
    conn: &mut AnyConnection,
    job: &Job<'_>,
    attempt: &Attempt,
    begun: &Begun,
    failure: StatementFailure,
    started: Instant,
    finish: &FinishFn<'_>,
) -> ScriptOutcome {
    let script = job.script;
    let no_tx = script.directives.no_transaction;
    let (outcome, recorded) = match failure.stop {
        Some(Stop::Cancelled) if !no_tx => {
            let f = finish(Status::Failed, &[], Some(failure.message.clone()));
            let restored = ledger::cancel_attempt(
                conn,
                &script.id,
                &attempt.run_id,
                begun.previous.as_ref(),
                &f,
            );
            (Outcome::Cancelled, restored)
        }
        Some(Stop::Cancelled) => {
            let message = format!(
                "{}; statements before it were committed (no transaction)",
                failure.message
            );
            let f = finish(Status::Interrupted, &failure.done, Some(message));
            let recorded =
                conn.transaction(|c| ledger::finish_attempt(c, &script.id, &attempt.run_id, &f));
            (Outcome::Cancelled, recorded)
        }
        _ => {
            let mut f = finish(Status::Failed, &failure.done, Some(failure.message.clone()));
            if !no_tx {
                // Rolled back: it changed nothing.
                f.rows_affected = None;
            }
            let recorded =
                conn.transaction(|c| ledger::finish_attempt(c, &script.id, &attempt.run_id, &f));
            (Outcome::Failed, recorded)
        }
    };
    let mut out = ScriptOutcome::new(
        script,
        outcome,
        failure.done,
        started,
        Some(failure.message),
    );
    if let Err(e) = recorded {
        tracing::warn!("could not record the outcome of {}: {e}", script.id);
        out.connection_lost = true;
        out.error = out.error.map(|error| format!("connection lost: {error}"));
    }
    out
}

/// Runs a script for a dry run. The caller wraps the whole dry run in one
/// transaction that it always rolls back, so this script's transaction is a
/// savepoint: released on success (later scripts see its effect, as they
/// would in a real run) and rolled back on failure. Nothing is recorded here.
pub fn dry_run_script(
    conn: &mut AnyConnection,
    job: &Job<'_>,
    watchdog: &Watchdog,
) -> QueryResult<ScriptOutcome> {
    let started = Instant::now();
    let backend = backend(conn);
    if let Some(reason) = not_dry_runnable(job.script, job.statements, backend) {
        let mut out =
            ScriptOutcome::new(job.script, Outcome::NotExecuted, Vec::new(), started, None);
        out.reason = Some(reason);
        return Ok(out);
    }
    watchdog.begin(job.timeout);
    let result = conn.transaction::<_, Abort, _>(|c| {
        execute_all(c, backend, job.statements, watchdog).map_err(Abort::Statement)
    });
    watchdog.end();
    let (outcome, done, error) = match result {
        Ok(done) => (Outcome::RolledBack, done, None),
        Err(Abort::Statement(f)) if f.stop == Some(Stop::Cancelled) => {
            (Outcome::Cancelled, f.done, Some(f.message))
        }
        Err(Abort::Statement(f)) => (Outcome::DryRunFailed, f.done, Some(f.message)),
        Err(Abort::Ledger(e)) => return Err(e),
        Err(Abort::Rollback) => unreachable!("only the caller aborts a dry run"),
    };
    Ok(ScriptOutcome::new(
        job.script, outcome, done, started, error,
    ))
}

/// Records a dry run's outcome in the history (never in the ledger row).
pub fn record_dry_run(
    conn: &mut AnyConnection,
    out: &ScriptOutcome,
    attempt: &Attempt,
) -> QueryResult<()> {
    if out.outcome == Outcome::NotExecuted {
        return Ok(());
    }
    let finish = Finish {
        status: if out.failed() {
            Status::Failed
        } else {
            Status::Succeeded
        },
        finished_at: ledger::now(),
        duration_ms: out.duration_ms,
        rows_affected: Some(out.rows_affected),
        error: out.error.clone(),
    };
    conn.transaction(|c| ledger::record_dry_run(c, &out.id, attempt, &finish))
}

/// Runs `body` inside a transaction that is always rolled back.
pub fn always_rolled_back<T>(
    conn: &mut AnyConnection,
    body: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let mut kept = None;
    let result = conn.transaction::<(), Abort, _>(|c| {
        kept = Some(body(c)?);
        Err(Abort::Rollback)
    });
    match result {
        Err(Abort::Rollback) => Ok(kept.expect("set before the rollback")),
        Err(Abort::Ledger(e)) => Err(e),
        Err(Abort::Statement(_)) | Ok(()) => unreachable!("the body returns only ledger errors"),
    }
}

/// Why a script must not be executed in a dry run, if it must not.
fn not_dry_runnable(script: &Script, statements: &[Statement], backend: Backend) -> Option<String> {
    if script.directives.no_transaction {
        return Some("not executed: a no-transaction script cannot be rolled back".into());
    }
    if backend == Backend::Mysql {
        if let Some(s) = statements.iter().find(|s| is_ddl(&s.text)) {
            return Some(format!(
                "not executed: statement {} (line {}) is DDL, which MySQL commits implicitly, so it cannot be rolled back",
                s.number, s.line
            ));
        }
    }
    None
}

fn backend(conn: &AnyConnection) -> Backend {
    crate::ledger::migrate::backend_of(conn)
}
