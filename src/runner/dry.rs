//! The dry run: the same attempt path, inside one transaction that is
//! always rolled back, with nothing claimed. Each script runs in oneoff's
//! guard savepoint, so later scripts see the effects of earlier ones as in
//! a real run; a script that cannot be rolled back is not executed. The
//! outcomes are recorded in the history after the rollback.

use super::attempt::{Ctx, Ended, Job};
use super::outcome::{Outcome, ScriptOutcome, StatementResults};
use super::work::{self, begin, rollback};
use crate::error::{Error, Result};
use crate::ledger::{self, Finish, Status};
use crate::script::rules;

/// Dry-runs the jobs in order, stopping at the first failure or cancellation.
pub(crate) fn dry_run_all(
    ctx: &mut Ctx<'_>,
    jobs: &[Job<'_>],
    outcomes: &mut Vec<ScriptOutcome>,
) -> Result<()> {
    let ledger_err = |e: &dyn std::fmt::Display, ctx: &Ctx<'_>| Error::Ledger {
        database: ctx.database.to_string(),
        message: ctx.url.scrub(&e.to_string()),
    };
    begin(ctx.db).map_err(|e| ledger_err(&e, ctx))?;
    let result = super::each_job(ctx, jobs, outcomes, &mut Vec::new(), |ctx, job| {
        dry_run_one(ctx, job).map_err(|e| ledger_err(&e, ctx))
    });
    rollback(ctx.db);
    if let Err(e) = ctx.db.engine.reset_session(&mut ctx.db.conn) {
        tracing::warn!("could not put the session back after the dry run: {e}");
    }
    result?;
    for out in outcomes
        .iter()
        .filter(|o| !o.cancelled() && o.outcome != Outcome::NotExecuted)
    {
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
            committed: None,
        };
        let checksum = jobs
            .iter()
            .find(|j| j.script.id == out.id)
            .map_or("", |j| j.script.checksum.as_str());
        work::in_tx(ctx.db, |db| {
            ledger::attempt::record_dry_run(
                &mut db.conn,
                (&out.id, checksum),
                &ctx.attempt,
                &finish,
            )
        })
        .map_err(|e| ledger_err(&e, ctx))?;
    }
    Ok(())
}

/// One script of a dry run, in the dry run's transaction.
fn dry_run_one(ctx: &mut Ctx<'_>, job: &Job<'_>) -> diesel::QueryResult<ScriptOutcome> {
    let ended = match not_dry_runnable(job, ctx.db.engine.backend()) {
        Some(reason) => {
            let mut ended = Ended::new(Outcome::NotExecuted, StatementResults::default(), None);
            ended.reason = Some(reason);
            ended
        }
        None => {
            ctx.watchdog.begin(job.timeout);
            let ended = if job.script.kind == crate::script::ScriptKind::Rust {
                work::rust::dry_run(ctx, job)
            } else if job.script.directives.batch {
                work::batch::dry_run(ctx, job)
            } else {
                work::plain::dry_run(ctx, job, work::Post::AfterStatements)
            };
            ctx.watchdog.end();
            let ended = ended?;
            let temporary = job.statements.temporaries();
            ctx.db.engine.end_of_script(&mut ctx.db.conn, &temporary)?;
            ended
        }
    };
    Ok(ended.into_outcome(job.script, ctx.started).0)
}

/// Why a script must not be executed in a dry run, if it must not.
fn not_dry_runnable(job: &Job<'_>, backend: crate::db::Backend) -> Option<String> {
    if job.script.directives.no_transaction {
        return Some("not executed: a no-transaction script cannot be rolled back".into());
    }
    let dialect = super::dialect(backend);
    if dialect != crate::script::Dialect::Mysql
        || job.script.kind == crate::script::ScriptKind::Rust
    {
        return None; // only MySQL commits implicitly
    }
    let mut stream = job.statements.stream().ok()?;
    stream
        .find_map(|s| rules::cannot_roll_back(&s.ok()?, dialect))
        .map(|why| format!("not executed: {why}"))
}
