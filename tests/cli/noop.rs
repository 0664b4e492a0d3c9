//! A run with nothing to do ends without the run lock and without writing
//! anything; whatever needs the lock (a `running` row, an older ledger,
//! work to do) still gets it.

use crate::on_all_backends;
use crate::support::{self, Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";

on_all_backends!(
    a_run_with_nothing_to_do_neither_waits_for_the_lock_nor_writes,
    a_run_with_work_still_waits_for_the_lock,
    a_run_with_nothing_to_do_reports_modified_scripts_and_ignored_files,
    a_script_left_running_by_a_dead_runner_is_still_reported_interrupted,
    a_run_with_nothing_to_do_still_upgrades_an_older_ledger,
    an_edited_succeeded_script_is_checked_again_and_refuses_the_run,
);

/// Everything oneoff writes outside a script: ledger, history, lock holder.
fn written(p: &Project) -> String {
    let holder = p.db.lines(match p.db.backend {
        Backend::Mysql => "SELECT CONCAT_WS(' ', holder, pid, acquired_at) AS line FROM oneoff_lock",
        _ => "SELECT holder || ' ' || CAST(pid AS TEXT) || ' ' || CAST(acquired_at AS TEXT) AS line FROM oneoff_lock",
    });
    format!("{}lock: {holder:?}", p.ledger_snapshot())
}

fn a_run_with_nothing_to_do_neither_waits_for_the_lock_nor_writes(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.effect_script(B, "second");
    p.oneoff(&["run"]).code(0);
    let before = written(&p);

    let lock = p.db.hold_run_lock();
    // Waiting for the lock would end in exit 3 after the timeout.
    p.oneoff(&["run", "--lock-timeout", "1s"])
        .code(0)
        .stdout_has("Nothing to run on");
    let run = p.oneoff(&["run", "--json", "--lock-timeout", "1s"]);
    run.code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["scripts"], serde_json::json!([]), "{doc:#}");
    assert_eq!(doc["interrupted"], serde_json::json!([]), "{doc:#}");
    assert_eq!(doc["dry_run"], false);
    p.oneoff(&["run", "--dry-run", "--lock-timeout", "1s"])
        .code(0);
    drop(lock);

    assert_eq!(written(&p), before, "a run with nothing to do wrote");
    assert_eq!((p.effects(A), p.effects(B)), (1, 1));
}

fn a_run_with_work_still_waits_for_the_lock(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.oneoff(&["run"]).code(0);
    p.effect_script(B, "second");
    let lock = p.db.hold_run_lock();
    p.oneoff(&["run", "--lock-timeout", "1s"])
        .code(3)
        .stderr_has("another oneoff run holds the lock");
    assert_eq!(p.effects(B), 0);
    drop(lock);
    p.oneoff(&["run"]).code(0);
    assert_eq!(p.effects(B), 1);
}

fn a_run_with_nothing_to_do_reports_modified_scripts_and_ignored_files(p: Project) {
    let p = p.with_effects();
    let path = p.effect_script(A, "first");
    p.oneoff(&["run"]).code(0);
    std::fs::write(
        &path,
        format!("-- first, edited\nINSERT INTO effects (script) VALUES ('{A}');\n"),
    )
    .unwrap();
    std::fs::write(p.scripts().join("notes.txt"), "not a script").unwrap();

    let lock = p.db.hold_run_lock();
    let run = p.oneoff(&["run", "--json", "--lock-timeout", "1s"]);
    drop(lock);
    run.code(0)
        .stderr_has("file changed after the script succeeded")
        .stderr_has("notes.txt");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["modified"][0]["id"], A, "{doc:#}");
    assert_eq!(doc["ignored"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(p.effects(A), 1, "a modified script never runs again");
}

fn a_script_left_running_by_a_dead_runner_is_still_reported_interrupted(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.effect_script(B, "second");
    p.oneoff(&["run"]).code(0);
    // What a runner killed in the middle of B leaves behind.
    p.db.execute(&format!(
        "UPDATE oneoff_ledger SET status = 'running', finished_at = NULL WHERE id = '{B}'"
    ));
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("marked interrupted")
        .stderr_has("--retry");
    assert_eq!(p.status_of(B), "interrupted");
    assert_eq!(p.effects(B), 1);
}

fn a_run_with_nothing_to_do_still_upgrades_an_older_ledger(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.effect_script(C, "third");
    p.oneoff(&["run"]).code(0);
    p.ledger_as_first_version();

    p.oneoff(&["run"]).code(0).stdout_has("Nothing to run on");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_schema_migrations"),
        support::ledger_versions(),
        "the run upgraded the ledger"
    );
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!((p.effects(A), p.effects(C)), (1, 1));
}

fn an_edited_succeeded_script_is_checked_again_and_refuses_the_run(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.oneoff(&["run"]).code(0);
    // A succeeded script is checked again once edited: refused as before.
    let done = p.scripts().join(format!("{A}_first.sql"));
    let text = std::fs::read_to_string(&done).unwrap();
    std::fs::write(&done, format!("{text}\nCOMMIT;\n")).unwrap();
    p.effect_script(B, "second");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("20260101000000_first.sql");
    p.oneoff(&["check"])
        .code(2)
        .stdout_has("20260101000000_first.sql");
    assert_eq!((p.effects(A), p.effects(B)), (1, 0));
    // Restored, it is the text that passed when it ran.
    std::fs::write(&done, text).unwrap();
    p.oneoff(&["run"]).code(0).stdout_has(B);
    assert_eq!((p.effects(A), p.effects(B)), (1, 1));
}
