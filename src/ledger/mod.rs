//! The ledger: tables `oneoff_ledger` (one row per script) and `oneoff_runs`
//! (one row per attempt) in the target database, their embedded schema, and
//! the queries the runner and `status` need. Every query binds its values.

pub mod manual;
pub mod migrate;
pub mod models;
pub mod schema;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;

pub use models::{LedgerRow, RunRow, Status};
use schema::{oneoff_ledger as ledger, oneoff_lock as lock, oneoff_runs as runs};

use crate::db::{AnyConnection, Backend};

/// The oneoff version written into each ledger row.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Now, UTC, at millisecond precision (what every backend stores).
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(3)
}

/// Whether the ledger table exists (without creating anything). It is
/// created after `oneoff_schema_migrations`, so when it exists both do.
pub fn exists(conn: &mut AnyConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let query = match migrate::backend_of(conn) {
        Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'oneoff_ledger'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_catalog.pg_tables \
             WHERE tablename = 'oneoff_ledger' AND schemaname = ANY (current_schemas(false))"
        }
        Backend::Mysql => {
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'oneoff_ledger'"
        }
    };
    let found: Found = match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(query).get_result(c)?,
        AnyConnection::Postgresql(c) => diesel::sql_query(query).get_result(c)?,
        AnyConnection::Mysql(c) => diesel::sql_query(query).get_result(c)?,
    };
    Ok(found.n > 0)
}

/// Every ledger row, in id order.
pub fn rows(conn: &mut AnyConnection) -> QueryResult<Vec<LedgerRow>> {
    ledger::table.order(ledger::id.asc()).load(conn)
}

/// The ledger schema version that added the batch progress columns.
const BATCH_PROGRESS_VERSION: &str = "20261124000000";

/// Every ledger row, in id order, from a ledger whose schema may be older
/// than this oneoff's: `status` never migrates, so after an upgrade (or
/// while a runner is migrating, which MySQL does not do atomically) the
/// newest columns may not be there yet; they read as empty.
pub fn rows_any_version(conn: &mut AnyConnection) -> QueryResult<Vec<LedgerRow>> {
    let applied = migrate::applied_versions(conn)?;
    if applied
        .iter()
        .any(|v| v.replace('-', "") == BATCH_PROGRESS_VERSION)
    {
        return rows(conn);
    }
    // The missing columns are selected as NULL, so that the rows load as usual.
    let missing =
        || diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>("NULL");
    ledger::table
        .select((
            ledger::id,
            ledger::name,
            ledger::checksum,
            ledger::status,
            ledger::attempts,
            ledger::started_at,
            ledger::finished_at,
            ledger::duration_ms,
            ledger::rows_affected,
            ledger::error,
            ledger::run_by,
            ledger::tool_version,
            ledger::note,
            missing(),
            missing(),
        ))
        .order(ledger::id.asc())
        .load(conn)
}

