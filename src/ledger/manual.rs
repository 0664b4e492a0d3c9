//! Ledger writes made by a person instead of a run: `skip` and
//! `mark … succeeded`. Both record who, when and why, in the ledger row and
//! in the history.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{oneoff_ledger as ledger, oneoff_runs as runs};
use super::{insert_history, row, Attempt, LedgerRow, Status, TOOL_VERSION};
use crate::db::AnyConnection;

/// A person's decision about one script.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// The command's run id (its `oneoff_invocations` row).
    pub run_id: &'a str,
    /// Script id.
    pub id: &'a str,
    /// Script name.
    pub name: &'a str,
    /// The file's checksum now, when the file exists.
    pub checksum: Option<&'a str>,
    /// `skipped`, or `succeeded` for a mark.
    pub status: Status,
    /// The word written to the history.
    pub history: &'a str,
    /// The reason given.
    pub reason: &'a str,
    /// `user@host`.
    pub run_by: &'a str,
    /// When.
    pub at: NaiveDateTime,
}

/// Writes the decision to the ledger row (creating it for a pending script)
/// and a history row, in one transaction.
pub fn record(conn: &mut AnyConnection, d: &Decision<'_>) -> QueryResult<()> {
    conn.transaction(|conn| {
        let previous = row(conn, d.id)?;
        // A mark clears the error it resolves; a skip keeps it for the record.
        let clear_error = d.status == Status::Succeeded;
        match &previous {
            Some(prev) => {
                diesel::update(ledger::table.find(d.id))
                    .set((
                        ledger::status.eq(d.status.as_str()),
                        ledger::checksum.eq(d.checksum.unwrap_or(&prev.checksum)),
                        ledger::finished_at.eq(Some(d.at)),
                        ledger::error.eq(if clear_error {
                            None
                        } else {
                            prev.error.clone()
                        }),
                        ledger::run_by.eq(d.run_by),
                        ledger::tool_version.eq(TOOL_VERSION),
                        ledger::note.eq(Some(d.reason)),
                    ))
                    .execute(conn)?;
            }
            None => {
                let fresh = LedgerRow {
                    id: d.id.to_string(),
                    name: d.name.to_string(),
                    checksum: d.checksum.unwrap_or_default().to_string(),
                    status: d.status.as_str().to_string(),
                    attempts: 0,
                    started_at: None,
                    finished_at: Some(d.at),
                    duration_ms: None,
                    rows_affected: None,
                    error: None,
                    run_by: d.run_by.to_string(),
                    tool_version: TOOL_VERSION.to_string(),
                    note: Some(d.reason.to_string()),
                    batches: None,
                    rows_total: None,
                    committed: None,
                    committed_checksum: None,
                };
                diesel::insert_into(ledger::table)
                    .values(&fresh)
                    .execute(conn)?;
            }
        }
        let attempt = Attempt {
            run_id: d.run_id.to_string(),
            run_by: d.run_by.to_string(),
            started_at: d.at,
        };
        insert_history(
            conn,
            (d.id, d.checksum),
            &attempt,
            d.history,
            false,
            Some(d.reason),
        )?;
        diesel::update(runs::table.find((&attempt.run_id, d.id)))
            .set(runs::finished_at.eq(Some(d.at)))
            .execute(conn)?;
        Ok(())
    })
}
