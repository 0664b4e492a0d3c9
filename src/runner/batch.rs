//! Batched scripts (`-- oneoff:batch`): the one statement runs again and
//! again, each execution in its own transaction together with the ledger's
//! progress, until an execution changes no rows. A failed or interrupted
//! backfill resumes with `run --retry`: committed batches stay done and the
//! counts carry on.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::outcome::{Outcome, ScriptOutcome, StatementResult};
use super::statements::{counts_rows, describe};
use super::watchdog::{Stop, Watchdog};
use super::RunEvent;
use crate::db::{AnyConnection, Backend};
use crate::ledger::{self, Attempt, Finish, Progress, Status};

use super::execute::Job;

/// Limits on a batched script, beyond its time limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchLimits {
    /// Sleep between batches.
    pub pause: Option<Duration>,
    /// Stop (failed) after this many batches in one run.
    pub max_batches: Option<u64>,
}

/// Why a backfill stopped before its statement reached zero rows.
enum Halt {
    Statement(String),
    Stopped(Stop),
    Runaway(String),
    Ledger(diesel::result::Error),
}

impl From<diesel::result::Error> for Halt {
    fn from(e: diesel::result::Error) -> Self {
        Halt::Ledger(e)
    }
}

/// Counts the rows a batched script has to do.
pub fn count_total(conn: &mut AnyConnection, backend: Backend, query: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        n: Option<i64>,
    }
    let cast = if backend == Backend::Mysql {
        "SIGNED"
    } else {
        "BIGINT"
    };
    let sql = format!("SELECT CAST(({query}) AS {cast}) AS n");
    let total: Total = diesel::sql_query(sql).get_result(conn)?;
    Ok(total.n.unwrap_or(0))
}

/// How many rows past the total a statement may change before it is taken
/// for one that never reaches zero (it keeps picking rows it already did).
fn margin(total: i64) -> i64 {
    (total / 10).max(1000)
}

