//! The ledger writes of one attempt, each a compare-and-set against what the
//! runner last knew of the row: claiming a script (`running`, attempts + 1)
//! only if its row is still as the plan read it, and every later write only
//! if the row is still this attempt's (`running` with its attempt count).
//! None of these open a transaction: the caller decides where they commit.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::models::{self, LedgerRow, RunRow, Status};
use super::schema::{oneoff_ledger as ledger, oneoff_runs as runs};
use super::TOOL_VERSION;
use crate::db::AnyConnection;

/// Who a script attempt is by, and in which run.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The `oneoff run` invocation.
    pub run_id: String,
    /// `user@host`.
    pub run_by: String,
    /// When the attempt started.
    pub started_at: NaiveDateTime,
}

/// A script this runner has claimed.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The ledger row before the claim (`None` for a pending script).
    pub previous: Option<LedgerRow>,
    /// The attempt count the claim set; every later write expects it.
    pub attempts: i32,
    /// Not written yet: the claim is made inside the script's transaction
    /// and commits with it (an in-flight marker stands for it meanwhile).
    pub deferred: bool,
}

impl Claim {
    /// The claim of a script whose row is `expected`, to be made inside its
    /// transaction.
    pub fn deferred(expected: Option<&LedgerRow>) -> Claim {
        Claim {
            previous: expected.cloned(),
            attempts: expected.map_or(0, |r| r.attempts) + 1,
            deferred: true,
        }
    }
}

/// What the claim keeps of earlier attempts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// Batched scripts keep their progress (committed batches stay done).
    pub progress: bool,
    /// Resumed no-transaction scripts keep their committed statements.
    pub committed: bool,
}

/// Marks a script `running` (attempts + 1) and opens its history row, if
/// and only if its ledger row is still `expected` (the row the plan read;
/// `None`: no row). `Ok(None)` when the row changed under the runner: another
/// runner, or a person, got there first.
pub fn claim(
    conn: &mut AnyConnection,
    identity: (&str, &str, &str),
    attempt: &Attempt,
    expected: Option<&LedgerRow>,
    keep: Keep,
) -> QueryResult<Option<Claim>> {
    let fresh = claimed_row(identity, attempt, expected, keep);
    let id = identity.0;
    let claimed = match expected {
        Some(row) => {
            diesel::update(
                ledger::table
                    .find(id)
                    .filter(ledger::status.eq(&row.status))
                    .filter(ledger::attempts.eq(row.attempts)),
            )
            .set(&fresh)
            .execute(conn)?
                == 1
        }
        None => match diesel::insert_into(ledger::table)
            .values(&fresh)
            .execute(conn)
        {
            Ok(n) => n == 1,
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => false,
            Err(e) => return Err(e),
        },
    };
    if !claimed {
        return Ok(None);
    }
    let checksum = Some(identity.2);
    insert_history(
        conn,
        (id, checksum),
        attempt,
        Status::Running.as_str(),
        false,
        None,
    )?;
    Ok(Some(Claim {
        previous: expected.cloned(),
        attempts: fresh.attempts,
        deferred: false,
    }))
}

/// The row a claim writes: `running`, one more attempt, what `keep` keeps.
pub fn claimed_row(
    (id, name, checksum): (&str, &str, &str),
    attempt: &Attempt,
    expected: Option<&LedgerRow>,
    keep: Keep,
) -> LedgerRow {
    let kept =
        |f: fn(&LedgerRow) -> Option<i64>, on: bool| on.then(|| expected.and_then(f)).flatten();
    LedgerRow {
        id: id.to_string(),
        name: name.to_string(),
        checksum: checksum.to_string(),
        status: Status::Running.as_str().to_string(),
        attempts: expected.map_or(0, |r| r.attempts) + 1,
        started_at: Some(attempt.started_at),
        finished_at: None,
        duration_ms: None,
        rows_affected: kept(|r| r.rows_affected.or(Some(0)), keep.progress),
        error: None,
        run_by: attempt.run_by.clone(),
        tool_version: TOOL_VERSION.to_string(),
        note: None,
        batches: kept(|r| r.batches.or(Some(0)), keep.progress),
        rows_total: kept(|r| r.rows_total, keep.progress),
        committed: kept(|r| r.committed, keep.committed),
        committed_checksum: keep
            .committed
            .then(|| expected.and_then(|r| r.committed_checksum.clone()))
            .flatten(),
    }
}

