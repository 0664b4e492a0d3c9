//! `log` and `show`: the audit trail read back, writing nothing. `log` is
//! every event newest first; `show` is one script: its file and checksums,
//! every attempt with its output, its approvals and its last dry run.

use std::path::PathBuf;

use crate::db::{self, AnyConnection, DatabaseUrl};
use crate::error::{Error, Result};
use crate::ledger::audit::{self, Approval, Event};
use crate::ledger::migrate::Schema;
use crate::ledger::output::{self, OutputLine};
use crate::ledger::{self, LedgerRow, RunRow};
use crate::runner::refuse_newer_ledger;
use crate::script;

/// What `log` and `show` look at.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory (for `show`).
    pub dir: PathBuf,
    /// One script, or all.
    pub id: Option<String>,
    /// Only the events of this environment.
    pub environment: Option<String>,
    /// At most this many events.
    pub limit: Option<i64>,
}

/// `log`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogReport {
    /// Redacted database URL.
    pub database: String,
    /// The environment the events were filtered by.
    pub environment: Option<String>,
    /// Newest first.
    pub events: Vec<Event>,
}

/// One attempt (or decision) of a script, with its output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptView {
    /// The history row and its invocation.
    #[serde(flatten)]
    pub event: Event,
    /// Its output lines.
    pub output: Vec<OutputLine>,
}

/// `show`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShowReport {
    /// Redacted database URL.
    pub database: String,
    /// The environment, if one was selected.
    pub environment: Option<String>,
    /// Script id.
    pub id: String,
    /// Script name (from the file, else the ledger).
    pub name: String,
    /// The description of the file's header.
    pub description: Option<String>,
    /// The file, when it is on disk.
    pub file: Option<String>,
    /// The file's checksum now.
    pub checksum: Option<String>,
    /// The ledger row (status, checksum as last run…).
    pub ledger: Option<LedgerRow>,
    /// Every attempt and decision, oldest first.
    pub attempts: Vec<AttemptView>,
    /// Every approval, any environment, oldest first.
    pub approvals: Vec<Approval>,
    /// The latest dry run (on the environment, when one is selected).
    pub last_dry_run: Option<RunRow>,
    /// A revertible script's change log, when it has one.
    pub changes: Option<ChangeSummary>,
}

/// What a revertible script's change log holds (`oneoff changes ID` lists it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeSummary {
    /// The attempt that recorded it.
    pub run_id: String,
    /// Changes in all.
    pub total: i64,
    /// Changes per operation (`insert`, `update`, `delete`).
    pub by_op: Vec<(String, i64)>,
}

/// A read-only connection to a current ledger, or `None` when there is no ledger.
fn open(opts: &HistoryOptions) -> Result<Option<AnyConnection>> {
    let database = opts.database.redacted();
    if opts.database.sqlite_path().is_some_and(|p| !p.exists()) {
        return Ok(None);
    }
    let mut conn = db::connect(&opts.database)?;
    match refuse_newer_ledger(&mut conn, &database)? {
        Schema::Missing => Ok(None),
        Schema::Current => Ok(Some(conn)),
        Schema::Older(_) => Err(Error::Usage(format!(
            "the ledger in {database} predates the audit trail this oneoff reads\nhint: any writing command (`oneoff run`, `oneoff approve`) brings it up to date; the history written before stays readable with SQL in oneoff_runs"
        ))),
        Schema::Newer(_) => unreachable!("refused above"),
    }
}

fn ledger_err(opts: &HistoryOptions) -> impl Fn(diesel::result::Error) -> Error + '_ {
    move |e| Error::Ledger {
        database: opts.database.redacted(),
        message: opts.database.scrub(&e.to_string()),
    }
}

/// The history, newest first.
pub fn log(opts: &HistoryOptions) -> Result<LogReport> {
    let events = match open(opts)? {
        Some(mut conn) => audit::events(
            &mut conn,
            opts.id.as_deref(),
            opts.environment.as_deref(),
            opts.limit,
        )
        .map_err(ledger_err(opts))?,
        None => Vec::new(),
    };
    Ok(LogReport {
        database: opts.database.redacted(),
        environment: opts.environment.clone(),
        events,
    })
}

/// One script's whole story.
pub fn show(opts: &HistoryOptions) -> Result<ShowReport> {
    let id = opts.id.clone().unwrap_or_default();
    let set = script::load_dir(&opts.dir)?;
    let file = set.scripts.into_iter().find(|s| s.id == id);
    let mut report = ShowReport {
        database: opts.database.redacted(),
        environment: opts.environment.clone(),
        id: id.clone(),
        name: file.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
        description: file.as_ref().map(|s| s.description.clone()),
        file: file.as_ref().map(|s| s.path.display().to_string()),
        checksum: file.as_ref().map(|s| s.checksum.clone()),
        ledger: None,
        attempts: Vec::new(),
        approvals: Vec::new(),
        last_dry_run: None,
        changes: None,
    };
    if let Some(mut conn) = open(opts)? {
        fill(&mut conn, &mut report, opts).map_err(ledger_err(opts))?;
    }
    if report.file.is_none() && report.ledger.is_none() {
        return Err(Error::UnknownIds(vec![id]));
    }
    Ok(report)
}

fn fill(
    conn: &mut AnyConnection,
    report: &mut ShowReport,
    opts: &HistoryOptions,
) -> diesel::QueryResult<()> {
    report.ledger = ledger::row(conn, &report.id)?;
    if let Some(run_id) = ledger::changes::latest_run(conn, &report.id)? {
        let by_op = ledger::changes::count_by_op(conn, &report.id, &run_id)?;
        report.changes = Some(ChangeSummary {
            total: by_op.iter().map(|(_, n)| n).sum(),
            run_id,
            by_op,
        });
    }
    if report.name.is_empty() {
        report.name = report
            .ledger
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default();
    }
    let mut events = audit::events(conn, Some(&report.id), None, None)?;
    events.reverse();
    for event in events {
        let output = output::read(conn, &event.run.run_id, &report.id)?;
        report.attempts.push(AttemptView { event, output });
    }
    report.approvals = audit::all_approvals_of(conn, &report.id)?;
    report.last_dry_run = audit::last_dry_run(conn, &report.id, opts.environment.as_deref())?;
    Ok(())
}
