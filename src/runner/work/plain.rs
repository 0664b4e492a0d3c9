//! A script's statements in one transaction together with its ledger row:
//! both commit, or neither does.

use diesel::QueryResult;

use super::{begin, commit, guarded, rollback, Abort, Post};
use crate::capture::Capture;
use crate::ledger::{self, Claim, Status};
use crate::runner::attempt::{self, lost_lock, Ctx, Ended, Job, Record};
use crate::runner::outcome::{Outcome, StatementResults};
use crate::runner::watchdog::Stop;

/// Runs the statements and, in the same transaction, records `succeeded`.
pub(crate) fn run(ctx: &mut Ctx<'_>, job: &Job<'_>, claim: &Claim) -> QueryResult<Ended> {
    let Some(tracked) = &job.tracked else {
        return run_in_tx(ctx, job, claim, None);
    };
    let attempt = (job.script.id.as_str(), ctx.attempt.run_id.as_str());
    let capture = match Capture::before_tx(ctx.db, tracked.clone(), attempt) {
        Ok(capture) => capture,
        Err(e) => return Ok(lost(job, e)),
    };
    let ended = run_in_tx(ctx, job, claim, Some(&capture));
    capture.after_tx(ctx.db);
    ended
}

/// The transaction of [`run`], with the change log of a revertible script
/// recorded in it after the statements.
fn run_in_tx(
    ctx: &mut Ctx<'_>,
    job: &Job<'_>,
    claim: &Claim,
    capture: Option<&Capture>,
) -> QueryResult<Ended> {
    if let Err(e) = begin(ctx.db) {
        return Ok(lost(job, e));
    }
    if let Some(capture) = capture {
        if let Err(e) = capture.arm(ctx.db, (&job.script.id, &ctx.attempt.run_id)) {
            rollback(ctx.db);
            let message = format!("oneoff could not set up the change log of a revertible script, so it did not run: {e}");
            return Ok(Ended::failed(
                ctx.started,
                StatementResults::default(),
                message,
            ));
        }
    }
    match guarded(ctx.db, job.statements, ctx.watchdog, Post::AfterStatements) {
        Ok(g) => {
            if let Some(capture) = capture {
                let (id, run_id) = (&job.script.id, &ctx.attempt.run_id);
                if let Err(message) = capture.collect(ctx.db, id, run_id) {
                    rollback(ctx.db);
                    return Ok(Ended::failed(ctx.started, g.done, message));
                }
            }
            finish_and_commit(ctx, job, claim, g.done).map(|e| e.with_passed(g.passed))
        }
        Err(abort) => {
            rollback(ctx.db);
            Ok(failed(ctx, job, abort))
        }
    }
}

/// The script's statements ran: confirm the lock, record `succeeded` in the
/// same transaction (only if the row is still this attempt's), commit.
fn finish_and_commit(
    ctx: &mut Ctx<'_>,
    job: &Job<'_>,
    claim: &Claim,
    done: StatementResults,
) -> QueryResult<Ended> {
    let script = job.script;
    if !ctx.db.engine.holds_lock(&mut ctx.db.conn)? {
        rollback(ctx.db);
        return Ok(lock_released(ctx, job, done));
    }
    let finish = attempt::finish(ctx.started, Status::Succeeded, Some(done.rows()), None);
    let finished = ctx.db.engine.pin_ledger(&mut ctx.db.conn).and_then(|()| {
        ledger::attempt::finish_attempt(
            &mut ctx.db.conn,
            &script.id,
            &ctx.attempt.run_id,
            claim.attempts,
            &finish,
        )
    });
    match finished {
        Ok(true) => {}
        Ok(false) => {
            rollback(ctx.db);
            return Ok(changed(job, done));
        }
        Err(e) => {
            rollback(ctx.db);
            return Ok(Ended::failed(
                ctx.started,
                done,
                format!("oneoff could not record the script's success, so its work was rolled back: {e}"),
            ));
        }
    }
    if let Err(e) = commit(ctx.db) {
        // Whether the commit happened is unknown: the row says `succeeded`
        // if it did; otherwise it is still `running` and is recorded failed
        // on a new connection (compare-and-set keeps a real commit).
        let message = format!("the commit failed, so whether it happened is unknown: {e}");
        let mut ended = Ended::failed(ctx.started, StatementResults::default(), message);
        ended.connection_lost = true;
        return Ok(ended);
    }
    Ok(Ended::new(Outcome::Succeeded, done, None))
}

