//! A transactional script in three round trips instead of seventeen, where
//! the backend runs several statements in one request (PostgreSQL's simple
//! query protocol): one request claims the script and opens its
//! transaction; then the script's statements; then one
//! request checks what the script did and that the run lock is held, puts
//! the session back, records its success and commits. Each check that fails raises an error whose text
//! names it ([`Fault`]), which stops the request there.
//!
//! The values are written into the SQL as literals, so every string goes
//! through [`text`] (an `E''` literal reads the same whatever
//! `standard_conforming_strings` says); ids, names and checksums are
//! validated before they get here, the rest are numbers and times.

use chrono::NaiveDateTime;

use crate::ledger::{Finish, LedgerRow, RunRow};

/// The one-request forms of a transactional script's claim and finish.
pub trait Fused {
    /// The claim committed on its own
    /// (visible, not waited for on disk: the work's commit flushes it), then
    /// `BEGIN`, the guard's mark and the guard savepoint. The run lock is
    /// checked before the work commits ([`Fused::close_sql`]), which is what
    /// matters: a runner that lost it may leave a claim, never work.
    fn open_sql(&self, claim: &LedgerRow, expected: Option<&LedgerRow>, history: &RunRow)
        -> String;

    /// Guard savepoint released, ledger untouched and run lock held, the
    /// session put back and the ledger pinned (inside the transaction, so
    /// that a rollback also undoes what the script did to the session), the
    /// success recorded (only while the row is this attempt's), `COMMIT`.
    fn close_sql(&self, id: &str, run_id: &str, attempts: i32, finish: &Finish) -> String;
}

/// Which part of a fused request stopped it, read from its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The run lock is gone.
    LockLost,
    /// The script's row is not as the plan read it.
    ClaimConflict,
    /// The script wrote to oneoff's tables.
    LedgerTouched,
    /// The row stopped being this attempt's while it ran.
    FinishConflict,
    /// The script reset the setting that holds the guard's mark, so what
    /// it did to oneoff's tables cannot be told (scripts that reset
    /// settings run unfused: see [`may_lose_mark`]).
    GuardLost,
    /// The script ended oneoff's transaction (the savepoint is gone).
    TxEnded,
    /// Anything else (the script's deferred constraints at commit, a lost
    /// connection, no rights).
    Other,
}

const LOCK_LOST: &str = "oneoff-check-lock-lost";
const CLAIM_CONFLICT: &str = "oneoff-check-claim-conflict";
const LEDGER_TOUCHED: &str = "oneoff-check-ledger-touched";
const FINISH_CONFLICT: &str = "oneoff-check-finish-conflict";
const GUARD_LOST: &str = "oneoff-check-guard-lost";
/// The transaction-local setting that holds the count of writes to
/// oneoff's tables as the script's transaction began (PostgreSQL's
/// per-transaction counters also hold writes not yet flushed from earlier
/// transactions, so only a difference tells).
pub(crate) const MARK: &str = "oneoff.guard_mark";

/// Whether a statement could reset or overwrite [`MARK`] (`RESET ALL`,
/// `DISCARD`, `set_config`, a setting named `oneoff.…`): its script runs
/// unfused, with the mark kept by the runner instead.
pub fn may_lose_mark(statement: &str) -> bool {
    let lower = statement.to_ascii_lowercase();
    let first = lower
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    matches!(first, "reset" | "discard")
        || lower.contains("set_config")
        || lower.contains("oneoff.")
        || lower.contains("oneoff\".")
}

impl Fault {
    /// The fault a fused request's error message tells of.
    pub fn of(message: &str) -> Fault {
        let checks = [
            (LOCK_LOST, Fault::LockLost),
            (CLAIM_CONFLICT, Fault::ClaimConflict),
            (LEDGER_TOUCHED, Fault::LedgerTouched),
            (FINISH_CONFLICT, Fault::FinishConflict),
            (GUARD_LOST, Fault::GuardLost),
        ];
        if let Some((_, fault)) = checks.iter().find(|(tag, _)| message.contains(tag)) {
            return *fault;
        }
        let m = message.to_ascii_lowercase();
        if (m.contains("oneoff_guard") && m.contains("does not exist"))
            || m.contains("can only be used in transaction blocks")
        {
            return Fault::TxEnded;
        }
        Fault::Other
    }
}

