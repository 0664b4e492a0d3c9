//! A run with nothing to do, answered from the ledger as read without the
//! run lock: no lock, no write, no migration. Everything else (a `running`
//! row, a ledger of another schema version, anything to run) goes the
//! locked way.
//!
//! Why that is truthful: the ledger rows are read in one statement, so they
//! are one committed state of the ledger. A script another runner is on
//! shows in it as pending, failed or running, never as done, so a plan in
//! which every script succeeded or was skipped was true when it was read,
//! and no runner can take any of those scripts back from it.

use crate::db::AnyConnection;
use crate::ledger::{self, migrate, LedgerRow, Status};
use crate::plan::{Plan, PlanEntry};
use crate::script::IgnoredFile;

use super::{modified_scripts, RunEvent, RunOptions, RunReport};

/// The ledger as read without the lock.
pub(super) struct Unlocked {
    /// Its rows, in id order (none without a ledger).
    pub rows: Vec<LedgerRow>,
    /// Whether its schema is exactly this oneoff's.
    pub current: bool,
}

/// Reads the schema version and the rows: two queries on a current ledger,
/// whose rows are read without the columns only `status` shows.
pub(super) fn read(conn: &mut AnyConnection) -> diesel::QueryResult<Unlocked> {
    let schema = migrate::schema(conn)?;
    let current = schema == migrate::Schema::Current;
    let rows = if current {
        ledger::row_states(conn)?
    } else {
        ledger::rows_as(conn, &schema)?
    };
    Ok(Unlocked { rows, current })
}

/// Whether the run can end now: the schema is current, nothing is selected
/// and every script succeeded or was skipped (so no row is `running`, which
/// only the locked path can tell from a live runner's).
pub(super) fn nothing_to_do(read: &Unlocked, plan: &Plan, selected: &[&PlanEntry]) -> bool {
    read.current
        && selected.is_empty()
        && plan.entries.iter().all(|e| {
            matches!(
                e.status,
                Status::Succeeded | Status::Skipped | Status::Reverted
            )
        })
}

/// The report of a run that had nothing to do, as the locked path gives it.
pub(super) fn report(
    plan: &Plan,
    ignored: Vec<IgnoredFile>,
    opts: &RunOptions,
    observe: &mut dyn FnMut(RunEvent<'_>),
) -> RunReport {
    let database = opts.database.redacted();
    let modified = modified_scripts(plan);
    observe(RunEvent::Start {
        database: &database,
        scripts: 0,
        dry_run: opts.dry_run,
    });
    RunReport {
        database,
        environment: opts.environment.clone(),
        run_id: uuid::Uuid::new_v4().to_string(),
        dry_run: opts.dry_run,
        scripts: Vec::new(),
        not_run: Vec::new(),
        cancelled: false,
        interrupted: Vec::new(),
        modified,
        ignored,
    }
}
