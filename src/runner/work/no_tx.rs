//! A `-- oneoff:no-transaction` script: each statement commits on its own.
//! Before each statement the ledger says how many are committed and that the
//! next may be in flight; after a known failure it says exactly which
//! committed, so that `run --retry` resumes after them, never re-running one.
//! Those writes go through a second connection, so the script's own session
//! (its `SET`s, `USE`) stays as the script made it for its next statement.

use diesel::QueryResult;

use diesel::connection::SimpleConnection;

use super::in_tx;
use crate::db::{Backend, Db};
use crate::ledger::{self, Claim, Status, UNKNOWN};
use crate::runner::attempt::{self, Ctx, Ended, Job, Record};
use crate::runner::outcome::{Outcome, StatementResults};
use crate::runner::statements::{execute_one, StatementError};
use crate::runner::watchdog::Stop;
use crate::script::{checksum, Statement};
use sha2::{Digest, Sha256};

/// The checksum of the first `n` statements' text, as the ledger keeps it.
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn prefix_checksum(statements: &[Statement], n: usize) -> String {
    let mut prefix = Prefix::default();
    statements.iter().take(n).for_each(|s| prefix.add(s));
    prefix.hex()
}

/// [`prefix_checksum`] a statement at a time: the SHA-256 of each
/// statement's normalised text followed by a NUL.
#[derive(Clone, Default)]
pub struct Prefix(Sha256);

impl Prefix {
    /// Takes the next statement.
    pub fn add(&mut self, statement: &Statement) {
        self.0
            .update(checksum::normalise(&statement.text).as_bytes());
        self.0.update([0]);
    }

    /// The checksum of the statements taken so far.
    pub fn hex(&self) -> String {
        checksum::hex(&self.0.clone().finalize())
    }
}

/// Runs the statements after those already committed, one by one.
pub(crate) fn run(ctx: &mut Ctx<'_>, job: &Job<'_>, claim: &Claim) -> QueryResult<Ended> {
    let script = job.script;
    let mut side = Db::open(ctx.url).map_err(|e| {
        diesel::result::Error::QueryBuilderError(
            format!("a second connection for the ledger: {e}").into(),
        )
    })?;
    let mut done = StatementResults::default();
    // The checksums of the statements before the current one, and up to it.
    let (mut before, mut n) = (Prefix::default(), 0);
    let mut stream = match job.statements.for_run() {
        Ok(stream) => stream,
        Err(message) => return Ok(file_changed(ctx, done, 0, &before, message)),
    };
    for statement in stream.by_ref() {
        let statement = match statement {
            Ok(statement) => statement,
            Err(message) => return Ok(file_changed(ctx, done, n, &before, message)),
        };
        n = statement.number;
        let mut after = before.clone();
        after.add(&statement);
        if statement.number <= job.resume_after {
            before = after;
            continue;
        }
        let committed = (statement.number - 1) as i64;
        let ours = in_tx(&mut side, |db| {
            ledger::attempt::record_committed(
                &mut db.conn,
                &script.id,
                claim.attempts,
                committed,
                UNKNOWN,
            )
        })?;
        if !ours {
            return Ok(changed(job, done));
        }
        let guard_before = guard(ctx.db, &mut side, true)?;
        let result = execute_one(ctx.db, &statement, ctx.watchdog);
        let guard_after = guard(ctx.db, &mut side, false)?;
        match result {
            Ok(r) => done.push(r),
            Err(e) => return Ok(failed(ctx, done, &statement, e, [&before, &after])),
        }
        if guard_after != guard_before {
            let message = format!(
                "statement {} (line {}) wrote to oneoff's own tables, and it is committed (no transaction): check the ledger, then `oneoff mark` or `oneoff skip`",
                statement.number, statement.line
            );
            let mut f = attempt::finish(
                ctx.started,
                Status::Failed,
                Some(done.rows()),
                Some(message.clone()),
            );
            f.committed = Some((Some(statement.number as i64), Some(UNKNOWN.to_string())));
            let mut ended = Ended::new(Outcome::Failed, done, Some(message));
            ended.record = Some(Record::End(f));
            return Ok(ended);
        }
        before = after;
    }
    if let Some(message) = stream.verify() {
        return Ok(file_changed(ctx, done, n, &before, message));
    }
    let mut finish = attempt::finish(ctx.started, Status::Succeeded, Some(done.rows()), None);
    finish.committed = Some((Some(n as i64), Some(before.hex())));
    let recorded = in_tx(&mut side, |db| {
        ledger::attempt::finish_attempt(
            &mut db.conn,
            &script.id,
            &ctx.attempt.run_id,
            claim.attempts,
            &finish,
        )
    })?;
    if !recorded {
        return Ok(changed(job, done));
    }
    Ok(Ended::new(Outcome::Succeeded, done, None))
}