/// One ledger row.
pub fn row(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<LedgerRow>> {
    ledger::table.find(id).first(conn).optional()
}

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

/// What `begin_attempt` replaced.
#[derive(Debug, Clone)]
pub struct Begun {
    /// The ledger row before the attempt (`None` for a pending script).
    pub previous: Option<LedgerRow>,
    /// The attempt count this attempt set.
    pub attempts: i32,
}

/// Marks a script `running` (attempts + 1) and opens its history row. The
/// caller commits this before the work, so that a runner that dies leaves a
/// trace the next run turns into `interrupted`. A batched script keeps the
/// progress of earlier attempts (its committed batches stay done).
pub fn begin_attempt(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    checksum: &str,
    attempt: &Attempt,
    batched: bool,
) -> QueryResult<Begun> {
    let previous = row(conn, id)?;
    let kept = |f: fn(&LedgerRow) -> Option<i64>| {
        batched.then(|| previous.as_ref().and_then(f).unwrap_or(0))
    };
    let fresh = LedgerRow {
        id: id.to_string(),
        name: name.to_string(),
        checksum: checksum.to_string(),
        status: Status::Running.as_str().to_string(),
        attempts: previous.as_ref().map_or(0, |r| r.attempts) + 1,
        started_at: Some(attempt.started_at),
        finished_at: None,
        duration_ms: None,
        rows_affected: kept(|r| r.rows_affected),
        error: None,
        run_by: attempt.run_by.clone(),
        tool_version: TOOL_VERSION.to_string(),
        note: None,
        batches: kept(|r| r.batches),
        rows_total: previous
            .as_ref()
            .and_then(|r| r.rows_total)
            .filter(|_| batched),
    };
    if previous.is_some() {
        diesel::update(ledger::table.find(id))
            .set((
                ledger::name.eq(&fresh.name),
                ledger::checksum.eq(&fresh.checksum),
                ledger::status.eq(&fresh.status),
                ledger::attempts.eq(fresh.attempts),
                ledger::started_at.eq(fresh.started_at),
                ledger::finished_at.eq(None::<NaiveDateTime>),
                ledger::duration_ms.eq(None::<i64>),
                ledger::rows_affected.eq(fresh.rows_affected),
                ledger::error.eq(None::<String>),
                ledger::run_by.eq(&fresh.run_by),
                ledger::tool_version.eq(&fresh.tool_version),
                ledger::note.eq(None::<String>),
                ledger::batches.eq(fresh.batches),
                ledger::rows_total.eq(fresh.rows_total),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(ledger::table)
            .values(&fresh)
            .execute(conn)?;
    }
    insert_run(conn, id, attempt, Status::Running, false)?;
    Ok(Begun {
        previous,
        attempts: fresh.attempts,
    })
}

fn insert_run(
    conn: &mut AnyConnection,
    id: &str,
    attempt: &Attempt,
    status: Status,
    dry_run: bool,
) -> QueryResult<()> {
    insert_history(conn, id, attempt, status.as_str(), dry_run, None)
}

/// Opens a history row.
pub(crate) fn insert_history(
    conn: &mut AnyConnection,
    id: &str,
    attempt: &Attempt,
    status: &str,
    dry_run: bool,
    note: Option<&str>,
) -> QueryResult<()> {
    let run = RunRow {
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
    };
    diesel::insert_into(runs::table)
        .values(&run)
        .execute(conn)?;
    Ok(())
}

/// Records a committed batch: the progress so far (absolute values; the run
/// lock makes this runner the only writer). Runs inside the batch's
/// transaction, and writes only the ledger row, to keep a batch's extra I/O
/// to one row; the attempt's own counts go to the history when it ends.
pub fn record_batch(conn: &mut AnyConnection, id: &str, progress: &Progress) -> QueryResult<()> {
    diesel::update(ledger::table.find(id))
        .set((
            ledger::rows_affected.eq(Some(progress.rows_done)),
            ledger::batches.eq(Some(progress.batches)),
            ledger::duration_ms.eq(Some(progress.duration_ms)),
        ))
        .execute(conn)?;
    Ok(())
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
}

/// The ledger columns the end of an attempt writes.
#[derive(AsChangeset)]
#[diesel(table_name = schema::oneoff_ledger, treat_none_as_null = true)]
struct Ended<'a> {
    status: &'a str,
    finished_at: Option<NaiveDateTime>,
    duration_ms: Option<i64>,
    rows_affected: Option<i64>,
    error: Option<&'a str>,
}

impl Finish {
    fn ledger_columns(&self) -> Ended<'_> {
        Ended {
            status: self.status.as_str(),
            finished_at: Some(self.finished_at),
            duration_ms: Some(self.duration_ms),
            rows_affected: self.rows_affected,
            error: self.error.as_deref(),
        }
    }
}

/// Records the end of an attempt in the ledger row and its history row.
/// For a success the caller runs this inside the script's own transaction.
pub fn finish_attempt(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    finish: &Finish,
) -> QueryResult<()> {
    diesel::update(ledger::table.find(id))
        .set(finish.ledger_columns())
        .execute(conn)?;
    finish_run(conn, id, run_id, finish)
}

/// Records the end of an attempt only if the ledger row is still this
/// attempt's (`running` with these attempts). Used after a lost connection,
/// when the run lock may have passed to another runner that has since taken
/// the script over. Returns whether the row was updated.
pub fn finish_attempt_if_current(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    attempts: i32,
    finish: &Finish,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let updated = diesel::update(
            ledger::table
                .find(id)
                .filter(ledger::status.eq(Status::Running.as_str()))
                .filter(ledger::attempts.eq(attempts)),
        )
        .set(finish.ledger_columns())
        .execute(conn)?;
        if updated == 1 {
            finish_run(conn, id, run_id, finish)?;
        }
        Ok(updated == 1)
    })
}

/// Undoes `begin_attempt` after a cancelled transactional attempt: the
/// ledger row goes back to what it was (or away, for a pending script) and
/// the history row says `cancelled`.
pub fn cancel_attempt(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    previous: Option<&LedgerRow>,
    finish: &Finish,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::delete(ledger::table.find(id)).execute(conn)?;
        if let Some(previous) = previous {
            diesel::insert_into(ledger::table)
                .values(previous)
                .execute(conn)?;
        }
        finish_history(conn, id, run_id, models::history::CANCELLED, finish)
    })
}

fn finish_run(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    finish: &Finish,
) -> QueryResult<()> {
    finish_history(conn, id, run_id, finish.status.as_str(), finish)
}

