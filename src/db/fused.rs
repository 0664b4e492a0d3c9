//! A transactional script in three round trips instead of seventeen, where
//! the backend runs several statements in one request (PostgreSQL's simple
//! query protocol): one request claims the script and opens its
//! transaction; then the script's statements; then one
//! request checks what the script did and that the run lock is held, puts
//! the session back, records its success and commits. Each check that fails raises an error whose text
//! names it ([`Fault`]), which stops the request there.
//!
//! oneoff's statements are prepared once per session ([`Prepared`]), with
//! the ledger's schema written into them, and executed with their values
//! as literals: every string goes through [`text`] (an `E''` literal reads
//! the same whatever `standard_conforming_strings` says); ids, names and
//! checksums are validated before they get here, the rest are numbers and
//! times.

use chrono::NaiveDateTime;

use crate::ledger::{Finish, LedgerRow, RunRow};

/// The one-request forms of a transactional script's claim and finish.
pub trait Fused {
    /// The claim committed on its own
    /// (visible, not waited for on disk: the work's commit flushes it), then
    /// `BEGIN`, the guard's mark and the guard savepoint. The run lock is
    /// checked before the work commits ([`Fused::close_sql`]), which is what
    /// matters: a runner that lost it may leave a claim, never work.
    fn open_sql(
        &mut self,
        claim: &LedgerRow,
        expected: Option<&LedgerRow>,
        history: &RunRow,
    ) -> String;

    /// Guard savepoint released, ledger untouched and run lock held, the
    /// session put back and the ledger pinned (inside the transaction, so
    /// that a rollback also undoes what the script did to the session), the
    /// success recorded (only while the row is this attempt's), `COMMIT`.
    fn close_sql(&mut self, id: &str, run_id: &str, attempts: i32, finish: &Finish) -> String;

    /// After a request failed for no reason of its own: oneoff's prepared
    /// statements may not be there; prepare them again next time.
    fn forget_prepared(&mut self);

    /// [`Fused::open_sql`] for a script that joins a group of scripts
    /// sharing one transaction (opened first when `begin`): the claim is
    /// made inside it, in the script's savepoint, and commits with the
    /// group. No commit of its own.
    fn open_in_group_sql(
        &mut self,
        begin: bool,
        claim: &LedgerRow,
        expected: Option<&LedgerRow>,
        history: &RunRow,
    ) -> String;

    /// Marks `marker`'s script in flight in the next [`Fused::open_in_group_sql`]
    /// instead of a request of its own; `false` when it cannot.
    fn mark_in_open(&mut self, marker: &crate::ledger::in_flight::InFlight) -> bool;

