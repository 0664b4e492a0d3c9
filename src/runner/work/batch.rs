//! Batched scripts (`-- oneoff:batch`): the one statement runs again and
//! again, each execution guarded and in its own transaction together with
//! the ledger's progress, until an execution changes no rows. A failed or
//! interrupted backfill resumes with `run --retry`: committed batches stay
//! done and the counts carry on.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::{begin, commit, guarded, rollback, Abort, Post};
use crate::db::{Backend, Db};
use crate::ledger::{self, Claim, Progress, Status};
use crate::runner::attempt::{self, lost_lock, Ctx, Ended, Job, Record};
use crate::runner::outcome::{Outcome, StatementResult, StatementResults};
use crate::runner::statements::describe;
use crate::runner::watchdog::{Stop, Watchdog};
use crate::runner::RunEvent;

/// Limits on a batched script, beyond its time limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchLimits {
    /// Sleep between batches.
    pub pause: Option<Duration>,
    /// Stop (failed) after this many batches in one run.
    pub max_batches: Option<u64>,
}

/// Counts the rows a batched script has to do.
pub fn count_total(db: &mut Db, query: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        n: Option<i64>,
    }
    let cast = if db.engine.backend() == Backend::Mysql {
        "SIGNED"
    } else {
        "BIGINT"
    };
    let sql = format!("SELECT CAST(({query}) AS {cast}) AS n");
    let total: Total = diesel::sql_query(sql).get_result(&mut db.conn)?;
    Ok(total.n.unwrap_or(0))
}

/// How many rows past the total a statement may change before it is taken
/// for one that never reaches zero (it keeps picking rows it already did).
fn margin(total: i64) -> i64 {
    (total / 10).max(1000)
}

/// Why the loop stopped before a batch changed no rows.
enum Halt {
    Abort(Abort),
    Runaway(String),
    Conflict(crate::error::Error),
}

/// Runs a batched script for real.
pub(crate) fn run(ctx: &mut Ctx<'_>, job: &Job<'_>, claim: &Claim) -> QueryResult<Ended> {
    let previous = claim.previous.as_ref();
    let mut progress = Progress {
        rows_done: previous.and_then(|r| r.rows_affected).unwrap_or(0),
        batches: previous.and_then(|r| r.batches).unwrap_or(0),
        ..Progress::default()
    };
    let mut total = previous.and_then(|r| r.rows_total);
    if total.is_none() {
        if let Some(query) = &job.script.directives.total {
            match count_total(ctx.db, query) {
                Ok(n) => {
                    total = Some(n);
                    ledger::attempt::record_total(&mut ctx.db.conn, &job.script.id, n)?;
                }
                Err(e) => {
                    let message = format!("the `oneoff:total` query failed: {e}");
                    return Ok(end(
                        ctx,
                        progress,
                        total,
                        Outcome::Failed,
                        Status::Failed,
                        Some(message),
                    ));
                }
            }
        }
    }
    let mut passed = None;
    let halt = backfill(ctx, job, claim, &mut progress, total, &mut passed);
    let (outcome, status, error) = match &halt {
        None => (Outcome::Succeeded, Status::Succeeded, None),
        Some(Halt::Abort(Abort::Statement(f))) if f.stop == Some(Stop::Cancelled) => (
            Outcome::Cancelled,
            Status::Interrupted,
            Some(format!(
                "{} after {} batch(es) of this run; `oneoff run --retry` continues from there",
                describe(Stop::Cancelled),
                progress.attempt_batches
            )),
        ),
        Some(Halt::Abort(Abort::Statement(f))) => {
            let message = match f.stop {
                Some(stop) => format!("{} in batch {}", describe(stop), progress.batches + 1),
                None => format!("batch {}: {}", progress.batches + 1, f.message),
            };
            (Outcome::Failed, Status::Failed, Some(message))
        }
        Some(Halt::Abort(Abort::Postcondition(m))) => (
            Outcome::Failed,
            Status::Failed,
            Some(format!(
                "{m} (checked after the last batch, on the rows of all {} batch(es)); the last, empty batch was rolled back and the batches before stay committed: fix the data or the condition, then `oneoff run --retry` checks again",
                progress.batches
            )),
        ),
        Some(Halt::Abort(abort)) => (
            Outcome::Failed,
            Status::Failed,
            Some(abort.message(&job.script.id)),
        ),
        Some(Halt::Runaway(message)) => (Outcome::Failed, Status::Failed, Some(message.clone())),
        Some(Halt::Conflict(e)) => (Outcome::Failed, Status::Failed, Some(e.to_string())),
    };
    let mut ended = end(ctx, progress, total, outcome, status, error).with_passed(passed);
    match halt {
        Some(Halt::Abort(Abort::Db(_))) => ended.connection_lost = true,
        Some(Halt::Abort(Abort::TxEnded { .. })) => {
            if let Some(Record::End(f)) = &mut ended.record {
                f.committed = attempt::unknown_committed();
            }
        }
        Some(Halt::Conflict(e)) => ended.conflict = Some(e),
        _ => {}
    }
    Ok(ended)
}

/// The end of a batched attempt; a success was recorded with its last batch.
fn end(
    ctx: &Ctx<'_>,
    progress: Progress,
    total: Option<i64>,
    outcome: Outcome,
    status: Status,
    error: Option<String>,
) -> Ended {
    let mut ended = Ended::new(outcome, StatementResults::default(), error.clone());
    if status != Status::Succeeded {
        ended.record = Some(Record::End(attempt::finish(
            ctx.started,
            status,
            Some(progress.rows_done),
            error,
        )));
    }
    ended.done = vec![StatementResult {
        number: 1,
        line: 0,
        rows_affected: progress.attempt_rows,
        notices: Vec::new(),
    }]
    .into();
    ended.batch = Some((progress.attempt_rows, progress.attempt_batches, total));
    ended
}

