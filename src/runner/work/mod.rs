//! The kinds of work that plug into the attempt lifecycle
//! ([`super::attempt`]): a script's statements in one transaction
//! ([`plain`]), one by one without one ([`no_tx`]), or one statement again
//! and again in batches ([`batch`]). Each is guarded the same way here: the
//! script runs inside a savepoint oneoff owns, with oneoff's tables watched,
//! and the savepoint must still be there when it ends (a script that
//! committed or rolled back oneoff's transaction has destroyed it).

pub mod batch;
pub mod fused;
pub mod grouped;
pub mod no_tx;
pub mod plain;
pub(crate) mod rust;

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use super::outcome::StatementResults;
use super::postconditions::Failed as PostFailed;
use super::statements::{execute_all, ScriptStatements, StatementFailure};
use super::watchdog::Watchdog;
use crate::db::Db;

/// The savepoint a script runs in; scripts may not name it (static rules).
pub(crate) const GUARD: &str = "oneoff_guard";

/// Why a guarded piece of work did not end well.
#[derive(Debug)]
pub(crate) enum Abort {
    /// A statement failed or was stopped.
    Statement(StatementFailure),
    /// The script ended oneoff's transaction; found after this statement.
    TxEnded { after: usize },
    /// The script wrote to oneoff's own tables.
    LedgerTouched { after: usize },
    /// A statement of oneoff's own failed: the connection is probably gone.
    Db(diesel::result::Error),
    /// A post-condition does not hold (`post-condition failed: …`).
    Postcondition(String),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(e)
    }
}

impl Abort {
    /// The message for the ledger and the output.
    pub(crate) fn message(&self, id: &str) -> String {
        match self {
            Abort::Statement(f) => f.message.clone(),
            Abort::TxEnded { after } => format!(
                "the script ended oneoff's transaction (found after statement {after}): part of its work may be committed; \
                 check the data, then `oneoff mark {id} succeeded --reason …` or `oneoff skip {id} --reason …`"
            ),
            Abort::LedgerTouched { after } => format!(
                "the script wrote to oneoff's own tables (found after statement {after}); its work was rolled back: \
                 a script must never change the ledger (use `oneoff skip` or `oneoff mark`)"
            ),
            Abort::Db(e) => format!("lost the connection to the database: {e}"),
            Abort::Postcondition(m) => format!("{m}; the script's work was rolled back"),
        }
    }

    /// Results of the statements that ran before the abort.
    pub(crate) fn done(self) -> StatementResults {
        match self {
            Abort::Statement(f) => f.done,
            _ => StatementResults::default(),
        }
    }
}

/// Opens a transaction (not through diesel's transaction manager, so that a
/// script that ends it behind oneoff's back cannot confuse it).
pub(crate) fn begin(db: &mut Db) -> QueryResult<()> {
    let sql = db.engine.begin_sql();
    db.conn.batch_execute(sql)
}

/// Commits the transaction.
pub(crate) fn commit(db: &mut Db) -> QueryResult<()> {
    db.conn.batch_execute("COMMIT")
}

/// Rolls back, whatever state the transaction is in; an error here means
/// there was nothing left to roll back (SQLite rolls back an interrupted
/// write by itself) or the connection is gone, which the next statement tells.
pub(crate) fn rollback(db: &mut Db) {
    if let Err(e) = db.conn.batch_execute("ROLLBACK") {
        tracing::debug!("rollback: {e}");
    }
}

/// Runs `work` in a transaction that is committed when it returns `Ok`.
pub(crate) fn in_tx<T>(
    db: &mut Db,
    work: impl FnOnce(&mut Db) -> QueryResult<T>,
) -> QueryResult<T> {
    let sql = db.engine.begin_sql();
    in_tx_from(db, sql, work)
}

/// [`in_tx`] for a claim committed on its own: visible at once, durable
/// with the work's commit that follows it (see [`Engine::begin_claim_sql`]).
///
/// [`Engine::begin_claim_sql`]: crate::db::Engine::begin_claim_sql
pub(crate) fn in_claim_tx<T>(
    db: &mut Db,
    work: impl FnOnce(&mut Db) -> QueryResult<T>,
) -> QueryResult<T> {
    let sql = db.engine.begin_claim_sql();
    in_tx_from(db, sql, work)
}

fn in_tx_from<T>(
    db: &mut Db,
    begin_sql: &str,
    work: impl FnOnce(&mut Db) -> QueryResult<T>,
) -> QueryResult<T> {
    db.conn.batch_execute(begin_sql)?;
    match work(db) {
        Ok(value) => {
            commit(db)?;
            Ok(value)
        }
        Err(e) => {
            rollback(db);
            Err(e)
        }
    }
}

/// When a guarded run checks the script's post-conditions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Post {
    /// After the statements, with the rows they changed.
    AfterStatements,
    /// A batch: only if it changed no rows (the last one), with the rows
    /// the script's batches changed before it.
    IfLastBatch { rows_before: i64 },
    /// Not at all (a dry run of a batched script runs its first batch only).
    Skip,
}