/// A history row as an attempt opens it, for the script `id` whose file
/// has `checksum`.
pub fn history_row(
    (id, checksum): (&str, Option<&str>),
    attempt: &Attempt,
    status: &str,
    dry_run: bool,
    note: Option<&str>,
) -> RunRow {
    RunRow {
        run_id: attempt.run_id.clone(),
        script_id: id.to_string(),
        status: status.to_string(),
        started_at: attempt.started_at,
        finished_at: None,
        duration_ms: None,
        rows_affected: None,
        error: None,
        run_by: attempt.run_by.clone(),
        dry_run,
        note: note.map(str::to_string),
        batches: None,
        checksum: checksum.map(str::to_string),
    }
}

/// Opens a history row.
pub fn insert_history(
    conn: &mut AnyConnection,
    id: (&str, Option<&str>),
    attempt: &Attempt,
    status: &str,
    dry_run: bool,
    note: Option<&str>,
) -> QueryResult<()> {
    let run = history_row(id, attempt, status, dry_run, note);
    diesel::insert_into(runs::table)
        .values(&run)
        .execute(conn)?;
    Ok(())
}

/// The ledger row of a claimed attempt, matched only while it is still
/// this attempt's (`running`, with the attempt count the claim set): every
/// write after the claim goes through it.
type Ours<'a> = dsl::Filter<
    dsl::Filter<dsl::Find<ledger::table, &'a str>, dsl::Eq<ledger::status, &'static str>>,
    dsl::Eq<ledger::attempts, i32>,
>;

fn ours(id: &str, attempts: i32) -> Ours<'_> {
    ledger::table
        .find(id)
        .filter(ledger::status.eq(Status::Running.as_str()))
        .filter(ledger::attempts.eq(attempts))
}

/// A batched script's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows changed over all attempts.
    pub rows_done: i64,
    /// Batches committed over all attempts.
    pub batches: i64,
    /// Rows this attempt changed.
    pub attempt_rows: i64,
    /// Batches this attempt committed.
    pub attempt_batches: i64,
    /// Time this attempt has taken.
    pub duration_ms: i64,
}

