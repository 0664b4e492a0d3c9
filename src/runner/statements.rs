//! Executing a script's statements one by one, and what counts as rows
//! changed. A stop (timeout, signal) asked for between statements is honoured
//! before the next one starts, and wins over the error of a stopped statement.

use diesel::prelude::*;

use super::outcome::StatementResult;
use super::watchdog::{Stop, Watchdog};
use crate::db::{Backend, Db};
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
    db: &mut Db,
    statements: &[Statement],
    watchdog: &Watchdog,
) -> Result<Vec<StatementResult>, StatementFailure> {
    let mut done = Vec::with_capacity(statements.len());
    for statement in statements {
        match execute_one(db, statement, watchdog) {
            Ok(result) => done.push(result),
            Err(StatementError { message, stop, .. }) => {
                return Err(StatementFailure {
                    done,
                    message,
                    stop,
                })
            }
        }
    }
    Ok(done)
}

/// Why one statement did not simply run.
#[derive(Debug)]
pub(crate) struct StatementError {
    pub message: String,
    pub stop: Option<Stop>,
    /// The statement ran to its end although a stop came during it (outside
    /// a transaction it is then committed).
    pub completed: Option<StatementResult>,
}

/// Runs one statement: its result, or why it did not run to a result.
pub(crate) fn execute_one(
    db: &mut Db,
    statement: &Statement,
    watchdog: &Watchdog,
) -> Result<StatementResult, StatementError> {
    let at = format!("statement {} (line {})", statement.number, statement.line);
    if let Some(stop) = watchdog.stopped() {
        return Err(StatementError {
            message: format!("{} before {at}", describe(stop)),
            stop: Some(stop),
            completed: None,
        });
    }
    let result = diesel::sql_query(&statement.text).execute(&mut db.conn);
    let result = result.map(|rows| StatementResult {
        number: statement.number,
        line: statement.line,
        rows_affected: if db.engine.counts_rows(&statement.text) {
            rows as i64
        } else {
            0
        },
    });
    // A stopped statement may still return normally (MySQL's SLEEP does):
    // the stop wins, so that a timeout or signal always stops the script.
    if let Some(stop) = watchdog.stopped() {
        return Err(StatementError {
            message: format!("{} during {at}", describe(stop)),
            stop: Some(stop),
            completed: result.ok(),
        });
    }
    match result {
        Ok(done) => Ok(done),
        Err(e) => {
            let mut message = format!("{at}: {e}");
            if db.engine.backend() == Backend::Sqlite && e.to_string().contains("not authorized") {
                message.push_str(
                    " (it would change oneoff's own tables, which a script must not touch)",
                );
            }
            Err(StatementError {
                message,
                stop: None,
                completed: None,
            })
        }
    }
}

/// The words for a stop, as recorded in the ledger.
pub(crate) fn describe(stop: Stop) -> String {
    match stop {
        Stop::Timeout(limit) => format!("timeout after {}", humantime::format_duration(limit)),
        Stop::Cancelled => "cancelled by a signal".into(),
    }
}
