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
            Err((message, stop)) => {
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

/// Runs one statement: its result, or the message and the stop that ended it.
pub(crate) fn execute_one(
    db: &mut Db,
    statement: &Statement,
    watchdog: &Watchdog,
) -> Result<StatementResult, (String, Option<Stop>)> {
    let at = format!("statement {} (line {})", statement.number, statement.line);
    if let Some(stop) = watchdog.stopped() {
        return Err((format!("{} before {at}", describe(stop)), Some(stop)));
    }
    let result = diesel::sql_query(&statement.text).execute(&mut db.conn);
    // A stopped statement may still return normally (MySQL's SLEEP does):
    // the stop wins, so that a timeout or signal always stops the script.
    if let Some(stop) = watchdog.stopped() {
        return Err((format!("{} during {at}", describe(stop)), Some(stop)));
    }
    match result {
        Ok(rows) => Ok(StatementResult {
            number: statement.number,
            line: statement.line,
            rows_affected: if db.engine.counts_rows(&statement.text) {
                rows as i64
            } else {
                0
            },
        }),
        Err(e) => {
            let mut message = format!("{at}: {e}");
            if db.engine.backend() == Backend::Sqlite && e.to_string().contains("not authorized") {
                message.push_str(
                    " (it would change oneoff's own tables, which a script must not touch)",
                );
            }
            Err((message, None))
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
