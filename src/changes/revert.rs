//! `oneoff revert ID --reason TEXT`: undoes a revertible script's recorded
//! changes in one transaction, last change first, under the run lock. A row
//! changed since the script ran (its values now are not the ones the script
//! left) is a conflict: nothing is changed unless `--force`, which
//! overwrites it and says so in the history.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::undo::{self, Table};
use super::Change;
use crate::db::{DatabaseUrl, Db};
use crate::error::{Error, Result};
use crate::ledger::{self, changes::Reverted, Status};
use crate::runner::{warn_ignored, work, Session};
use crate::script;

/// Options of `oneoff revert`.
#[derive(Debug, Clone)]
pub struct RevertOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory.
    pub dir: PathBuf,
    /// The script.
    pub id: String,
    /// Why (required, not blank).
    pub reason: String,
    /// Undo, report, and roll back.
    pub dry_run: bool,
    /// Overwrite rows changed since the script ran.
    pub force: bool,
    /// How long to wait for a runner's lock.
    pub lock_timeout: Duration,
    /// The environment of oneoff.toml, recorded with the decision.
    pub environment: Option<String>,
}

/// A row whose values now differ from those the script left.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    /// The change it blocks.
    #[serde(flatten)]
    pub change: Change,
    /// The row as it is now (`null`: gone).
    pub now: Option<Value>,
}

/// What a revert did (or, refused or in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RevertReport {
    /// Redacted database URL.
    pub database: String,
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// Changes undone (or that would be).
    pub rows: i64,
    /// Rows changed since the script ran.
    pub conflicts: Vec<Conflict>,
    /// Whether the changes were undone and the script is now `reverted`.
    pub reverted: bool,
    /// Conflicting rows were overwritten.
    pub forced: bool,
    /// Nothing was kept.
    pub dry_run: bool,
    /// The reason recorded.
    pub reason: String,
    /// Who.
    pub by: String,
}

/// Undoes a revertible script's changes. `Ok` with
/// [`RevertReport::reverted`] false when conflicts stopped it (exit 3) or in
/// a dry run.
pub fn revert(opts: &RevertOptions) -> Result<RevertReport> {
    let reason = crate::error::reason(
        &opts.reason,
        "why",
        "wrong price list applied (ticket DATA-12)",
    )?;
    let set = script::load_dir(&opts.dir)?;
    warn_ignored(&set.ignored);
    let mut session = Session::open(&opts.database, opts.lock_timeout)?;
    let database = session.database.clone();
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: database.clone(),
        message: opts.database.scrub(&e.to_string()),
    };
    let conn = &mut session.db.conn;
    let row = ledger::row(conn, &opts.id)
        .map_err(ledger_err)?
        .ok_or_else(|| Error::UnknownIds(vec![opts.id.clone()]))?;
    let status = Status::parse(&row.status);
    let run_id = ledger::changes::latest_run(conn, &opts.id).map_err(ledger_err)?;
    let revertible = set
        .scripts
        .iter()
        .any(|s| s.id == opts.id && s.directives.revertible);
    refuse(&opts.id, &row, status, run_id.is_some() || revertible)?;
    let changes = match &run_id {
        Some(run_id) => ledger::changes::load(conn, &opts.id, run_id, None).map_err(ledger_err)?,
        None => Vec::new(),
    };
    refuse_external(&row, &changes)?;
    let mut report = RevertReport {
        database: database.clone(),
        id: row.id.clone(),
        name: row.name.clone(),
        rows: changes.len() as i64,
        conflicts: Vec::new(),
        reverted: false,
        forced: false,
        dry_run: opts.dry_run,
        reason: reason.to_string(),
        by: session.run_by.clone(),
    };
    let changes: Vec<Change> = changes.iter().map(Change::from_row).collect();
    undo_all(&mut session.db, &changes, opts, &mut report).map_err(ledger_err)?;
    session.release().map_err(ledger_err)?;
    Ok(report)
}

