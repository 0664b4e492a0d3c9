//! `oneoff run`: order, exactly once, rollback on failure, retry, dry run,
//! modified files, and the guards.

use crate::on_all_backends;
use crate::support::{Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";

on_all_backends!(
    runs_pending_scripts_in_id_order_and_records_them,
    never_runs_a_succeeded_script_twice,
    refuses_to_rerun_a_succeeded_script_by_id,
    rolls_back_a_failing_script_and_names_the_statement_and_line,
    retry_after_fixing_the_file_runs_the_failed_script_then_the_pending_ones,
    dry_run_leaves_data_and_ledger_untouched,
    dry_run_does_not_execute_a_no_transaction_script,
    no_transaction_script_commits_each_statement_and_records_the_outcome,
    modified_file_is_reported_but_not_rerun,
    line_ending_only_change_is_not_modified,
    runs_only_the_ids_given,
    unknown_id_is_refused_and_changes_nothing,
    json_summary_describes_the_run,
    output_names_the_database_without_its_password,
);

fn runs_pending_scripts_in_id_order_and_records_them(p: Project) {
    let p = p.with_effects();
    p.db.execute("CREATE TABLE seq (n INTEGER NOT NULL, script VARCHAR(20) NOT NULL)");
    // Each script appends its position; written out of order on disk.
    for (id, name) in [(C, "third"), (A, "first"), (B, "second")] {
        p.script(
            id,
            name,
            &format!(
                "-- {name}\nINSERT INTO seq (n, script) SELECT COUNT(*) + 1, '{id}' FROM seq;\n"
            ),
        );
    }
    let run = p.oneoff(&["run"]);
    run.code(0).stdout_has("Running 3 scripts on");
    let order = p.db.lines("SELECT script AS line FROM seq ORDER BY n");
    assert_eq!(order, [A, B, C]);
    let out = run.stdout();
    let (a, b, c) = (
        out.find(A).unwrap(),
        out.find(B).unwrap(),
        out.find(C).unwrap(),
    );
    assert!(a < b && b < c, "lines in id order:\n{out}");
    for id in [A, B, C] {
        let e = p.entry(id);
        assert_eq!(e["status"], "succeeded");
        assert_eq!(e["attempts"], 1);
        assert_eq!(e["rows_affected"], 1);
        assert_eq!(
            e["run_by"].as_str().unwrap().split('@').next(),
            Some("tester")
        );
        assert!(e["finished_at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_runs"), 3);
}

fn never_runs_a_succeeded_script_twice(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "once");
    p.oneoff(&["run"]).code(0);
    let again = p.oneoff(&["run"]);
    again.code(0).stdout_has("Nothing to run");
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(p.effects(A), 1);
    assert_eq!(p.entry(A)["attempts"], 1);
}

fn refuses_to_rerun_a_succeeded_script_by_id(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "once");
    p.oneoff(&["run"]).code(0);
    let before = p.ledger_snapshot();
    let run = p.oneoff(&["run", A]);
    run.code(3)
        .stderr_has("succeeded on ")
        .stderr_has("by tester@")
        .stderr_has("never runs again");
    assert_eq!(p.effects(A), 1);
    assert_eq!(p.ledger_snapshot(), before);
}

fn rolls_back_a_failing_script_and_names_the_statement_and_line(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "good");
    p.script(
        B,
        "bad",
        "-- bad\n\nINSERT INTO effects (script) VALUES ('20260102000000');\n\nINSERT INTO no_such_table VALUES (1);\n",
    );
    p.effect_script(C, "after");
    let run = p.oneoff(&["run"]);
    run.code(1)
        .stderr_has("statement 2 (line 5)")
        .stderr_has("no_such_table");
    assert_eq!(p.effects(A), 1);
    assert_eq!(
        p.effects(B),
        0,
        "the failing script's first statement was rolled back"
    );
    assert_eq!(p.effects(C), 0, "nothing after the failure runs");
    let e = p.entry(B);
    assert_eq!(e["status"], "failed");
    assert_eq!(e["attempts"], 1);
    assert!(e["error"]
        .as_str()
        .unwrap()
        .contains("statement 2 (line 5)"));
    assert_eq!(p.status_of(C), "pending");
    // A failed script blocks later runs until --retry.
    let blocked = p.oneoff(&["run"]);
    blocked.code(1).stderr_has(B).stderr_has("--retry");
    assert_eq!(p.effects(C), 0);
}

fn retry_after_fixing_the_file_runs_the_failed_script_then_the_pending_ones(p: Project) {
    let p = p.with_effects();
    p.script(B, "fixme", "-- fix me\nINSERT INTO nowhere VALUES (1);\n");
    p.effect_script(C, "later");
    p.oneoff(&["run"]).code(1);
    p.effect_script(B, "fixme");
    p.effect_script(A, "earlier_but_new");
    let run = p.oneoff(&["run", "--retry"]);
    run.code(0);
    let out = run.stdout();
    let (b, a, c) = (
        out.find(B).unwrap(),
        out.find(A).unwrap(),
        out.find(C).unwrap(),
    );
    assert!(
        b < a && a < c,
        "retried first, then pending in id order:\n{out}"
    );
    for id in [A, B, C] {
        assert_eq!(p.effects(id), 1, "{id}");
        assert_eq!(p.status_of(id), "succeeded");
    }
    assert_eq!(p.entry(B)["attempts"], 2);
    assert_eq!(p.entry(B)["error"], serde_json::Value::Null);
    let history = p.db.lines(&format!(
        "SELECT status AS line FROM oneoff_runs WHERE script_id = '{B}' ORDER BY started_at"
    ));
    assert_eq!(history, ["failed", "succeeded"]);
}

