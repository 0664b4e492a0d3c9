//! The one attempt lifecycle every kind of work plugs into: confirm the run
//! lock, claim the script (compare-and-set against the row the plan read),
//! run the work, put the session back, and record how it ended (again only
//! while the row is still this attempt's). A dry run takes the same path
//! with nothing claimed or recorded, inside a transaction that is always
//! rolled back.

use std::time::{Duration, Instant};

use super::outcome::{Outcome, ScriptOutcome, StatementResults};
use super::statements::ScriptStatements;
use super::watchdog::Watchdog;
use super::work::{self, in_claim_tx, in_tx};
use super::RunEvent;
use crate::db::Db;
use crate::error::Error;
use crate::ledger::in_flight::InFlight;
use crate::ledger::{self, Claim, Finish, Keep, LedgerRow, Status, UNKNOWN};
use crate::script::{Script, ScriptKind};

/// One script to run, with what it needs.
pub struct Job<'a> {
    /// The script.
    pub script: &'a Script,
    /// Its statements, read as they run.
    pub statements: ScriptStatements<'a>,
    /// Its ledger row as the plan read it.
    pub row: Option<&'a LedgerRow>,
    /// Its time limit.
    pub timeout: Option<Duration>,
    /// Batched scripts: pause and batch limit.
    pub limits: work::batch::BatchLimits,
    /// No-transaction scripts resumed by `--retry`: statements already committed.
    pub resume_after: usize,
    /// Revertible scripts: the tables whose changes are recorded.
    pub(crate) tracked: Option<Vec<crate::capture::Tracked>>,
    /// A Rust script's function, when it is compiled into this binary.
    pub rust: Option<crate::context::RunFn>,
}

/// What an attempt needs from the run.
pub struct Ctx<'a> {
    /// The connection holding the run lock.
    pub db: &'a mut Db,
    /// Stops the statement in flight.
    pub watchdog: &'a Watchdog,
    /// Who, which run.
    pub attempt: ledger::Attempt,
    /// Progress for the caller.
    pub observe: &'a mut dyn FnMut(RunEvent<'_>),
    /// A second connection for no-transaction progress, opened when needed.
    pub url: &'a crate::db::DatabaseUrl,
    /// Redacted URL, for messages.
    pub database: &'a str,
    /// When the attempt started.
    pub started: Instant,
    /// The transaction a group of scripts shares, while it is open.
    pub group: Option<work::grouped::Group>,
}

/// How the work ended, for the lifecycle to record.
pub(crate) struct Ended {
    /// For the report.
    pub outcome: Outcome,
    /// Per statement, for the report.
    pub done: StatementResults,
    /// The error, if any.
    pub error: Option<String>,
    /// What to write in the ledger; `None` when the work recorded it itself
    /// (a success commits its ledger row with the work).
    pub record: Option<Record>,
    /// The run must stop after this script (exit 3): the row changed under
    /// the runner, or the runner lost its lock.
    pub conflict: Option<Error>,
    /// The connection died: the outcome is recorded on a new one.
    pub connection_lost: bool,
    /// Batched scripts: rows this attempt changed, batches, total.
    pub batch: Option<(i64, i64, Option<i64>)>,
    /// Dry run: why it was not (fully) executed.
    pub reason: Option<String>,
    /// Succeeded in a group whose commit is still to come.
    pub held: bool,
    /// The post-conditions that passed, for the report.
    pub passed: Option<String>,
    /// A Rust script's output lines.
    pub output: Vec<super::outcome::OutputLine>,
    /// After-commit effects that failed.
    pub effects_failed: usize,
    /// A Rust script's external changes not committed with its work,
    /// recorded with the attempt's end.
    pub external: Vec<crate::ledger::changes::ChangeRow>,
}

/// A ledger write at the end of an attempt.
pub(crate) enum Record {
    /// `failed` or `interrupted`, with what stays committed.
    End(Finish),
    /// Cancelled before anything committed: the row goes back to what it was.
    Restore(Finish),
}

impl Record {
    /// Whether the attempt leaves part of its work committed: leading
    /// statements, or an unknown part.
    fn leaves_committed(&self) -> bool {
        match self {
            Record::End(f) => match &f.committed {
                Some((Some(n), _)) if *n > 0 => true,
                Some((_, Some(checksum))) => checksum == UNKNOWN,
                _ => false,
            },
            Record::Restore(_) => false,
        }
    }
}

