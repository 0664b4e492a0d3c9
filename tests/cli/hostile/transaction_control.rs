//! Transaction control written into a script: refused before anything runs,
//! while look-alikes (a `COMMIT` in a comment or string, a savepoint of the
//! script's own) run normally.

use super::{assert_refused, assert_truthful, error_of, expect_vs, ledger_rows, vs, with_t, B};
use crate::on_all_backends;
use crate::support::Project;

on_all_backends!(
    commit_midway_then_a_failing_statement_is_refused_before_anything_runs,
    commit_in_a_dry_run_is_refused_and_changes_nothing,
    rollback_midway_is_refused,
    begin_alone_is_refused,
    lowercase_commit_is_refused,
    release_of_the_oneoff_guard_savepoint_is_refused,
    begin_in_a_no_transaction_script_is_refused,
    commit_inside_a_comment_or_a_string_runs_normally,
    savepoint_used_correctly_is_allowed,
    ten_statements_where_the_seventh_fails_are_all_rolled_back,
);
on_backends!([postgres, sqlite]: end_is_refused);
on_backends!([postgres]: abort_is_refused, prepare_transaction_is_refused);
on_backends!([mysql]: set_autocommit_is_refused, xa_start_is_refused);
on_backends!([postgres, mysql]: set_transaction_isolation_level_is_harmless);
on_backends!([sqlite]: vacuum_in_a_transaction_fails_cleanly_and_rolls_back);

fn commit_midway_then_a_failing_statement_is_refused_before_anything_runs(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- commit midway\nUPDATE t SET v = v + 1 WHERE id <= 5;\nCOMMIT;\nUPDATE t SET v = v + 1 WHERE id > 5;\nUPDATE no_such_table SET x = 1;\n",
        "statement 2 (line 3)",
    );
}

fn commit_in_a_dry_run_is_refused_and_changes_nothing(p: Project) {
    let p = with_t(p);
    p.oneoff(&["run"]).code(0); // a ledger to compare
    assert_refused(
        &p,
        "-- commit in rehearsal\nUPDATE t SET v = 9 WHERE id <= 3;\nCOMMIT;\n",
        "statement 2 (line 3)",
    );
    assert_eq!(vs(&p), expect_vs(&[]));
}

fn rollback_midway_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- rollback midway\nUPDATE t SET v = 1 WHERE id = 1;\nROLLBACK;\nUPDATE t SET v = 1 WHERE id = 2;\n",
        "statement 2 (line 3)",
    );
}

fn begin_alone_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- begin\nBEGIN;\nUPDATE t SET v = 1 WHERE id = 1;\n",
        "statement 1 (line 2)",
    );
}

fn lowercase_commit_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- lowercase\nupdate t set v = 1 where id = 1;\n  commit ;\n",
        "statement 2 (line 3)",
    );
}

fn release_of_the_oneoff_guard_savepoint_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- guard\nUPDATE t SET v = 1 WHERE id = 1;\nRELEASE SAVEPOINT oneoff_guard;\n",
        "statement 2 (line 3)",
    );
}

fn begin_in_a_no_transaction_script_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- own transaction\n-- oneoff:no-transaction\nBEGIN;\nUPDATE t SET v = 1 WHERE id = 1;\nCOMMIT;\n",
        "statement 1 (line 3)",
    );
}

fn end_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- end\nUPDATE t SET v = 1 WHERE id = 1;\nEND;\n",
        "statement 2 (line 3)",
    );
}

fn abort_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- abort\nUPDATE t SET v = 1 WHERE id = 1;\nABORT;\n",
        "statement 2 (line 3)",
    );
}

fn prepare_transaction_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- two-phase\nUPDATE t SET v = 1 WHERE id = 1;\nPREPARE TRANSACTION 'x';\n",
        "statement 2 (line 3)",
    );
}

fn set_autocommit_is_refused(p: Project) {
    let p = with_t(p);
    for value in ["0", "1"] {
        assert_refused(
            &p,
            &format!(
                "-- autocommit\nUPDATE t SET v = 1 WHERE id = 1;\nSET autocommit = {value};\n"
            ),
            "statement 2 (line 3)",
        );
    }
}

fn xa_start_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- xa\nUPDATE t SET v = 1 WHERE id = 1;\nXA START 'x';\n",
        "statement 2 (line 3)",
    );
}

