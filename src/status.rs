//! `status`: reads the scripts and the ledger and plans, writing nothing. A
//! database without a ledger (or an SQLite file that does not exist yet)
//! shows every script as pending.

use std::path::PathBuf;

use crate::db::{self, DatabaseUrl};
use crate::error::{Error, Result};
use crate::ledger;
use crate::plan::Plan;
use crate::runner::{build_plan, refuse_newer_ledger, warn_ignored};
use crate::script::IgnoredFile;

/// What `oneoff status` looks at.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory (when the scripts are not embedded).
    pub dir: PathBuf,
    /// Where the scripts come from: `dir`, or compiled into the binary.
    pub scripts: crate::Scripts,
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
    let set = opts.scripts.load(&opts.dir)?;
    warn_ignored(&set.ignored);
    let database = opts.database.redacted();
    if let Some(path) = opts.database.sqlite_path() {
        db::check_sqlite_dir(&opts.database, path)?;
    }
    let mut rows = match opts.database.sqlite_path() {
        // Connecting would create the file: a database that does not exist has no ledger.
        Some(path) if !path.exists() => Vec::new(),
        _ => read_rows(&opts.database, &database)?,
    };
    // A script whose claim commits with its work shows as running meanwhile.
    ledger::in_flight::overlay(&mut rows, db::in_flight_at(&opts.database).as_ref());
    let plan = build_plan(&set.scripts, &rows, &database)?;
    Ok(StatusReport {
        database,
        plan,
        ignored: set.ignored,
    })
}

fn read_rows(url: &DatabaseUrl, database: &str) -> Result<Vec<ledger::LedgerRow>> {
    let mut conn = db::connect(url)?;
    let schema = refuse_newer_ledger(&mut conn, database)?;
    ledger::rows_as(&mut conn, &schema).map_err(|e| Error::Ledger {
        database: database.to_string(),
        message: url.scrub(&e.to_string()),
    })
}