impl Ended {
    /// The report's outcome for `script`, timed from `started`, and the
    /// conflict that stops the run, if any.
    pub(crate) fn into_outcome(
        self,
        script: &Script,
        started: Instant,
    ) -> (ScriptOutcome, Option<Error>) {
        let mut out = ScriptOutcome::new(script, self.outcome, self.done, started, self.error);
        out.reason = self.reason;
        out.connection_lost = self.connection_lost;
        out.held = self.held;
        out.postconditions = self.passed;
        out.output = self.output;
        out.effects_failed = self.effects_failed;
        if let Some((rows, batches, total)) = self.batch {
            out.rows_affected = rows;
            out.batches = Some(batches);
            out.rows_total = total;
        }
        (out, self.conflict)
    }

    /// A failed attempt whose work was rolled back, to record as `failed`.
    pub(crate) fn failed(started: Instant, done: StatementResults, message: String) -> Ended {
        let mut ended = Ended::new(Outcome::Failed, done, Some(message.clone()));
        ended.record = Some(Record::End(finish(
            started,
            Status::Failed,
            None,
            Some(message),
        )));
        ended
    }

    pub(crate) fn new(outcome: Outcome, done: StatementResults, error: Option<String>) -> Ended {
        Ended {
            outcome,
            done,
            error,
            record: None,
            conflict: None,
            connection_lost: false,
            batch: None,
            reason: None,
            held: false,
            passed: None,
            output: Vec::new(),
            effects_failed: 0,
            external: Vec::new(),
        }
    }

    /// With the post-conditions that passed, when the work succeeded.
    pub(crate) fn with_passed(mut self, passed: Option<String>) -> Ended {
        if matches!(self.outcome, Outcome::Succeeded | Outcome::RolledBack) {
            self.passed = passed;
        }
        self
    }
}

/// Builds the `Finish` of an attempt that started at `started`.
pub(crate) fn finish(
    started: Instant,
    status: Status,
    rows: Option<i64>,
    error: Option<String>,
) -> Finish {
    Finish {
        status,
        finished_at: ledger::now(),
        duration_ms: started.elapsed().as_millis() as i64,
        rows_affected: rows,
        error,
        committed: None,
    }
}

/// Runs one script for real. `Err` stops the run (exit 3 for a conflict).
pub(crate) fn run(ctx: &mut Ctx<'_>, job: &Job<'_>) -> Result<ScriptOutcome, Error> {
    let script = job.script;
    let ledger_err = |e: &dyn std::fmt::Display| Error::Ledger {
        database: ctx.database.to_string(),
        message: ctx.url.scrub(&e.to_string()),
    };
    let fused = fuses(ctx, job);
    // Fused work checks the lock before its commit, which is what counts.
    if !fused
        && !ctx
            .db
            .engine
            .holds_lock(&mut ctx.db.conn)
            .map_err(|e| ledger_err(&e))?
    {
        return Err(lost_lock(&script.id, "before it started; it did not run"));
    }
    let rust = script.kind == ScriptKind::Rust;
    let keep = Keep {
        progress: script.directives.batch || rust,
        committed: job.resume_after > 0,
    };
    let claim = if defers_claim(ctx, job) {
        let marker = InFlight::new(
            (&script.id, &script.name, &script.checksum),
            job.row,
            &ctx.attempt,
        );
        // Fused work marks it in its first request where the backend can.
        let in_open = fused
            && ctx
                .db
                .engine
                .fused()
                .is_some_and(|f| f.mark_in_open(&marker));
        if !in_open {
            ctx.db
                .engine
                .set_in_flight(&mut ctx.db.conn, Some(&marker))
                .map_err(|e| ledger_err(&format!("cannot mark the script in flight: {e}")))?;
        }
        Claim::deferred(job.row)
    } else if fused {
        // Made by the work's first request.
        Claim {
            deferred: false,
            ..Claim::deferred(job.row)
        }
    } else {
        let attempt = ctx.attempt.clone();
        let claim = in_claim_tx(ctx.db, |db| {
            ledger::attempt::claim(&mut db.conn, identity(script), &attempt, job.row, keep)
        })
        .map_err(|e| ledger_err(&e))?;
        match claim {
            Some(claim) => claim,
            None => return Err(changed_under(ctx, job)),
        }
    };
    ctx.watchdog.begin(job.timeout);
    let ended = if rust {
        work::rust::run(ctx, job, &claim)
    } else if script.directives.batch {
        work::batch::run(ctx, job, &claim)
    } else if script.directives.no_transaction {
        work::no_tx::run(ctx, job, &claim)
    } else if fused {
        work::fused::run(ctx, job, &claim)
    } else if claim.deferred {
        work::grouped::run(ctx, job, &claim)
    } else {
        work::plain::run(ctx, job, &claim)
    };
    ctx.watchdog.end();
    let mut ended = ended.map_err(|e| ledger_err(&e))?;
    if !fused && !ended.connection_lost {
        if let Err(e) = ctx
            .db
            .engine
            .end_of_script(&mut ctx.db.conn, &job.statements.temporaries())
        {
            ended.connection_lost = true;
            tracing::warn!("could not put the session back after {}: {e}", script.id);
        }
    }
    let partial = ended.record.as_ref().is_some_and(Record::leaves_committed);
    record(ctx, job, &claim, &mut ended);
    if claim.deferred && !ended.connection_lost && !ended.held {
        if let Err(e) = ctx.db.engine.set_in_flight(&mut ctx.db.conn, None) {
            // Harmless: the next runner finds the row no longer as the
            // marker expects and ignores it.
            tracing::warn!(
                "could not clear the in-flight marker after {}: {e}",
                script.id
            );
        }
    }
    let (mut out, conflict) = ended.into_outcome(script, ctx.started);
    out.attempts = claim.attempts;
    out.partial = partial;
    if let Some(conflict) = conflict {
        (ctx.observe)(RunEvent::ScriptFinished(&out));
        return Err(conflict);
    }
    Ok(out)
}

