//! `status`: reads the scripts and the ledger and plans, writing nothing. A
//! database without a ledger (or an SQLite file that does not exist yet)
//! shows every script as pending.

use std::path::PathBuf;

use crate::db::{self, DatabaseUrl};
use crate::error::{Error, Result};
use crate::ledger;
use crate::plan::Plan;
use crate::runner::{build_plan, refuse_newer_ledger, warn_ignored};
use crate::script::{self, IgnoredFile};

/// What `oneoff status` looks at.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory.
    pub dir: PathBuf,
}

/// Every script and where it stands.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// Redacted database URL.
    pub database: String,
    /// Scripts on disk and ledger rows, joined.
    pub plan: Plan,
    /// Files that are not scripts.
    pub ignored: Vec<IgnoredFile>,
}

/// Reads scripts and ledger; never creates or changes anything.
pub fn status(opts: &StatusOptions) -> Result<StatusReport> {
    let set = script::load_dir(&opts.dir)?;
    warn_ignored(&set.ignored);
    let database = opts.database.redacted();
    let rows = read_ledger(&opts.database, &database)?;
    let plan = build_plan(&set.scripts, &rows, &database)?;
    Ok(StatusReport {
        database,
        plan,
        ignored: set.ignored,
    })
}

/// The ledger rows as they stand, read without writing anything: none
/// when there is no ledger yet (an SQLite file that does not exist is not
/// created), and a script in flight on SQLite shown as running.
pub(crate) fn read_ledger(url: &DatabaseUrl, database: &str) -> Result<Vec<ledger::LedgerRow>> {
    if let Some(path) = url.sqlite_path() {
        db::check_sqlite_dir(url, path)?;
    }
    let mut rows = match url.sqlite_path() {
        // Connecting would create the file: a database that does not exist has no ledger.
        Some(path) if !path.exists() => Vec::new(),
        _ => read_rows(url, database)?,
    };
    // A script whose claim commits with its work shows as running meanwhile.
    ledger::in_flight::overlay(&mut rows, db::in_flight_at(url).as_ref());
    Ok(rows)
}

fn read_rows(url: &DatabaseUrl, database: &str) -> Result<Vec<ledger::LedgerRow>> {
    let mut conn = db::connect(url)?;
    let schema = refuse_newer_ledger(&mut conn, database)?;
    ledger::rows_as(&mut conn, &schema).map_err(|e| Error::Ledger {
        database: database.to_string(),
        message: url.scrub(&e.to_string()),
    })
}
