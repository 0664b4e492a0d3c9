//! A script's post-conditions, checked inside its transaction after its
//! statements and before the ledger says `succeeded` (in the guard
//! savepoint, so oneoff's ledger guard covers them too). A verify query is
//! untrusted like the script: it is held to the static rules, and runs in a
//! savepoint of its own that is always rolled back, so that whatever it
//! does is undone before the script's work commits. [`verify`] and
//! [`expect_rows`] are what a Rust script's `ctx.verify(query)` and
//! `ctx.expect_rows(range)` call.

use diesel::connection::SimpleConnection;

use crate::db::Db;
use crate::script::postconditions::{verify_problems, RowRange, Verify};
use crate::script::{Dialect, Script};

use super::work::connection_gone;

/// Rows a violated `verify` shows in its message.
pub const ROWS_SHOWN: usize = 10;

/// The savepoint a verify query runs in; scripts may not name it.
pub(crate) const SAVEPOINT: &str = "oneoff_post";

/// Why post-conditions did not pass.
#[derive(Debug)]
pub enum Failed {
    /// One does not hold, or its query failed: `post-condition failed: …`.
    Violated(String),
    /// The transaction is gone (its savepoint could not be rolled back to).
    TxEnded,
    /// The connection failed.
    Db(diesel::result::Error),
}

/// Whether `rows` changed rows fall in `range`; the violation otherwise.
/// `line` is the directive's, for a script's header.
pub fn expect_rows(range: RowRange, rows: i64, line: Option<usize>) -> Result<(), Failed> {
    if range.contains(rows) {
        return Ok(());
    }
    Err(Failed::Violated(format!(
        "post-condition failed: {}`-- oneoff:expect-rows {range}`: the script changed {rows} row(s)",
        at(line)
    )))
}

/// Runs `query`, which returns the rows that break a rule, in the open
/// transaction, inside a savepoint that is rolled back whatever it did:
/// passes when it returns no rows; otherwise the violation shows the first
/// [`ROWS_SHOWN`] rows with their values.
pub fn verify(
    db: &mut Db,
    dialect: Dialect,
    query: &str,
    line: Option<usize>,
) -> Result<(), Failed> {
    let directive = format!("{}`-- oneoff:verify {query}`", at(line));
    let checked = Verify {
        query: query.to_string(),
        line: line.unwrap_or(0),
    };
    if let Some(problem) = verify_problems(&checked, dialect) {
        return Err(Failed::Violated(format!(
            "post-condition failed: {directive}: {problem}"
        )));
    }
    db.conn
        .batch_execute(&format!("SAVEPOINT {SAVEPOINT}"))
        .map_err(|e| lost_or_ended(e, db))?;
    let rows = crate::db::first_rows(&mut db.conn, &checked.query, ROWS_SHOWN + 1);
    db.conn
        .batch_execute(&format!(
            "ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"
        ))
        .map_err(|e| lost_or_ended(e, db))?;
    match rows {
        Ok(rows) if rows.is_empty() => Ok(()),
        Ok(rows) => {
            let more = if rows.len() > ROWS_SHOWN {
                format!(" (the first {ROWS_SHOWN} shown; it returned more)")
            } else {
                String::new()
            };
            let shown: Vec<&str> = rows.iter().take(ROWS_SHOWN).map(String::as_str).collect();
            Err(Failed::Violated(format!(
                "post-condition failed: {directive} returned {} row(s){more}: {}",
                rows.len().min(ROWS_SHOWN),
                shown.join(", ")
            )))
        }
        Err(e) => Err(Failed::Violated(format!(
            "post-condition failed: {directive}: its query failed: {e}; fix the query"
        ))),
    }
}

/// All of `script`'s post-conditions, with `rows` changed in all: `None`
/// when it has none, else what passed, for the report.
pub(crate) fn check(
    db: &mut Db,
    script: &Script,
    dialect: Dialect,
    rows: i64,
) -> Result<Option<String>, Failed> {
    let post = &script.directives.postconditions;
    if post.is_empty() {
        return Ok(None);
    }
    let mut passed = Vec::new();
    if let Some(expect) = &post.expect_rows {
        expect_rows(expect.range, rows, Some(expect.line))?;
        passed.push(format!("{rows} row(s) changed, expected {}", expect.range));
    }
    for v in &post.verify {
        verify(db, dialect, &v.query, Some(v.line))?;
    }
    match post.verify.len() {
        0 => {}
        1 => passed.push("the verify query returned no rows".into()),
        n => passed.push(format!("{n} verify queries returned no rows")),
    }
    Ok(Some(format!(
        "post-conditions passed: {}",
        passed.join("; ")
    )))
}

fn at(line: Option<usize>) -> String {
    line.map(|l| format!("line {l} ")).unwrap_or_default()
}

/// A savepoint statement failed: the connection, or a transaction the
/// script (or the query) ended.
fn lost_or_ended(e: diesel::result::Error, db: &mut Db) -> Failed {
    if connection_gone(&e.to_string()) || db.conn.batch_execute("SELECT 1").is_err() {
        return Failed::Db(e);
    }
    Failed::TxEnded
}
