//! Transactional scripts on a backend whose claims commit with the work
//! (SQLite, where a commit costs several fsyncs): consecutive scripts share
//! one transaction, each in a savepoint of its own that holds its claim,
//! its statements and its outcome, so one commit makes a group of scripts
//! durable together. Exactly once holds as for one script: a script's work
//! and its ledger row commit together or not at all. A script that fails
//! is rolled back to its savepoint and recorded `failed` in the same
//! transaction, which then commits with the scripts before it.
//!
//! The run decides when a group commits ([`super::super::group`]): before a
//! script of another kind, after a script that changed the session in a way
//! only undone outside a transaction, after a short time, and at the end.
//! Scripts of an uncommitted group are reported when it commits.

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use super::{begin, guarded, plain, Post};
use crate::db::Db;
use crate::ledger::{self, Claim, Keep, Status};
use crate::runner::attempt::{self, Ctx, Ended, Job};
use crate::runner::outcome::{Outcome, StatementResults};

pub(crate) use crate::db::SCRIPT;

/// A transaction open over several scripts.
#[derive(Debug)]
pub struct Group {
    /// When it began.
    pub opened: Instant,
}

impl Group {
    /// A group whose transaction just began.
    pub(crate) fn now() -> Group {
        Group {
            opened: Instant::now(),
        }
    }
}

/// Runs one script in the open group (opening one if none is).
pub(crate) fn run(ctx: &mut Ctx<'_>, job: &Job<'_>, claim: &Claim) -> QueryResult<Ended> {
    if ctx.group.is_none() {
        if let Err(e) = begin(ctx.db) {
            return Ok(plain::lost(job, e));
        }
        ctx.group = Some(Group::now());
    }
    ctx.db.conn.batch_execute(&format!("SAVEPOINT {SCRIPT}"))?;
    let claimed = ledger::attempt::claim(
        &mut ctx.db.conn,
        attempt::identity(job.script),
        &ctx.attempt,
        job.row,
        Keep::default(),
    )?;
    if claimed.is_none() {
        undo(ctx);
        let conflict = attempt::changed_under(ctx, job);
        let mut ended = Ended::new(
            Outcome::Failed,
            StatementResults::default(),
            Some(conflict.to_string()),
        );
        ended.conflict = Some(conflict);
        return Ok(ended);
    }
    match guarded(ctx.db, job.statements, ctx.watchdog, Post::AfterStatements) {
        Ok(g) => finish(ctx, job, claim, g.done).map(|e| e.with_passed(g.passed)),
        Err(abort) => {
            undo(ctx);
            Ok(plain::failed(ctx, job, abort))
        }
    }
}

/// Records `succeeded` in the script's savepoint and releases it; the
/// outcome is held until the group commits.
fn finish(
    ctx: &mut Ctx<'_>,
    job: &Job<'_>,
    claim: &Claim,
    done: StatementResults,
) -> QueryResult<Ended> {
    let finish = attempt::finish(ctx.started, Status::Succeeded, Some(done.rows()), None);
    let checks = ctx.db.engine.group_checks_sql();
    let checked = if checks.is_empty() {
        Ok(())
    } else {
        ctx.db.conn.batch_execute(checks)
    };
    if let Err(e) = checked {
        undo(ctx);
        let message =
            format!("the script's transaction could not commit, so its work was rolled back: {e}");
        return Ok(Ended::failed(ctx.started, done, message));
    }
    let finished = ctx.db.engine.pin_ledger(&mut ctx.db.conn).and_then(|()| {
        ledger::attempt::finish_attempt(
            &mut ctx.db.conn,
            &job.script.id,
            &ctx.attempt.run_id,
            claim.attempts,
            &finish,
        )
    });
    match finished {
        Ok(true) => {
            ctx.db
                .conn
                .batch_execute(&format!("RELEASE SAVEPOINT {SCRIPT}"))?;
            let mut ended = Ended::new(Outcome::Succeeded, done, None);
            ended.held = true;
            Ok(ended)
        }
        Ok(false) => {
            undo(ctx);
            Ok(plain::changed(job, done))
        }
        Err(e) => {
            undo(ctx);
            Ok(Ended::failed(
                ctx.started,
                done,
                format!("oneoff could not record the script's success, so its work was rolled back: {e}"),
            ))
        }
    }
}

/// Rolls the script back to its savepoint; the group goes on (a failed
/// script's outcome is recorded in it), unless the whole transaction is
/// already gone or its savepoint is (the script ended the transaction, or
/// the connection died): then whatever is left is rolled back and the
/// group is over.
pub(crate) fn undo(ctx: &mut Ctx<'_>) {
    let undone = in_tx(ctx.db)
        && ctx
            .db
            .conn
            .batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT {SCRIPT}; RELEASE SAVEPOINT {SCRIPT}"
            ))
            .inspect_err(|e| tracing::debug!("rollback to the script's savepoint: {e}"))
            .is_ok();
    if !undone {
        ctx.group = None;
        super::rollback(ctx.db);
    }
}

/// Whether the group's transaction is still open (SQLite rolls it all
/// back on an interrupted write, a full disk or an I/O error).
pub(crate) fn in_tx(db: &mut Db) -> bool {
    db.engine.in_transaction(&mut db.conn) != Some(false)
}

/// Whether a script changes the session in a way that can only be put back
/// outside a transaction (attached databases, pragmas), or is too large to
/// look at again: its group commits after it.
pub(crate) fn ends_group(job: &Job<'_>) -> bool {
    job.statements.any_kept(|s| {
        matches!(
            crate::db::first_keyword(&s.text).as_str(),
            "attach" | "detach" | "pragma" | "vacuum"
        )
    })
}
