//! Rows of the ledger tables and the status vocabulary.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{oneoff_ledger, oneoff_runs};

/// Where a script stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not in the ledger yet.
    Pending,
    /// A runner is on it (or died on it: the next run turns this into `Interrupted`).
    Running,
    /// Ran and committed; never runs again.
    Succeeded,
    /// Ran and rolled back; `run --retry` re-attempts it.
    Failed,
    /// The runner stopped before recording an outcome.
    Interrupted,
    /// A person decided it must never run.
    Skipped,
    /// Ran, then `oneoff revert` undid its recorded changes; never runs
    /// again unless `run ID --again --reason …`.
    Reverted,
}

/// What the history (`oneoff_runs.status`) says beyond the ledger statuses.
pub mod history {
    /// A run stopped by a signal; its ledger row was restored.
    pub const CANCELLED: &str = "cancelled";
    /// A person marked the script succeeded without running it.
    pub const MARKED: &str = "marked_succeeded";
}

impl Status {
    /// The word stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::Skipped => "skipped",
            Status::Reverted => "reverted",
        }
    }

    /// Parses a stored word; `None` for a word this version does not know.
    pub fn parse(word: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Running,
            Status::Succeeded,
            Status::Failed,
            Status::Interrupted,
            Status::Skipped,
            Status::Reverted,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }

    /// Done for good: a run never picks it again on its own (`run ID
    /// --again` may).
    pub fn is_done(self) -> bool {
        matches!(self, Status::Succeeded | Status::Skipped | Status::Reverted)
    }
}

/// Where a script stands in the ledger, as much as a run needs to see
/// before the lock that there is nothing to do: a fifth of the size of a
/// [`LedgerRow`], with two allocations fewer.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Standing {
    /// Script id.
    pub id: String,
    /// Checksum of the file as it was last attempted.
    pub checksum: String,
    /// Its status; `None` for a word this version does not know (the plan
    /// refuses it, naming the row).
    #[diesel(deserialize_as = StatusWord)]
    pub status: Option<Status>,
}

/// A status word, read without a `String` per row.
#[derive(diesel::deserialize::FromSqlRow)]
pub struct StatusWord(Option<Status>);

impl From<StatusWord> for Option<Status> {
    fn from(word: StatusWord) -> Self {
        word.0
    }
}

impl diesel::deserialize::FromSql<diesel::sql_types::Text, crate::db::MultiBackend> for StatusWord {
    fn from_sql(value: crate::db::MultiRawValue<'_>) -> diesel::deserialize::Result<Self> {
        let word = value.from_sql::<*const str, diesel::sql_types::Text>()?;
        // SAFETY: diesel's `*const str` points into `value`, which outlives
        // this call; the word is only read here.
        let word = unsafe { &*word };
        Ok(StatusWord(Status::parse(word)))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row of `oneoff_ledger`. As a changeset it sets every column but the
/// id, `None` as NULL.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Queryable, Insertable, AsChangeset, serde::Serialize,
)]
#[diesel(table_name = oneoff_ledger, treat_none_as_null = true)]
pub struct LedgerRow {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// Checksum of the file as it was last attempted.
    pub checksum: String,
    /// Status word (see [`Status`]).
    pub status: String,
    /// How many times it was attempted.
    pub attempts: i32,
    /// When the latest attempt started (UTC).
    #[diesel(deserialize_as = super::time::When)]
    pub started_at: Option<NaiveDateTime>,
    /// When the latest attempt ended (UTC).
    #[diesel(deserialize_as = super::time::When)]
    pub finished_at: Option<NaiveDateTime>,
    /// How long the latest attempt took.
    pub duration_ms: Option<i64>,
    /// Rows the latest attempt changed.
    pub rows_affected: Option<i64>,
    /// The latest attempt's error.
    pub error: Option<String>,
    /// `user@host` of the latest attempt.
    pub run_by: String,
    /// oneoff version of the latest attempt.
    pub tool_version: String,
    /// Why a person skipped the script or marked it succeeded.
    pub note: Option<String>,
    /// Batched scripts: batches committed so far (over all attempts).
    pub batches: Option<i64>,
    /// Batched scripts: rows to do, from `-- oneoff:total`.
    pub rows_total: Option<i64>,
    /// Leading statements the latest attempt committed on their own (a
    /// no-transaction script), or `None` when nothing was committed apart
    /// from a whole, recorded transaction.
    pub committed: Option<i64>,
    /// SHA-256 of the text of those statements, or [`UNKNOWN`] when more of
    /// the script may have committed than the ledger knows.
    pub committed_checksum: Option<String>,
}

/// `committed_checksum` when part of a script's work may have committed
/// unrecorded: `run --retry` then refuses to run it again.
pub const UNKNOWN: &str = "unknown";

impl LedgerRow {
    /// Whether a retry would resume after committed statements, or must
    /// refuse because what committed is unknown.
    pub fn partial(&self) -> Option<Partial> {
        match (self.committed, self.committed_checksum.as_deref()) {
            (_, Some(UNKNOWN)) => Some(Partial::Unknown),
            (Some(n), Some(checksum)) if n > 0 => Some(Partial::Statements {
                count: n as usize,
                checksum: checksum.to_string(),
            }),
            _ => None,
        }
    }
}

/// What an unfinished attempt left committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partial {
    /// Its first `count` statements, whose text hashes to `checksum`.
    Statements {
        /// How many.
        count: usize,
        /// SHA-256 of their text.
        checksum: String,
    },
    /// An unknown part of its work.
    Unknown,
}

/// A row of `oneoff_runs`: one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable, serde::Serialize)]
#[diesel(table_name = oneoff_runs)]
pub struct RunRow {
    /// The `oneoff run` invocation (a UUID).
    pub run_id: String,
    /// Script id.
    pub script_id: String,
    /// Outcome of this attempt.
    pub status: String,
    /// When it started (UTC).
    pub started_at: NaiveDateTime,
    /// When it ended (UTC).
    pub finished_at: Option<NaiveDateTime>,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// Rows it changed (or would have, in a dry run).
    pub rows_affected: Option<i64>,
    /// Its error.
    pub error: Option<String>,
    /// `user@host`.
    pub run_by: String,
    /// Whether it was a dry run (always rolled back).
    pub dry_run: bool,
    /// Why a person skipped the script or marked it succeeded.
    pub note: Option<String>,
    /// Batched scripts: batches this attempt committed.
    pub batches: Option<i64>,
    /// Checksum of the file the attempt (or decision) was about.
    pub checksum: Option<String>,
}