/// Writes the end of a failed or cancelled attempt, in its own transaction,
/// only while the row is still this attempt's.
fn record(ctx: &mut Ctx<'_>, job: &Job<'_>, claim: &Claim, ended: &mut Ended) {
    let Some(record) = ended.record.take() else {
        return;
    };
    if ended.connection_lost {
        let finish = match &record {
            Record::End(f) | Record::Restore(f) => f,
        };
        record_after_lost_connection(ctx, job, claim, finish);
        return;
    }
    let (id, run_id) = (&job.script.id, ctx.attempt.run_id.clone());
    let attempt = ctx.attempt.clone();
    let external = std::mem::take(&mut ended.external);
    let write = |db: &mut Db| {
        let ours = match &record {
            Record::End(f) => {
                ledger::attempt::finish_attempt(&mut db.conn, id, &run_id, claim.attempts, f)
            }
            Record::Restore(f) => {
                ledger::attempt::cancel_attempt(&mut db.conn, id, &run_id, claim, f)
            }
        }?;
        if ours {
            ledger::changes::record(&mut db.conn, &external)?;
        }
        Ok(ours)
    };
    let write_claimed = |db: &mut Db| write_claimed(db, job, &attempt, claim, write);
    // A failure in a group is recorded in its transaction, which commits
    // the scripts before it too; a group already rolled back is gone.
    let written = match ctx.group.take() {
        Some(_) if work::grouped::in_tx(ctx.db) => in_open_tx(ctx.db, write_claimed),
        _ => in_tx(ctx.db, write_claimed),
    };
    match written {
        Ok(true) => {}
        Ok(false) => {
            if ended.conflict.is_none() {
                ended.conflict = Some(changed_under(ctx, job));
            }
        }
        Err(e) => {
            tracing::warn!("could not record the outcome of {id}: {e}");
            ended.connection_lost = true;
            let finish = match &record {
                Record::End(f) | Record::Restore(f) => f,
            };
            record_after_lost_connection(ctx, job, claim, finish);
        }
    }
}

/// Writes the end of an attempt with `write` (`false`: the row is not this
/// attempt's). A deferred claim that rolled back with the work (unless the
/// script committed it) is made first, with the outcome, in one commit, and
/// only if the row is still as the attempt found it.
fn write_claimed(
    db: &mut Db,
    job: &Job<'_>,
    attempt: &ledger::Attempt,
    claim: &Claim,
    write: impl Fn(&mut Db) -> diesel::QueryResult<bool>,
) -> diesel::QueryResult<bool> {
    let written = write(db)?;
    if written || !claim.deferred {
        return Ok(written);
    }
    let claimed = ledger::attempt::claim(
        &mut db.conn,
        identity(job.script),
        attempt,
        job.row,
        Keep::default(),
    )?;
    match claimed {
        Some(_) => write(db),
        None => Ok(false),
    }
}

/// Runs `work` in the transaction already open, then commits it; rolls
/// back on an error.
fn in_open_tx<T>(
    db: &mut Db,
    work: impl FnOnce(&mut Db) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    match work(db).and_then(|value| work::commit(db).map(|()| value)) {
        Ok(value) => Ok(value),
        Err(e) => {
            work::rollback(db);
            Err(e)
        }
    }
}

