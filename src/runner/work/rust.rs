//! Rust scripts: the script's function runs with a [`Context`] over the
//! attempt's connection, inside the transaction and guard savepoint a SQL
//! script gets, and its end is recorded the same way. A checkpoint commits
//! the work so far with the cursor and progress (like a batch), and opens a
//! new transaction; after-commit effects run once their work committed.
//! A panic is caught and rolls back. The calls a script makes are in
//! [`host`]; here is the lifecycle.

mod host;

use std::panic::{catch_unwind, AssertUnwindSafe};

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use super::{begin, commit, rollback, Abort, GUARD};
use crate::context::{Context, RunFn, Stopped};
use crate::ledger::{self, Claim, Progress, Status};
use crate::runner::attempt::{self, lost_lock, Ctx, Ended, Job, Record};
use crate::runner::outcome::{Outcome, StatementResults};
use crate::runner::statements::describe;
use crate::runner::watchdog::Stop;
use host::{Halt, RustRun};

/// Runs a Rust script for real.
pub(crate) fn run(ctx: &mut Ctx<'_>, job: &Job<'_>, claim: &Claim) -> QueryResult<Ended> {
    let Some(function) = job.rust else {
        return Ok(Ended::failed(
            ctx.started,
            StatementResults::default(),
            "the Rust script is not compiled into this binary".into(),
        ));
    };
    // A cursor belongs to an earlier attempt of the same row.
    let cursor = match claim.previous {
        Some(_) => ledger::script_state::cursor(&mut ctx.db.conn, &job.script.id)?,
        None => None,
    };
    let mut run = RustRun::new(ctx, job, Some(claim), cursor);
    if let Err(e) = run.open() {
        return Ok(super::plain::lost(job, e));
    }
    let returned = call(function, &mut run);
    let halt = run.halt_after(returned);
    let halt = match halt {
        None => match run.commit_end() {
            Ok(ended) => return Ok(ended),
            Err(halt) => halt,
        },
        Some(halt) => halt,
    };
    run.rollback_transaction();
    Ok(run.failed(halt))
}

/// Dry run of a Rust script: in the dry run's transaction, in the guard
/// savepoint (released on success, so later scripts see its work; rolled
/// back on failure). Checkpoints commit nothing; effects do not run.
pub(crate) fn dry_run(ctx: &mut Ctx<'_>, job: &Job<'_>) -> QueryResult<Ended> {
    let Some(function) = job.rust else {
        return Ok(Ended::new(
            Outcome::DryRunFailed,
            StatementResults::default(),
            Some("the Rust script is not compiled into this binary".into()),
        ));
    };
    // A dry run of a retry rehearses the resume from the last checkpoint.
    let cursor = match job.row {
        Some(_) => ledger::script_state::cursor(&mut ctx.db.conn, &job.script.id)?,
        None => None,
    };
    let mut run = RustRun::new(ctx, job, None, cursor);
    run.open()?;
    let returned = call(function, &mut run);
    let halt = match run.halt_after(returned) {
        None => run.close_guard().err(),
        some => some,
    };
    match halt {
        None => Ok(run.dry_ended(Outcome::RolledBack, None)),
        Some(Halt::Abort(Abort::TxEnded { .. })) => Err(diesel::result::Error::QueryBuilderError(
            format!(
                "script {} ended the dry run's transaction; part of the dry run may have committed: check the data",
                job.script.id
            )
            .into(),
        )),
        Some(Halt::Abort(Abort::Db(e))) => Err(e),
        Some(halt) => {
            run.disarm();
            let db = run.db();
            db.conn.batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT {GUARD}; RELEASE SAVEPOINT {GUARD}"
            ))?;
            let outcome = match halt {
                Halt::Stop(Stop::Cancelled) => Outcome::Cancelled,
                _ => Outcome::DryRunFailed,
            };
            let message = run.message(&halt);
            Ok(run.dry_ended(outcome, Some(message)))
        }
    }
}

/// How the script's function ended.
pub(super) enum Returned {
    Ok,
    Err(String),
    Panicked(String),
    Stopped,
}

/// Calls the script, catching a panic (and the unwinding of a stopped
/// script's next Context call).
fn call(function: RunFn, run: &mut RustRun<'_, '_, '_>) -> Returned {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut context = Context::new(run);
        function(&mut context)
    }));
    match result {
        Ok(Ok(())) => Returned::Ok,
        Ok(Err(e)) => Returned::Err(e.to_string()),
        Err(payload) if payload.is::<Stopped>() => Returned::Stopped,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Returned::Panicked(message)
        }
    }
}

