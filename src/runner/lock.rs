//! The run lock: one `run` per database at a time. PostgreSQL uses a session
//! advisory lock, MySQL `GET_LOCK` named after the database, SQLite an OS
//! file lock on `<database file>.oneoff-lock`. All three vanish with the
//! process (or its connection), so a killed runner never blocks the next one.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable};

use crate::db::{AnyConnection, DatabaseUrl};

/// The PostgreSQL advisory lock key: "oneoff" in ASCII. Advisory locks are
/// scoped to the current database, so one key serves every database.
const PG_LOCK_KEY: i64 = 0x6f6e_656f_6666;
/// MySQL lock names are server-wide, so the database name is part of it.
const MYSQL_LOCK_NAME: &str = "LEFT(CONCAT('oneoff:', COALESCE(DATABASE(), '')), 64)";
/// How often a waiting runner tries again.
const POLL: Duration = Duration::from_millis(100);

/// A held run lock; released by [`RunLock::release`] or when the process or
/// connection ends.
#[derive(Debug)]
pub enum RunLock {
    /// The OS lock on the lock file (SQLite).
    File(File),
    /// A lock held by the database session.
    Session,
    /// An in-memory SQLite database: nothing to share, nothing to lock.
    None,
}

/// Why the lock could not be taken (other than by timing out).
#[derive(Debug)]
pub enum LockError {
    /// The database refused the lock query.
    Db(diesel::result::Error),
    /// The SQLite lock file cannot be created or locked.
    File(PathBuf, std::io::Error),
}

impl From<diesel::result::Error> for LockError {
    fn from(e: diesel::result::Error) -> Self {
        LockError::Db(e)
    }
}

/// Waits up to `timeout` for the run lock. `Ok(None)` means it timed out.
pub fn acquire(
    conn: &mut AnyConnection,
    url: &DatabaseUrl,
    timeout: Duration,
) -> Result<Option<RunLock>, LockError> {
    let deadline = Instant::now() + timeout;
    let file = match lock_file(url) {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| LockError::File(path.clone(), e))?,
        ),
        None => None,
    };
    loop {
        let got = match (&file, &mut *conn) {
            (Some(f), _) => match f.try_lock() {
                Ok(()) => true,
                Err(TryLockError::WouldBlock) => false,
                Err(TryLockError::Error(e)) => {
                    return Err(LockError::File(lock_file(url).unwrap_or_default(), e))
                }
            },
            (None, AnyConnection::Sqlite(_)) => return Ok(Some(RunLock::None)),
            (None, AnyConnection::Postgresql(c)) => diesel::select(
                sql::<Bool>("pg_try_advisory_lock(")
                    .bind::<BigInt, _>(PG_LOCK_KEY)
                    .sql(")"),
            )
            .get_result::<bool>(c)?,
            (None, AnyConnection::Mysql(c)) => {
                diesel::select(sql::<Nullable<BigInt>>(&format!(
                    "CAST(GET_LOCK({MYSQL_LOCK_NAME}, 0) AS SIGNED)"
                )))
                .get_result::<Option<i64>>(c)?
                    == Some(1)
            }
        };
        if got {
            return Ok(Some(match file {
                Some(f) => RunLock::File(f),
                None => RunLock::Session,
            }));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

impl RunLock {
    /// Releases the lock now instead of at process exit.
    pub fn release(self, conn: &mut AnyConnection) -> QueryResult<()> {
        match (self, conn) {
            (RunLock::File(f), _) => {
                let _ = f.unlock();
            }
            (RunLock::Session, AnyConnection::Postgresql(c)) => {
                diesel::select(
                    sql::<Bool>("pg_advisory_unlock(")
                        .bind::<BigInt, _>(PG_LOCK_KEY)
                        .sql(")"),
                )
                .get_result::<bool>(c)?;
            }
            (RunLock::Session, AnyConnection::Mysql(c)) => {
                diesel::select(sql::<Nullable<BigInt>>(&format!(
                    "CAST(RELEASE_LOCK({MYSQL_LOCK_NAME}) AS SIGNED)"
                )))
                .get_result::<Option<i64>>(c)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The lock file beside an SQLite database; `None` for server databases and
/// in-memory SQLite.
pub fn lock_file(url: &DatabaseUrl) -> Option<PathBuf> {
    let path = url.sqlite_path()?;
    let text = path.to_string_lossy();
    if text == ":memory:" || text.contains("mode=memory") {
        return None;
    }
    let mut name = path.as_os_str().to_os_string();
    name.push(".oneoff-lock");
    Some(PathBuf::from(name))
}
