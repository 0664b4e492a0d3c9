//! `approve`: a person records that they reviewed the current version
//! (checksum) of a script for one environment. It never runs anything; a
//! protected environment's `run` counts approvals by people other than the
//! runner (see [`crate::protect`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::db::DatabaseUrl;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::ledger;
use crate::ledger::audit::{self, Approval, Invocation};
use crate::runner::{warn_ignored, Session};
use crate::script;

/// Options of `approve`.
#[derive(Debug, Clone)]
pub struct ApproveOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory.
    pub dir: PathBuf,
    /// The script.
    pub id: String,
    /// Why (required, not blank).
    pub reason: String,
    /// The environment the approval is for.
    pub environment: String,
    /// How long to wait for a runner's lock.
    pub lock_timeout: Duration,
}

/// What was recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApproveReport {
    /// Redacted database URL.
    pub database: String,
    /// The environment.
    pub environment: String,
    /// Script name.
    pub name: String,
    /// The approval.
    pub approval: Approval,
    /// Every approval of the script on the environment now, oldest first.
    pub approvals: Vec<Approval>,
}

/// Records an approval of the script's current checksum by the current user.
pub fn approve(opts: &ApproveOptions) -> Result<ApproveReport> {
    let reason = crate::error::reason(
        &opts.reason,
        "what you reviewed",
        "read the diff and the dry run: 1,204 rows (ticket DATA-9)",
    )?;
    let set = script::load_dir(&opts.dir)?;
    warn_ignored(&set.ignored);
    let script = set.scripts.iter().find(|s| s.id == opts.id).ok_or_else(|| {
        Error::Usage(format!(
            "no script file with id {} in {}: only a file on disk can be approved (its checksum is what is approved)\nhint: `oneoff status` lists the scripts",
            opts.id,
            opts.dir.display()
        ))
    })?;
    let mut session = Session::open(&opts.database, opts.lock_timeout)?;
    let database = session.database.clone();
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.clone(),
        message: opts.database.scrub(&e.to_string()),
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    let conn = &mut session.db.conn;
    let invocation =
        Invocation::now(&run_id, "approve", Some(&opts.environment), conn).map_err(ledger_err)?;
    invocation.insert(conn).map_err(ledger_err)?;
    let approval = Approval {
        run_id,
        script_id: script.id.clone(),
        environment: opts.environment.clone(),
        checksum: script.checksum.clone(),
        approved_by: Identity::current().user,
        reason: reason.to_string(),
        approved_at: ledger::now(),
    };
    audit::approve(conn, &approval, &session.run_by).map_err(ledger_err)?;
    let approvals = audit::approvals_of(conn, &script.id, &opts.environment).map_err(ledger_err)?;
    session.release().map_err(ledger_err)?;
    Ok(ApproveReport {
        database,
        environment: opts.environment.clone(),
        name: script.name.clone(),
        approval,
        approvals,
    })
}
