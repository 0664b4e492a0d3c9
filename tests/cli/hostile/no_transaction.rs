//! A `no-transaction` script that fails half-way: the statements before the
//! failure stay committed, oneoff says so (never "rolled back"), and
//! `run --retry` resumes after them — unless the committed part of the file
//! was edited, which it refuses.

use super::{all_output, error_of, vs, with_t, A, B, C};
use crate::on_all_backends;
use crate::support::Backend;
use crate::support::Project;

on_all_backends!(
    no_transaction_failure_reports_what_committed_and_retry_resumes_after_it,
    no_transaction_retry_runs_the_fixed_rest_of_the_file,
    no_transaction_retry_refuses_an_edit_before_the_failure,
    no_transaction_ledger_write_hidden_in_a_routine_is_caught_and_stops_the_run,
);
on_backends!([postgres, mysql]:
    no_transaction_statement_whose_connection_dies_is_never_run_again_by_retry,
);

const HEADER: &str = "-- half way\n-- oneoff:no-transaction\n";

/// Runs the failing script: statement 1 commits, statement 2 fails.
fn fail_half_way(p: &Project) -> std::path::PathBuf {
    let path = p.script(
        B,
        "half_way",
        &format!("{HEADER}UPDATE t SET v = v + 1;\nUPDATE nope SET x = 1;\n"),
    );
    p.oneoff(&["run", "--dry-run"]).code(0);
    assert_eq!(vs(p), [0; 10], "not executed in a dry run");
    assert_eq!(p.status_of(B), "pending");
    let run = p.oneoff(&["run"]);
    run.code(1).stderr_has("statement 2 (line 4)");
    let output = all_output(&run);
    assert!(
        !output.contains("rolled back"),
        "nothing was rolled back:\n{output}"
    );
    assert_eq!(vs(p), [1; 10], "statement 1 committed");
    assert_eq!(p.status_of(B), "failed");
    let error = error_of(p, B);
    assert!(error.contains("committed"), "{error}");
    assert!(error.contains("statement 2 (line 4)"), "{error}");
    path
}

fn no_transaction_failure_reports_what_committed_and_retry_resumes_after_it(p: Project) {
    let p = with_t(p);
    fail_half_way(&p);
    p.db.execute("CREATE TABLE nope (x INT)");
    p.oneoff(&["run", "--retry"]).code(0);
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(vs(&p), [1; 10], "statement 1 not applied twice");
    assert_eq!(p.status_of(B), "succeeded");
}

fn no_transaction_retry_runs_the_fixed_rest_of_the_file(p: Project) {
    let p = with_t(p);
    let path = fail_half_way(&p);
    std::fs::write(
        &path,
        format!("{HEADER}UPDATE t SET v = v + 1;\nUPDATE t SET v = v + 10 WHERE id = 1;\n"),
    )
    .unwrap();
    p.oneoff(&["run", "--retry"]).code(0);
    p.oneoff(&["run", "--retry"]).code(0);
    let mut expected = vec![1; 10];
    expected[0] = 11;
    assert_eq!(vs(&p), expected, "resumed at statement 2");
    assert_eq!(p.status_of(B), "succeeded");
}

fn no_transaction_retry_refuses_an_edit_before_the_failure(p: Project) {
    let p = with_t(p);
    let path = fail_half_way(&p);
    p.db.execute("CREATE TABLE nope (x INT)");
    std::fs::write(
        &path,
        format!("{HEADER}UPDATE t SET v = v + 2;\nUPDATE nope SET x = 1;\n"),
    )
    .unwrap();
    p.oneoff(&["run", "--retry"]).code(3).stderr_has(B);
    assert_eq!(vs(&p), [1; 10], "nothing re-run");
    assert_eq!(p.status_of(B), "failed");
}

/// A no-transaction statement commits on its own, so a ledger write hidden
/// in a routine it calls cannot be rolled back: oneoff must notice it (a
/// fingerprint of the ledger on its second connection; SQLite's authorizer
/// refuses it outright), record the script failed and stop the run.
fn no_transaction_ledger_write_hidden_in_a_routine_is_caught_and_stops_the_run(p: Project) {
    let p = with_t(p);
    p.script(A, "first", "-- first\nUPDATE t SET v = 5 WHERE id = 5;\n");
    p.oneoff(&["run"]).code(0);
    let (setup, call) = match p.db.backend {
        Backend::Postgres => (
            "CREATE FUNCTION reopen() RETURNS int LANGUAGE sql AS \
             'UPDATE oneoff_ledger SET status = ''pending'' WHERE status = ''succeeded''; SELECT 1'",
            "SELECT reopen()",
        ),
        Backend::Mysql => (
            "CREATE PROCEDURE reopen() UPDATE oneoff_ledger SET status = 'pending' WHERE status = 'succeeded'",
            "CALL reopen()",
        ),
        Backend::Sqlite => (
            "CREATE TRIGGER reopen AFTER UPDATE ON t WHEN NEW.id = 2 BEGIN \
             UPDATE oneoff_ledger SET status = 'pending' WHERE status = 'succeeded'; END",
            "UPDATE t SET v = 2 WHERE id = 2",
        ),
    };
    p.db.execute(setup);
    p.script(
        B,
        "sneaky",
        &format!(
            "-- sneaky\n-- oneoff:no-transaction\nUPDATE t SET v = 1 WHERE id = 1;\n{call};\n"
        ),
    );
    p.script(C, "after", "-- after\nUPDATE t SET v = 3 WHERE id = 3;\n");
    let run = p.oneoff(&["run"]);
    run.code(1);
    let error = error_of(&p, B);
    assert!(error.contains("oneoff's own tables"), "{error}");
    assert_eq!(p.status_of(B), "failed");
    assert_eq!(p.status_of(C), "pending", "the run stopped");
    assert_eq!(vs(&p)[2], 0, "the next script did not run");
    if p.db.backend == Backend::Sqlite {
        assert_eq!(p.status_of(A), "succeeded", "SQLite refused the write");
    }
}

/// A statement whose connection dies under it may or may not have
/// committed: the ledger says so, and `--retry` refuses to guess.
fn no_transaction_statement_whose_connection_dies_is_never_run_again_by_retry(p: Project) {
    let p = with_t(p);
    let kill = match p.db.backend {
        Backend::Postgres => "SELECT pg_terminate_backend(pg_backend_pid())",
        _ => "KILL CONNECTION_ID()",
    };
    p.script(
        B,
        "dies",
        &format!("{HEADER}UPDATE t SET v = v + 1 WHERE id = 1;\n{kill};\nUPDATE t SET v = v + 1 WHERE id = 2;\n"),
    );
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("whether it committed is unknown");
    assert_eq!(p.status_of(B), "failed");
    let error = error_of(&p, B);
    assert!(error.contains("may or may not have committed"), "{error}");
    assert_eq!(
        vs(&p)[..2],
        [1, 0],
        "statement 1 committed, statement 3 never ran"
    );
    p.oneoff(&["run", "--retry"])
        .code(3)
        .stderr_has("part of its work may be committed");
    assert_eq!(vs(&p)[..2], [1, 0], "nothing ran again");
}
