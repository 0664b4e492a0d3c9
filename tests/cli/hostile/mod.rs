//! Hostile scripts: a script's content is untrusted input. Each test runs a
//! script that tries to break oneoff's guarantees (end its transaction, touch
//! its ledger, drop its run lock, leak session state into the next script) and
//! asserts the invariant afterwards: no work applied twice, a dry run changes
//! nothing, `succeeded` ⇔ all of the script's work is present, and the ledger
//! rows tell the truth.
//!
//! | behaviour | backends | expected |
//! |---|---|---|
//! | `UPDATE; COMMIT; UPDATE; UPDATE no_such_table` | all | refused (exit 2) before anything runs |
//! | `UPDATE; COMMIT;` in `run --dry-run` | all | refused, nothing changed |
//! | `UPDATE; ROLLBACK; UPDATE` | all | refused |
//! | `BEGIN;` alone | all | refused |
//! | lowercase `commit` | all | refused |
//! | `END;` | PG, SQLite | refused |
//! | `ABORT;` | PG | refused |
//! | `SET autocommit = 0` / `= 1` | MySQL | refused |
//! | `XA START 'x'` | MySQL | refused |
//! | `PREPARE TRANSACTION 'x'` | PG | refused |
//! | `COMMIT` inside a comment or a string | all | runs normally |
//! | `SAVEPOINT s; …; ROLLBACK TO SAVEPOINT s` | all | runs, the rolled-back part absent |
//! | `RELEASE SAVEPOINT oneoff_guard` | all | refused |
//! | `BEGIN` in a no-transaction script | all | refused |
//! | `SET TRANSACTION ISOLATION LEVEL SERIALIZABLE` | PG, MySQL | fails cleanly (oneoff's savepoint comes first), never half-applied |
//! | ten statements, the 7th fails | all | rolled back; retry applies each once |
//! | `VACUUM` in a transactional script | SQLite | fails cleanly, rolled back |
//! | `ATTACH DATABASE … AS other` | SQLite | the attachment does not reach the next script |
//! | `GRANT`, `ANALYZE TABLE`, `OPTIMIZE TABLE`, `LOCK TABLES`, `FLUSH TABLES`, `START TRANSACTION`, `CREATE TABLE`, `TRUNCATE` after an UPDATE | MySQL | refused, nothing committed |
//! | `CREATE TEMPORARY TABLE` | MySQL | allowed; does not reach the next script |
//! | `LOCK TABLES` in a no-transaction script, never unlocked | MySQL | runs; the ledger and the next script are not locked out |
//! | procedure doing `COMMIT`, CALLed between statements | MySQL | failed "ended oneoff's transaction"; retry exit 3; skip works |
//! | procedure doing DDL, CALLed | MySQL | failed "ended oneoff's transaction"; mark works |
//! | `DELETE FROM` / `UPDATE` / `DROP` / `INSERT INTO` oneoff tables, quoted, schema-qualified | all | refused, ledger unchanged |
//! | function / procedure / trigger deleting from oneoff_ledger | all | rolled back, failed "oneoff's own tables", other rows intact |
//! | `set_config('search_path', '', false)` | PG | succeeds; next script's unqualified names work |
//! | `SET search_path TO other, public` | PG | next script writes public.t |
//! | … with a copy of the ledger in `other` | PG | the copy gets no writes |
//! | `SET statement_timeout = '50ms'` | PG | does not reach the next script |
//! | `SET ROLE` without rights | PG | does not reach the ledger nor the next script |
//! | `CREATE TEMP TABLE t` | PG | next script's `t` is the real table |
//! | `SET sql_safe_updates = 1` | MySQL | does not reach the next script |
//! | `USE otherdb` | MySQL | next script and ledger stay in the project's database |
//! | `SET SESSION sql_mode = 'ANSI_QUOTES'` | MySQL | does not reach the next script |
//! | `PRAGMA query_only = 1` | SQLite | does not reach the ledger nor the next script |
//! | `PRAGMA foreign_keys` toggled (no-transaction) | SQLite | next script sees the default |
//! | `pg_advisory_unlock_all()` / `RELEASE_ALL_LOCKS()` | PG / MySQL | refused |
//! | `DISCARD ALL` / `DEALLOCATE ALL` | PG | refused |
//! | the unlock hidden in a function/procedure, second runner over b and c | PG, MySQL | first runner exits 3, rolled back; every script once |
//! | no-transaction: statement 2 fails | all | exit 1, "committed", never "rolled back"; retry resumes at 2 |
//! | … file fixed after the committed statement | all | retry resumes at 2 with the new text |
//! | … statement 1 edited | all | retry exit 3, nothing re-run |
//! | no-transaction statement calling a routine that rewrites the ledger | all | caught: `failed`, run stops (SQLite refuses the write) |
//! | `CREATE FUNCTION … BEGIN ATOMIC … END` | PG | one statement; function exists |
//! | `CREATE RULE … DO INSTEAD (…; …)` | PG | one statement; rule exists and works |
//! | Ctrl-C in a batched script | all | `interrupted`, progress = rows done |
//! | Ctrl-C in a transactional write | SQLite | exit 130, rolled back, row `pending` |
//! | `--timeout 1s` during a long write | SQLite | `failed`, "timeout after", rolled back |
//! | `pg_terminate_backend(pg_backend_pid())` | PG | never `succeeded`, work absent, next run reports it |
//! | `KILL CONNECTION_ID()` | MySQL | never `succeeded`, work absent, next run reports it |
//!
//! Most tests use a table `t(id, v)` with ids 1–10 and `v = 0`, made directly
//! on the database (never by a script).

