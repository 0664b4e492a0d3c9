//! A transactional script in three requests, on a backend with
//! [`Fused`](crate::db::fused::Fused) SQL: claim and open, the statements,
//! check, record and commit. The same outcomes as [`super::plain`], which
//! takes seventeen round trips for a one-statement script.
//!
//! With a deferred claim the script joins the group of scripts sharing one
//! transaction ([`super::grouped`] has the rules): its claim, statements and
//! outcome are made in a savepoint of its own, and the group commits them.

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use super::{connection_gone, grouped, in_guard, plain, postconditions, rollback, Abort, Post};
use crate::db::fused::Fault;
use crate::ledger::{self, Claim, Keep, Status};
use crate::runner::attempt::{self, lost_lock, Ctx, Ended, Job};
use crate::runner::outcome::{Outcome, StatementResults};

/// Claims the script and runs it. `Err` when the claim could not be
/// written. Whatever the outcome, the script's changes to the session end
/// with its transaction.
pub(crate) fn run(ctx: &mut Ctx<'_>, job: &Job<'_>, claim: &Claim) -> QueryResult<Ended> {
    if let Some(ended) = open(ctx, job, claim.deferred)? {
        return Ok(ended);
    }
    let guarded = in_guard(ctx.db, job.statements, ctx.watchdog).and_then(|done| {
        postconditions(
            ctx.db,
            job.statements,
            ctx.watchdog,
            Post::AfterStatements,
            done,
        )
    });
    match guarded {
        Ok(g) => close(ctx, job, claim, g.done).map(|e| e.with_passed(g.passed)),
        Err(abort) => {
            undo(ctx, claim.deferred);
            Ok(plain::failed(ctx, job, abort))
        }
    }
}

/// Rolls the script back: its transaction, or in a group its savepoint
/// (the group goes on, unless the script ended its transaction).
fn undo(ctx: &mut Ctx<'_>, grouped: bool) {
    if grouped {
        grouped::undo(ctx);
    } else {
        rollback(ctx.db);
    }
}

/// Claim committed (or made in the group), transaction and guard savepoint
/// open; `Some` ends the attempt before it started.
fn open(ctx: &mut Ctx<'_>, job: &Job<'_>, grouped: bool) -> QueryResult<Option<Ended>> {
    let script = job.script;
    let row = ledger::attempt::claimed_row(
        attempt::identity(script),
        &ctx.attempt,
        job.row,
        Keep::default(),
    );
    let history = ledger::attempt::history_row(
        (&script.id, Some(&script.checksum)),
        &ctx.attempt,
        Status::Running.as_str(),
        false,
        None,
    );
    let begin = grouped && ctx.group.is_none();
    let fused = ctx.db.engine.fused().expect("only fused engines get here");
    let sql = if grouped {
        fused.open_in_group_sql(begin, &row, job.row, &history)
    } else {
        fused.open_sql(&row, job.row, &history)
    };
    let opened = ctx.db.conn.batch_execute(&sql);
    if begin && ctx.db.engine.in_transaction(&mut ctx.db.conn) != Some(false) {
        // Open even if the request failed after its BEGIN: [`undo`] says.
        ctx.group = Some(grouped::Group::now());
    }
    let Err(e) = opened else {
        return Ok(None);
    };
    undo(ctx, grouped);
    let not_run = |conflict| {
        let mut ended = Ended::new(
            Outcome::Failed,
            StatementResults::default(),
            Some(format!("{conflict}")),
        );
        ended.conflict = Some(conflict);
        Some(ended)
    };
    match Fault::of(&e.to_string()) {
        Fault::LockLost => Ok(not_run(lost_lock(
            &script.id,
            "before it started; it did not run",
        ))),
        Fault::ClaimConflict => Ok(not_run(attempt::changed_under(ctx, job))),
        // Whether the claim committed is unknown: the outcome is recorded
        // on a new connection, only if the row is this attempt's.
        _ if connection_gone(&e.to_string()) => Ok(Some(plain::lost(job, e))),
        _ => {
            forget_prepared(ctx);
            Err(e)
        }
    }
}

fn forget_prepared(ctx: &mut Ctx<'_>) {
    if let Some(fused) = ctx.db.engine.fused() {
        fused.forget_prepared();
    }
}

/// The statements ran: check, record `succeeded` and commit in one request.
fn close(
    ctx: &mut Ctx<'_>,
    job: &Job<'_>,
    claim: &Claim,
    done: StatementResults,
) -> QueryResult<Ended> {
    let script = job.script;
    let finish = attempt::finish(ctx.started, Status::Succeeded, Some(done.rows()), None);
    let fused = ctx.db.engine.fused().expect("fused engine");
    let (id, run_id) = (&script.id, &ctx.attempt.run_id);
    let sql = if claim.deferred {
        fused.close_in_group_sql(id, run_id, claim.attempts, &finish)
    } else {
        fused.close_sql(id, run_id, claim.attempts, &finish)
    };
    let Err(e) = ctx.db.conn.batch_execute(&sql) else {
        let mut ended = Ended::new(Outcome::Succeeded, done, None);
        // Reported when its group commits.
        ended.held = claim.deferred;
        return Ok(ended);
    };
    let message = e.to_string();
    if connection_gone(&message) {
        // Whether the commit happened is unknown: the row says `succeeded`
        // if it did; otherwise it is recorded failed on a new connection.
        let message = format!("the commit failed, so whether it happened is unknown: {e}");
        let mut ended = Ended::failed(ctx.started, StatementResults::default(), message);
        ended.connection_lost = true;
        return Ok(ended);
    }
    undo(ctx, claim.deferred);
    let last = done.last().map_or(0, |r| r.number);
    Ok(match Fault::of(&message) {
        Fault::TxEnded => plain::failed(ctx, job, Abort::TxEnded { after: last }),
        Fault::LedgerTouched => plain::failed(ctx, job, Abort::LedgerTouched { after: last }),
        Fault::LockLost => plain::lock_released(ctx, job, done),
        Fault::FinishConflict => plain::changed(job, done),
        Fault::GuardLost => Ended::failed(
            ctx.started,
            done,
            "the script reset oneoff's settings, so oneoff cannot tell whether it changed oneoff's own tables; its work was rolled back".into(),
        ),
        Fault::ClaimConflict | Fault::Other => {
            forget_prepared(ctx);
            Ended::failed(
            ctx.started,
            done,
            format!("the script's transaction did not commit, so its work was rolled back: {e}"),
        )
        }
    })
}
