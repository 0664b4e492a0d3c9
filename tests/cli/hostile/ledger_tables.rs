//! Scripts that reach for oneoff's own tables: refused when the text names
//! them, rolled back and recorded `failed` when a trigger or function does it
//! behind the script's back.

use super::{assert_refused, error_of, expect_vs, vs, with_t, A, B};
use crate::on_all_backends;
use crate::support::{Backend, Project};

on_all_backends!(
    delete_from_the_ledger_is_refused,
    update_of_the_ledger_is_refused,
    drop_of_the_history_table_is_refused,
    insert_into_the_lock_table_is_refused,
    write_to_the_schema_migrations_table_is_refused,
    quoted_ledger_name_is_refused,
    schema_qualified_ledger_name_is_refused,
    ledger_write_hidden_in_a_function_or_trigger_is_rolled_back_and_recorded,
    a_forged_approval_is_refused,
    an_approval_forged_in_a_function_or_trigger_is_rolled_back_and_recorded,
);

/// The project with `t` and a ledger holding one succeeded script `A`.
fn with_ledger(p: Project) -> Project {
    let p = with_t(p);
    p.script(
        A,
        "earlier",
        "-- earlier\nUPDATE t SET v = v + 1 WHERE id = 1;\n",
    );
    p.oneoff(&["run"]).code(0);
    p
}

fn refused_after_a_success(p: Project, statement: &str) {
    let p = with_ledger(p);
    let ledger = p.ledger_snapshot();
    assert_refused(
        &p,
        &format!("-- reach for the ledger\nUPDATE t SET v = v + 1 WHERE id = 2;\n{statement};\n"),
        "statement 2 (line 3)",
    );
    assert_eq!(p.ledger_snapshot(), ledger);
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(vs(&p), expect_vs(&[(1, 1)]));
}

fn delete_from_the_ledger_is_refused(p: Project) {
    refused_after_a_success(p, "DELETE FROM oneoff_ledger");
}

fn update_of_the_ledger_is_refused(p: Project) {
    refused_after_a_success(p, "UPDATE oneoff_ledger SET status = 'pending'");
}

fn drop_of_the_history_table_is_refused(p: Project) {
    refused_after_a_success(p, "DROP TABLE oneoff_runs");
}

fn insert_into_the_lock_table_is_refused(p: Project) {
    refused_after_a_success(
        p,
        "INSERT INTO oneoff_lock (id, holder, pid, acquired_at) VALUES (2, 'me', 1, CURRENT_TIMESTAMP)",
    );
}

fn write_to_the_schema_migrations_table_is_refused(p: Project) {
    refused_after_a_success(p, "DELETE FROM oneoff_schema_migrations");
}

fn quoted_ledger_name_is_refused(p: Project) {
    let quoted = match p.db.backend {
        Backend::Mysql => "`oneoff_ledger`",
        _ => "\"oneoff_ledger\"",
    };
    refused_after_a_success(p, &format!("UPDATE {quoted} SET attempts = 0"));
}

fn schema_qualified_ledger_name_is_refused(p: Project) {
    let qualified = match p.db.backend {
        Backend::Postgres => "public.oneoff_ledger".to_string(),
        Backend::Sqlite => "main.oneoff_ledger".to_string(),
        Backend::Mysql => {
            let db = p.db.lines("SELECT DATABASE() AS line").remove(0);
            format!("`{db}`.oneoff_ledger")
        }
    };
    refused_after_a_success(p, &format!("DELETE FROM {qualified}"));
}

fn ledger_write_hidden_in_a_function_or_trigger_is_rolled_back_and_recorded(p: Project) {
    let p = with_ledger(p);
    // Created after the ledger exists; the script only calls or fires it.
    let (setup, call) = match p.db.backend {
        Backend::Postgres => (
            "CREATE FUNCTION wipe_ledger() RETURNS int LANGUAGE sql AS 'DELETE FROM oneoff_ledger; SELECT 1'",
            "SELECT wipe_ledger()",
        ),
        Backend::Mysql => (
            "CREATE PROCEDURE wipe_ledger() DELETE FROM oneoff_ledger",
            "CALL wipe_ledger()",
        ),
        Backend::Sqlite => (
            "CREATE TRIGGER wipe_ledger AFTER UPDATE ON t WHEN NEW.id = 3 BEGIN DELETE FROM oneoff_ledger; END",
            "UPDATE t SET v = v + 1 WHERE id = 3",
        ),
    };
    p.db.execute(setup);
    let ledger_a = p.entry(A);
    let path = p.script(
        B,
        "hidden_wipe",
        &format!("-- hidden wipe\nUPDATE t SET v = v + 1 WHERE id = 2;\n{call};\n"),
    );
    let run = p.oneoff(&["run"]);
    run.code(1);
    assert_eq!(vs(&p), expect_vs(&[(1, 1)]), "the script was rolled back");
    assert_eq!(p.status_of(B), "failed");
    let error = error_of(&p, B);
    assert!(error.contains("oneoff's own tables"), "{error}");
    assert_eq!(p.entry(A), ledger_a, "the earlier row is intact");
    // Without the hidden write, the script runs once and A never again.
    // (SQLite refuses any statement that would fire the trigger, whatever
    // its WHEN clause, so the trigger goes too.)
    if p.db.backend == Backend::Sqlite {
        p.db.execute("DROP TRIGGER wipe_ledger");
    }
    std::fs::write(
        &path,
        "-- hidden wipe\nUPDATE t SET v = v + 1 WHERE id = 2;\n",
    )
    .unwrap();
    p.oneoff(&["run", "--retry"]).code(0);
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(vs(&p), expect_vs(&[(1, 1), (2, 1)]));
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(p.entry(A)["attempts"], 1);
    assert_eq!(p.status_of(B), "succeeded");
}

const FORGED: &str = "INSERT INTO oneoff_approvals (run_id, script_id, environment, checksum, approved_by, reason, approved_at) \
     VALUES ('x', '20260102000000', 'prod', 'c', 'mallory', 'forged', CURRENT_TIMESTAMP)";

fn a_forged_approval_is_refused(p: Project) {
    refused_after_a_success(p, FORGED);
}

fn an_approval_forged_in_a_function_or_trigger_is_rolled_back_and_recorded(p: Project) {
    let p = with_ledger(p);
    let (setup, call) = match p.db.backend {
        Backend::Postgres => (
            format!(
                "CREATE FUNCTION forge() RETURNS int LANGUAGE sql AS $f$ {FORGED}; SELECT 1 $f$"
            ),
            "SELECT forge()",
        ),
        Backend::Mysql => (format!("CREATE PROCEDURE forge() {FORGED}"), "CALL forge()"),
        Backend::Sqlite => (
            format!("CREATE TRIGGER forge AFTER UPDATE ON t WHEN NEW.id = 3 BEGIN {FORGED}; END"),
            "UPDATE t SET v = v + 1 WHERE id = 3",
        ),
    };
    p.db.execute(&setup);
    p.script(
        B,
        "forger",
        &format!("-- forger\nUPDATE t SET v = v + 1 WHERE id = 2;\n{call};\n"),
    );
    p.oneoff(&["run"]).code(1);
    assert_eq!(vs(&p), expect_vs(&[(1, 1)]), "the script was rolled back");
    assert_eq!(p.status_of(B), "failed");
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_approvals"), 0);
    let error = error_of(&p, B);
    assert!(error.contains("oneoff's own tables"), "{error}");
}