/// Arms SQLite's authorizer on the script's connection; elsewhere takes the
/// mark of oneoff's tables on the ledger connection, which sees every
/// committed statement and is never inside the script's `LOCK TABLES`.
fn guard(db: &mut Db, side: &mut Db, armed: bool) -> QueryResult<String> {
    match db.engine.backend() {
        Backend::Sqlite => db.engine.guard_ledger(&mut db.conn, armed),
        _ => side.engine.ledger_fingerprint(&mut side.conn),
    }
}

/// A statement failed or was stopped. The ones before it committed; it did
/// not, unless it ran to its end before the stop (then it did), or the
/// connection died under it (then nobody knows: `--retry` refuses).
fn failed(
    ctx: &mut Ctx<'_>,
    mut done: StatementResults,
    statement: &Statement,
    error: StatementError,
    [before, after]: [&Prefix; 2],
) -> Ended {
    let completed = error.completed.is_some();
    if let Some(completed) = error.completed {
        done.push(completed);
    }
    let committed = statement.number - usize::from(!completed);
    let lost = error.stop.is_none() && ctx.db.conn.batch_execute("SELECT 1").is_err();
    let what = match committed {
        0 => "no statement committed".to_string(),
        1 => "statement 1 committed".to_string(),
        n => format!("statements 1-{n} committed"),
    };
    let message = if lost {
        format!(
            "{}; {what} (no transaction), and the connection died during statement {}, which may or may not have committed",
            error.message, statement.number
        )
    } else {
        format!(
            "{}; {what} (no transaction), nothing after it ran; `oneoff run --retry` resumes at statement {}",
            error.message,
            committed + 1
        )
    };
    let (outcome, status) = match error.stop {
        Some(Stop::Cancelled) => (Outcome::Cancelled, Status::Interrupted),
        _ => (Outcome::Failed, Status::Failed),
    };
    let mut f = attempt::finish(
        ctx.started,
        status,
        Some(done.rows()),
        Some(message.clone()),
    );
    let checksum = if lost {
        UNKNOWN.to_string()
    } else {
        (if completed { after } else { before }).hex()
    };
    f.committed = Some((Some(committed as i64), Some(checksum)));
    let mut ended = Ended::new(outcome, done, Some(message));
    ended.record = Some(Record::End(f));
    ended.connection_lost = lost;
    ended
}

/// The file changed while it ran: the `n` statements read ran and are
/// committed (no transaction); the rest is not run.
fn file_changed(
    ctx: &Ctx<'_>,
    done: StatementResults,
    n: usize,
    prefix: &Prefix,
    message: String,
) -> Ended {
    let message =
        format!("{message}; the {n} statement(s) before that point committed (no transaction)");
    let mut f = attempt::finish(
        ctx.started,
        Status::Failed,
        Some(done.rows()),
        Some(message.clone()),
    );
    f.committed = Some((Some(n as i64), Some(prefix.hex())));
    let mut ended = Ended::new(Outcome::Failed, done, Some(message));
    ended.record = Some(Record::End(f));
    ended
}

/// The row is no longer this attempt's: stop, keeping what committed.
fn changed(job: &Job<'_>, done: StatementResults) -> Ended {
    let mut ended = Ended::new(
        Outcome::Failed,
        done,
        Some(
            "its ledger row changed while it ran; it stopped after the statements that committed"
                .into(),
        ),
    );
    ended.conflict = Some(attempt::changed_while_running(
        job,
        "it stopped after the statements that committed",
    ));
    ended
}
