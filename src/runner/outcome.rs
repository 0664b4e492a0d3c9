//! What running a script produced: per statement and per script.

use std::time::Instant;

pub use super::results::StatementResults;
use crate::script::Script;

/// What one statement did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatementResult {
    /// 1-based statement number.
    pub number: usize,
    /// Line in the file.
    pub line: usize,
    /// Rows it changed.
    pub rows_affected: i64,
    /// What the database said about it: PostgreSQL notices, MySQL warnings.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notices: Vec<String>,
}

/// A line of a script's output: a Rust script's `log` line, or what
/// became of one of its after-commit effects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutputLine {
    /// `log` or `effect`.
    pub kind: &'static str,
    /// The line.
    pub message: String,
}

/// How a script's attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Committed, with its ledger row.
    Succeeded,
    /// Rolled back (or, without a transaction, stopped); the ledger row says `failed`.
    Failed,
    /// Stopped by a signal: rolled back and the ledger row restored (or,
    /// without a transaction, `interrupted`).
    Cancelled,
    /// Dry run: executed, then rolled back.
    RolledBack,
    /// Dry run: failed (and rolled back).
    DryRunFailed,
    /// Dry run: not executed (see the reason).
    NotExecuted,
}

/// The result of one script in a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScriptOutcome {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Rows changed by all its statements (in a dry run: before the rollback).
    pub rows_affected: i64,
    /// Wall time.
    pub duration_ms: i64,
    /// Per statement, up to the one that failed (past the first thousand,
    /// kept in a temporary file until the report is rendered).
    pub statements: StatementResults,
    /// The error, naming the statement and line.
    pub error: Option<String>,
    /// Why a dry run did not execute it.
    pub reason: Option<String>,
    /// The attempt number this run gave it (0 in a dry run).
    pub attempts: i32,
    /// Batched scripts: batches this run committed (a dry run: executed).
    pub batches: Option<i64>,
    /// Batched scripts: rows to do, from `-- oneoff:total`.
    pub rows_total: Option<i64>,
    /// The connection died during the script: the outcome could not be
    /// recorded on it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub connection_lost: bool,
    /// A failure that left part of the work committed (a no-transaction
    /// script, or a script that ended oneoff's transaction): the error says
    /// which part, and nothing was rolled back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The post-conditions that passed (`-- oneoff:expect-rows`,
    /// `-- oneoff:verify`), when the script has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postconditions: Option<String>,
    /// A Rust script's log lines and after-commit effects, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<OutputLine>,
    /// After-commit effects that failed (recorded; never run again).
    #[serde(skip_serializing_if = "is_zero")]
    pub effects_failed: usize,
    /// Succeeded in a group of scripts whose commit is still to come.
    #[serde(skip)]
    pub(crate) held: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ScriptOutcome {
    /// A fresh outcome for `script`, timed from `started`.
    pub(crate) fn new(
        script: &Script,
        outcome: Outcome,
        statements: StatementResults,
        started: Instant,
        error: Option<String>,
    ) -> ScriptOutcome {
        ScriptOutcome {
            id: script.id.clone(),
            name: script.name.clone(),
            outcome,
            rows_affected: statements.rows(),
            duration_ms: started.elapsed().as_millis() as i64,
            statements,
            error,
            reason: None,
            attempts: 0,
            batches: None,
            rows_total: None,
            connection_lost: false,
            partial: false,
            postconditions: None,
            output: Vec::new(),
            effects_failed: 0,
            held: false,
        }
    }

    /// Whether this outcome fails the run.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed | Outcome::DryRunFailed)
    }

    /// Whether a signal stopped it.
    pub fn cancelled(&self) -> bool {
        self.outcome == Outcome::Cancelled
    }
}
