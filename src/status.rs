//! `status`: reads the scripts and the ledger and plans, writing nothing. A
//! database without a ledger (or an SQLite file that does not exist yet)
//! shows every script as pending.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::db::{self, DatabaseUrl};
use crate::error::{Error, Result};
use crate::ledger;
use crate::ledger::audit::Approval;
use crate::ledger::in_flight::InFlight;
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
    /// The environment of oneoff.toml, if one was selected: its approvals are shown.
    pub environment: Option<String>,
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
    /// The environment, if one was selected.
    pub environment: Option<String>,
    /// Per script id, its approvals on that environment (any checksum).
    pub approvals: BTreeMap<String, Vec<Approval>>,
}

/// Reads scripts and ledger; never creates or changes anything.
pub fn status(opts: &StatusOptions) -> Result<StatusReport> {
    let database = opts.database.redacted();
    // The ledger is read while the directory is (as `run` does); a problem
    // with the scripts is still the one reported first.
    let (set, ledger) = std::thread::scope(|scope| {
        let ledger =
            scope.spawn(|| read_ledger(&opts.database, &database, opts.environment.as_deref()));
        let set = opts.scripts.load(&opts.dir);
        (set, ledger.join().expect("reading the ledger panicked"))
    });
    let set = set?;
    warn_ignored(&set.ignored);
    let (rows, approvals) = ledger?;
    let plan = build_plan(set.scripts, rows, &database)?;
    Ok(StatusReport {
        database,
        plan,
        ignored: set.ignored,
        environment: opts.environment.clone(),
        approvals,
    })
}

type Approvals = BTreeMap<String, Vec<Approval>>;

/// The ledger rows as they stand, read without writing anything: none
/// when there is no ledger yet (an SQLite file that does not exist is not
/// created), and a script in flight on SQLite shown as running; with an
/// environment on a current ledger, the approvals too.
pub(crate) fn read_ledger(
    url: &DatabaseUrl,
    database: &str,
    environment: Option<&str>,
) -> Result<(Vec<ledger::LedgerRow>, Approvals)> {
    if let Some(path) = url.sqlite_path() {
        db::check_sqlite_dir(url, path)?;
    }
    let (mut rows, approvals, marker) = match url.sqlite_path() {
        // Connecting would create the file: a database that does not exist has no ledger.
        Some(path) if !path.exists() => (Vec::new(), Approvals::new(), None),
        _ => read_rows(url, database, environment)?,
    };
    // A script whose claim commits with its work shows as running meanwhile.
    let marker = marker.or_else(|| db::in_flight_at(url));
    ledger::in_flight::overlay(&mut rows, marker.as_ref());
    Ok((rows, approvals))
}

/// The ledger rows, the approvals (with an environment on a current
/// ledger), and the in-flight marker kept in the database (PostgreSQL).
type Read = (Vec<ledger::LedgerRow>, Approvals, Option<InFlight>);

/// The ledger rows and, with an environment on a current ledger, the approvals.
fn read_rows(url: &DatabaseUrl, database: &str, environment: Option<&str>) -> Result<Read> {
    let mut conn = db::connect(url)?;
    let schema = refuse_newer_ledger(&mut conn, database)?;
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.to_string(),
        message: url.scrub(&e.to_string()),
    };
    let rows = ledger::rows_as(&mut conn, &schema).map_err(ledger_err)?;
    let mut approvals = Approvals::new();
    let current = matches!(schema, ledger::migrate::Schema::Current);
    if let (Some(env), true) = (environment, current) {
        for a in ledger::audit::approvals_in(&mut conn, env).map_err(ledger_err)? {
            approvals.entry(a.script_id.clone()).or_default().push(a);
        }
    }
    let marker = match (url, current) {
        (DatabaseUrl::Postgres(_), true) => {
            db::stored_in_flight(&mut conn, "").map_err(ledger_err)?
        }
        _ => None,
    };
    Ok((rows, approvals, marker))
}
