//! One durable commit per script, or fewer: on SQLite and PostgreSQL
//! consecutive scripts share a transaction (each in its own savepoint, with
//! its claim and its outcome) and the script in flight is marked outside it
//! (beside the SQLite file; in a sequence on PostgreSQL); on
//! PostgreSQL a script takes three requests. What a user sees must not
//! change: a failure keeps the scripts before it, a kill leaves nothing
//! half done, and a stopped group leaves its scripts to run again.

use crate::on_all_backends;
use crate::support::{slow_sql, spawn_run, wait_until_running, Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";
const D: &str = "20260104000000";

on_all_backends!(
    scripts_before_a_failure_are_committed_and_reported_and_later_ones_not_run,
    a_killed_runner_leaves_its_script_running_and_nothing_of_it_committed,
    a_timeout_that_ends_the_whole_transaction_leaves_earlier_scripts_to_run_again,
    many_scripts_in_a_row_each_commit_once_with_their_history,
);

fn scripts_before_a_failure_are_committed_and_reported_and_later_ones_not_run(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.effect_script(B, "second");
    p.script(C, "broken", "-- broken\nSELECT * FROM no_such_table;\n");
    p.effect_script(D, "after");
    let run = p.oneoff(&["run", "--json"]);
    run.code(1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).expect("json report");
    let outcomes: Vec<(String, String)> = report["scripts"]
        .as_array()
        .expect("scripts")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (A.to_string(), "succeeded".to_string()),
            (B.to_string(), "succeeded".to_string()),
            (C.to_string(), "failed".to_string()),
        ],
        "{report:#}"
    );
    assert_eq!(report["not_run"], serde_json::json!([D]));
    assert_eq!((p.effects(A), p.effects(B), p.effects(D)), (1, 1, 0));
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(p.status_of(C), "failed");
    assert_eq!(p.status_of(D), "pending");
    assert_eq!(
        p.db.count(&format!(
            "SELECT COUNT(*) AS n FROM oneoff_runs WHERE script_id = '{C}' AND status = 'failed'"
        )),
        1
    );
}

fn a_killed_runner_leaves_its_script_running_and_nothing_of_it_committed(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "quick");
    let slow =
        |tail: &str| format!("-- slow\nINSERT INTO effects (script) VALUES ('{B}');\n{tail};\n");
    let path = p.script(B, "slow", &slow(&slow_sql(p.db.backend, 60)));
    let mut runner = spawn_run(&p, &[]);
    wait_until_running(&p, B);
    runner.kill().expect("kill -9");
    runner.wait().expect("reap");
    assert_eq!(p.status_of(B), "running", "the script in flight shows");
    assert_eq!(p.effects(B), 0, "nothing of it committed");
    // SQLite and PostgreSQL committed nothing of the group the quick script
    // was in: it is pending again. MySQL committed it on its own.
    match p.db.backend {
        Backend::Sqlite | Backend::Postgres => {
            assert_eq!((p.status_of(A), p.effects(A)), ("pending".into(), 0))
        }
        _ => assert_eq!((p.status_of(A), p.effects(A)), ("succeeded".into(), 1)),
    }
    p.oneoff(&["run"]).code(1).stderr_has("interrupted");
    assert_eq!(p.status_of(B), "interrupted");
    std::fs::write(&path, slow("SELECT 1")).unwrap();
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(
        (p.effects(A), p.effects(B)),
        (1, 1),
        "each took effect once"
    );
    assert_eq!(p.entry(A)["attempts"], 1);
    assert_eq!(p.entry(B)["attempts"], 2);
}

fn a_timeout_that_ends_the_whole_transaction_leaves_earlier_scripts_to_run_again(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "quick");
    // A long write: stopping it makes SQLite roll back the whole transaction.
    p.db.execute("CREATE TABLE filler (n INTEGER)");
    let long_write = match p.db.backend {
        Backend::Sqlite => "INSERT INTO filler SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) SELECT x FROM c)".to_string(),
        backend => format!("INSERT INTO filler SELECT 1 FROM (SELECT 1) t; {}", slow_sql(backend, 60)),
    };
    p.script(B, "long", &format!("-- long\n{long_write};\n"));
    let run = p.oneoff(&["run", "--timeout", "1s", "--json"]);
    run.code(1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).expect("json report");
    assert_eq!(p.status_of(B), "failed");
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM filler"), 0);
    let a_reported = report["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == A && s["outcome"] == "succeeded");
    // SQLite rolls the whole transaction back when it stops a write: the
    // quick script, uncommitted in the same group, goes with it.
    if p.db.backend == Backend::Sqlite {
        assert_eq!(p.status_of(A), "pending", "{report:#}");
    }
    match p.status_of(A).as_str() {
        "succeeded" => {
            assert!(a_reported, "{report:#}");
            assert_eq!(p.effects(A), 1);
        }
        status => {
            assert_eq!(status, "pending");
            assert_eq!(p.db.backend, Backend::Sqlite, "only SQLite groups scripts");
            assert!(
                !a_reported,
                "a rolled-back script is not reported succeeded"
            );
            assert!(report["not_run"]
                .as_array()
                .unwrap()
                .iter()
                .any(|id| id == A));
            assert_eq!(p.effects(A), 0);
        }
    }
    p.script(B, "long", "-- long, fixed\nSELECT 1;\n");
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(p.effects(A), 1);
    assert_eq!(p.entry(A)["attempts"], 1);
}

