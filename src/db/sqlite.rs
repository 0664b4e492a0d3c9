//! SQLite: an OS file lock beside the database (a script cannot release
//! it), `sqlite3_interrupt` to stop a statement, the connection's pragmas
//! and temporary objects put back between scripts, and an authorizer that
//! refuses any write to oneoff's tables while a script runs.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::engine::{Canceller, Engine, LockError};
use super::sqlite_raw::LedgerGuard;
use super::{AnyConnection, Backend, DatabaseUrl, SqliteInterrupt};
use crate::ledger::in_flight::InFlight;

/// Per-connection pragmas a script may change, and oneoff puts back.
const PRAGMAS: &[&str] = &[
    "foreign_keys",
    "recursive_triggers",
    "query_only",
    "defer_foreign_keys",
    "ignore_check_constraints",
    "reverse_unordered_selects",
    "legacy_alter_table",
    "trusted_schema",
    "automatic_index",
    "busy_timeout",
    "temp_store",
    "cache_size",
];

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// The SQLite engine of one connection.
pub struct Sqlite {
    lock_path: Option<PathBuf>,
    lock: Option<File>,
    interrupt: Option<std::sync::Arc<SqliteInterrupt>>,
    guard: Option<LedgerGuard>,
    /// `PRAGMA name = value;` for each pragma as it was at connect.
    restore: String,
    /// The same for `synchronous`, which cannot change inside a transaction.
    synchronous: String,
    /// Bytes of the lock file the in-flight marker may cover.
    marker_len: usize,
    /// The journal was switched from `delete` to `persist` for this run.
    persisted: bool,
}

impl Sqlite {
    pub(crate) fn new(
        url: &DatabaseUrl,
        conn: &mut AnyConnection,
        interrupt: Option<SqliteInterrupt>,
    ) -> QueryResult<Sqlite> {
        let mut restore = String::new();
        for pragma in PRAGMAS {
            let value: Value =
                diesel::sql_query(format!("SELECT (SELECT * FROM pragma_{pragma}) AS v"))
                    .get_result(conn)?;
            restore.push_str(&format!("PRAGMA {pragma} = {};", value.v));
        }
        let sync: Value =
            diesel::sql_query("SELECT (SELECT * FROM pragma_synchronous) AS v").get_result(conn)?;
        let guard = interrupt.as_ref().map(LedgerGuard::install);
        Ok(Sqlite {
            lock_path: lock_file(url),
            lock: None,
            interrupt: interrupt.map(std::sync::Arc::new),
            guard,
            restore,
            synchronous: format!("PRAGMA synchronous = {};", sync.v),
            marker_len: 0,
            persisted: false,
        })
    }
}

/// The in-flight marker in the lock file beside an SQLite database, read
/// without taking the lock (for `status`).
pub fn in_flight_at(url: &DatabaseUrl) -> Option<InFlight> {
    let text = std::fs::read_to_string(lock_file(url)?).ok()?;
    InFlight::decode(&text)
}

/// Keeps the rollback journal between commits for the run (per connection;
/// the file's own mode is untouched): a commit then overwrites the
/// journal's header instead of creating and deleting the file, which saves
/// a directory sync and an unlink per script. Databases in WAL or another
/// mode are left as they are.
fn persist_journal(conn: &mut AnyConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let mode: Mode = diesel::sql_query("PRAGMA main.journal_mode").get_result(conn)?;
    if !mode.journal_mode.eq_ignore_ascii_case("delete") {
        return Ok(false);
    }
    // A big script's journal is cut back after its commit.
    conn.batch_execute(
        "PRAGMA main.journal_mode = PERSIST; PRAGMA main.journal_size_limit = 4194304",
    )?;
    Ok(true)
}

/// The lock file beside an SQLite database; `None` for in-memory SQLite.
fn lock_file(url: &DatabaseUrl) -> Option<PathBuf> {
    let path = url.sqlite_path()?;
    let text = path.to_string_lossy();
    if text == ":memory:" || text.contains("mode=memory") {
        return None;
    }
    let mut name = path.as_os_str().to_os_string();
    name.push(".oneoff-lock");
    Some(PathBuf::from(name))
}

