//! Executing a script's statements one by one, and what counts as rows
//! changed. A stop (timeout, signal) asked for between statements is honoured
//! before the next one starts.

use diesel::prelude::*;

use super::outcome::StatementResult;
use super::watchdog::{Stop, Watchdog};
use crate::db::{AnyConnection, Backend};
use crate::script::Statement;

/// A statement that failed (or was stopped), with the results of those before it.
#[derive(Debug)]
pub(crate) struct StatementFailure {
    pub done: Vec<StatementResult>,
    pub message: String,
    pub stop: Option<Stop>,
}

/// Runs the statements in order; stops at the first error or stop.
pub(crate) fn execute_all(
    conn: &mut AnyConnection,
    backend: Backend,
    statements: &[Statement],
    watchdog: &Watchdog,
) -> Result<Vec<StatementResult>, StatementFailure> {
    let mut done = Vec::with_capacity(statements.len());
    for statement in statements {
        let at = format!("statement {} (line {})", statement.number, statement.line);
        if let Some(stop) = watchdog.stopped() {
            return Err(StatementFailure {
                message: format!("{} before {at}", describe(stop)),
                done,
                stop: Some(stop),
            });
        }
        let result = diesel::sql_query(&statement.text).execute(conn);
        // A stopped statement may still return normally (MySQL's SLEEP does):
        // the stop wins, so that a timeout or signal always stops the script.
        if let Some(stop) = watchdog.stopped() {
            let message = format!("{} during {at}", describe(stop));
            return Err(StatementFailure {
                done,
                message,
                stop: Some(stop),
            });
        }
        match result {
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
                let message = format!("{at}: {e}");
                return Err(StatementFailure {
                    done,
                    message,
                    stop: None,
                });
            }
        }
    }
    Ok(done)
}

/// The words for a stop, as recorded in the ledger.
pub(crate) fn describe(stop: Stop) -> String {
    match stop {
        Stop::Timeout(limit) => format!("timeout after {}", humantime::format_duration(limit)),
        Stop::Cancelled => "cancelled by a signal".into(),
    }
}

/// Whether a statement's count is rows it changed: queries report rows they
/// returned, and SQLite reports the changes of the last data-changing
/// statement even after DDL, so only trust its count for statements that
/// change rows.
pub(crate) fn counts_rows(backend: Backend, text: &str) -> bool {
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

/// Whether MySQL would commit this statement implicitly.
pub(crate) fn is_ddl(text: &str) -> bool {
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
