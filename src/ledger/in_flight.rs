//! The in-flight marker: where a backend whose claim commits with the
//! script's own transaction (SQLite: one commit, one set of fsyncs per
//! script) says which script is running, outside the database. A runner
//! that dies mid-script leaves the marker behind and its transaction rolls
//! back; the next writer turns the marker into the same `interrupted` row a
//! committed claim would have left, and `status` shows the script `running`
//! meanwhile. A marker whose script's row is no longer as the marker expects
//! (the attempt committed, or was recorded) is stale and means nothing.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::attempt::{claim, Attempt, Keep};
use super::models::{LedgerRow, Status};
use super::TOOL_VERSION;
use crate::db::AnyConnection;

/// A script a runner has started, and the ledger row it expects to claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// The file's checksum.
    pub checksum: String,
    /// Status of the row before the attempt (`None`: no row yet).
    pub expected_status: Option<String>,
    /// Attempts of the row before the attempt.
    pub expected_attempts: i32,
    /// The run.
    pub run_id: String,
    /// `user@host`.
    pub run_by: String,
    /// When the attempt started.
    pub started_at: NaiveDateTime,
}

impl InFlight {
    /// The marker of an attempt at a script whose row is `row` now.
    pub fn new(
        (id, name, checksum): (&str, &str, &str),
        row: Option<&LedgerRow>,
        attempt: &Attempt,
    ) -> InFlight {
        InFlight {
            id: id.to_string(),
            name: name.to_string(),
            checksum: checksum.to_string(),
            expected_status: row.map(|r| r.status.clone()),
            expected_attempts: row.map_or(0, |r| r.attempts),
            run_id: attempt.run_id.clone(),
            run_by: attempt.run_by.clone(),
            started_at: attempt.started_at,
        }
    }

    /// Whether `row` (the script's row now) is still the one the attempt
    /// expected, so the attempt never committed.
    pub fn matches(&self, row: Option<&LedgerRow>) -> bool {
        match row {
            None => self.expected_status.is_none(),
            Some(r) => {
                self.expected_status.as_deref() == Some(r.status.as_str())
                    && self.expected_attempts == r.attempts
            }
        }
    }

    /// The marker as the text kept beside the database.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a marker always serialises")
    }

    /// A marker read back; `None` for no marker (blank) or one that cannot
    /// be read (a torn write after a power cut, whose attempt rolled back).
    pub fn decode(text: &str) -> Option<InFlight> {
        let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        if text.is_empty() {
            return None;
        }
        serde_json::from_str(text)
            .inspect_err(|e| tracing::warn!("ignoring an unreadable in-flight marker: {e}"))
            .ok()
    }

    /// The row `status` shows for a live marker: the claim as it would be.
    fn running_row(&self, previous: Option<&LedgerRow>) -> LedgerRow {
        let mut row = previous.cloned().unwrap_or_else(|| LedgerRow {
            id: self.id.clone(),
            name: self.name.clone(),
            checksum: self.checksum.clone(),
            status: String::new(),
            attempts: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            rows_affected: None,
            error: None,
            run_by: String::new(),
            tool_version: TOOL_VERSION.to_string(),
            note: None,
            batches: None,
            rows_total: None,
            committed: None,
            committed_checksum: None,
        });
        row.status = Status::Running.as_str().to_string();
        row.attempts = self.expected_attempts + 1;
        row.checksum = self.checksum.clone();
        row.started_at = Some(self.started_at);
        row.finished_at = None;
        row.duration_ms = None;
        row.error = None;
        row.run_by = self.run_by.clone();
        row
    }
}

/// The scripts a run may mark in flight, written once before they run
/// where the marker lives in the database (PostgreSQL): a script is then
/// named by its position in the list, set where a rollback cannot undo it
/// (a sequence) in the same request that opens it, so marking a script
/// costs no request and no commit of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightList {
    /// The run.
    pub run_id: String,
    /// `user@host`.
    pub run_by: String,
    /// When the list was written; a position carries the milliseconds since.
    pub written_at: NaiveDateTime,
    /// The scripts, in the order they may run.
    pub scripts: Vec<Listed>,
}

/// One script of an [`InFlightList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// The file's checksum.
    pub checksum: String,
    /// Status of the row before the attempt (`None`: no row yet).
    pub expected_status: Option<String>,
    /// Attempts of the row before the attempt.
    pub expected_attempts: i32,
}

impl InFlightList {
    /// The list of these markers' scripts (of one run), written now.
    pub fn new(markers: &[InFlight], written_at: NaiveDateTime) -> InFlightList {
        let first = markers.first();
        InFlightList {
            run_id: first.map(|m| m.run_id.clone()).unwrap_or_default(),
            run_by: first.map(|m| m.run_by.clone()).unwrap_or_default(),
            written_at,
            scripts: markers
                .iter()
                .map(|m| Listed {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    checksum: m.checksum.clone(),
                    expected_status: m.expected_status.clone(),
                    expected_attempts: m.expected_attempts,
                })
                .collect(),
        }
    }

    /// Where `index` (0-based) started `elapsed_ms` after the list was
    /// written, as one number (0: nothing in flight).
    pub fn position(index: usize, elapsed_ms: u64) -> i64 {
        (((index as i64) + 1) << 32) | (elapsed_ms.min(u32::MAX as u64) as i64)
    }

