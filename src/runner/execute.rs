//! Executes one script: its statements, one by one, inside one transaction
//! together with the ledger update (or, for `no-transaction` scripts, each on
//! its own), and returns what happened.

use std::time::Instant;

use diesel::prelude::*;

use crate::db::{AnyConnection, Backend};
use crate::ledger::{self, Attempt, Finish, Status};
use crate::script::{Script, Statement};

/// What one statement did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatementResult {
    /// 1-based statement number.
    pub number: usize,
    /// Line in the file.
    pub line: usize,
    /// Rows it changed.
    pub rows_affected: i64,
}

/// How a script's attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Committed, with its ledger row.
    Succeeded,
    /// Rolled back; the ledger row says `failed`.
    Failed,
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
    /// Per statement, up to the one that failed.
    pub statements: Vec<StatementResult>,
    /// The error, naming the statement and line.
    pub error: Option<String>,
    /// Why a dry run did not execute it.
    pub reason: Option<String>,
}

impl ScriptOutcome {
    /// Whether this outcome fails the run.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed | Outcome::DryRunFailed)
    }
}

/// A statement that failed, with the results of those before it.
#[derive(Debug)]
struct StatementFailure {
    done: Vec<StatementResult>,
    message: String,
}

/// Why the script's transaction did not commit.
#[derive(Debug)]
enum Abort {
    Statement(StatementFailure),
    Ledger(diesel::result::Error),
    Rollback,
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Ledger(e)
    }
}

/// Runs a script for real. `Err` only when the ledger itself cannot be
/// written (the script's work is then rolled back or, for a no-transaction
/// script, left `running` for the next run to report as interrupted).
pub fn run_script(
    conn: &mut AnyConnection,
    script: &Script,
    statements: &[Statement],
    attempt: &Attempt,
) -> QueryResult<ScriptOutcome> {
    let started = Instant::now();
    conn.transaction(|c| {
        ledger::begin_attempt(c, &script.id, &script.name, &script.checksum, attempt)
    })?;
    let backend = backend(conn);
    let finish = |status, rows: &[StatementResult], error: Option<String>| Finish {
        status,
        finished_at: ledger::now(),
        duration_ms: started.elapsed().as_millis() as i64,
        rows_affected: Some(total(rows)),
        error,
    };
    let result = if script.directives.no_transaction {
        match execute_all(conn, backend, statements) {
            Ok(done) => {
                ledger::finish_attempt(
                    conn,
                    &script.id,
                    &attempt.run_id,
                    &finish(Status::Succeeded, &done, None),
                )?;
                Ok(done)
            }
            Err(failure) => Err(Abort::Statement(failure)),
        }
    } else {
        conn.transaction::<_, Abort, _>(|c| {
            let done = execute_all(c, backend, statements).map_err(Abort::Statement)?;
            ledger::finish_attempt(
                c,
                &script.id,
                &attempt.run_id,
                &finish(Status::Succeeded, &done, None),
            )?;
            Ok(done)
        })
    };
    match result {
        Ok(done) => Ok(outcome(script, Outcome::Succeeded, done, started, None)),
        Err(Abort::Statement(failure)) => {
            let f = finish(Status::Failed, &failure.done, Some(failure.message.clone()));
            conn.transaction(|c| ledger::finish_attempt(c, &script.id, &attempt.run_id, &f))?;
            Ok(outcome(
                script,
                Outcome::Failed,
                failure.done,
                started,
                Some(failure.message),
            ))
        }
        Err(Abort::Ledger(e)) => Err(e),
        Err(Abort::Rollback) => unreachable!("only dry runs roll back on purpose"),
    }
}

/// Runs a script for a dry run. The caller wraps the whole dry run in one
/// transaction that it always rolls back, so this script's transaction is a
/// savepoint: released on success (later scripts see its effect, as they
/// would in a real run) and rolled back on failure. Nothing is recorded here.
pub fn dry_run_script(
    conn: &mut AnyConnection,
    script: &Script,
    statements: &[Statement],
) -> QueryResult<ScriptOutcome> {
    let started = Instant::now();
    let backend = backend(conn);
    if let Some(reason) = not_dry_runnable(script, statements, backend) {
        let mut out = outcome(script, Outcome::NotExecuted, Vec::new(), started, None);
        out.reason = Some(reason);
        return Ok(out);
    }
    let result = conn.transaction::<_, Abort, _>(|c| {
        execute_all(c, backend, statements).map_err(Abort::Statement)
    });
    match result {
        Ok(done) => Ok(outcome(script, Outcome::RolledBack, done, started, None)),
        Err(Abort::Statement(f)) => Ok(outcome(
            script,
            Outcome::DryRunFailed,
            f.done,
            started,
            Some(f.message),
        )),
        Err(Abort::Ledger(e)) => Err(e),
        Err(Abort::Rollback) => unreachable!("only the caller aborts a dry run"),
    }
}

