//! The change log's capture: while a revertible script runs, every row it
//! inserts, updates or deletes in the tables it writes is recorded in
//! `oneoff_changes`, in the script's transaction, and nothing another
//! session writes. One file per backend: [`sqlite`] (SQLite's pre-update
//! hook on this connection, or temporary triggers and a staging table where
//! the library lacks the hook), [`postgres`] (statement triggers created and
//! dropped inside the script's transaction, so no other session ever sees
//! them, writing the log directly) and [`mysql`] (row triggers outside the
//! transaction, firing only for a session variable with a random name set
//! on oneoff's connection, writing the log directly).

mod mysql;
mod postgres;
mod sqlite;

use diesel::QueryResult;

use crate::db::{AnyConnection, Backend, Db};
use crate::error::{Error, Result};
use crate::script::revertible::TableName;
use crate::script::{Dialect, Script};

/// A table whose changes are captured, as the database describes it.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    /// The table as the script names it.
    pub table: TableName,
    /// Its primary key columns, in key order.
    pub key: Vec<String>,
    /// Every column (SQLite and MySQL build the JSON column by column).
    pub columns: Vec<String>,
}

/// The capture of one attempt: what to undo when it ends.
pub(crate) struct Capture {
    backend: Backend,
    /// Random, so that no script can name the staging table or variable.
    nonce: String,
    tracked: Vec<Tracked>,
    /// PostgreSQL: the server's count of rows inserted into
    /// `oneoff_changes` in the transaction when the capture was armed.
    inserted_before: std::cell::Cell<i64>,
}

/// Describes each table the script writes; a table that does not exist or
/// has no primary key refuses the script (exit 2), naming the statement.
pub(crate) fn preflight(
    conn: &mut AnyConnection,
    script: &Script,
    dialect: Dialect,
) -> Result<Vec<Tracked>> {
    let backend = crate::ledger::migrate::backend_of(conn);
    let mut tracked = Vec::new();
    for (table, line) in script.tracked_tables(dialect)? {
        let (key, columns) = match backend {
            Backend::Sqlite => sqlite::describe(conn, &table),
            Backend::Postgres => postgres::describe(conn, &table),
            Backend::Mysql => mysql::describe(conn, &table),
        }
        .map_err(|e| {
            Error::script(
                &script.path,
                None,
                format!("cannot read the columns of `{table}`: {e}"),
            )
        })?;
        let named = match line {
            Some(line) => format!("the statement at line {line} writes `{table}`, which"),
            None => format!("`-- oneoff:track {table}` names a table that"),
        };
        if columns.is_empty() {
            return Err(Error::script(&script.path, line, format!(
                "{named} does not exist (or is not a table); a revertible script records the rows of the tables it writes: create the table first, in a script of its own"
            )));
        }
        if key.is_empty() {
            return Err(Error::script(&script.path, line, format!(
                "{named} has no primary key, so a revertible script cannot tell its rows apart to revert them; add a primary key, or drop `-- oneoff:revertible`"
            )));
        }
        tracked.push(Tracked {
            table,
            key,
            columns,
        });
    }
    Ok(tracked)
}

impl Capture {
    /// Before the script's transaction: what a backend must do outside it
    /// (MySQL's triggers, whose DDL commits), for the attempt
    /// `(script id, run id)`.
    pub(crate) fn before_tx(
        db: &mut Db,
        tracked: Vec<Tracked>,
        attempt: (&str, &str),
    ) -> QueryResult<Capture> {
        let capture = Capture {
            backend: db.engine.backend(),
            nonce: uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
            tracked,
            inserted_before: std::cell::Cell::new(0),
        };
        if capture.backend == Backend::Mysql {
            let changes = db.engine.ledger_table("oneoff_changes");
            mysql::arm(
                &mut db.conn,
                &capture.nonce,
                &capture.tracked,
                &changes,
                attempt,
            )?;
        }
        Ok(capture)
    }

    /// Inside the script's transaction, before its statements, for the
    /// attempt `(script id, run id)`.
    pub(crate) fn arm(&self, db: &mut Db, attempt: (&str, &str)) -> QueryResult<()> {
        match self.backend {
            Backend::Sqlite => sqlite::arm(db, &self.nonce, &self.tracked, attempt),
            Backend::Postgres => {
                let changes = db.engine.ledger_table("oneoff_changes");
                let before =
                    postgres::arm(&mut db.conn, &self.nonce, &self.tracked, &changes, attempt)?;
                self.inserted_before.set(before);
                db.engine.capture_writes_changes(true);
                Ok(())
            }
            Backend::Mysql => mysql::open(&mut db.conn, &self.nonce),
        }
    }

    /// After the script's statements, in its transaction (the ledger guard
    /// disarmed): the last rows into `oneoff_changes` for this attempt, and
    /// what [`Capture::arm`] made removed. Returns the rows recorded; `Err`
    /// with a message when the capture was tampered with.
    pub(crate) fn collect(
        &self,
        db: &mut Db,
        script_id: &str,
        run_id: &str,
    ) -> std::result::Result<i64, String> {
        let collected = match self.backend {
            Backend::Sqlite => sqlite::collect(db, &self.nonce, &self.tracked, script_id, run_id),
            Backend::Postgres => {
                db.engine.capture_writes_changes(false);
                postgres::check_untampered(&mut db.conn)?;
                db.engine
                    .pin_ledger(&mut db.conn)
                    .map_err(|e| e.to_string())?;
                let changes = db.engine.ledger_table("oneoff_changes");
                let attempt = (script_id, run_id);
                let before = self.inserted_before.get();
                // Its own messages: a script caught is not a failure to record.
                return postgres::collect(
                    &mut db.conn,
                    &self.nonce,
                    &self.tracked,
                    &changes,
                    attempt,
                    before,
                );
            }
            Backend::Mysql => {
                let changes = db.engine.ledger_table("oneoff_changes");
                mysql::collect(&mut db.conn, &self.nonce, &changes, (script_id, run_id))
            }
        };
        collected.map_err(|e| {
            format!(
                "oneoff could not record the script's changes, so its work was rolled back: {e}"
            )
        })
    }

    /// After the transaction ended, either way: what [`Capture::before_tx`]
    /// made outside it. A killed runner leaves MySQL triggers behind that
    /// fire for no session; the next revertible run removes them.
    pub(crate) fn after_tx(&self, db: &mut Db) {
        // A failed attempt's SQLite hook, still installed; PostgreSQL's guard
        // back to counting every write.
        db.preupdate = None;
        db.engine.capture_writes_changes(false);
        if self.backend == Backend::Mysql {
            if let Err(e) = mysql::disarm(&mut db.conn, &self.nonce, &self.tracked) {
                tracing::warn!("could not drop the change-log triggers: {e}; the next revertible run drops them");
            }
        }
    }
}

/// A name as a double-quoted identifier (SQLite, PostgreSQL).
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table name as written, for SQL: `"schema"."name"` or `"name"`.
pub(crate) fn quoted_table(table: &TableName, quote: fn(&str) -> String) -> String {
    match &table.schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(&table.name)),
        None => quote(&table.name),
    }
}