/// What a guarded run did: per statement, and the post-conditions that
/// passed (for the report).
pub(crate) struct Guarded {
    pub done: StatementResults,
    pub passed: Option<String>,
}

/// Runs statements inside an open transaction, guarded: in savepoint
/// `oneoff_guard`, with oneoff's tables watched, then the post-conditions
/// (still inside the guard). On success the savepoint is released (its
/// work stays in the transaction); on failure the caller rolls back (the
/// transaction, or to the savepoint with [`undo_guarded`]).
pub(crate) fn guarded(
    db: &mut Db,
    statements: ScriptStatements<'_>,
    watchdog: &Watchdog,
    post: Post,
) -> Result<Guarded, Abort> {
    let before = db.engine.guard_ledger(&mut db.conn, true)?;
    db.conn.batch_execute(&format!("SAVEPOINT {GUARD}"))?;
    let result = in_guard(db, statements, watchdog)
        .and_then(|done| postconditions(db, statements, watchdog, post, done));
    let after = db.engine.guard_ledger(&mut db.conn, false);
    let guarded = result?;
    let last = guarded.done.last().map_or(0, |r| r.number);
    if db
        .conn
        .batch_execute(&format!("RELEASE SAVEPOINT {GUARD}"))
        .is_err()
        || db.engine.in_transaction(&mut db.conn) == Some(false)
    {
        return Err(Abort::TxEnded { after: last });
    }
    if after? != before {
        return Err(Abort::LedgerTouched { after: last });
    }
    Ok(guarded)
}

/// Checks the script's post-conditions after its statements ran (see
/// [`Post`]); a stop asked for meanwhile wins, as for a statement.
pub(crate) fn postconditions(
    db: &mut Db,
    statements: ScriptStatements<'_>,
    watchdog: &Watchdog,
    post: Post,
    done: StatementResults,
) -> Result<Guarded, Abort> {
    let rows = match post {
        Post::Skip => None,
        Post::AfterStatements => Some(done.rows()),
        Post::IfLastBatch { rows_before } => {
            let changed = done.first().map_or(0, |r| r.rows_affected);
            (changed == 0).then_some(rows_before)
        }
    };
    let Some(rows) = rows else {
        return Ok(Guarded { done, passed: None });
    };
    let checked = super::postconditions::check(db, statements.script, statements.dialect, rows);
    if let Some(stop) = watchdog.stopped() {
        let message = format!(
            "{} during the post-conditions",
            super::statements::describe(stop)
        );
        return Err(Abort::Statement(StatementFailure {
            done,
            message,
            stop: Some(stop),
        }));
    }
    let last = done.last().map_or(0, |r| r.number);
    match checked {
        Ok(passed) => Ok(Guarded { done, passed }),
        Err(PostFailed::Violated(message)) => Err(Abort::Postcondition(message)),
        Err(PostFailed::TxEnded) => Err(Abort::TxEnded { after: last }),
        Err(PostFailed::Db(e)) => Err(Abort::Db(e)),
    }
}

/// Runs statements inside the guard savepoint (already open). A failed
/// statement is rolled back to the savepoint; a savepoint that is gone
/// means the script ended oneoff's transaction.
pub(crate) fn in_guard(
    db: &mut Db,
    statements: ScriptStatements<'_>,
    watchdog: &Watchdog,
) -> Result<StatementResults, Abort> {
    match execute_all(db, statements, watchdog) {
        Ok(done) => Ok(done),
        // A failing statement after a hidden COMMIT (a procedure's) runs
        // outside oneoff's transaction: the savepoint is gone. A stopped
        // statement is not asked: SQLite rolls an interrupted write back.
        Err(f) if f.stop.is_none() => {
            if let Err(undo) = db
                .conn
                .batch_execute(&format!("ROLLBACK TO SAVEPOINT {GUARD}"))
            {
                // The session itself ended (killed, server gone): a lost
                // connection, whose transaction the server rolls back.
                if connection_gone(&f.message) || connection_gone(&undo.to_string()) {
                    return Err(Abort::Statement(f));
                }
                if let Err(e) = db.conn.batch_execute("SELECT 1") {
                    tracing::warn!("{}", f.message);
                    return Err(Abort::Db(e));
                }
                let after = f.done.last().map_or(0, |r| r.number);
                tracing::warn!("{}", f.message);
                return Err(Abort::TxEnded { after });
            }
            Err(Abort::Statement(f))
        }
        Err(f) => Err(Abort::Statement(f)),
    }
}

/// Whether a driver message says the session itself ended (it was killed,
/// or the server went away), as opposed to a transaction ended by SQL.
pub(crate) fn connection_gone(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "terminating connection",
        "server closed the connection",
        "no connection to the server",
        "connection to server",
        "server has gone away",
        "lost connection",
        "connection was killed",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// Undoes a failed [`guarded`] run inside a transaction that goes on (a dry run).
pub(crate) fn undo_guarded(db: &mut Db) -> QueryResult<()> {
    db.conn.batch_execute(&format!(
        "ROLLBACK TO SAVEPOINT {GUARD}; RELEASE SAVEPOINT {GUARD}"
    ))
}