/// Records a dry run's outcome in the history (never in the ledger row).
pub fn record_dry_run(
    conn: &mut AnyConnection,
    out: &ScriptOutcome,
    attempt: &Attempt,
) -> QueryResult<()> {
    if out.outcome == Outcome::NotExecuted {
        return Ok(());
    }
    let finish = Finish {
        status: if out.failed() {
            Status::Failed
        } else {
            Status::Succeeded
        },
        finished_at: ledger::now(),
        duration_ms: out.duration_ms,
        rows_affected: Some(out.rows_affected),
        error: out.error.clone(),
    };
    conn.transaction(|c| ledger::record_dry_run(c, &out.id, attempt, &finish))
}

/// Runs `body` inside a transaction that is always rolled back.
pub fn always_rolled_back<T>(
    conn: &mut AnyConnection,
    body: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let mut kept = None;
    let result = conn.transaction::<(), Abort, _>(|c| {
        kept = Some(body(c)?);
        Err(Abort::Rollback)
    });
    match result {
        Err(Abort::Rollback) => Ok(kept.expect("set before the rollback")),
        Err(Abort::Ledger(e)) => Err(e),
        Err(Abort::Statement(_)) | Ok(()) => unreachable!("the body returns only ledger errors"),
    }
}

/// Why a script must not be executed in a dry run, if it must not.
fn not_dry_runnable(script: &Script, statements: &[Statement], backend: Backend) -> Option<String> {
    if script.directives.no_transaction {
        return Some("not executed: a no-transaction script cannot be rolled back".into());
    }
    if backend == Backend::Mysql {
        if let Some(s) = statements.iter().find(|s| is_ddl(&s.text)) {
            return Some(format!(
                "not executed: statement {} (line {}) is DDL, which MySQL commits implicitly, so it cannot be rolled back",
                s.number, s.line
            ));
        }
    }
    None
}

fn execute_all(
    conn: &mut AnyConnection,
    backend: Backend,
    statements: &[Statement],
) -> Result<Vec<StatementResult>, StatementFailure> {
    let mut done = Vec::with_capacity(statements.len());
    for statement in statements {
        match diesel::sql_query(&statement.text).execute(conn) {
            Ok(rows) => done.push(StatementResult {
                number: statement.number,
                line: statement.line,
                rows_affected: if counts_rows(backend, &statement.text) {
                    rows as i64
                } else {
                    0
                },
            }),
            Err(e) => {
                return Err(StatementFailure {
                    done,
                    message: format!(
                        "statement {} (line {}): {}",
                        statement.number, statement.line, e
                    ),
                })
            }
        }
    }
    Ok(done)
}

/// Whether a statement's count is rows it changed: queries report rows they
/// returned, and SQLite reports the changes of the last data-changing
/// statement even after DDL, so only trust its count for statements that
/// change rows.
fn counts_rows(backend: Backend, text: &str) -> bool {
    let keyword = first_keyword(text);
    let query = matches!(
        keyword.as_str(),
        "select" | "values" | "show" | "explain" | "describe" | "do" | "table" | "pragma" | "set"
    );
    !query
        && (backend != Backend::Sqlite
            || matches!(
                keyword.as_str(),
                "insert" | "update" | "delete" | "replace" | "with"
            ))
}

fn is_ddl(text: &str) -> bool {
    matches!(
        first_keyword(text).as_str(),
        "create" | "alter" | "drop" | "truncate" | "rename"
    )
}

fn first_keyword(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn backend(conn: &AnyConnection) -> Backend {
    crate::ledger::migrate::backend_of(conn)
}

fn total(rows: &[StatementResult]) -> i64 {
    rows.iter().map(|r| r.rows_affected).sum()
}

fn outcome(
    script: &Script,
    outcome: Outcome,
    statements: Vec<StatementResult>,
    started: Instant,
    error: Option<String>,
) -> ScriptOutcome {
    ScriptOutcome {
        id: script.id.clone(),
        name: script.name.clone(),
        outcome,
        rows_affected: total(&statements),
        duration_ms: started.elapsed().as_millis() as i64,
        statements,
        error,
        reason: None,
    }
}
