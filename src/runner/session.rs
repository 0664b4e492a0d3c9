//! What every writing command starts with: a connection holding the run
//! lock, the ledger schema current, and rows of dead runners turned
//! `interrupted`.

use std::time::{Duration, Instant};

use diesel::Connection;

use crate::db::{DatabaseUrl, Db, LockError};
use crate::error::{Error, Result};
use crate::ledger::{self, migrate};

/// How often a waiting runner tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// A connection holding the run lock, ready to write the ledger.
pub struct Session {
    /// The connection and its backend's engine.
    pub db: Db,
    /// Redacted database URL.
    pub database: String,
    /// `user@host`.
    pub run_by: String,
    /// Rows found `running` and marked `interrupted`.
    pub interrupted: Vec<ledger::LedgerRow>,
}

impl Session {
    /// Connects, waits for the run lock, migrates the ledger, recovers.
    pub fn open(url: &DatabaseUrl, lock_timeout: Duration) -> Result<Session> {
        Session::lock(Db::open(url)?, url, lock_timeout)
    }

    /// Waits for the run lock on an open connection, migrates, recovers.
    pub fn lock(mut db: Db, url: &DatabaseUrl, lock_timeout: Duration) -> Result<Session> {
        let database = url.redacted();
        let ledger_err = |e: &dyn std::fmt::Display| access_error(url, &database, &e.to_string());
        if !acquire(&mut db, lock_timeout).map_err(|e| lock_error(e, &database, &ledger_err))? {
            return Err(lock_timeout_error(&mut db, &database, lock_timeout));
        }
        refuse_newer_ledger(&mut db.conn, &database).map_err(|e| match e {
            // No rights on the ledger, a read-only or non-SQLite file: say so.
            Error::Ledger { message, .. } => ledger_err(&message),
            other => other,
        })?;
        migrate::migrate(&mut db.conn).map_err(|e| ledger_err(&e))?;
        let run_by = run_by();
        let marker = db.engine.in_flight(&mut db.conn);
        // One transaction (one commit, one fsync on SQLite) for all.
        let interrupted = db
            .conn
            .transaction(|c| {
                ledger::write_lock_holder(c, &run_by)?;
                if let Some(marker) = &marker {
                    ledger::in_flight::claim_for_dead_runner(c, marker)?;
                }
                ledger::recover_running(c)
            })
            .map_err(|e: diesel::result::Error| ledger_err(&e))?;
        if marker.is_some() {
            db.engine
                .set_in_flight(&mut db.conn, None)
                .map_err(|e| ledger_err(&format!("cannot clear the in-flight marker: {e}")))?;
        }
        for row in &interrupted {
            tracing::warn!(id = %row.id, name = %row.name, "script was left running by a runner that is gone; marked interrupted");
        }
        Ok(Session {
            db,
            database,
            run_by,
            interrupted,
        })
    }

    /// Releases the run lock now instead of when the connection closes.
    pub fn release(&mut self) -> diesel::QueryResult<()> {
        ledger::clear_lock_holder(&mut self.db.conn)?;
        self.db.engine.unlock(&mut self.db.conn)
    }
}

/// Waits up to `timeout` for the run lock; `Ok(false)` when it timed out.
fn acquire(db: &mut Db, timeout: Duration) -> std::result::Result<bool, LockError> {
    let deadline = Instant::now() + timeout;
    loop {
        if db.engine.try_lock(&mut db.conn)? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

fn lock_error(
    e: LockError,
    database: &str,
    ledger_err: &dyn Fn(&dyn std::fmt::Display) -> Error,
) -> Error {
    match e {
        LockError::Db(e) => ledger_err(&e),
        LockError::File(path, e) => Error::SqliteFile {
            url: database.to_string(),
            reason: format!("cannot create the lock file {}: {e}", path.display()),
            hint: "oneoff keeps its run lock beside the database file: make the directory writable for this user"
                .into(),
        },
    }
}

/// A ledger that cannot be created, read or written is bad input (exit 2)
/// when the database says why: no rights, read-only, or not a database.
pub(crate) fn access_error(url: &DatabaseUrl, database: &str, message: &str) -> Error {
    let message = url.scrub(message);
    let lower = message.to_ascii_lowercase();
    let hint = if lower.contains("not a database") || lower.contains("file is encrypted") {
        Some("the file is not an SQLite database: point --database-url / DATABASE_URL at the right file")
    } else if lower.contains("readonly")
        || lower.contains("read-only")
        || lower.contains("read only")
    {
        Some("the database (or the SQLite file or its directory) is read-only for this user; oneoff records every script in its ledger there: use a writable database or fix the permissions")
    } else if lower.contains("permission denied")
        || lower.contains("command denied")
        || lower.contains("access denied")
    {
        Some("this role cannot create or write oneoff's ledger tables: have their owner create them once (`oneoff run` as the owner) and grant SELECT, INSERT, UPDATE, DELETE on oneoff_ledger, oneoff_runs, oneoff_lock, oneoff_output, oneoff_invocations, oneoff_approvals, oneoff_changes, oneoff_capture, oneoff_cursors, SELECT on oneoff_schema_migrations and (PostgreSQL) SELECT, UPDATE on the sequence oneoff_in_flight")
    } else {
        None
    };
    match hint {
        Some(hint) if url.sqlite_path().is_some() => Error::SqliteFile {
            url: database.to_string(),
            reason: message,
            hint: hint.to_string(),
        },
        Some(hint) => Error::LedgerAccess {
            database: database.to_string(),
            reason: message,
            hint: hint.to_string(),
        },
        None => Error::Ledger {
            database: database.to_string(),
            message,
        },
    }
}

/// `user@host`, recorded with every attempt.
pub fn run_by() -> String {
    crate::identity::Identity::current().run_by()
}

/// Refuses a ledger whose schema was written by a newer oneoff; returns
/// where the schema stands otherwise (read in one query when it exists).
pub(crate) fn refuse_newer_ledger(
    conn: &mut crate::db::AnyConnection,
    database: &str,
) -> Result<migrate::Schema> {
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.to_string(),
        message: e.to_string(),
    };
    let schema = migrate::schema(conn).map_err(ledger_err)?;
    match &schema {
        migrate::Schema::Newer(unknown) => Err(Error::NewerLedger {
            database: database.to_string(),
            found: unknown.last().cloned().unwrap_or_default(),
            tool: ledger::TOOL_VERSION.to_string(),
        }),
        _ => Ok(schema),
    }
}

fn lock_timeout_error(db: &mut Db, database: &str, waited: Duration) -> Error {
    let holder = ledger::read_lock_holder(&mut db.conn)
        .ok()
        .flatten()
        .unwrap_or_else(|| "holder unknown: it has not recorded itself yet".into());
    Error::LockTimeout {
        database: database.to_string(),
        holder: format!("held by {holder}"),
        waited: humantime::format_duration(waited).to_string(),
    }
}
