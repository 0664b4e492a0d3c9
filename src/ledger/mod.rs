//! The ledger: tables `oneoff_ledger` (one row per script) and `oneoff_runs`
//! (one row per attempt) in the target database, their embedded schema, and
//! the queries the runner and `status` need. Every query binds its values.

pub mod attempt;
pub mod audit;
pub mod changes;
pub mod in_flight;
pub mod manual;
pub mod migrate;
pub mod models;
pub mod output;
pub mod schema;
pub mod script_state;
mod time;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;

pub use attempt::{insert_history, Attempt, Claim, Finish, Keep, Progress};
pub use models::{LedgerRow, Partial, RunRow, Standing, Status, UNKNOWN};
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
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn exists(conn: &mut AnyConnection) -> QueryResult<bool> {
    table_exists(conn, "oneoff_ledger")
}

/// Whether one of oneoff's tables exists where the ledger lives (the
/// current schema or database; for PostgreSQL the search path).
pub(crate) fn table_exists(conn: &mut AnyConnection, table: &'static str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let query = match migrate::backend_of(conn) {
        Backend::Sqlite => format!(
            "SELECT COUNT(*) AS n FROM main.sqlite_master WHERE type = 'table' AND name = '{table}'"
        ),
        Backend::Postgres => format!(
            "SELECT COUNT(*) AS n FROM pg_catalog.pg_tables \
             WHERE tablename = '{table}' AND schemaname = ANY (current_schemas(false))"
        ),
        Backend::Mysql => format!(
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = '{table}'"
        ),
    };
    let found: Found = diesel::sql_query(query).get_result(conn)?;
    Ok(found.n > 0)
}

/// Every ledger row, in id order.
pub fn rows(conn: &mut AnyConnection) -> QueryResult<Vec<LedgerRow>> {
    ledger::table.order(ledger::id.asc()).load(conn)
}

/// Every ledger row of a current ledger, in id order, with only what tells
/// where a script stands and what `run` checks before the lock: id, name,
/// checksum, status, error and the committed part; the other columns are
/// empty. A no-op run over 10,000 scripts spent a fifth of its time decoding
/// timestamps it never shows.
pub fn row_states(conn: &mut AnyConnection) -> QueryResult<Vec<LedgerRow>> {
    type State = (String, String, String, String, Option<String>);
    let rows: Vec<(State, Option<i64>, Option<String>)> = ledger::table
        .select((
            (
                ledger::id,
                ledger::name,
                ledger::checksum,
                ledger::status,
                ledger::error,
            ),
            ledger::committed,
            ledger::committed_checksum,
        ))
        .order(ledger::id.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |((id, name, checksum, status, error), committed, committed_checksum)| LedgerRow {
                id,
                name,
                checksum,
                status,
                error,
                committed,
                committed_checksum,
                ..LedgerRow::default()
            },
        )
        .collect())
}

/// Where every script in the ledger stands (columns every ledger version
/// has), in no particular order: with `ORDER BY id`, SQLite looks each row
/// up through the primary key's index, a third of the query's time. Rows
/// come in the order they were written, which is id order but for scripts
/// merged late; [`crate::plan::join`] sorts them when they are not.
pub fn standings(conn: &mut AnyConnection) -> QueryResult<Vec<Standing>> {
    ledger::table
        .select((ledger::id, ledger::checksum, ledger::status))
        .load(conn)
}

/// The ledger schema versions that added columns `status` must do without.
const BATCH_PROGRESS_VERSION: &str = "20261124000000";
const COMMITTED_VERSION: &str = "20261126000000";

/// Every ledger row, in id order, from a ledger whose schema may be older
/// than this oneoff's: `status` never migrates, so after an upgrade (or
/// while a runner is migrating, which MySQL does not do atomically) the
/// newest columns may not be there yet; they read as empty.
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn rows_any_version(conn: &mut AnyConnection) -> QueryResult<Vec<LedgerRow>> {
    let applied = migrate::applied_versions(conn)?;
    rows_of_versions(conn, &applied)
}

/// Every ledger row, in id order, from a ledger whose schema was read by
/// [`migrate::schema`]: none when there is no ledger.
pub fn rows_as(conn: &mut AnyConnection, schema: &migrate::Schema) -> QueryResult<Vec<LedgerRow>> {
    match schema {
        migrate::Schema::Missing => Ok(Vec::new()),
        migrate::Schema::Current | migrate::Schema::Newer(_) => rows(conn),
        migrate::Schema::Older(applied) => rows_of_versions(conn, applied),
    }
}

/// [`rows_any_version`] with the applied versions known.
fn rows_of_versions(
    conn: &mut AnyConnection,
    applied: &std::collections::BTreeSet<String>,
) -> QueryResult<Vec<LedgerRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Nullable, Text};
    let applied: Vec<String> = applied.iter().map(|v| v.replace('-', "")).collect();
    let has = |version: &str| applied.iter().any(|v| v == version);
    if has(COMMITTED_VERSION) && has(BATCH_PROGRESS_VERSION) {
        return rows(conn);
    }
    // Missing columns are selected as NULL, so that the rows load as usual.
    let column = |name: &'static str, version: &str| if has(version) { name } else { "NULL" };
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
            sql::<Nullable<BigInt>>(column("batches", BATCH_PROGRESS_VERSION)),
            sql::<Nullable<BigInt>>(column("rows_total", BATCH_PROGRESS_VERSION)),
            sql::<Nullable<BigInt>>(column("committed", COMMITTED_VERSION)),
            sql::<Nullable<Text>>(column("committed_checksum", COMMITTED_VERSION)),
        ))
        .order(ledger::id.asc())
        .load(conn)
}

/// One ledger row.
pub fn row(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<LedgerRow>> {
    ledger::table.find(id).first(conn).optional()
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
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
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

/// Forgets who held the run lock, as its holder lets go of it.
pub fn clear_lock_holder(conn: &mut AnyConnection) -> QueryResult<()> {
    diesel::delete(lock::table).execute(conn)?;
    Ok(())
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