impl Engine for Sqlite {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn try_lock(&mut self, conn: &mut AnyConnection) -> Result<bool, LockError> {
        let Some(path) = &self.lock_path else {
            // In memory: nothing to share, nothing to lock.
            return Ok(true);
        };
        if self.lock.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| LockError::File(path.clone(), e))?;
            self.lock = Some(file);
        }
        let file = self.lock.as_ref().expect("opened above");
        match file.try_lock() {
            Ok(()) => {
                self.marker_len = file.metadata().map_or(0, |m| m.len() as usize);
                self.persisted = persist_journal(conn)?;
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(LockError::File(path.clone(), e)),
        }
    }

    fn holds_lock(&mut self, _conn: &mut AnyConnection) -> QueryResult<bool> {
        // An OS lock held by this process: no statement can release it.
        Ok(true)
    }

    fn unlock(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        if std::mem::take(&mut self.persisted) {
            // Back to the default: this deletes the kept journal file.
            conn.batch_execute("PRAGMA main.journal_mode = DELETE")?;
        }
        if let Some(file) = self.lock.take() {
            let _ = file.unlock();
        }
        Ok(())
    }

    fn defers_claim(&self) -> bool {
        true
    }

    fn set_in_flight(
        &mut self,
        _conn: &mut AnyConnection,
        marker: Option<&InFlight>,
    ) -> std::io::Result<()> {
        let Some(file) = &self.lock else {
            return Ok(());
        };
        // One write, padded over the previous marker: a kill cannot leave
        // half of it (a power cut can; a torn marker reads as none, and its
        // attempt rolled back).
        let mut text = marker.map(InFlight::encode).unwrap_or_default();
        let len = text.len().max(self.marker_len);
        text.extend(std::iter::repeat_n(' ', len - text.len()));
        file.write_all_at(text.as_bytes(), 0)?;
        self.marker_len = len;
        Ok(())
    }

    fn in_flight(&mut self, _conn: &mut AnyConnection) -> Option<InFlight> {
        let file = self.lock.as_ref()?;
        let mut text = vec![0; self.marker_len];
        file.read_exact_at(&mut text, 0).ok()?;
        InFlight::decode(&String::from_utf8_lossy(&text))
    }

    fn canceller(&mut self, _conn: &mut AnyConnection) -> QueryResult<Canceller> {
        let handle = self.interrupt.clone();
        Ok(Box::new(move || {
            if let Some(h) = &handle {
                h.interrupt();
            }
            Ok(())
        }))
    }

    fn begin_sql(&self) -> &'static str {
        // Take the write lock at once, so that a concurrent writer makes us
        // wait (busy_timeout) instead of failing halfway through.
        "BEGIN IMMEDIATE"
    }

    fn reset_session(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        let temp: Vec<Named> = diesel::sql_query(
            "SELECT type AS kind, name FROM temp.sqlite_master \
             WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%'",
        )
        .load(conn)?;
        let mut sql = self.restore.clone();
        if self.in_transaction(conn) != Some(true) {
            // Neither can change inside a transaction.
            sql.push_str(&self.synchronous);
            let attached: Vec<Named> = diesel::sql_query(
                "SELECT 'database' AS kind, name FROM pragma_database_list WHERE name NOT IN ('main', 'temp')",
            )
            .load(conn)?;
            for db in attached {
                sql.push_str(&format!(
                    "DETACH DATABASE \"{}\";",
                    db.name.replace('"', "\"\"")
                ));
            }
        }
        for object in &temp {
            sql.push_str(&format!(
                "DROP {} IF EXISTS temp.\"{}\";",
                object.kind.to_ascii_uppercase(),
                object.name.replace('"', "\"\"")
            ));
        }
        conn.batch_execute(&sql)
    }

    fn pin_ledger(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        // The authorizer already kept the script away from oneoff's tables
        // (temporary look-alikes included); only a read-only switch remains.
        conn.batch_execute("PRAGMA query_only = 0")
    }

    fn guard_ledger(&mut self, _conn: &mut AnyConnection, armed: bool) -> QueryResult<String> {
        if let Some(guard) = &self.guard {
            guard.arm(armed);
        }
        Ok(String::new())
    }

    fn in_transaction(&mut self, _conn: &mut AnyConnection) -> Option<bool> {
        self.interrupt.as_ref().map(|h| !h.autocommit())
    }

    fn sqlite_handle(&self) -> Option<&SqliteInterrupt> {
        self.interrupt.as_deref()
    }

    fn counts_rows(&self, text: &str) -> bool {
        // SQLite reports the changes of the last data-changing statement
        // even after DDL: only trust its count for statements that change rows.
        matches!(
            super::engine::first_keyword(text).as_str(),
            "insert" | "update" | "delete" | "replace" | "with"
        )
    }
}
