//! Recovery commands for people: `skip` (a script must never run) and
//! `mark … succeeded` (a person checked a failed or interrupted script's
//! effect by hand). Neither runs anything; both take the run lock, require a
//! reason, and record who and when in the ledger and the history.

use std::path::PathBuf;
use std::time::Duration;

use crate::db::DatabaseUrl;
use crate::error::{Error, Result};
use crate::ledger::audit::Invocation;
use crate::ledger::{self, manual, models::history, Status};
use crate::runner::{build_plan, warn_ignored, Session};
use crate::script;

/// What a person decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `oneoff skip`.
    Skip,
    /// `oneoff mark ID succeeded`.
    MarkSucceeded,
}

/// Options of `skip` and `mark`.
#[derive(Debug, Clone)]
pub struct ManualOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory.
    pub dir: PathBuf,
    /// The script.
    pub id: String,
    /// Why (required, not blank).
    pub reason: String,
    /// `mark`: allow marking a script that never ran.
    pub force: bool,
    /// How long to wait for a runner's lock.
    pub lock_timeout: Duration,
    /// The environment of oneoff.toml, recorded with the decision.
    pub environment: Option<String>,
}

/// What changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManualReport {
    /// Redacted database URL.
    pub database: String,
    /// The environment, if one was selected.
    pub environment: Option<String>,
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// Status before.
    pub from: Status,
    /// Status now.
    pub to: Status,
    /// The reason recorded.
    pub reason: String,
    /// Who.
    pub by: String,
}

/// Applies a person's decision to one script.
pub fn apply(action: Action, opts: &ManualOptions) -> Result<ManualReport> {
    let reason = crate::error::reason(
        &opts.reason,
        "why",
        "checked by hand: all rows already migrated (ticket DATA-9)",
    )?;
    let set = script::load_dir(&opts.dir)?;
    warn_ignored(&set.ignored);
    let mut session = Session::open(&opts.database, opts.lock_timeout)?;
    let database = session.database.clone();
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.clone(),
        message: opts.database.scrub(&e.to_string()),
    };
    let rows = ledger::rows(&mut session.db.conn).map_err(ledger_err)?;
    let plan = build_plan(set.scripts, rows, &database)?;
    let entry = plan
        .entries
        .iter()
        .find(|e| e.id == opts.id)
        .ok_or_else(|| Error::UnknownIds(vec![opts.id.clone()]))?;
    let to = check(action, entry.status, opts.force, &entry.id, &entry.name)?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let command = match action {
        Action::Skip => "skip",
        Action::MarkSucceeded => "mark",
    };
    Invocation::now(
        &run_id,
        command,
        opts.environment.as_deref(),
        &mut session.db.conn,
    )
    .and_then(|inv| inv.insert(&mut session.db.conn))
    .map_err(ledger_err)?;
    manual::record(
        &mut session.db.conn,
        &manual::Decision {
            run_id: &run_id,
            id: &entry.id,
            name: &entry.name,
            checksum: entry.script.as_ref().map(|s| s.checksum.as_str()),
            status: to,
            history: match action {
                Action::Skip => Status::Skipped.as_str(),
                Action::MarkSucceeded => history::MARKED,
            },
            reason,
            run_by: &session.run_by,
            at: ledger::now(),
        },
    )
    .map_err(ledger_err)?;
    session.release().map_err(ledger_err)?;
    Ok(ManualReport {
        database,
        environment: opts.environment.clone(),
        id: entry.id.clone(),
        name: entry.name.clone(),
        from: entry.status,
        to,
        reason: reason.to_string(),
        by: session.run_by,
    })
}

/// The status the decision leads to, or why it is refused.
fn check(action: Action, status: Status, force: bool, id: &str, name: &str) -> Result<Status> {
    let refuse = |why: &str| {
        Err(Error::Refused(format!(
            "script {id} ({name}) is {status}: {why}"
        )))
    };
    match (action, status) {
        (Action::Skip, Status::Pending | Status::Failed | Status::Interrupted) => Ok(Status::Skipped),
        (Action::Skip, Status::Succeeded) => refuse("it already ran; write a new script to undo its effect"),
        (Action::MarkSucceeded, Status::Failed | Status::Interrupted) => Ok(Status::Succeeded),
        (Action::MarkSucceeded, Status::Pending) if force => Ok(Status::Succeeded),
        (Action::MarkSucceeded, Status::Pending) => refuse(
            "it never ran, so there is no effect to have checked; run it, skip it, or pass --force if its change was made another way",
        ),
        (Action::MarkSucceeded, Status::Succeeded) => refuse("nothing to mark"),
        (_, Status::Skipped) => refuse("it was skipped on purpose and stays skipped"),
        (_, Status::Reverted) => refuse(
            "its changes were reverted; `oneoff run ID --again --reason …` runs it again",
        ),
        (_, Status::Running) => refuse("a runner is on it; wait for it to finish"),
    }
}