/// A statement that fails with `tag` in its message unless `condition`
/// holds. The failing cast is not a constant (the planner would fold a
/// constant one and fail every time).
pub(crate) fn check(condition: &str, tag: &str) -> String {
    format!(
        "SELECT CASE WHEN {condition} THEN NULL ELSE ('{tag}:' || pg_catalog.pg_backend_pid()::text)::int END;"
    )
}

/// A string literal.
pub(crate) fn text(value: &str) -> String {
    format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

fn opt_text(value: Option<&str>) -> String {
    value.map_or_else(|| "NULL".into(), text)
}

fn opt_int(value: Option<i64>) -> String {
    value.map_or_else(|| "NULL".into(), |v| v.to_string())
}

fn time(value: NaiveDateTime) -> String {
    format!("'{}'", value.format("%Y-%m-%d %H:%M:%S%.3f"))
}

fn opt_time(value: Option<NaiveDateTime>) -> String {
    value.map_or_else(|| "NULL".into(), time)
}

/// The ledger row's columns and values, in the same order.
pub(crate) fn ledger_values(row: &LedgerRow) -> [(&'static str, String); 17] {
    [
        ("id", text(&row.id)),
        ("name", text(&row.name)),
        ("checksum", text(&row.checksum)),
        ("status", text(&row.status)),
        ("attempts", row.attempts.to_string()),
        ("started_at", opt_time(row.started_at)),
        ("finished_at", opt_time(row.finished_at)),
        ("duration_ms", opt_int(row.duration_ms)),
        ("rows_affected", opt_int(row.rows_affected)),
        ("error", opt_text(row.error.as_deref())),
        ("run_by", text(&row.run_by)),
        ("tool_version", text(&row.tool_version)),
        ("note", opt_text(row.note.as_deref())),
        ("batches", opt_int(row.batches)),
        ("rows_total", opt_int(row.rows_total)),
        ("committed", opt_int(row.committed)),
        (
            "committed_checksum",
            opt_text(row.committed_checksum.as_deref()),
        ),
    ]
}

/// The history row's columns and values, in the same order.
pub(crate) fn history_values(row: &RunRow) -> [(&'static str, String); 12] {
    [
        ("run_id", text(&row.run_id)),
        ("script_id", text(&row.script_id)),
        ("status", text(&row.status)),
        ("started_at", time(row.started_at)),
        ("finished_at", opt_time(row.finished_at)),
        ("duration_ms", opt_int(row.duration_ms)),
        ("rows_affected", opt_int(row.rows_affected)),
        ("error", opt_text(row.error.as_deref())),
        ("run_by", text(&row.run_by)),
        ("dry_run", row.dry_run.to_string()),
        ("note", opt_text(row.note.as_deref())),
        ("batches", opt_int(row.batches)),
    ]
}

/// `INSERT … ON CONFLICT DO NOTHING` for a script without a row, or an
/// `UPDATE` only while the row is still `expected`: either way, a row
/// comes back only if the claim happened.
pub(crate) fn claim_dml(claim: &LedgerRow, expected: Option<&LedgerRow>) -> String {
    let values = ledger_values(claim);
    match expected {
        None => format!(
            "INSERT INTO oneoff_ledger ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING RETURNING 1",
            join(values.iter().map(|(c, _)| c.to_string())),
            join(values.iter().map(|(_, v)| v.clone())),
        ),
        Some(row) => format!(
            "UPDATE oneoff_ledger SET {} WHERE id = {} AND status = {} AND attempts = {} RETURNING 1",
            join(values.iter().skip(1).map(|(c, v)| format!("{c} = {v}"))),
            text(&row.id),
            text(&row.status),
            row.attempts
        ),
    }
}

/// The history row inserted for each row `claimed` returns, then a check
/// that it is there.
pub(crate) fn history_after(claimed: &str, history: &RunRow) -> String {
    let values = history_values(history);
    let columns = join(values.iter().map(|(c, _)| c.to_string()));
    let literals = join(values.iter().map(|(_, v)| v.clone()));
    format!(
        "WITH claimed AS ({claimed}) INSERT INTO oneoff_runs ({columns}) SELECT {literals} FROM claimed; {}",
        check(
            &format!(
                "EXISTS (SELECT 1 FROM oneoff_runs WHERE run_id = {} AND script_id = {})",
                text(&history.run_id),
                text(&history.script_id)
            ),
            CLAIM_CONFLICT
        )
    )
}

/// The finish of a successful attempt, only while the row is this
/// attempt's, then a check that it happened.
pub(crate) fn finish_dml(id: &str, run_id: &str, attempts: i32, finish: &Finish) -> String {
    let set = format!(
        "status = {}, finished_at = {}, duration_ms = {}, rows_affected = {}, error = {}",
        text(finish.status.as_str()),
        time(finish.finished_at),
        finish.duration_ms,
        opt_int(finish.rows_affected),
        opt_text(finish.error.as_deref()),
    );
    let ours = format!("run_id = {} AND script_id = {}", text(run_id), text(id));
    format!(
        "WITH finished AS (UPDATE oneoff_ledger SET {set} WHERE id = {} AND status = 'running' AND attempts = {attempts} RETURNING 1) \
         UPDATE oneoff_runs SET {set} WHERE {ours} AND EXISTS (SELECT 1 FROM finished); {}",
        text(id),
        check(
            &format!(
                "EXISTS (SELECT 1 FROM oneoff_runs WHERE {ours} AND status = {})",
                text(finish.status.as_str())
            ),
            FINISH_CONFLICT
        )
    )
}

/// The check that the run lock is held.
pub(crate) fn lock_check(lock_held: &str) -> String {
    check(lock_held, LOCK_LOST)
}

/// Keeps the count of writes to oneoff's tables (`writes`) as the
/// script's transaction begins, in [`MARK`].
pub(crate) fn set_mark(writes: &str) -> String {
    format!("SELECT pg_catalog.set_config('{MARK}', ({writes})::text, true);")
}

/// The checks that the mark is still there and the script wrote nothing
/// to oneoff's tables since it was set.
pub(crate) fn ledger_check(writes: &str) -> String {
    let mark = format!("pg_catalog.current_setting('{MARK}', true)");
    format!(
        "{} {}",
        check(&format!("COALESCE({mark}, '') <> ''"), GUARD_LOST),
        check(&format!("{writes} = ({mark})::bigint"), LEDGER_TOUCHED)
    )
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_literal_survives_quotes_and_backslashes() {
        assert_eq!(text(r"o'k\n"), r"E'o''k\\n'");
    }

    #[test]
    fn each_check_is_told_apart_by_its_error() {
        let error = |tag: &str| format!("invalid input syntax for type integer: \"{tag}:4242\"");
        assert_eq!(Fault::of(&error(LOCK_LOST)), Fault::LockLost);
        assert_eq!(Fault::of(&error(CLAIM_CONFLICT)), Fault::ClaimConflict);
        assert_eq!(Fault::of(&error(LEDGER_TOUCHED)), Fault::LedgerTouched);
        assert_eq!(Fault::of(&error(FINISH_CONFLICT)), Fault::FinishConflict);
        assert_eq!(
            Fault::of("savepoint \"oneoff_guard\" does not exist"),
            Fault::TxEnded
        );
        assert_eq!(
            Fault::of("RELEASE SAVEPOINT can only be used in transaction blocks"),
            Fault::TxEnded
        );
        assert_eq!(
            Fault::of("duplicate key value violates unique constraint"),
            Fault::Other
        );
    }

    #[test]
    fn scripts_that_reset_settings_are_told_apart() {
        for risky in [
            "RESET ALL",
            "  discard all",
            "SELECT set_config('search_path', '', true)",
            "SET oneoff.guard_mark = '0'",
            "(RESET ALL)",
        ] {
            assert!(may_lose_mark(risky), "{risky}");
        }
        for plain in [
            "SET search_path = app",
            "UPDATE t SET reset = 1",
            "SELECT 1",
        ] {
            assert!(!may_lose_mark(plain), "{plain}");
        }
    }

    #[test]
    fn a_check_is_not_a_constant_the_planner_could_fold() {
        let sql = check("true", LOCK_LOST);
        assert!(sql.contains("pg_backend_pid()"), "{sql}");
    }
}