    /// [`Fused::close_sql`] inside a group: the same checks, session reset
    /// and record, then the script's savepoint released instead of a commit.
    fn close_in_group_sql(
        &mut self,
        id: &str,
        run_id: &str,
        attempts: i32,
        finish: &Finish,
    ) -> String;
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
/// `DISCARD`, `set_config`, a setting named `oneoff.…`) or drop oneoff's
/// prepared statements (`DEALLOCATE`): its script runs unfused, with the
/// mark kept by the runner instead.
pub fn may_lose_mark(statement: &str) -> bool {
    let lower = statement.to_ascii_lowercase();
    let first = lower
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    matches!(first, "reset" | "discard")
        || lower.contains("set_config")
        || lower.contains("deallocate")
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

/// oneoff's statements of a fused script, prepared once per session under
/// names that end in `_{n}` (a new `n` each time they are prepared again,
/// after a script that might have dropped them ran unfused).
pub(crate) struct Prepared {
    n: u32,
}

impl Prepared {
    /// The `PREPARE` statements, for the ledger in `schema` (quoted), with
    /// `writes` the expression counting writes to oneoff's tables in this
    /// transaction and `lock_held` the one telling the run lock is held.
    pub(crate) fn prepare(
        n: u32,
        schema: &str,
        writes: &str,
        lock_held: &str,
    ) -> (Prepared, String) {
        let claimed = |from: &str| {
            format!(
                "hist AS (INSERT INTO {schema}.oneoff_runs (run_id, script_id, status, started_at, run_by, dry_run, checksum) \
                 SELECT $8, $1, 'running', $5, $6, false, $3 FROM {from} RETURNING 1) \
                 SELECT CASE WHEN EXISTS (SELECT 1 FROM hist) THEN NULL ELSE {} END",
                raise(CLAIM_CONFLICT)
            )
        };
        let mark = format!("pg_catalog.current_setting('{MARK}', true)");
        let sql = format!(
            "PREPARE oneoff_claim_new_{n} (text, text, text, integer, timestamp, text, text, text) AS \
             WITH claimed AS (INSERT INTO {schema}.oneoff_ledger (id, name, checksum, status, attempts, started_at, run_by, tool_version) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING 1), {new}; \
             PREPARE oneoff_claim_again_{n} (text, text, text, integer, timestamp, text, text, text, text, integer) AS \
             WITH claimed AS (UPDATE {schema}.oneoff_ledger SET name = $2, checksum = $3, status = 'running', attempts = $4, \
             started_at = $5, finished_at = NULL, duration_ms = NULL, rows_affected = NULL, error = NULL, run_by = $6, \
             tool_version = $7, note = NULL, batches = NULL, rows_total = NULL, committed = NULL, committed_checksum = NULL \
             WHERE id = $1 AND status = $9 AND attempts = $10 RETURNING 1), {again}; \
             PREPARE oneoff_mark_{n} AS SELECT pg_catalog.set_config('{MARK}', ({writes})::text, true); \
             PREPARE oneoff_checks_{n} AS SELECT CASE \
             WHEN COALESCE({mark}, '') = '' THEN {guard_lost} \
             WHEN {writes} <> ({mark})::bigint THEN {touched} \
             WHEN NOT {lock_held} THEN {lock_lost} END; \
             PREPARE oneoff_finish_{n} (text, text, integer, text, timestamp, bigint, bigint, text) AS \
             WITH finished AS (UPDATE {schema}.oneoff_ledger SET status = $4, finished_at = $5, duration_ms = $6, \
             rows_affected = $7, error = $8 WHERE id = $1 AND status = 'running' AND attempts = $3 RETURNING 1), \
             hist AS (UPDATE {schema}.oneoff_runs SET status = $4, finished_at = $5, duration_ms = $6, rows_affected = $7, \
             error = $8 WHERE run_id = $2 AND script_id = $1 AND EXISTS (SELECT 1 FROM finished) RETURNING 1) \
             SELECT CASE WHEN EXISTS (SELECT 1 FROM hist) THEN NULL ELSE {finish_conflict} END;",
            new = claimed("claimed"),
            again = claimed("claimed"),
            guard_lost = raise(GUARD_LOST),
            touched = raise(LEDGER_TOUCHED),
            lock_lost = raise(LOCK_LOST),
            finish_conflict = raise(FINISH_CONFLICT),
        );
        (Prepared { n }, sql)
    }

    /// Claims the script (only if its row is still `expected`), with a
    /// history row; fails with [`Fault::ClaimConflict`] otherwise.
    pub(crate) fn claim(
        &self,
        claim: &LedgerRow,
        expected: Option<&LedgerRow>,
        history: &RunRow,
    ) -> String {
        let n = self.n;
        let common = format!(
            "{}, {}, {}, {}, {}, {}, {}, {}",
            text(&claim.id),
            text(&claim.name),
            text(&claim.checksum),
            claim.attempts,
            opt_time(claim.started_at),
            text(&claim.run_by),
            text(&claim.tool_version),
            text(&history.run_id),
        );
        match expected {
            None => format!("EXECUTE oneoff_claim_new_{n}({common});"),
            Some(row) => format!(
                "EXECUTE oneoff_claim_again_{n}({common}, {}, {});",
                text(&row.status),
                row.attempts
            ),
        }
    }

    /// Keeps the count of writes to oneoff's tables as the script's
    /// transaction begins, in [`MARK`].
    pub(crate) fn mark(&self) -> String {
        format!("EXECUTE oneoff_mark_{};", self.n)
    }

    /// Fails unless the mark is there, the script wrote nothing to oneoff's
    /// tables since it was set, and the run lock is held.
    pub(crate) fn checks(&self) -> String {
        format!("EXECUTE oneoff_checks_{};", self.n)
    }

    /// Records how the attempt ended, only while the row is this attempt's;
    /// fails with [`Fault::FinishConflict`] otherwise.
    pub(crate) fn finish(&self, id: &str, run_id: &str, attempts: i32, finish: &Finish) -> String {
        format!(
            "EXECUTE oneoff_finish_{}({}, {}, {attempts}, {}, {}, {}, {}, {});",
            self.n,
            text(id),
            text(run_id),
            text(finish.status.as_str()),
            time(finish.finished_at),
            finish.duration_ms,
            opt_int(finish.rows_affected),
            opt_text(finish.error.as_deref()),
        )
    }
}

/// A statement that fails with [`Fault::LockLost`] unless `lock_held` (an
/// expression) is true; in a transaction that already failed, it fails too.
pub(crate) fn lock_check(lock_held: &str) -> String {
    format!(
        "SELECT CASE WHEN {lock_held} THEN NULL ELSE {} END",
        raise(LOCK_LOST)
    )
}

/// An expression that fails with `tag` (and the backend's pid, so that it
/// is no constant the planner could fold and fail on every time).
fn raise(tag: &str) -> String {
    format!("('{tag}:' || pg_catalog.pg_backend_pid()::text)::int")
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
        let sql = raise(LOCK_LOST);
        assert!(sql.contains("pg_backend_pid()"), "{sql}");
    }

    #[test]
    fn each_prepared_set_has_names_of_its_own() {
        let (first, sql) = Prepared::prepare(1, "\"public\"", "0", "true");
        let (second, _) = Prepared::prepare(2, "\"public\"", "0", "true");
        assert!(sql.contains("PREPARE oneoff_finish_1 "), "{sql}");
        assert!(sql.contains("\"public\".oneoff_ledger"), "{sql}");
        assert_ne!(first.checks(), second.checks());
    }
}