/// Only a succeeded script with a change log can be reverted, once.
fn refuse(id: &str, row: &ledger::LedgerRow, status: Option<Status>, logged: bool) -> Result<()> {
    let name = &row.name;
    match status {
        Some(Status::Succeeded) if logged => Ok(()),
        Some(Status::Succeeded) => Err(Error::Refused(format!(
            "script {id} ({name}) has no change log: it did not run with `-- oneoff:revertible`, so oneoff cannot undo it; write a new script that undoes its effect"
        ))),
        Some(Status::Reverted) => Err(Error::Refused(format!(
            "script {id} ({name}) was already reverted{} by {}: {}; there is nothing left to undo (`oneoff run {id} --again --reason …` runs it again)",
            row.finished_at.map(|t| format!(" on {} UTC", t.format("%Y-%m-%d %H:%M:%S"))).unwrap_or_default(),
            row.run_by,
            row.note.as_deref().unwrap_or("no reason recorded"),
        ))),
        _ => Err(Error::Refused(format!(
            "script {id} ({name}) is {}: only a succeeded script's changes can be reverted",
            row.status
        ))),
    }
}

/// Changes a Rust script recorded itself (`ctx.record_change`) were made
/// outside the database: oneoff cannot undo them, nor mark the script
/// undone while they stand.
fn refuse_external(row: &ledger::LedgerRow, changes: &[ledger::changes::ChangeRow]) -> Result<()> {
    let external: Vec<_> = changes
        .iter()
        .filter(|c| c.op == ledger::changes::EXTERNAL)
        .collect();
    if external.is_empty() {
        return Ok(());
    }
    let mut listed: Vec<String> = external
        .iter()
        .take(10)
        .map(|c| format!("{} {}", c.table_name, c.row_key))
        .collect();
    if external.len() > 10 {
        listed.push(format!("and {} more", external.len() - 10));
    }
    Err(Error::Refused(format!(
        "script {} ({}) recorded {} change(s) outside the database, which oneoff cannot undo automatically: {}; `oneoff changes {}` lists them with their old values: undo them yourself, and undo its database changes with a new script",
        row.id,
        row.name,
        external.len(),
        listed.join(", "),
        row.id
    )))
}

/// Undoes the changes, last first, in one transaction; commits only when
/// there is no conflict (or `--force`) and this is no dry run.
fn undo_all(
    db: &mut Db,
    changes: &[Change],
    opts: &RevertOptions,
    report: &mut RevertReport,
) -> diesel::QueryResult<()> {
    let backend = db.engine.backend();
    work::begin(db)?;
    let undone = (|| {
        for change in changes.iter().rev() {
            if let Some(conflict) = undo_one(&mut db.conn, backend, change)? {
                report.conflicts.push(conflict);
            }
        }
        undo::clear(&mut db.conn, backend)
    })();
    if let Err(e) = undone {
        work::rollback(db);
        return Err(e);
    }
    report.conflicts.reverse();
    let blocked = !report.conflicts.is_empty() && !opts.force;
    if blocked || opts.dry_run {
        work::rollback(db);
        return Ok(());
    }
    report.forced = !report.conflicts.is_empty();
    let mut note = report.reason.clone();
    if report.forced {
        note.push_str(&format!(
            " [--force: overwrote {} row(s) changed since the script ran]",
            report.conflicts.len()
        ));
    }
    let recorded = db.engine.pin_ledger(&mut db.conn).and_then(|()| {
        ledger::changes::record_revert(
            &mut db.conn,
            &Reverted {
                id: &report.id,
                note: &note,
                rows: report.rows,
                run_by: &report.by,
                at: ledger::now(),
                environment: opts.environment.as_deref(),
            },
        )
    });
    match recorded.and_then(|()| work::commit(db)) {
        Ok(()) => {
            report.reverted = true;
            Ok(())
        }
        Err(e) => {
            work::rollback(db);
            Err(e)
        }
    }
}

/// Undoes one change; the conflict it met, if the row is not as the script
/// left it (undone anyway: the caller rolls back unless `--force`).
fn undo_one(
    conn: &mut crate::db::AnyConnection,
    backend: crate::db::Backend,
    change: &Change,
) -> diesel::QueryResult<Option<Conflict>> {
    let table = Table::new(backend, &change.table);
    let like = change
        .new
        .as_ref()
        .or(change.old.as_ref())
        .cloned()
        .unwrap_or(Value::Null);
    let now = table.current(conn, &change.key, &like)?;
    let conflict = match change.op.as_str() {
        "insert" | "update" => now.as_ref() != change.new.as_ref(),
        _ => now.is_some(),
    };
    match (change.old.as_ref(), now.is_some()) {
        (None, true) => table.delete(conn, &change.key).map(drop)?,
        (None, false) => {}
        (Some(old), true) => table.update(conn, &change.key, old).map(drop)?,
        (Some(old), false) => table.insert(conn, old).map(drop)?,
    }
    Ok(conflict.then(|| Conflict {
        change: change.clone(),
        now,
    }))
}
