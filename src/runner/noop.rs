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
use crate::plan;
use crate::script::{IgnoredFile, Script};

use super::{ModifiedScript, RunEvent, RunOptions, RunReport};

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

/// When the run can end now, the succeeded scripts whose file changed
/// since (reported, never run): the schema is current, no id was asked for,
/// and every script on disk and every row is done (succeeded, skipped or
/// reverted; so no row is `running`, which only the locked path can tell
/// from a live runner's). Scripts and rows are paired without building a
/// plan, which would hold a second copy of each.
pub(super) fn nothing_to_do(
    read: &Unlocked,
    scripts: &[Script],
    opts: &RunOptions,
) -> Option<Vec<ModifiedScript>> {
    if !read.current || !opts.ids.is_empty() {
        return None;
    }
    let mut modified = Vec::new();
    for (script, row) in plan::join(scripts, &read.rows) {
        let row = row?;
        let status = Status::parse(&row.status).filter(|s| s.is_done())?;
        match script {
            Some(s) if status == Status::Succeeded && s.checksum != row.checksum => {
                modified.push((s, row));
            }
            _ => {}
        }
    }
    // Warned of only now: the locked path warns of them itself.
    Some(
        modified
            .into_iter()
            .map(|(s, r)| ModifiedScript::noted(s, r))
            .collect(),
    )
}

/// The report of a run that had nothing to do, as the locked path gives it.
pub(super) fn report(
    modified: Vec<ModifiedScript>,
    ignored: Vec<IgnoredFile>,
    opts: &RunOptions,
    observe: &mut dyn FnMut(RunEvent<'_>),
) -> RunReport {
    let database = opts.database.redacted();
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
