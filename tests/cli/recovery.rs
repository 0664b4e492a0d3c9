//! `oneoff skip` and `oneoff mark ID succeeded`: decisions by a person,
//! recorded with a reason, never running anything.

use crate::on_all_backends;
use crate::support::Project;

const A: &str = "20260101000000";
const B: &str = "20260102000000";

on_all_backends!(
    skipped_script_never_runs_and_status_shows_the_reason,
    skip_and_mark_require_a_non_blank_reason,
    skip_of_a_succeeded_script_is_refused,
    mark_succeeded_unblocks_a_failed_script_without_running_it,
    mark_of_a_pending_script_is_refused_unless_forced,
    skip_of_an_unknown_id_is_refused,
    a_reason_full_of_sql_is_stored_verbatim,
);

fn skipped_script_never_runs_and_status_shows_the_reason(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "unwanted");
    p.effect_script(B, "wanted");
    p.oneoff(&["skip", A, "--reason", "superseded by DATA-42"])
        .code(0)
        .stdout_has("pending -> skipped");
    p.oneoff(&["run"]).code(0);
    assert_eq!((p.effects(A), p.effects(B)), (0, 1));
    let e = p.entry(A);
    assert_eq!(e["status"], "skipped");
    assert_eq!(e["note"], "superseded by DATA-42");
    assert_eq!(
        e["run_by"].as_str().unwrap().split('@').next(),
        Some("tester")
    );
    p.oneoff(&["status"])
        .stdout_has("note: superseded by DATA-42");
    let history = |col: &str| {
        p.db.lines(&format!(
            "SELECT {col} AS line FROM oneoff_runs WHERE script_id = '{A}'"
        ))
    };
    assert_eq!(history("status"), ["skipped"]);
    assert_eq!(history("note"), ["superseded by DATA-42"]);
    p.oneoff(&["run", A]).code(3).stderr_has("skipped");
}

fn skip_and_mark_require_a_non_blank_reason(p: Project) {
    p.script(A, "failing", "-- f\nINSERT INTO nowhere VALUES (1);\n");
    p.oneoff(&["run"]).code(1);
    let before = p.ledger_snapshot();
    p.oneoff(&["skip", A]).code(2).stderr_has("--reason");
    p.oneoff(&["skip", A, "--reason", "  "])
        .code(2)
        .stderr_has("--reason is blank");
    p.oneoff(&["mark", A, "succeeded"])
        .code(2)
        .stderr_has("--reason");
    p.oneoff(&["mark", A, "done", "--reason", "x"]).code(2);
    assert_eq!(p.ledger_snapshot(), before);
}

fn skip_of_a_succeeded_script_is_refused(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "done");
    p.oneoff(&["run"]).code(0);
    let before = p.ledger_snapshot();
    p.oneoff(&["skip", A, "--reason", "oops"])
        .code(3)
        .stderr_has("is succeeded: it already ran");
    p.oneoff(&["mark", A, "succeeded", "--reason", "again"])
        .code(3);
    assert_eq!(p.ledger_snapshot(), before);
}

fn mark_succeeded_unblocks_a_failed_script_without_running_it(p: Project) {
    let p = p.with_effects();
    let path = p.script(
        A,
        "half",
        &format!("-- half\nINSERT INTO effects (script) VALUES ('{A}');\nINSERT INTO nowhere VALUES (1);\n"),
    );
    p.effect_script(B, "after");
    p.oneoff(&["run"]).code(1);
    // Someone fixes the file and applies the change by hand, then vouches for it.
    std::fs::write(
        &path,
        format!("-- half\nINSERT INTO effects (script) VALUES ('{A}');\n"),
    )
    .unwrap();
    p.oneoff(&[
        "mark",
        A,
        "succeeded",
        "--reason",
        "applied by hand, checked 1 row",
    ])
    .code(0)
    .stdout_has("failed -> succeeded");
    assert_eq!(p.effects(A), 0, "mark never runs the script");
    let e = p.entry(A);
    assert_eq!(e["status"], "succeeded");
    assert_eq!(e["error"], serde_json::Value::Null);
    assert_eq!(
        e["modified"], false,
        "the ledger now holds the file's checksum"
    );
    let history = p.db.lines(&format!(
        "SELECT status AS line FROM oneoff_runs WHERE script_id = '{A}' ORDER BY started_at"
    ));
    assert_eq!(history, ["failed", "marked_succeeded"]);
    p.oneoff(&["run"]).code(0);
    assert_eq!((p.effects(A), p.effects(B)), (0, 1));
}

fn mark_of_a_pending_script_is_refused_unless_forced(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "elsewhere");
    p.oneoff(&["mark", A, "succeeded", "--reason", "done in the console"])
        .code(3)
        .stderr_has("--force");
    assert_eq!(p.status_of(A), "pending");
    p.oneoff(&[
        "mark",
        A,
        "succeeded",
        "--reason",
        "done in the console",
        "--force",
    ])
    .code(0);
    assert_eq!(p.status_of(A), "succeeded");
    p.oneoff(&["run"]).code(0).stdout_has("Nothing to run");
    assert_eq!(p.effects(A), 0);
}

fn skip_of_an_unknown_id_is_refused(p: Project) {
    p.oneoff(&["skip", "20991231000000", "--reason", "x"])
        .code(2)
        .stderr_has("no script with id 20991231000000");
}

fn a_reason_full_of_sql_is_stored_verbatim(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "s");
    // Ledger queries bind their values: quotes and SQL in a reason are data.
    let reason = "it's O'Brien's call'); DROP TABLE effects; -- \\ \"quoted\"";
    p.oneoff(&["skip", A, "--reason", reason]).code(0);
    assert_eq!(p.entry(A)["note"], reason);
    assert!(p.db.has_table("effects"));
}
