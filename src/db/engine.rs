//! What differs between the backends, behind one trait with one type per
//! backend (`sqlite.rs`, `postgres.rs`, `mysql.rs`): the run lock, stopping a
//! statement in flight, putting the session back after a script, and the
//! checks that a script left oneoff's transaction, lock and tables alone.
//! The runner's attempt lifecycle is written once against this trait.

use diesel::QueryResult;

use super::{AnyConnection, Backend, DatabaseUrl};
use crate::ledger::in_flight::InFlight;

/// The savepoint of one script in a group of scripts sharing a transaction;
/// scripts may not name it (static rules).
pub(crate) const SCRIPT: &str = "oneoff_script";

/// Stops the statement in flight on the runner's connection, from another
/// thread (a timeout or a signal).
pub type Canceller = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Why the run lock could not be taken (other than by timing out).
#[derive(Debug)]
pub enum LockError {
    /// The database refused the lock query.
    Db(diesel::result::Error),
    /// The SQLite lock file cannot be created or locked.
    File(std::path::PathBuf, std::io::Error),
}

impl From<diesel::result::Error> for LockError {
    fn from(e: diesel::result::Error) -> Self {
        LockError::Db(e)
    }
}

/// One backend's way of doing the things oneoff must not leave to a script.
pub trait Engine: Send {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Tries once to take the run lock; `Ok(false)` when another runner has it.
    fn try_lock(&mut self, conn: &mut AnyConnection) -> Result<bool, LockError>;

    /// Whether this runner still holds the run lock (a script may have
    /// released it behind oneoff's back).
    fn holds_lock(&mut self, conn: &mut AnyConnection) -> QueryResult<bool>;

    /// Releases the run lock now instead of when the connection closes.
    fn unlock(&mut self, conn: &mut AnyConnection) -> QueryResult<()>;

    /// How to stop a statement in flight on this connection.
    fn canceller(&mut self, conn: &mut AnyConnection) -> QueryResult<Canceller>;

