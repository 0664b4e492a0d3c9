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
use crate::ledger::{self, migrate, LedgerRow, Standing, Status};
use crate::plan;
use crate::script::{IgnoredFile, Script};

use super::{ModifiedScript, RunEvent, RunOptions, RunReport};

/// The ledger as read without the lock.
pub(super) struct Unlocked {
    /// Where each script stands (none without a ledger), in no set order.
    pub standings: Vec<Standing>,
    /// Where its schema stands.
    pub schema: migrate::Schema,
}

/// Reads the schema version and where each script stands: two queries on
/// a ledger, of three columns every version of it has.
pub(super) fn read(conn: &mut AnyConnection) -> diesel::QueryResult<Unlocked> {
    let schema = migrate::schema(conn)?;
    let standings = match schema {
        migrate::Schema::Missing => Vec::new(),
        _ => ledger::standings(conn)?,
    };
    Ok(Unlocked { standings, schema })
}

/// The rows themselves, when there may be work to do; without the columns
/// only `status` shows on a current ledger.
pub(super) fn rows(
    conn: &mut AnyConnection,
    read: &Unlocked,
) -> diesel::QueryResult<Vec<LedgerRow>> {
    match read.schema {
        migrate::Schema::Current => ledger::row_states(conn),
        _ => ledger::rows_as(conn, &read.schema),
    }
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
    if read.schema != migrate::Schema::Current || !opts.ids.is_empty() {
        return None;
    }
    let mut modified = Vec::new();
    for (script, row) in plan::join(scripts, &read.standings) {
        let row = row?;
        let status = row.status.filter(|s| s.is_done())?;
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
            .map(|(s, r)| ModifiedScript::noted(s, &r.checksum))
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