/// The outcome of a script that released the run lock (rolled back).
pub(crate) fn lock_released(ctx: &Ctx<'_>, job: &Job<'_>, done: StatementResults) -> Ended {
    let mut ended = Ended::failed(
        ctx.started,
        done,
        "the script released oneoff's run lock; its work was rolled back".into(),
    );
    ended.conflict = Some(lost_lock(
        &job.script.id,
        "while it ran; its work was rolled back",
    ));
    ended
}

/// The outcome of a script whose row changed while it ran (rolled back).
pub(crate) fn changed(job: &Job<'_>, done: StatementResults) -> Ended {
    let mut ended = Ended::new(
        Outcome::Failed,
        done,
        Some("its ledger row changed while it ran; its work was rolled back".into()),
    );
    ended.conflict = Some(attempt::changed_while_running(
        job,
        "its work was rolled back",
    ));
    ended
}

/// The outcome of an aborted transactional attempt (already rolled back).
pub(crate) fn failed(ctx: &mut Ctx<'_>, job: &Job<'_>, abort: Abort) -> Ended {
    let message = abort.message(&job.script.id);
    let cancelled = matches!(&abort, Abort::Statement(f) if f.stop == Some(Stop::Cancelled));
    let tx_ended = matches!(abort, Abort::TxEnded { .. });
    let lost = matches!(abort, Abort::Db(_));
    let mut ended = Ended::failed(ctx.started, abort.done(), message);
    ended.connection_lost = lost;
    match ended.record.as_mut() {
        // Cancelled before anything committed: the row goes back.
        Some(Record::End(f)) if cancelled => {
            ended.outcome = Outcome::Cancelled;
            ended.record = Some(Record::Restore(f.clone()));
        }
        Some(Record::End(f)) if tx_ended => f.committed = attempt::unknown_committed(),
        _ => {}
    }
    ended
}

pub(crate) fn lost(job: &Job<'_>, e: diesel::result::Error) -> Ended {
    let message = format!(
        "lost the connection to the database before {} started: {e}",
        job.script.id
    );
    let mut ended = Ended::failed(
        std::time::Instant::now(),
        StatementResults::default(),
        message,
    );
    ended.connection_lost = true;
    ended
}

/// Dry run of a transactional script: inside the caller's transaction, in
/// the guard savepoint, released on success (later scripts see its effect,
/// as they would in a real run) and rolled back on failure.
pub(crate) fn dry_run(ctx: &mut Ctx<'_>, job: &Job<'_>, post: Post) -> QueryResult<Ended> {
    match guarded(ctx.db, job.statements, ctx.watchdog, post) {
        Ok(g) => Ok(Ended::new(Outcome::RolledBack, g.done, None).with_passed(g.passed)),
        Err(Abort::TxEnded { after }) => Err(diesel::result::Error::QueryBuilderError(
            format!(
                "script {} ended the dry run's transaction (found after statement {after}); part of the dry run may have committed: check the data",
                job.script.id
            )
            .into(),
        )),
        Err(Abort::Db(e)) => Err(e),
        Err(abort) => {
            super::undo_guarded(ctx.db)?;
            let message = abort.message(&job.script.id);
            let outcome = match &abort {
                Abort::Statement(f) if f.stop == Some(Stop::Cancelled) => Outcome::Cancelled,
                _ => Outcome::DryRunFailed,
            };
            Ok(Ended::new(outcome, abort.done(), Some(message)))
        }
    }
}