/// The batch loop. `None` when the statement reached zero rows.
fn backfill(
    ctx: &mut Ctx<'_>,
    job: &Job<'_>,
    claim: &Claim,
    progress: &mut Progress,
    total: Option<i64>,
    passed: &mut Option<String>,
) -> Option<Halt> {
    let started = Instant::now();
    let report = |p: &Progress, observe: &mut dyn FnMut(RunEvent<'_>)| {
        observe(RunEvent::Batch {
            id: &job.script.id,
            batches: p.batches,
            rows_done: p.rows_done,
            rows_total: total,
            elapsed: started.elapsed(),
        })
    };
    report(progress, ctx.observe);
    loop {
        let mut next = *progress;
        let changed = match one_batch(ctx, job, claim, &mut next, started) {
            Ok((changed, checked)) => {
                *passed = checked;
                changed
            }
            Err(halt) => return Some(halt),
        };
        *progress = next;
        report(progress, ctx.observe);
        if changed == 0 {
            return None;
        }
        if let Some(halt) = runaway(progress, total, job.limits) {
            return Some(halt);
        }
        if let Some(pause) = job.limits.pause.filter(|p| !p.is_zero()) {
            pause_unless_stopped(pause, ctx.watchdog);
        }
    }
}

/// One batch in its own transaction with the progress (or, when it changed
/// nothing, with the script's success, once its post-conditions passed on
/// the whole script's rows). Returns the rows it changed, and the
/// post-conditions that passed.
fn one_batch(
    ctx: &mut Ctx<'_>,
    job: &Job<'_>,
    claim: &Claim,
    next: &mut Progress,
    started: Instant,
) -> Result<(i64, Option<String>), Halt> {
    let id = &job.script.id;
    begin(ctx.db).map_err(|e| Halt::Abort(Abort::Db(e)))?;
    let post = Post::IfLastBatch {
        rows_before: next.rows_done,
    };
    let mut passed = None;
    let result = guarded(ctx.db, job.statements, ctx.watchdog, post).and_then(|g| {
        passed = g.passed;
        let done = g.done;
        let changed = done.first().map_or(0, |r| r.rows_affected);
        next.rows_done += changed;
        next.attempt_rows += changed;
        next.duration_ms = started.elapsed().as_millis() as i64;
        if !ctx.db.engine.holds_lock(&mut ctx.db.conn)? {
            return Ok((changed, false, true));
        }
        ctx.db.engine.pin_ledger(&mut ctx.db.conn)?;
        let ours = if changed > 0 {
            next.batches += 1;
            next.attempt_batches += 1;
            ledger::attempt::record_batch(&mut ctx.db.conn, id, claim.attempts, next)?
        } else {
            let finish =
                attempt::finish(ctx.started, Status::Succeeded, Some(next.rows_done), None);
            let ours = ledger::attempt::finish_attempt(
                &mut ctx.db.conn,
                id,
                &ctx.attempt.run_id,
                claim.attempts,
                &finish,
            )?;
            ledger::attempt::record_attempt_progress(
                &mut ctx.db.conn,
                id,
                &ctx.attempt.run_id,
                next,
            )?;
            ours
        };
        Ok((changed, ours, false))
    });
    let (changed, ours, lock_lost) = match result {
        Ok(r) => r,
        Err(abort) => {
            rollback(ctx.db);
            return Err(Halt::Abort(abort));
        }
    };
    if lock_lost || !ours {
        rollback(ctx.db);
        return Err(Halt::Conflict(if lock_lost {
            lost_lock(id, "in a batch; the batch was rolled back")
        } else {
            attempt::changed_while_running(job, "the last batch was rolled back")
        }));
    }
    // The session is put back once, when the script ends: between its own
    // batches it is the script's, as between a script's statements.
    commit(ctx.db).map_err(|e| Halt::Abort(Abort::Db(e)))?;
    Ok((changed, passed))
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

/// Dry run of a batched script: the first batch only, with the total.
pub(crate) fn dry_run(ctx: &mut Ctx<'_>, job: &Job<'_>) -> QueryResult<Ended> {
    let total = match &job.script.directives.total {
        Some(query) => match count_total(ctx.db, query) {
            Ok(n) => Some(n),
            Err(e) => {
                let message = format!("the `oneoff:total` query failed: {e}");
                return Ok(Ended::new(
                    Outcome::DryRunFailed,
                    StatementResults::default(),
                    Some(message),
                ));
            }
        },
        None => None,
    };
    let mut ended = super::plain::dry_run(ctx, job, Post::Skip)?;
    if ended.outcome == Outcome::RolledBack {
        let changed = ended.done.first().map_or(0, |r| r.rows_affected);
        let of = total
            .map(|t| format!(" of {t} rows to do"))
            .unwrap_or_default();
        ended.error = None;
        ended.batch = Some((changed, 1, total));
        ended.reason = Some(format!(
            "batched: executed the first batch only ({changed} rows{of}) and rolled it back{}",
            if job.script.directives.postconditions.is_empty() {
                ""
            } else {
                "; its post-conditions are checked after the last batch of a real run, on all its rows"
            }
        ));
    } else {
        ended.batch = Some((0, 1, total));
        if let Some(e) = &ended.error {
            ended.error = Some(format!("batch 1: {e}"));
        }
    }
    Ok(ended)
}
