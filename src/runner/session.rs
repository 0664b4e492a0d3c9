//! What every writing command starts with: a connection holding the run
//! lock, the ledger schema current, and rows of dead runners turned
//! `interrupted`.

use std::time::Duration;

use diesel::Connection;

use crate::db::{self, AnyConnection, DatabaseUrl, SqliteInterrupt};
use crate::error::{Error, Result};
use crate::ledger::{self, migrate};

use super::lock;

/// A connection holding the run lock, ready to write the ledger.
pub struct Session {
    /// The connection.
    pub conn: AnyConnection,
    /// The run lock, held.
    pub lock: lock::RunLock,
    /// Redacted database URL.
    pub database: String,
    /// `user@host`.
    pub run_by: String,
    /// Rows found `running` and marked `interrupted`.
    pub interrupted: Vec<ledger::LedgerRow>,
    /// Interrupts the connection's statements (SQLite only).
    pub sqlite_interrupt: Option<SqliteInterrupt>,
}

impl Session {
    /// Connects, waits for the run lock, migrates the ledger, recovers.
    pub fn open(url: &DatabaseUrl, lock_timeout: Duration) -> Result<Session> {
        let (mut conn, sqlite_interrupt) = db::connect_interruptible(url)?;
        let database = url.redacted();
        let ledger_err = |e: &dyn std::fmt::Display| Error::Ledger {
            database: database.clone(),
            message: url.scrub(&e.to_string()),
        };
        let acquired = lock::acquire(&mut conn, url, lock_timeout).map_err(|e| match e {
            lock::LockError::Db(e) => ledger_err(&e),
            lock::LockError::File(path, e) => Error::SqliteFile {
                url: database.clone(),
                reason: format!("cannot create the lock file {}: {e}", path.display()),
                hint: "oneoff keeps its run lock beside the database file: make the directory writable for this user"
                    .into(),
            },
        })?;
        let Some(lock) = acquired else {
            return Err(lock_timeout_error(&mut conn, &database, lock_timeout));
        };
        refuse_newer_ledger(&mut conn, &database)?;
        migrate::migrate(&mut conn).map_err(|e| match url.sqlite_path() {
            Some(_) if e.to_string().contains("readonly") => Error::SqliteFile {
                url: database.clone(),
                reason: e.to_string(),
                hint: "the file (or its directory) is read-only for this user; oneoff writes its ledger there: fix the permissions".into(),
            },
            _ => ledger_err(&e),
        })?;
        let run_by = run_by();
        // One transaction (one commit, one fsync on SQLite) for both.
        let interrupted = conn
            .transaction(|c| {
                ledger::write_lock_holder(c, &run_by)?;
                ledger::recover_running(c)
            })
            .map_err(|e: diesel::result::Error| ledger_err(&e))?;
        for row in &interrupted {
            tracing::warn!(id = %row.id, name = %row.name, "script was left running by a runner that is gone; marked interrupted");
        }
        Ok(Session {
            conn,
            lock,
            database,
            run_by,
            interrupted,
            sqlite_interrupt,
        })
    }
}

/// `user@host`, recorded with every attempt.
pub fn run_by() -> String {
    let user = ["ONEOFF_USER", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{user}@{host}")
}

/// Refuses a ledger whose schema was written by a newer oneoff.
pub(crate) fn refuse_newer_ledger(conn: &mut AnyConnection, database: &str) -> Result<()> {
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.to_string(),
        message: e.to_string(),
    };
    if !ledger::exists(conn).map_err(ledger_err)? {
        return Ok(());
    }
    let unknown = migrate::unknown_versions(conn).map_err(ledger_err)?;
    match unknown.last() {
        Some(found) => Err(Error::NewerLedger {
            database: database.to_string(),
            found: found.clone(),
            tool: ledger::TOOL_VERSION.to_string(),
        }),
        None => Ok(()),
    }
}

fn lock_timeout_error(conn: &mut AnyConnection, database: &str, waited: Duration) -> Error {
    let holder = ledger::read_lock_holder(conn)
        .ok()
        .flatten()
        .unwrap_or_else(|| "holder unknown: it has not recorded itself yet".into());
    Error::LockTimeout {
        database: database.to_string(),
        holder: format!("held by {holder}"),
        waited: humantime::format_duration(waited).to_string(),
    }
}