fn many_scripts_in_a_row_each_commit_once_with_their_history(p: Project) {
    let p = p.with_effects();
    let ids: Vec<String> = (0..150)
        .map(|i| format!("2026010100{:02}{:02}", i / 60, i % 60))
        .collect();
    for id in &ids {
        p.effect_script(id, "effect");
    }
    p.oneoff(&["run"]).code(0);
    p.oneoff(&["run"]).code(0).stdout_has("Nothing to run");
    for id in &ids {
        assert_eq!(p.effects(id), 1, "{id}");
    }
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_runs WHERE status = 'succeeded'"),
        150
    );
    assert_eq!(
        p.db.count(
            "SELECT COUNT(*) AS n FROM oneoff_ledger WHERE status = 'succeeded' AND attempts = 1"
        ),
        150
    );
}

on_all_backends!(
    a_script_that_drops_prepared_statements_at_run_time_fails_cleanly_and_the_run_goes_on_later
);

fn a_script_that_drops_prepared_statements_at_run_time_fails_cleanly_and_the_run_goes_on_later(
    p: Project,
) {
    if p.db.backend != Backend::Postgres {
        return; // PostgreSQL's DEALLOCATE; the others have no such statement
    }
    let p = p.with_effects();
    p.effect_script(A, "before");
    // Built at run time, so no static rule sees it.
    p.script(
        B,
        "deallocate",
        "-- drops every prepared statement of the session\nDO $$ BEGIN EXECUTE 'DEALL' || 'OCATE ALL'; END $$;\n",
    );
    p.effect_script(C, "after");
    // oneoff cannot check what it did: it is rolled back and recorded failed.
    p.oneoff(&["run"]).code(1).stdout_has("rolled back");
    assert_eq!(p.effects(A), 1);
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(p.status_of(B), "failed");
    // oneoff prepares its statements again: a later run carries on.
    p.oneoff(&["skip", B, "--reason", "test"]);
    p.oneoff(&["run"]).code(0);
    assert_eq!(p.effects(C), 1);
    assert_eq!(p.status_of(C), "succeeded");
}

on_all_backends!(
    a_deferred_constraint_one_script_breaks_fails_that_script_and_not_its_group,
    a_local_setting_made_by_a_script_does_not_reach_the_next_script_in_its_group,
    a_script_that_forges_the_in_flight_marker_is_rolled_back,
);

/// PostgreSQL checks deferred constraints at commit, which in a group comes
/// after later scripts: each script's are checked as it ends instead, and
/// put back to deferred for the next one.
fn a_deferred_constraint_one_script_breaks_fails_that_script_and_not_its_group(p: Project) {
    if p.db.backend != Backend::Postgres {
        return; // the others have no deferred constraints to check here
    }
    let p = p.with_effects();
    p.db.execute(
        "CREATE TABLE parent (id INT PRIMARY KEY); \
         CREATE TABLE child (id INT PRIMARY KEY, parent INT REFERENCES parent DEFERRABLE INITIALLY DEFERRED)",
    );
    let child_first = |child: i32, parent: i32, tail: &str| {
        format!(
            "-- child before parent\nINSERT INTO child VALUES ({child}, {parent});\n{tail}\n\
             INSERT INTO effects (script) VALUES ('{{id}}');\n"
        )
    };
    let script = |id: &str, text: String| p.script(id, "fk", &text.replace("{id}", id));
    script(A, child_first(1, 10, "INSERT INTO parent VALUES (10);"));
    script(B, child_first(2, 20, "-- and no parent"));
    script(C, child_first(3, 30, "INSERT INTO parent VALUES (30);"));
    let run = p.oneoff(&["run"]);
    run.code(1).stdout_has("foreign key");
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(p.status_of(B), "failed");
    assert_eq!(p.status_of(C), "pending");
    assert_eq!((p.effects(A), p.effects(B)), (1, 0));
    p.script(
        B,
        "fk",
        &child_first(2, 20, "INSERT INTO parent VALUES (20);").replace("{id}", B),
    );
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!((p.effects(A), p.effects(B), p.effects(C)), (1, 1, 1));
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM child"), 3);
}

fn a_local_setting_made_by_a_script_does_not_reach_the_next_script_in_its_group(p: Project) {
    if p.db.backend != Backend::Postgres {
        return; // SET LOCAL is PostgreSQL's
    }
    let p = p.with_effects();
    p.script(
        A,
        "local",
        &format!("-- local timeout\nSET LOCAL statement_timeout = '50ms';\nINSERT INTO effects (script) VALUES ('{A}');\n"),
    );
    p.script(
        B,
        "slow",
        &format!("-- slower than that\nSELECT pg_sleep(0.3);\nINSERT INTO effects (script) VALUES ('{B}');\n"),
    );
    p.oneoff(&["run"]).code(0);
    assert_eq!((p.effects(A), p.effects(B)), (1, 1));
}

/// The in-flight marker names the script a dead runner was running; a script
/// that writes it (here through dynamic SQL, which no static rule sees) is
/// writing oneoff's tables, and is rolled back.
fn a_script_that_forges_the_in_flight_marker_is_rolled_back(p: Project) {
    if p.db.backend != Backend::Postgres {
        return; // the marker is kept in the database on PostgreSQL only
    }
    let p = p.with_effects();
    p.effect_script(A, "before");
    p.oneoff(&["run"]).code(0);
    p.effect_script(B, "first");
    p.script(
        C,
        "forge",
        &format!(
            "-- forge\nINSERT INTO effects (script) VALUES ('{C}');\n\
             DO $$ BEGIN EXECUTE 'UPDATE oneoff_' || 'lock SET in_flight = ''{{\"id\": \"{A}\"}}'''; END $$;\n"
        ),
    );
    p.oneoff(&["run"]).code(1).stdout_has("oneoff's own tables");
    assert_eq!((p.effects(B), p.effects(C)), (1, 0));
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(p.status_of(C), "failed");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_lock WHERE in_flight IS NOT NULL"),
        0
    );
}