/// Whether the job's claim commits with its work: transactional scripts,
/// on a backend that marks attempts in flight outside the database. Such
/// jobs run in groups ([`work::grouped`]).
pub(crate) fn defers_claim(ctx: &Ctx<'_>, job: &Job<'_>) -> bool {
    let d = &job.script.directives;
    // A revertible script runs on its own (plain work), where its capture is set up.
    job.script.kind == ScriptKind::Sql
        && !d.batch
        && !d.no_transaction
        && !d.revertible
        && ctx.db.engine.defers_claim()
}

/// Whether the job runs in fused requests: a transactional script, on a
/// backend that has them.
fn fuses(ctx: &Ctx<'_>, job: &Job<'_>) -> bool {
    let d = &job.script.directives;
    job.script.kind == ScriptKind::Sql
        && !d.batch
        && !d.no_transaction
        && !d.revertible
        && ctx.db.engine.fuses()
        && !job
            .statements
            .any_kept(|s| crate::db::fused::may_lose_mark(&s.text))
        // A post-condition's query runs inside the fused transaction too.
        && !d
            .postconditions
            .verify
            .iter()
            .any(|v| crate::db::fused::may_lose_mark(&v.query))
}

/// What a claim records of the script.
pub(crate) fn identity(script: &Script) -> (&str, &str, &str) {
    (&script.id, &script.name, &script.checksum)
}

/// The connection died with the outcome unrecorded: record it on a new
/// connection, but only if the ledger row is still this attempt's (the run
/// lock died with the connection, so another runner may have taken over).
fn record_after_lost_connection(ctx: &Ctx<'_>, job: &Job<'_>, claim: &Claim, finish: &Finish) {
    let id = &job.script.id;
    let mut finish = finish.clone();
    finish.status = Status::Failed;
    let write = |db: &mut Db| {
        ledger::attempt::finish_attempt(
            &mut db.conn,
            id,
            &ctx.attempt.run_id,
            claim.attempts,
            &finish,
        )
    };
    let recorded = Db::open(ctx.url)
        .map_err(|e| e.to_string())
        .and_then(|mut db| {
            in_tx(&mut db, |db| {
                write_claimed(db, job, &ctx.attempt, claim, write)
            })
            .map_err(|e| e.to_string())
        });
    match recorded {
        Ok(true) => {
            tracing::warn!(%id, "connection lost; recorded the script as failed on a new connection")
        }
        Ok(false) => tracing::warn!(
            %id,
            "connection lost; the ledger row is no longer this attempt's (it committed, or another runner took it over): see `oneoff status`"
        ),
        Err(e) => {
            tracing::warn!(%id, "connection lost and not recorded ({e}); the next run reports the script as interrupted")
        }
    }
}

/// The error for a script whose row changed between plan and claim (or
/// under a running attempt).
pub(crate) fn changed_under(ctx: &mut Ctx<'_>, job: &Job<'_>) -> Error {
    let now = ledger::row(&mut ctx.db.conn, &job.script.id).ok().flatten();
    let describe = |r: Option<&LedgerRow>| match r {
        Some(r) => format!("{} (attempt {})", r.status, r.attempts),
        None => "no row".to_string(),
    };
    Error::Conflict {
        message: format!(
            "script {} ({}) changed in the ledger under this runner: it read {}, the ledger now says {}; this run stops here",
            job.script.id,
            job.script.name,
            describe(job.row),
            describe(now.as_ref())
        ),
        hint: "another runner or a person changed it (or a script wrote to the ledger): run `oneoff status` and look before running again".into(),
    }
}

/// The error for a script whose row changed while its attempt ran;
/// `consequence` says what became of the work.
pub(crate) fn changed_while_running(job: &Job<'_>, consequence: &str) -> Error {
    Error::Conflict {
        message: format!(
            "script {} ({}) changed in the ledger while it ran (another runner, a person, or the script itself); {consequence}, and this run stops here",
            job.script.id, job.script.name
        ),
        hint: "run `oneoff status` and look before running again".into(),
    }
}

/// The error for a runner whose run lock is gone.
pub(crate) fn lost_lock(id: &str, when: &str) -> Error {
    Error::Conflict {
        message: format!(
            "this runner lost its run lock at script {id} ({when}): a script released it, or the database ended the session; this run stops here"
        ),
        hint: "another runner may be at work: run `oneoff status`, and check the scripts that release locks (pg_advisory_unlock_all, RELEASE_ALL_LOCKS)".into(),
    }
}

/// The `committed` columns for an attempt that may have committed an
/// unknown part of its work.
pub(crate) fn unknown_committed() -> Option<(Option<i64>, Option<String>)> {
    Some((None, Some(UNKNOWN.to_string())))
}
