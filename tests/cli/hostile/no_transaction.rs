//! A `no-transaction` script that fails half-way: the statements before the
//! failure stay committed, oneoff says so (never "rolled back"), and
//! `run --retry` resumes after them — unless the committed part of the file
//! was edited, which it refuses.

use super::{all_output, error_of, vs, with_t, B};
use crate::on_all_backends;
use crate::support::Project;

on_all_backends!(
    no_transaction_failure_reports_what_committed_and_retry_resumes_after_it,
    no_transaction_retry_runs_the_fixed_rest_of_the_file,
    no_transaction_retry_refuses_an_edit_before_the_failure,
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