/// Runs a batched script for real.
pub fn run_batched(
    conn: &mut AnyConnection,
    job: &Job<'_>,
    attempt: &Attempt,
    watchdog: &Watchdog,
    limits: BatchLimits,
    observe: &mut dyn FnMut(RunEvent<'_>),
) -> QueryResult<ScriptOutcome> {
    let script = job.script;
    let started = Instant::now();
    let begun = conn.transaction(|c| {
        ledger::begin_attempt(c, &script.id, &script.name, &script.checksum, attempt, true)
    })?;
    let previous = begun.previous.as_ref();
    let mut progress = Progress {
        rows_done: previous.and_then(|r| r.rows_affected).unwrap_or(0),
        batches: previous.and_then(|r| r.batches).unwrap_or(0),
        ..Progress::default()
    };
    let mut total = previous.and_then(|r| r.rows_total);
    let backend = ledger::migrate::backend_of(conn);
    watchdog.begin(job.timeout);
    let halt = backfill(
        conn,
        job,
        attempt,
        watchdog,
        limits,
        &mut progress,
        &mut total,
        backend,
        observe,
    );
    watchdog.end();
    let (outcome, status, error) = match halt {
        None => (Outcome::Succeeded, Status::Succeeded, None),
        Some(Halt::Ledger(e)) => return Err(e),
        Some(Halt::Stopped(Stop::Cancelled)) => (
            Outcome::Cancelled,
            Status::Interrupted,
            Some(format!(
                "{} after {} batch(es) of this run; `oneoff run --retry` continues from there",
                describe(Stop::Cancelled),
                progress.attempt_batches
            )),
        ),
        Some(Halt::Stopped(stop)) => (
            Outcome::Failed,
            Status::Failed,
            Some(format!(
                "{} in batch {}",
                describe(stop),
                progress.batches + 1
            )),
        ),
        Some(Halt::Statement(message) | Halt::Runaway(message)) => {
            (Outcome::Failed, Status::Failed, Some(message))
        }
    };
    progress.duration_ms = started.elapsed().as_millis() as i64;
    let finish = Finish {
        status,
        finished_at: ledger::now(),
        duration_ms: progress.duration_ms,
        rows_affected: Some(progress.rows_done),
        error: error.clone(),
    };
    let mut out = ScriptOutcome::new(script, outcome, Vec::new(), started, error);
    out.rows_affected = progress.attempt_rows;
    out.statements = vec![StatementResult {
        number: 1,
        line: job.statements[0].line,
        rows_affected: progress.attempt_rows,
    }];
    out.attempts = begun.attempts;
    out.batches = Some(progress.attempt_batches);
    out.rows_total = total;
    // A success was recorded with its last (empty) batch; the rest here.
    if status != Status::Succeeded {
        let recorded = conn.transaction(|c| {
            ledger::finish_attempt(c, &script.id, &attempt.run_id, &finish)?;
            ledger::record_attempt_progress(c, &script.id, &attempt.run_id, &progress)
        });
        if let Err(e) = recorded {
            tracing::warn!("could not record the outcome of {}: {e}", script.id);
            out.connection_lost = true;
            out.error = out.error.map(|e| format!("connection lost: {e}"));
        }
    }
    Ok(out)
}

/// The batch loop. `None` when the statement reached zero rows.
#[allow(clippy::too_many_arguments)]
fn backfill(
    conn: &mut AnyConnection,
    job: &Job<'_>,
    attempt: &Attempt,
    watchdog: &Watchdog,
    limits: BatchLimits,
    progress: &mut Progress,
    total: &mut Option<i64>,
    backend: Backend,
    observe: &mut dyn FnMut(RunEvent<'_>),
) -> Option<Halt> {
    let script = job.script;
    let statement = &job.statements[0];
    let started = Instant::now();
    if total.is_none() {
        if let Some(query) = &script.directives.total {
            match count_total(conn, backend, query) {
                Ok(n) => {
                    *total = Some(n);
                    if let Err(e) = ledger::record_total(conn, &script.id, n) {
                        return Some(Halt::Ledger(e));
                    }
                }
                Err(e) => {
                    return Some(Halt::Statement(format!(
                        "the `oneoff:total` query failed: {e}"
                    )))
                }
            }
        }
    }
    let report = |p: &Progress, total: Option<i64>, observe: &mut dyn FnMut(RunEvent<'_>)| {
        observe(RunEvent::Batch {
            id: &script.id,
            batches: p.batches,
            rows_done: p.rows_done,
            rows_total: total,
            elapsed: started.elapsed(),
        })
    };
    report(progress, *total, observe);
    loop {
        if let Some(stop) = watchdog.stopped() {
            return Some(Halt::Stopped(stop));
        }
        let mut next = *progress;
        let result = conn.transaction::<i64, Halt, _>(|c| {
            let changed = diesel::sql_query(&statement.text).execute(c).map_err(|e| {
                Halt::Statement(format!(
                    "batch {}: statement 1 (line {}): {e}",
                    progress.batches + 1,
                    statement.line
                ))
            })?;
            if let Some(stop) = watchdog.stopped() {
                return Err(Halt::Stopped(stop));
            }
            let changed = if counts_rows(backend, &statement.text) {
                changed as i64
            } else {
                0
            };
            next.rows_done += changed;
            next.attempt_rows += changed;
            next.duration_ms = started.elapsed().as_millis() as i64;
            if changed > 0 {
                next.batches += 1;
                next.attempt_batches += 1;
                ledger::record_batch(c, &script.id, &next).map_err(Halt::Ledger)?;
            } else {
                let finish = Finish {
                    status: Status::Succeeded,
                    finished_at: ledger::now(),
                    duration_ms: next.duration_ms,
                    rows_affected: Some(next.rows_done),
                    error: None,
                };
                ledger::finish_attempt(c, &script.id, &attempt.run_id, &finish)
                    .map_err(Halt::Ledger)?;
                ledger::record_attempt_progress(c, &script.id, &attempt.run_id, &next)
                    .map_err(Halt::Ledger)?;
            }
            Ok(changed)
        });
        let changed = match result {
            Ok(changed) => changed,
            Err(halt) => return Some(halt),
        };
        *progress = next;
        report(progress, *total, observe);
        if changed == 0 {
            return None;
        }
        if let Some(halt) = runaway(progress, *total, limits) {
            return Some(halt);
        }
        if let Some(pause) = limits.pause.filter(|p| !p.is_zero()) {
            pause_unless_stopped(pause, watchdog);
        }
    }
}

/// A statement that never reaches zero changed rows is stopped.
fn runaway(progress: &Progress, total: Option<i64>, limits: BatchLimits) -> Option<Halt> {
    if let Some(total) = total {
        if progress.rows_done > total + margin(total) {
            return Some(Halt::Runaway(format!(
                "the batch statement changed {} rows in {} batches, more than the {total} rows `oneoff:total` counted (+{}): it probably picks rows it already changed; make it select only rows that still need work",
                progress.rows_done,
                progress.batches,
                margin(total)
            )));
        }
    }
    match limits.max_batches {
        Some(max) if progress.attempt_batches as u64 >= max => Some(Halt::Runaway(format!(
            "stopped after --max-batches {max} batches ({} rows) without reaching a batch that changes no rows; `oneoff run --retry` continues",
            progress.attempt_rows
        ))),
        _ => None,
    }
}

/// Sleeps between batches, waking early when the script is stopped.
fn pause_unless_stopped(pause: Duration, watchdog: &Watchdog) {
    let until = Instant::now() + pause;
    while Instant::now() < until && watchdog.stopped().is_none() {
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
}

/// Dry run of a batched script: the first batch only (the caller rolls it
/// back), with the total.
pub fn dry_run_batched(
    conn: &mut AnyConnection,
    job: &Job<'_>,
    watchdog: &Watchdog,
) -> QueryResult<ScriptOutcome> {
    let started = Instant::now();
    let backend = ledger::migrate::backend_of(conn);
    let statement = &job.statements[0];
    let total = match &job.script.directives.total {
        Some(query) => match count_total(conn, backend, query) {
            Ok(n) => Some(n),
            Err(e) => {
                let message = format!("the `oneoff:total` query failed: {e}");
                return Ok(ScriptOutcome::new(
                    job.script,
                    Outcome::DryRunFailed,
                    Vec::new(),
                    started,
                    Some(message),
                ));
            }
        },
        None => None,
    };
    watchdog.begin(job.timeout);
    let result = conn.transaction::<i64, diesel::result::Error, _>(|c| {
        let changed = diesel::sql_query(&statement.text).execute(c)?;
        Ok(if counts_rows(backend, &statement.text) {
            changed as i64
        } else {
            0
        })
    });
    watchdog.end();
    let mut out = match result {
        Ok(changed) => {
            let done = vec![StatementResult {
                number: 1,
                line: statement.line,
                rows_affected: changed,
            }];
            let mut out = ScriptOutcome::new(job.script, Outcome::RolledBack, done, started, None);
            let of = total
                .map(|t| format!(" of {t} rows to do"))
                .unwrap_or_default();
            out.reason = Some(format!(
                "batched: executed the first batch only ({changed} rows{of}) and rolled it back"
            ));
            out
        }
        Err(e) => {
            let message = format!("batch 1: statement 1 (line {}): {e}", statement.line);
            ScriptOutcome::new(
                job.script,
                Outcome::DryRunFailed,
                Vec::new(),
                started,
                Some(message),
            )
        }
    };
    out.batches = Some(1);
    out.rows_total = total;
    Ok(out)
}