    /// The marker a [`InFlightList::position`] stands for.
    pub fn marker(&self, position: i64) -> Option<InFlight> {
        let index = usize::try_from(position >> 32).ok()?.checked_sub(1)?;
        let listed = self.scripts.get(index)?;
        let elapsed = chrono::Duration::milliseconds(position & 0xffff_ffff);
        Some(InFlight {
            id: listed.id.clone(),
            name: listed.name.clone(),
            checksum: listed.checksum.clone(),
            expected_status: listed.expected_status.clone(),
            expected_attempts: listed.expected_attempts,
            run_id: self.run_id.clone(),
            run_by: self.run_by.clone(),
            started_at: self.written_at + elapsed,
        })
    }

    /// The list as the text kept in the database.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a list always serialises")
    }

    /// A list read back; `None` for one that cannot be read.
    pub fn decode(text: &str) -> Option<InFlightList> {
        serde_json::from_str(text)
            .inspect_err(|e| tracing::warn!("ignoring an unreadable in-flight list: {e}"))
            .ok()
    }
}

/// Shows the marker's script as `running` in `rows` (in id order) when the
/// marker is live; a stale marker changes nothing.
pub fn overlay(rows: &mut Vec<LedgerRow>, marker: Option<&InFlight>) {
    let Some(marker) = marker else { return };
    match rows.binary_search_by(|r| r.id.as_str().cmp(&marker.id)) {
        Ok(i) if marker.matches(Some(&rows[i])) => rows[i] = marker.running_row(Some(&rows[i])),
        Err(i) if marker.matches(None) => rows.insert(i, marker.running_row(None)),
        _ => {}
    }
}

/// Under the run lock, inside the recovery transaction: when the marker's
/// attempt never committed, claims the script for it, so that recovery
/// records it `interrupted` like any row a dead runner left `running`.
/// `true` when it did.
pub fn claim_for_dead_runner(conn: &mut AnyConnection, marker: &InFlight) -> QueryResult<bool> {
    let row = super::row(conn, &marker.id)?;
    if !marker.matches(row.as_ref()) {
        return Ok(false);
    }
    let attempt = Attempt {
        run_id: marker.run_id.clone(),
        run_by: marker.run_by.clone(),
        started_at: marker.started_at,
    };
    let claimed = claim(
        conn,
        (&marker.id, &marker.name, &marker.checksum),
        &attempt,
        row.as_ref(),
        Keep::default(),
    )?;
    Ok(claimed.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(expected: Option<(&str, i32)>) -> InFlight {
        InFlight {
            id: "20260101000002".into(),
            name: "fix".into(),
            checksum: "abc".into(),
            expected_status: expected.map(|(s, _)| s.to_string()),
            expected_attempts: expected.map_or(0, |(_, a)| a),
            run_id: "run".into(),
            run_by: "me@host".into(),
            started_at: chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc(),
        }
    }

    fn row(id: &str, status: &str, attempts: i32) -> LedgerRow {
        let mut r = marker(None).running_row(None);
        r.id = id.into();
        r.status = status.into();
        r.attempts = attempts;
        r
    }

    #[test]
    fn a_marker_survives_its_padding_and_a_blank_one_is_none() {
        let m = marker(Some(("failed", 2)));
        let padded = format!("{}{}", m.encode(), " ".repeat(40));
        assert_eq!(InFlight::decode(&padded), Some(m));
        assert_eq!(InFlight::decode("   \n"), None);
        assert_eq!(InFlight::decode("{\"id\": \"torn"), None);
    }

    #[test]
    fn a_live_marker_shows_a_pending_script_as_running() {
        let mut rows = vec![
            row("20260101000001", "succeeded", 1),
            row("20260101000003", "succeeded", 1),
        ];
        overlay(&mut rows, Some(&marker(None)));
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].id, "20260101000002");
        assert_eq!((rows[1].status.as_str(), rows[1].attempts), ("running", 1));
    }

    #[test]
    fn a_live_marker_shows_a_failed_script_running_with_one_more_attempt() {
        let mut rows = vec![row("20260101000002", "failed", 2)];
        overlay(&mut rows, Some(&marker(Some(("failed", 2)))));
        assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("running", 3));
    }

    #[test]
    fn a_position_in_the_list_stands_for_its_script_and_start() {
        let mut second = marker(Some(("failed", 2)));
        second.id = "20260101000003".into();
        let written = chrono::DateTime::from_timestamp(100, 0)
            .unwrap()
            .naive_utc();
        let list = InFlightList::new(&[marker(None), second.clone()], written);
        let list = InFlightList::decode(&list.encode()).expect("round trip");
        let found = list
            .marker(InFlightList::position(1, 1500))
            .expect("the second script");
        second.started_at = written + chrono::Duration::milliseconds(1500);
        assert_eq!(found, second);
        assert_eq!(list.marker(0), None, "nothing in flight");
        assert_eq!(
            list.marker(InFlightList::position(2, 0)),
            None,
            "past the end"
        );
    }

    #[test]
    fn a_stale_marker_changes_nothing() {
        let committed = vec![row("20260101000002", "succeeded", 1)];
        let mut rows = committed.clone();
        overlay(&mut rows, Some(&marker(None)));
        assert_eq!(rows, committed);
        let mut rows = vec![row("20260101000002", "failed", 3)];
        overlay(&mut rows, Some(&marker(Some(("failed", 2)))));
        assert_eq!(rows[0].status, "failed");
    }
}