impl RustRun<'_, '_, '_> {
    /// What stops the attempt once the function returned: oneoff's own
    /// failure first, then a stop (which wins over the script's result),
    /// then the script's error or panic.
    fn halt_after(&mut self, returned: Returned) -> Option<Halt> {
        if let Some(halt) = self.halt.take() {
            return Some(halt);
        }
        if let Some(stop) = self.ctx.watchdog.stopped() {
            return Some(Halt::Stop(stop));
        }
        match returned {
            Returned::Ok if self.statement_failed => Some(Halt::Script(
                "a statement failed and the script went on as if it had not; its work was rolled back: return the error (`?`)".into(),
            )),
            Returned::Ok => None,
            Returned::Err(message) => Some(Halt::Script(message)),
            Returned::Panicked(message) => Some(Halt::Script(format!("panicked: {message}"))),
            Returned::Stopped => Some(Halt::Stop(Stop::Cancelled)),
        }
    }

    /// The script returned `Ok`: closes the guard, confirms the lock,
    /// records `succeeded` with the work, commits, then runs the effects.
    fn commit_end(&mut self) -> Result<Ended, Halt> {
        if self.transactional {
            self.close_guard()?;
        } else {
            begin(self.db()).map_err(|e| Halt::Abort(Abort::Db(e)))?;
        }
        let progress = self.progress;
        self.record_progress(&progress, true)?;
        let finish = attempt::finish(
            self.ctx.started,
            Status::Succeeded,
            Some(self.rows_for_ledger()),
            None,
        );
        let (id, attempts) = (&self.job.script.id, self.claim_attempts());
        let ctx = &mut *self.ctx;
        let ours = ledger::attempt::finish_attempt(
            &mut ctx.db.conn,
            id,
            &ctx.attempt.run_id,
            attempts,
            &finish,
        )
        .and_then(|ours| {
            ledger::script_state::clear_cursor(&mut ctx.db.conn, id)?;
            Ok(ours)
        })
        .map_err(|e| Halt::Abort(Abort::Db(e)))?;
        if !ours {
            return Err(Halt::Conflict(attempt::changed_while_running(
                self.job,
                "its work was rolled back",
            )));
        }
        if let Err(e) = commit(self.db()) {
            let message = format!("the commit failed, so whether it happened is unknown: {e}");
            let mut ended = Ended::failed(self.ctx.started, StatementResults::default(), message);
            ended.connection_lost = true;
            return Ok(ended);
        }
        self.external.clear();
        self.run_effects();
        Ok(self.ended(Outcome::Succeeded, None, None))
    }

    /// Confirms the lock and writes the progress (and, for a checkpoint,
    /// nothing else) in the transaction about to commit.
    fn record_progress(&mut self, progress: &Progress, last: bool) -> Result<(), Halt> {
        let id = &self.job.script.id;
        let db = &mut *self.ctx.db;
        let held = db.engine.holds_lock(&mut db.conn);
        if !held.map_err(|e| Halt::Abort(Abort::Db(e)))? {
            let when = if last {
                "at the end of a Rust script; its work since the last checkpoint was rolled back"
            } else {
                "at a checkpoint; the work since the last one was rolled back"
            };
            return Err(Halt::Conflict(lost_lock(id, when)));
        }
        let attempts = self.claim.map_or(0, |c| c.attempts);
        let total = self.total;
        let ours = db
            .engine
            .pin_ledger(&mut db.conn)
            .and_then(|()| {
                if let Some(total) = total {
                    ledger::attempt::record_total(&mut db.conn, id, total)?;
                }
                ledger::changes::record(&mut db.conn, &self.external)?;
                ledger::attempt::record_batch(&mut db.conn, id, attempts, progress)
            })
            .map_err(|e| Halt::Abort(Abort::Db(e)))?;
        if !ours {
            return Err(Halt::Conflict(attempt::changed_while_running(
                self.job,
                "the work since the last checkpoint was rolled back",
            )));
        }
        Ok(())
    }

    /// Rolls back the work since the last checkpoint.
    fn rollback_transaction(&mut self) {
        self.disarm();
        if self.transactional {
            rollback(self.db());
        }
    }

    /// The end of a failed or stopped attempt (already rolled back).
    fn failed(mut self, halt: Halt) -> Ended {
        let message = self.message(&halt);
        self.drop_effects("its work was rolled back");
        let checkpointed = self.progress.attempt_batches > 0;
        let mut finish = attempt::finish(
            self.ctx.started,
            Status::Failed,
            self.committed_rows(),
            Some(message.clone()),
        );
        let mut outcome = Outcome::Failed;
        let mut record = None;
        // Work outside a transaction may have committed unrecorded: `--retry` refuses.
        let unknown = matches!(halt, Halt::Abort(Abort::TxEnded { .. }))
            || (!self.transactional && self.executed_since_checkpoint);
        if unknown {
            finish.committed = attempt::unknown_committed();
        }
        if let Halt::Stop(Stop::Cancelled) = &halt {
            outcome = Outcome::Cancelled;
            if !checkpointed && !unknown {
                record = Some(Record::Restore(finish.clone()));
            } else {
                finish.status = Status::Interrupted;
            }
        }
        let record = record.unwrap_or(Record::End(finish));
        let mut ended = self.ended(outcome, Some(message), Some(record));
        // Outside the database, a rollback did not undo them.
        ended.external = std::mem::take(&mut self.external);
        match halt {
            Halt::Abort(Abort::Db(_)) => ended.connection_lost = true,
            Halt::Conflict(e) => ended.conflict = Some(e),
            _ => {}
        }
        ended
    }

    /// The message for the ledger and the output.
    fn message(&self, halt: &Halt) -> String {
        let resume = if self.progress.attempt_batches > 0 {
            format!(
                " ({} checkpoint(s) of this attempt stay committed; `oneoff run --retry` resumes from the last)",
                self.progress.attempt_batches
            )
        } else {
            String::new()
        };
        let base = match halt {
            Halt::Stop(stop) => describe(*stop),
            Halt::Script(message) => message.clone(),
            Halt::Abort(abort @ Abort::TxEnded { .. }) => format!(
                "{} (a Rust script must not commit, roll back or open a transaction on `ctx.conn()`, \
                 `conn.transaction(…)` included: oneoff owns it; commit with `ctx.checkpoint(&cursor)`)",
                abort.message(&self.job.script.id)
            ),
            Halt::Abort(abort) => abort.message(&self.job.script.id),
            Halt::Conflict(e) => e.to_string(),
        };
        format!("{base}{resume}")
    }
}