/// Records a committed batch in the batch's own transaction: the progress so
/// far (absolute values). Only the ledger row, to keep a batch's extra I/O
/// to one row; the attempt's own counts go to the history when it ends.
/// `false` when the row is no longer this attempt's.
pub fn record_batch(
    conn: &mut AnyConnection,
    id: &str,
    attempts: i32,
    progress: &Progress,
) -> QueryResult<bool> {
    let n = diesel::update(ours(id, attempts))
        .set((
            ledger::rows_affected.eq(Some(progress.rows_done)),
            ledger::batches.eq(Some(progress.batches)),
            ledger::duration_ms.eq(Some(progress.duration_ms)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records how many leading statements of a no-transaction script are
/// committed, and the checksum of their text (or [`models::UNKNOWN`] while
/// the next statement is in flight). `false` when the row is no longer this
/// attempt's.
pub fn record_committed(
    conn: &mut AnyConnection,
    id: &str,
    attempts: i32,
    committed: i64,
    checksum: &str,
) -> QueryResult<bool> {
    let n = diesel::update(ours(id, attempts))
        .set((
            ledger::committed.eq(Some(committed)),
            ledger::committed_checksum.eq(Some(checksum)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Writes what one attempt of a batched script did to its history row.
pub fn record_attempt_progress(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    progress: &Progress,
) -> QueryResult<()> {
    diesel::update(runs::table.find((run_id, id)))
        .set((
            runs::rows_affected.eq(Some(progress.attempt_rows)),
            runs::batches.eq(Some(progress.attempt_batches)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records the rows a batched script has to do.
pub fn record_total(conn: &mut AnyConnection, id: &str, total: i64) -> QueryResult<()> {
    diesel::update(ledger::table.find(id))
        .set(ledger::rows_total.eq(Some(total)))
        .execute(conn)?;
    Ok(())
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Finish {
    /// `succeeded` or `failed` (or `interrupted`).
    pub status: Status,
    /// When it ended.
    pub finished_at: NaiveDateTime,
    /// How long it took.
    pub duration_ms: i64,
    /// Rows changed (for a failure: before the rollback, for information).
    pub rows_affected: Option<i64>,
    /// The error, for a failure.
    pub error: Option<String>,
    /// What stays committed of a failed attempt: leading statements and the
    /// checksum of their text (see [`LedgerRow::committed`]); `None` keeps
    /// what the row says.
    pub committed: Option<(Option<i64>, Option<String>)>,
}

/// Records the end of an attempt in the ledger row and its history row, if
/// the row is still this attempt's. For a success the caller runs this
/// inside the script's own transaction and rolls back on `false`.
pub fn finish_attempt(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    attempts: i32,
    finish: &Finish,
) -> QueryResult<bool> {
    let target = ours(id, attempts);
    let updated = diesel::update(target)
        .set((
            ledger::status.eq(finish.status.as_str()),
            ledger::finished_at.eq(Some(finish.finished_at)),
            ledger::duration_ms.eq(Some(finish.duration_ms)),
            ledger::rows_affected.eq(finish.rows_affected),
            ledger::error.eq(finish.error.as_deref()),
        ))
        .execute(conn)?;
    if updated != 1 {
        return Ok(false);
    }
    if let Some((committed, checksum)) = &finish.committed {
        diesel::update(ledger::table.find(id))
            .set((
                ledger::committed.eq(committed),
                ledger::committed_checksum.eq(checksum),
            ))
            .execute(conn)?;
    }
    finish_history(conn, id, run_id, finish.status.as_str(), finish)
}

/// Undoes a claim after a cancelled transactional attempt: the ledger row
/// goes back to what it was (or away, for a pending script) and the history
/// row says `cancelled`; only while the row is still this attempt's.
pub fn cancel_attempt(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    claim: &Claim,
    finish: &Finish,
) -> QueryResult<bool> {
    let removed = diesel::delete(ours(id, claim.attempts)).execute(conn)?;
    if removed != 1 {
        return Ok(false);
    }
    if let Some(previous) = &claim.previous {
        diesel::insert_into(ledger::table)
            .values(previous)
            .execute(conn)?;
    }
    finish_history(conn, id, run_id, models::history::CANCELLED, finish)
}

/// Closes a history row; `false` when it is gone.
pub(crate) fn finish_history(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    status: &str,
    finish: &Finish,
) -> QueryResult<bool> {
    let n = diesel::update(runs::table.find((run_id, id)))
        .set((
            runs::status.eq(status),
            runs::finished_at.eq(Some(finish.finished_at)),
            runs::duration_ms.eq(Some(finish.duration_ms)),
            runs::rows_affected.eq(finish.rows_affected),
            runs::error.eq(&finish.error),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records a dry run of the file with `checksum` in the history only; the
/// ledger row is not touched.
pub fn record_dry_run(
    conn: &mut AnyConnection,
    (id, checksum): (&str, &str),
    attempt: &Attempt,
    finish: &Finish,
) -> QueryResult<()> {
    insert_history(
        conn,
        (id, Some(checksum)),
        attempt,
        finish.status.as_str(),
        true,
        None,
    )?;
    finish_history(conn, id, &attempt.run_id, finish.status.as_str(), finish)?;
    Ok(())
}