fn dry_run_leaves_data_and_ledger_untouched(p: Project) {
    let p = p.with_effects();
    p.oneoff(&["run"]).code(0); // create the ledger, so that its rows can be compared
    p.effect_script(A, "first");
    p.script(B, "second", "-- two rows\nINSERT INTO effects (script) VALUES ('x');\nINSERT INTO effects (script) VALUES ('y');\n");
    let before = p.db.ledger_snapshot();
    let run = p.oneoff(&["run", "--dry-run"]);
    run.code(0)
        .stdout_has("Dry run of 2 scripts")
        .stdout_has("would change 2 rows")
        .stdout_has("statement 2 (line 3): 1 row");
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM effects"), 0);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_ledger"), 0);
    let after = p.db.ledger_snapshot();
    assert_eq!(
        before.split("runs:").next(),
        after.split("runs:").next(),
        "ledger rows unchanged"
    );
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_runs WHERE dry_run = TRUE"),
        2
    );
    assert_eq!(p.status_of(A), "pending");
}

fn dry_run_does_not_execute_a_no_transaction_script(p: Project) {
    let p = p.with_effects();
    p.script(A, "outside", "-- outside\n-- oneoff:no-transaction\nINSERT INTO effects (script) VALUES ('20260101000000');\n");
    p.oneoff(&["run", "--dry-run"])
        .code(0)
        .stdout_has("skipped in dry run")
        .stdout_has("no-transaction script cannot be rolled back");
    assert_eq!(p.effects(A), 0);
    assert_eq!(p.status_of(A), "pending");
}

fn no_transaction_script_commits_each_statement_and_records_the_outcome(p: Project) {
    let p = p.with_effects();
    p.script(
        A,
        "outside",
        "-- outside\n-- oneoff:no-transaction\nINSERT INTO effects (script) VALUES ('20260101000000');\nINSERT INTO missing_table VALUES (1);\n",
    );
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("statement 2 (line 4)");
    // Without a transaction the first statement stays committed.
    assert_eq!(p.effects(A), 1);
    assert_eq!(p.status_of(A), "failed");
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("check its effect by hand");
}

fn modified_file_is_reported_but_not_rerun(p: Project) {
    let p = p.with_effects();
    let path = p.effect_script(A, "edited");
    p.oneoff(&["run"]).code(0);
    let recorded = p.entry(A)["checksum"].as_str().unwrap().to_string();
    std::fs::write(
        &path,
        "-- edited\nINSERT INTO effects (script) VALUES ('20260101000000');\n-- more\n",
    )
    .unwrap();
    let e = p.entry(A);
    assert_eq!(e["modified"], true);
    assert_eq!(e["recorded_checksum"], recorded.as_str());
    assert_ne!(e["checksum"], recorded.as_str());
    let status = p.oneoff(&["status"]);
    status
        .stdout_has("succeeded, modified")
        .stdout_has(&recorded);
    let run = p.oneoff(&["run"]);
    run.code(0)
        .stderr_has("file changed after the script succeeded");
    assert_eq!(p.effects(A), 1);
}

fn line_ending_only_change_is_not_modified(p: Project) {
    let p = p.with_effects();
    let path = p.effect_script(A, "crlf");
    p.oneoff(&["run"]).code(0);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    assert_eq!(p.entry(A)["modified"], false);
    p.oneoff(&["run"]).code(0).stdout_has("Nothing to run");
}

fn runs_only_the_ids_given(p: Project) {
    let p = p.with_effects();
    for id in [A, B, C] {
        p.effect_script(id, "s");
    }
    p.oneoff(&["run", C, A]).code(0);
    assert_eq!((p.effects(A), p.effects(B), p.effects(C)), (1, 0, 1));
    assert_eq!(p.status_of(B), "pending");
}

fn unknown_id_is_refused_and_changes_nothing(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "s");
    p.oneoff(&["run", "20991231235959"])
        .code(2)
        .stderr_has("no script with id 20991231235959");
    assert_eq!(p.effects(A), 0);
    assert!(
        !p.db.has_table("oneoff_ledger"),
        "refused before the ledger was created"
    );
}

fn json_summary_describes_the_run(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "s");
    let run = p.oneoff(&["run", "--json"]);
    run.code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON on stdout");
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["scripts"][0]["id"], A);
    assert_eq!(doc["scripts"][0]["outcome"], "succeeded");
    assert_eq!(doc["scripts"][0]["rows_affected"], 1);
    assert_eq!(doc["scripts"][0]["statements"][0]["line"], 2);
    assert!(doc["run_id"].as_str().unwrap().len() == 36);
}

fn output_names_the_database_without_its_password(p: Project) {
    if p.db.backend == Backend::Sqlite {
        return; // SQLite URLs carry no password
    }
    p.effect_script(A, "s");
    // A password the server ignores (trust auth) still must never be shown.
    let mut url = url::Url::parse(&p.db.url).unwrap();
    url.set_password(Some("hunter2-secret")).unwrap();
    let p = p.with_effects();
    let run = p.oneoff(&["--database-url", url.as_str(), "run"]);
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(!all.contains("hunter2-secret"), "{all}");
    if run.output.status.success() {
        assert!(all.contains(":***@"), "{all}");
    }
}
