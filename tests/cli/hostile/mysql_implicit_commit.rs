//! MySQL commits implicitly before (and after) many statements. In a
//! transactional script each would end oneoff's transaction, so they are
//! refused before anything runs; one hidden in a procedure is caught at
//! run time and the script is recorded `failed`, never re-run by itself.

use super::{assert_refused, error_of, expect_vs, vs, with_t, B, C};
use crate::support::Project;

on_backends!([mysql]:
    grant_after_an_update_is_refused,
    analyze_table_after_an_update_is_refused,
    optimize_table_after_an_update_is_refused,
    lock_tables_after_an_update_is_refused,
    flush_tables_after_an_update_is_refused,
    start_transaction_after_an_update_is_refused,
    create_table_after_an_update_is_refused,
    truncate_after_an_update_is_refused,
    create_temporary_table_stays_allowed_and_does_not_reach_the_next_script,
    lock_tables_in_a_no_transaction_script_run_and_never_lock_oneoff_out,
    commit_hidden_in_a_procedure_fails_the_script_and_retry_refuses_it,
    ddl_hidden_in_a_procedure_fails_the_script_and_mark_still_works,
);

fn refused_after_an_update(p: Project, statement: &str) -> Project {
    let p = with_t(p);
    assert_refused(
        &p,
        &format!("-- implicit commit\nUPDATE t SET v = v + 1 WHERE id <= 5;\n{statement};\nUPDATE t SET v = v + 1 WHERE id > 5;\n"),
        "statement 2 (line 3)",
    );
    assert_eq!(vs(&p), expect_vs(&[]), "nothing committed");
    p
}

fn grant_after_an_update_is_refused(p: Project) {
    refused_after_an_update(p, "GRANT SELECT ON t TO 'oneoff_nobody'@'localhost'");
}

fn analyze_table_after_an_update_is_refused(p: Project) {
    refused_after_an_update(p, "ANALYZE TABLE t");
}

fn optimize_table_after_an_update_is_refused(p: Project) {
    refused_after_an_update(p, "OPTIMIZE TABLE t");
}

fn lock_tables_after_an_update_is_refused(p: Project) {
    refused_after_an_update(p, "LOCK TABLES t WRITE");
}

fn flush_tables_after_an_update_is_refused(p: Project) {
    refused_after_an_update(p, "FLUSH TABLES");
}

fn start_transaction_after_an_update_is_refused(p: Project) {
    refused_after_an_update(p, "START TRANSACTION");
}

fn create_table_after_an_update_is_refused(p: Project) {
    let p = refused_after_an_update(p, "CREATE TABLE t2 (id INT)");
    assert!(!p.db.has_table("t2"));
}

fn truncate_after_an_update_is_refused(p: Project) {
    refused_after_an_update(p, "TRUNCATE TABLE t");
}

fn create_temporary_table_stays_allowed_and_does_not_reach_the_next_script(p: Project) {
    let p = with_t(p);
    let temp = "CREATE TEMPORARY TABLE scratch (id INT)";
    p.script(
        B,
        "scratch",
        &format!("-- scratch\nUPDATE t SET v = 1 WHERE id = 1;\n{temp};\nINSERT INTO scratch VALUES (1);\nUPDATE t SET v = (SELECT COUNT(*) FROM scratch) + 1 WHERE id = 2;\n"),
    );
    // Fails if the temporary table of B were still there.
    p.script(
        C,
        "scratch_again",
        &format!("-- again\n{temp};\nUPDATE t SET v = 3 WHERE id = 3;\n"),
    );
    p.oneoff(&["run", "--dry-run"]);
    assert_eq!(vs(&p), expect_vs(&[]), "a dry run changes nothing");
    assert_eq!(p.status_of(B), "pending");
    p.oneoff(&["run"]).code(0);
    p.oneoff(&["run"]).code(0).stdout_has("Nothing to run");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(p.status_of(C), "succeeded");
    assert_eq!(vs(&p), expect_vs(&[(1, 1), (2, 2), (3, 3)]));
}

fn lock_tables_in_a_no_transaction_script_run_and_never_lock_oneoff_out(p: Project) {
    // oneoff writes a no-transaction script's progress on a second
    // connection and unlocks tables when it puts the session back, so even
    // a script that forgets UNLOCK TABLES leaves the ledger writable.
    let p = with_t(p);
    p.script(
        B,
        "locks",
        "-- locks\n-- oneoff:no-transaction\nLOCK TABLES t WRITE;\nUPDATE t SET v = 1 WHERE id = 1;\n",
    );
    p.script(C, "after", "-- after\nUPDATE t SET v = 2 WHERE id = 2;\n");
    p.oneoff(&["run"]).code(0);
    assert_eq!(vs(&p), expect_vs(&[(1, 1), (2, 2)]));
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(p.status_of(C), "succeeded");
}

/// Runs a script that CALLs `procedure` (created beforehand) after an
/// UPDATE; asserts the attempt is `failed` with the reason and returns `t`.
fn hidden_transaction_end(p: &Project, procedure: &str, after: &str) -> Vec<i64> {
    p.db.execute(procedure);
    p.script(
        B,
        "hidden_end",
        &format!("-- hidden end\nUPDATE t SET v = v + 1 WHERE id = 1;\nCALL sneaky();\n{after};\n"),
    );
    p.oneoff(&["run"]).code(1);
    assert_eq!(p.status_of(B), "failed");
    let error = error_of(p, B);
    assert!(error.contains("ended oneoff's transaction"), "{error}");
    let after_first = vs(p);
    assert!(
        after_first[0] <= 1 && after_first[1] <= 1,
        "{after_first:?}"
    );
    let retry = p.oneoff(&["run", "--retry"]);
    retry.code(3).stderr_has(B);
    assert_eq!(vs(p), after_first, "nothing re-run");
    assert_eq!(p.status_of(B), "failed");
    after_first
}

fn commit_hidden_in_a_procedure_fails_the_script_and_retry_refuses_it(p: Project) {
    let p = with_t(p);
    hidden_transaction_end(
        &p,
        "CREATE PROCEDURE sneaky() BEGIN COMMIT; END",
        "UPDATE no_such_table SET x = 1",
    );
    let run = p.oneoff(&["skip", B, "--reason", "checked by hand"]);
    run.code(0);
    assert_eq!(p.status_of(B), "skipped");
    p.oneoff(&["run", "--retry"]).code(0);
    assert!(vs(&p).iter().all(|&v| v <= 1), "{:?}", vs(&p));
}

fn ddl_hidden_in_a_procedure_fails_the_script_and_mark_still_works(p: Project) {
    let p = with_t(p);
    let values = hidden_transaction_end(
        &p,
        "CREATE PROCEDURE sneaky() BEGIN CREATE TABLE made_by_sneaky (id INT); END",
        "UPDATE t SET v = v + 1 WHERE id = 2",
    );
    p.oneoff(&["mark", B, "succeeded", "--reason", "checked by hand"])
        .code(0);
    assert_eq!(p.status_of(B), "succeeded");
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(vs(&p), values, "marking runs nothing");
}
