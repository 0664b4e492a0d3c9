//! The change log (`oneoff_changes`): rows a revertible script changed, in
//! the order it changed them, read by `oneoff changes` and undone by
//! `oneoff revert`; and the ledger writes of a revert.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{oneoff_changes as changes, oneoff_ledger as ledger, oneoff_runs as runs};
use super::{insert_history, Attempt, Status, TOOL_VERSION};
use crate::db::AnyConnection;

/// One recorded change, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    /// Script id.
    pub script_id: String,
    /// The attempt that made it.
    pub run_id: String,
    /// Its place in the attempt's changes, from 1.
    pub seq: i64,
    /// The table, as the script named it.
    pub table_name: String,
    /// `insert`, `update` or `delete` (or `external` for a change a Rust
    /// script recorded itself, which oneoff cannot undo).
    pub op: String,
    /// The row's primary key as a JSON object (after an insert or update,
    /// before a delete).
    pub row_key: String,
    /// The row before, as a JSON object (`None` for an insert).
    pub old_values: Option<String>,
    /// The row after, as a JSON object (`None` for a delete).
    pub new_values: Option<String>,
}

/// The operation of a change a Rust script recorded itself
/// (`ctx.record_change`): made outside the database, so not undone by
/// `oneoff revert`.
pub const EXTERNAL: &str = "external";

/// Writes changes to the log, in the caller's transaction (a Rust
/// script's `ctx.record_change`).
pub fn record(conn: &mut AnyConnection, rows: &[ChangeRow]) -> QueryResult<usize> {
    // One statement per row: a multi-row insert is not portable across
    // diesel's backends.
    let mut n = 0;
    for row in rows {
        n += diesel::insert_into(changes::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(n)
}

/// The attempt whose changes are the script's current ones: the latest
/// attempt (by its start) that recorded any.
pub fn latest_run(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<String>> {
    let run_ids: Vec<String> = changes::table
        .filter(changes::script_id.eq(id))
        .select(changes::run_id)
        .distinct()
        .load(conn)?;
    if run_ids.len() < 2 {
        return Ok(run_ids.into_iter().next());
    }
    runs::table
        .filter(runs::script_id.eq(id))
        .filter(runs::run_id.eq_any(&run_ids))
        .order(runs::started_at.desc())
        .select(runs::run_id)
        .first(conn)
        .optional()
}

/// The changes of one attempt, in order; at most `limit` of them.
pub fn load(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    limit: Option<i64>,
) -> QueryResult<Vec<ChangeRow>> {
    let query = changes::table
        .filter(changes::script_id.eq(id))
        .filter(changes::run_id.eq(run_id))
        .order(changes::seq.asc());
    match limit {
        Some(limit) => query.limit(limit).load(conn),
        None => query.load(conn),
    }
}

/// How many changes of each operation an attempt recorded, by operation.
pub fn count_by_op(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
) -> QueryResult<Vec<(String, i64)>> {
    changes::table
        .filter(changes::script_id.eq(id))
        .filter(changes::run_id.eq(run_id))
        .group_by(changes::op)
        .select((changes::op, diesel::dsl::count_star()))
        .order(changes::op.asc())
        .load(conn)
}

/// How many changes an attempt recorded.
pub fn count(conn: &mut AnyConnection, id: &str, run_id: &str) -> QueryResult<i64> {
    changes::table
        .filter(changes::script_id.eq(id))
        .filter(changes::run_id.eq(run_id))
        .count()
        .get_result(conn)
}

/// A revert, for the ledger.
#[derive(Debug, Clone)]
pub struct Reverted<'a> {
    /// Script id.
    pub id: &'a str,
    /// The note kept in the row and the history: the reason, and what was forced.
    pub note: &'a str,
    /// Rows put back.
    pub rows: i64,
    /// `user@host`.
    pub run_by: &'a str,
    /// When.
    pub at: NaiveDateTime,
    /// The environment of oneoff.toml, for the audit trail.
    pub environment: Option<&'a str>,
}

/// Records a revert in the caller's transaction: the row becomes
/// `reverted`; the history keeps who, when, why and how many rows.
pub fn record_revert(conn: &mut AnyConnection, r: &Reverted<'_>) -> QueryResult<()> {
    diesel::update(ledger::table.find(r.id))
        .set((
            ledger::status.eq(Status::Reverted.as_str()),
            ledger::finished_at.eq(Some(r.at)),
            ledger::run_by.eq(r.run_by),
            ledger::tool_version.eq(TOOL_VERSION),
            ledger::note.eq(Some(r.note)),
        ))
        .execute(conn)?;
    let attempt = Attempt {
        run_id: uuid::Uuid::new_v4().to_string(),
        run_by: r.run_by.to_string(),
        started_at: r.at,
    };
    super::audit::Invocation::now(&attempt.run_id, "revert", r.environment, conn)?.insert(conn)?;
    insert_history(
        conn,
        (r.id, None),
        &attempt,
        Status::Reverted.as_str(),
        false,
        Some(r.note),
    )?;
    diesel::update(runs::table.find((&attempt.run_id, r.id)))
        .set((
            runs::finished_at.eq(Some(r.at)),
            runs::rows_affected.eq(Some(r.rows)),
        ))
        .execute(conn)?;
    Ok(())
}