fn commit_inside_a_comment_or_a_string_runs_normally(p: Project) {
    let p = with_t(p);
    p.script(
        B,
        "lookalike",
        "-- COMMIT; in the header\nUPDATE t SET v = v + 1 WHERE id = 1; -- COMMIT;\n/* ROLLBACK; BEGIN; */\nUPDATE t SET v = v + LENGTH('COMMIT;') WHERE id = 2;\n",
    );
    let done = expect_vs(&[(1, 1), (2, 7)]);
    let ledger = ledger_rows(&p);
    p.oneoff(&["run", "--dry-run"]).code(0);
    assert_eq!(vs(&p), expect_vs(&[]), "a dry run changes nothing");
    assert_eq!(ledger_rows(&p), ledger);
    assert_eq!(p.status_of(B), "pending");
    p.oneoff(&["run"]).code(0);
    p.oneoff(&["run", "--retry"])
        .code(0)
        .stdout_has("Nothing to run");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(vs(&p), done, "applied once");
}

fn savepoint_used_correctly_is_allowed(p: Project) {
    let p = with_t(p);
    p.script(
        B,
        "own_savepoint",
        "-- own savepoint\nSAVEPOINT s;\nUPDATE t SET v = 5 WHERE id = 1;\nROLLBACK TO SAVEPOINT s;\nUPDATE t SET v = 1 WHERE id = 2;\n",
    );
    p.oneoff(&["run", "--dry-run"]).code(0);
    assert_eq!(vs(&p), expect_vs(&[]));
    p.oneoff(&["run"]).code(0);
    p.oneoff(&["run"]).code(0).stdout_has("Nothing to run");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(vs(&p), expect_vs(&[(2, 1)]));
}

fn set_transaction_isolation_level_is_harmless(p: Project) {
    let p = with_t(p);
    p.script(
        B,
        "isolation",
        "-- isolation\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nUPDATE t SET v = 1 WHERE id = 1;\n",
    );
    // oneoff opens its guard savepoint first, so PostgreSQL and MySQL both
    // reject it as not the transaction's first statement: a clean failure.
    p.oneoff(&["run"]).code(1);
    assert_truthful(&p, B, &expect_vs(&[(1, 1)]), &expect_vs(&[]));
    p.oneoff(&["run"]);
    assert_truthful(&p, B, &expect_vs(&[(1, 1)]), &expect_vs(&[]));
}

fn ten_statements_where_the_seventh_fails_are_all_rolled_back(p: Project) {
    let p = with_t(p);
    let body = |seventh: &str| {
        let mut text = String::from("-- ten\n");
        for id in 1..=10 {
            if id == 7 {
                text.push_str(seventh);
            } else {
                text.push_str(&format!("UPDATE t SET v = v + 1 WHERE id = {id};\n"));
            }
        }
        text
    };
    let path = p.script(B, "ten", &body("UPDATE no_such_table SET x = 1;\n"));
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("statement 7 (line 8)");
    assert_eq!(vs(&p), expect_vs(&[]), "all ten rolled back");
    assert_eq!(p.status_of(B), "failed");
    assert!(error_of(&p, B).contains("statement 7 (line 8)"));
    std::fs::write(&path, body("UPDATE t SET v = v + 1 WHERE id = 7;\n")).unwrap();
    p.oneoff(&["run", "--retry"]).code(0);
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(vs(&p), vec![1; 10], "each statement applied once");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(p.entry(B)["attempts"], 2);
}

fn vacuum_in_a_transaction_fails_cleanly_and_rolls_back(p: Project) {
    let p = with_t(p);
    p.script(
        B,
        "outside_tx",
        "-- needs no transaction\nUPDATE t SET v = v + 1 WHERE id = 1;\nVACUUM;\n",
    );
    let dry = p.oneoff(&["run", "--dry-run"]);
    assert_ne!(
        dry.output.status.code(),
        Some(0),
        "VACUUM cannot run in a transaction"
    );
    assert_eq!(vs(&p), expect_vs(&[]));
    assert_eq!(p.status_of(B), "pending");
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("statement 2 (line 3)");
    assert_eq!(vs(&p), expect_vs(&[]), "rolled back");
    assert_eq!(p.status_of(B), "failed");
    p.oneoff(&["run", "--retry"]).code(1);
    assert_eq!(vs(&p), expect_vs(&[]));
    assert_eq!(p.entry(B)["attempts"], 2);
}