use std::path::PathBuf;

use crate::support::{Backend, Project, Run};

/// Declares `mod $name { #[test] fn <backend>() }` for the backends listed,
/// for behaviours that exist only on some databases.
macro_rules! on_backends {
    ($backends:tt: $($name:ident),* $(,)?) => {
        $( on_backends!(@module $backends $name); )*
    };
    (@module [$($backend:ident),+] $name:ident) => {
        mod $name {
            #[allow(unused_imports)]
            use $crate::support::{Backend, Project};
            $( on_backends!(@test $backend $name); )+
        }
    };
    (@test sqlite $name:ident) => {
        #[test]
        fn sqlite() {
            if let Some(p) = Project::new(Backend::Sqlite) { super::$name(p) }
        }
    };
    (@test postgres $name:ident) => {
        #[test]
        fn postgres() {
            if let Some(p) = Project::new(Backend::Postgres) { super::$name(p) }
        }
    };
    (@test mysql $name:ident) => {
        #[test]
        fn mysql() {
            if let Some(p) = Project::new(Backend::Mysql) { super::$name(p) }
        }
    };
}

mod ledger_tables;
mod locks;
mod mysql_implicit_commit;
mod no_transaction;
mod pg_bodies;
mod session;
mod stops;
mod transaction_control;

pub(crate) const A: &str = "20260101000000";
pub(crate) const B: &str = "20260102000000";
pub(crate) const C: &str = "20260103000000";
/// An innocent script before the hostile one, and one after it.
const BEFORE: &str = "20251231000000";
const AFTER: &str = "20261231000000";

/// Creates `t(id, v)` with ids 1–10 and `v = 0`.
pub(crate) fn with_t(p: Project) -> Project {
    p.db.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)");
    let rows: Vec<String> = (1..=10).map(|i| format!("({i}, 0)")).collect();
    p.db.execute(&format!("INSERT INTO t (id, v) VALUES {}", rows.join(", ")));
    p
}

/// `v` of ids 1–10 of `table`, in id order.
pub(crate) fn values_of(p: &Project, table: &str) -> Vec<i64> {
    let cast = match p.db.backend {
        Backend::Mysql => "CAST(v AS CHAR)",
        _ => "CAST(v AS TEXT)",
    };
    p.db.lines(&format!("SELECT {cast} AS line FROM {table} ORDER BY id"))
        .iter()
        .map(|v| v.parse().expect("an integer"))
        .collect()
}

/// `v` of ids 1–10 of `t`.
pub(crate) fn vs(p: &Project) -> Vec<i64> {
    values_of(p, "t")
}

/// `v` as after a script that set the given ids (1-based) to the given values.
pub(crate) fn expect_vs(set: &[(usize, i64)]) -> Vec<i64> {
    let mut v = vec![0; 10];
    for &(id, value) in set {
        v[id - 1] = value;
    }
    v
}

/// The ledger rows (without the history), to compare before and after; a
/// missing ledger and an empty one compare equal, as a dry run may create
/// the tables.
pub(crate) fn ledger_rows(p: &Project) -> String {
    let snapshot = p.ledger_snapshot();
    let ledger = snapshot.split("runs:").next().unwrap_or_default();
    match ledger.strip_prefix("ledger:") {
        Some(rows) => rows.trim().to_string(),
        None => String::new(),
    }
}

/// Asserts that a script's status and `t` agree: `succeeded` exactly when
/// all of its work (`done`) is present, nothing of it otherwise (`none`).
pub(crate) fn assert_truthful(p: &Project, id: &str, done: &[i64], none: &[i64]) {
    let status = p.status_of(id);
    let now = vs(p);
    if status == "succeeded" {
        assert_eq!(now, done, "{id} succeeded, so all of its work is present");
    } else {
        assert_eq!(
            now, none,
            "{id} is {status}, so none of its work is present"
        );
    }
}

/// The error recorded for a script.
pub(crate) fn error_of(p: &Project, id: &str) -> String {
    p.entry(id)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Stdout and stderr together.
pub(crate) fn all_output(run: &Run) -> String {
    format!("{}\n{}", run.stdout(), run.stderr())
}

/// Writes `body` as a hostile script between two innocent ones and asserts
/// the contract of a static refusal, for `run --dry-run` and `run` alike:
/// exit 2, the file and `at` ("statement N (line L)") named, no statement of
/// any script run, no ledger row or history written. Removes the files after.
pub(crate) fn assert_refused(p: &Project, body: &str, at: &str) {
    let innocent = "-- innocent\nUPDATE t SET v = v + 1 WHERE id = 10;\n";
    let files: Vec<PathBuf> = vec![
        p.script(BEFORE, "innocent_before", innocent),
        p.script(B, "hostile", body),
        p.script(AFTER, "innocent_after", innocent),
    ];
    let data = vs(p);
    let ledger = p.ledger_snapshot();
    for args in [&["run", "--dry-run"][..], &["run"][..]] {
        let run = p.oneoff(args);
        run.code(2)
            .stderr_has(&format!("{B}_hostile.sql"))
            .stderr_has(at);
        assert_eq!(vs(p), data, "{args:?} ran nothing of\n{body}");
        assert_eq!(p.ledger_snapshot(), ledger, "{args:?} wrote no ledger row");
        for id in [BEFORE, B, AFTER] {
            assert_eq!(p.status_of(id), "pending", "{args:?}: {id}");
        }
    }
    for file in files {
        std::fs::remove_file(file).expect("remove script");
    }
}