    /// The statement that opens a transaction.
    fn begin_sql(&self) -> &'static str {
        "BEGIN"
    }

    /// What opens the transaction of a claim committed on its own (before
    /// the work of a script): it needs to be visible, not durable, since
    /// the work's own commit comes after it in the log.
    fn begin_claim_sql(&self) -> &'static str {
        self.begin_sql()
    }

    /// Whether a transactional script's claim commits together with its
    /// work (one commit per script), the attempt being marked in flight
    /// outside the database meanwhile ([`Engine::set_in_flight`]), instead
    /// of in a transaction of its own before the work.
    fn defers_claim(&self) -> bool {
        false
    }

    /// Before a run's scripts: the markers of those whose claims it may
    /// defer, for a backend that names a script by its place among them.
    fn plan_in_flight(
        &mut self,
        _conn: &mut AnyConnection,
        _markers: &[InFlight],
    ) -> std::io::Result<()> {
        Ok(())
    }

    /// Marks the script a deferred claim is for as in flight (`None`:
    /// nothing is), where the next runner finds it if this one dies.
    fn set_in_flight(
        &mut self,
        _conn: &mut AnyConnection,
        _marker: Option<&InFlight>,
    ) -> std::io::Result<()> {
        Ok(())
    }

    /// The in-flight marker a runner left (this one, or a dead one).
    fn in_flight(&mut self, _conn: &mut AnyConnection) -> Option<InFlight> {
        None
    }

    /// How long a group of scripts sharing one transaction (see
    /// [`Engine::defers_claim`]) stays open for more scripts: other writers
    /// wait at most this long (plus a script) for the locks its scripts took.
    fn group_window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(200)
    }

    /// What a script in a group runs after its statements so that a failure
    /// the commit would find (deferred constraints) is its own, not its
    /// group's; empty when the backend has nothing to check.
    fn group_checks_sql(&self) -> &'static str {
        ""
    }

    /// What commits a group of scripts: `COMMIT`, after whatever makes sure
    /// the transaction is still good (a backend that turns the `COMMIT` of
    /// a failed transaction into a rollback without an error must fail here).
    fn commit_group_sql(&self) -> String {
        "COMMIT".into()
    }

    /// One-request forms of a transactional script's claim and finish,
    /// where the backend can run several statements in one request.
    fn fused(&mut self) -> Option<&mut dyn super::fused::Fused> {
        None
    }

    /// Whether [`Engine::fused`] has them.
    fn fuses(&self) -> bool {
        false
    }

    /// Puts the session back as oneoff set it up (settings, role, current
    /// schema or database, temporary tables), after a script and outside a
    /// transaction, so that the next script and the ledger statements start
    /// from the same session whatever the script changed.
    fn reset_session(&mut self, conn: &mut AnyConnection) -> QueryResult<()>;

    /// After a script, outside a transaction: [`Engine::reset_session`],
    /// with the script's statements for what the backend cannot list.
    fn end_of_script(
        &mut self,
        conn: &mut AnyConnection,
        _statements: &[crate::script::Statement],
    ) -> QueryResult<()> {
        self.reset_session(conn)
    }

    /// After a group of scripts committed, outside a transaction: what only
    /// a session outside one can put back (SQLite's attached databases and
    /// pragmas).
    fn end_of_group(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        self.end_of_script(conn, &[])
    }

    /// Inside a script's transaction, just before oneoff writes its ledger
    /// there: undoes what the script may have changed that the ledger
    /// statements depend on (search path, role, current database, timeouts).
    fn pin_ledger(&mut self, conn: &mut AnyConnection) -> QueryResult<()>;

    /// Arms (or disarms) whatever keeps a script away from oneoff's tables
    /// while it runs; returns a mark to compare after the script.
    fn guard_ledger(&mut self, conn: &mut AnyConnection, armed: bool) -> QueryResult<String>;

    /// While on, a revertible script's capture inserts into
    /// `oneoff_changes` as the script runs (PostgreSQL): the guard leaves
    /// those inserts out of its count, and the capture accounts for them.
    fn capture_writes_changes(&mut self, _on: bool) {}

    /// A ledger table's name for SQL run under a script's settings
    /// (schema-qualified where the backend has schemas that may move).
    fn ledger_table(&self, table: &str) -> String {
        table.to_string()
    }

    /// A fingerprint of the ledger's rows as committed, for statements that
    /// run outside a transaction (no-transaction scripts), where the marks of
    /// [`Engine::guard_ledger`] may not see a script's writes. Taken on a
    /// connection other than the script's.
    fn ledger_fingerprint(&mut self, conn: &mut AnyConnection) -> QueryResult<String> {
        self.guard_ledger(conn, false)
    }

    /// Whether the connection is inside a transaction, where the backend can
    /// tell cheaply; `None` when it cannot.
    fn in_transaction(&mut self, _conn: &mut AnyConnection) -> Option<bool> {
        None
    }

    /// The raw SQLite connection, for the change log's pre-update hook.
    fn sqlite_handle(&self) -> Option<&super::SqliteInterrupt> {
        None
    }

    /// Whether a statement's reported count is rows it changed.
    fn counts_rows(&self, text: &str) -> bool {
        let keyword = first_keyword(text);
        !matches!(
            keyword.as_str(),
            "select"
                | "values"
                | "show"
                | "explain"
                | "describe"
                | "do"
                | "table"
                | "pragma"
                | "set"
        )
    }
}

/// Opens the engine for a connection just made to `url`.
pub(crate) fn engine_for(
    url: &DatabaseUrl,
    conn: &mut AnyConnection,
    sqlite: Option<super::SqliteInterrupt>,
) -> QueryResult<Box<dyn Engine>> {
    Ok(match url {
        DatabaseUrl::Sqlite(_) => Box::new(super::sqlite::Sqlite::new(url, conn, sqlite)?),
        DatabaseUrl::Postgres(raw) => Box::new(super::postgres::Postgres::new(
            &super::with_pg_defaults(raw),
            conn,
        )?),
        DatabaseUrl::Mysql(raw) => Box::new(super::mysql::Mysql::new(raw, conn)?),
    })
}

/// The first word of a statement, lower-case.
pub(crate) fn first_keyword(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A string as an SQL literal (single quotes doubled).
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