fn finish_history(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    status: &str,
    finish: &Finish,
) -> QueryResult<()> {
    diesel::update(runs::table.find((run_id, id)))
        .set((
            runs::status.eq(status),
            runs::finished_at.eq(Some(finish.finished_at)),
            runs::duration_ms.eq(Some(finish.duration_ms)),
            runs::rows_affected.eq(finish.rows_affected),
            runs::error.eq(&finish.error),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a dry run in the history only; the ledger row is not touched.
pub fn record_dry_run(
    conn: &mut AnyConnection,
    id: &str,
    attempt: &Attempt,
    finish: &Finish,
) -> QueryResult<()> {
    insert_run(conn, id, attempt, finish.status, true)?;
    finish_run(conn, id, &attempt.run_id, finish)
}

/// Turns every `running` row into `interrupted`, with its history rows, and
/// returns them as they were. Only called while holding the run lock, which
/// proves that no live runner is on them.
pub fn recover_running(conn: &mut AnyConnection) -> QueryResult<Vec<LedgerRow>> {
    conn.transaction(|conn| {
        let stale: Vec<LedgerRow> = ledger::table
            .filter(ledger::status.eq(Status::Running.as_str()))
            .order(ledger::id.asc())
            .load(conn)?;
        let finished_at = now();
        for row in &stale {
            let error = format!(
                "interrupted: the runner {} started at {} stopped before recording an outcome",
                row.run_by,
                row.started_at.map(|t| t.to_string()).unwrap_or_default()
            );
            diesel::update(ledger::table.find(&row.id))
                .set((
                    ledger::status.eq(Status::Interrupted.as_str()),
                    ledger::finished_at.eq(Some(finished_at)),
                    ledger::error.eq(Some(&error)),
                ))
                .execute(conn)?;
            let dead: Vec<String> = runs::table
                .filter(runs::script_id.eq(&row.id))
                .filter(runs::status.eq(Status::Running.as_str()))
                .select(runs::run_id)
                .load(conn)?;
            diesel::update(
                runs::table
                    .filter(runs::script_id.eq(&row.id))
                    .filter(runs::run_id.eq_any(&dead)),
            )
            .set((
                runs::status.eq(Status::Interrupted.as_str()),
                runs::finished_at.eq(Some(finished_at)),
                runs::error.eq(Some(&error)),
            ))
            .execute(conn)?;
            if let (Some(batches), [dead_run]) = (row.batches, dead.as_slice()) {
                recover_attempt_progress(conn, row, batches, dead_run)?;
            }
        }
        Ok(stale)
    })
}

/// A batched attempt that died recorded its progress only in the ledger row:
/// its own share is the ledger's totals less what the other attempts did.
fn recover_attempt_progress(
    conn: &mut AnyConnection,
    row: &LedgerRow,
    batches: i64,
    dead_run: &str,
) -> QueryResult<()> {
    let others: Vec<(Option<i64>, Option<i64>)> = runs::table
        .filter(runs::script_id.eq(&row.id))
        .filter(runs::dry_run.eq(false))
        .filter(runs::run_id.ne(dead_run))
        .select((runs::rows_affected, runs::batches))
        .load(conn)?;
    let (rows_before, batches_before) = others.iter().fold((0, 0), |(r, b), (rows, n)| {
        (r + rows.unwrap_or(0), b + n.unwrap_or(0))
    });
    diesel::update(runs::table.find((dead_run, &row.id)))
        .set((
            runs::rows_affected.eq(Some(row.rows_affected.unwrap_or(0) - rows_before)),
            runs::batches.eq(Some(batches - batches_before)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The history of one script, oldest first.
pub fn history(conn: &mut AnyConnection, id: &str) -> QueryResult<Vec<RunRow>> {
    runs::table
        .filter(runs::script_id.eq(id))
        .order(runs::started_at.asc())
        .load(conn)
}

/// Records who holds the run lock.
pub fn write_lock_holder(conn: &mut AnyConnection, holder: &str) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::delete(lock::table).execute(conn)?;
        diesel::insert_into(lock::table)
            .values((
                lock::id.eq(1),
                lock::holder.eq(holder),
                lock::pid.eq(std::process::id() as i32),
                lock::acquired_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Describes who holds the run lock, as recorded by the holder.
pub fn read_lock_holder(conn: &mut AnyConnection) -> QueryResult<Option<String>> {
    let row: Option<(String, i32, NaiveDateTime)> = lock::table
        .select((lock::holder, lock::pid, lock::acquired_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(holder, pid, since)| {
        format!(
            "{holder}, pid {pid}, since {} UTC",
            since.format("%Y-%m-%d %H:%M:%S")
        )
    }))
}
