//! Batched scripts (`-- oneoff:batch`): checkpointed backfills that resume,
//! report progress, throttle, and never loop forever.

use std::time::{Duration, Instant};

use crate::on_all_backends;
use crate::support::{spawn_run, Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";

on_all_backends!(
    batched_script_runs_until_a_batch_changes_nothing_with_exact_counts,
    killed_backfill_shows_progress_and_resumes_with_retry_with_exact_counts,
    statement_that_never_reaches_zero_is_stopped_past_the_total,
    max_batches_stops_a_statement_without_a_total,
    batched_dry_run_executes_only_the_first_batch_and_reports_the_total,
    pause_sleeps_between_batches,
    a_batched_script_with_two_statements_is_refused,
    signal_during_a_backfill_leaves_it_interrupted_and_retry_finishes,
);

/// A table of `rows` rows whose `v` is still to be filled in.
fn items(p: &Project, rows: u32) {
    p.db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)");
    let values: Vec<String> = (1..=rows).map(|i| format!("({i})")).collect();
    for chunk in values.chunks(1000) {
        p.db.execute(&format!(
            "INSERT INTO items (id) VALUES {}",
            chunk.join(",")
        ));
    }
}

/// The backfill idiom of each backend: each execution picks the next rows
/// that still need work.
fn backfill_sql(backend: Backend, batch: u32) -> String {
    match backend {
        Backend::Mysql => format!("UPDATE items SET v = id * 2 WHERE v IS NULL LIMIT {batch}"),
        _ => format!(
            "UPDATE items SET v = id * 2 WHERE id IN (SELECT id FROM items WHERE v IS NULL LIMIT {batch})"
        ),
    }
}

fn backfill_script(p: &Project, id: &str, batch: u32, extra: &str) {
    p.script(
        id,
        "backfill",
        &format!(
            "-- backfill v\n-- oneoff:batch\n-- oneoff:total SELECT COUNT(*) FROM items WHERE v IS NULL\n{extra}{};\n",
            backfill_sql(p.db.backend, batch)
        ),
    );
}

fn progress(p: &Project, id: &str) -> (i64, Option<i64>, i64) {
    let e = p.entry(id);
    let pr = &e["progress"];
    (
        pr["rows_done"].as_i64().unwrap(),
        pr["rows_total"].as_i64(),
        pr["batches"].as_i64().unwrap(),
    )
}

fn all_filled(p: &Project, rows: i64) {
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM items WHERE v = id * 2"),
        rows
    );
}

fn batched_script_runs_until_a_batch_changes_nothing_with_exact_counts(p: Project) {
    items(&p, 2500);
    p.script(
        A,
        "plain",
        "-- plain\nUPDATE items SET v = NULL WHERE id < 0;\n",
    );
    backfill_script(&p, B, 1000, "");
    p.oneoff(&["run"]).code(0).stdout_has("2500 rows");
    all_filled(&p, 2500);
    assert_eq!(progress(&p, B), (2500, Some(2500), 3));
    let e = p.entry(B);
    assert_eq!(
        (e["status"].as_str(), e["rows_affected"].as_i64()),
        (Some("succeeded"), Some(2500))
    );
    assert_eq!(
        p.entry(A)["progress"],
        serde_json::Value::Null,
        "not batched"
    );
    let history = p.db.count(&format!(
        "SELECT batches AS n FROM oneoff_runs WHERE script_id = '{B}'"
    ));
    assert_eq!(history, 3);
}

fn killed_backfill_shows_progress_and_resumes_with_retry_with_exact_counts(p: Project) {
    items(&p, 6000);
    backfill_script(&p, B, 200, "-- oneoff:pause 100ms\n");
    let mut runner = spawn_run(&p, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (done, _, batches) = progress(&p, B);
        if batches >= 3 {
            assert_eq!(done, batches * 200);
            break;
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Another process sees the progress while the backfill runs.
    let table = p.oneoff(&["status"]);
    assert!(
        table.stdout().contains("running ") && table.stdout().contains("/6,000"),
        "{}",
        table.stdout()
    );
    runner.kill().unwrap();
    runner.wait().unwrap();
    let (done_at_kill, total, batches_at_kill) = progress(&p, B);
    assert_eq!(total, Some(6000));
    assert!(batches_at_kill < 30, "killed before the end");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM items WHERE v IS NOT NULL"),
        done_at_kill
    );
    p.oneoff(&["run"]).code(1).stderr_has("interrupted");
    p.oneoff(&["run", "--retry"]).code(0);
    all_filled(&p, 6000);
    assert_eq!(
        progress(&p, B),
        (6000, Some(6000), 30),
        "counts carry on across attempts"
    );
    let attempts = p.db.count(&format!(
        "SELECT COUNT(*) AS n FROM oneoff_runs WHERE script_id = '{B}'"
    ));
    assert_eq!(attempts, 2);
    let text = if p.db.backend == Backend::Mysql {
        "CHAR"
    } else {
        "TEXT"
    };
    let batches: i64 =
        p.db.lines(&format!(
            "SELECT CAST(batches AS {text}) AS line FROM oneoff_runs WHERE script_id = '{B}'"
        ))
        .iter()
        .map(|b| b.parse::<i64>().unwrap())
        .sum();
    assert_eq!(batches, 30, "no committed batch was redone");
}

fn statement_that_never_reaches_zero_is_stopped_past_the_total(p: Project) {
    items(&p, 200);
    let endless = match p.db.backend {
        Backend::Mysql => "UPDATE items SET v = COALESCE(v, 0) + 1 LIMIT 100".to_string(),
        _ => "UPDATE items SET v = COALESCE(v, 0) + 1 WHERE id IN (SELECT id FROM items LIMIT 100)"
            .to_string(),
    };
    p.script(
        B,
        "endless",
        &format!(
            "-- endless\n-- oneoff:batch\n-- oneoff:total SELECT COUNT(*) FROM items\n{endless};\n"
        ),
    );
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("more than the 200 rows");
    let e = p.entry(B);
    assert_eq!(e["status"], "failed");
    let (done, _, batches) = progress(&p, B);
    assert_eq!(
        (done, batches),
        (1300, 13),
        "stopped at the first batch past total + margin"
    );
}

fn max_batches_stops_a_statement_without_a_total(p: Project) {
    items(&p, 1000);
    p.script(
        B,
        "capped",
        &format!(
            "-- capped\n-- oneoff:batch\n{};\n",
            backfill_sql(p.db.backend, 100)
        ),
    );
    p.oneoff(&["run", "--max-batches", "4"])
        .code(1)
        .stderr_has("--max-batches 4");
    assert_eq!(progress(&p, B), (400, None, 4));
    assert_eq!(p.status_of(B), "failed");
    p.oneoff(&["run", "--retry"]).code(0);
    all_filled(&p, 1000);
    assert_eq!(progress(&p, B), (1000, None, 10));
}

fn batched_dry_run_executes_only_the_first_batch_and_reports_the_total(p: Project) {
    items(&p, 2500);
    backfill_script(&p, B, 1000, "");
    p.oneoff(&["run", "--dry-run"])
        .code(0)
        .stdout_has("first batch only (1000 rows of 2500 rows to do)");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM items WHERE v IS NOT NULL"),
        0
    );
    assert_eq!(p.status_of(B), "pending");
}

fn pause_sleeps_between_batches(p: Project) {
    items(&p, 300);
    backfill_script(&p, B, 100, "-- oneoff:pause 300ms\n");
    let started = Instant::now();
    p.oneoff(&["run"]).code(0);
    // Three batches change rows, so at least three pauses of 300 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    all_filled(&p, 300);
}

fn a_batched_script_with_two_statements_is_refused(p: Project) {
    items(&p, 10);
    p.script(
        B,
        "two",
        "-- two\n-- oneoff:batch\nUPDATE items SET v = 1 WHERE v IS NULL;\nSELECT 1;\n",
    );
    p.oneoff(&["run"])
        .code(2)
        .stderr_has(&format!("{B}_two.sql:4"))
        .stderr_has("exactly one statement");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM items WHERE v IS NOT NULL"),
        0
    );
}

#[test]
fn a_long_backfill_logs_its_progress_when_not_on_a_terminal() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    items(&p, 1200);
    backfill_script(&p, B, 100, "-- oneoff:pause 500ms\n");
    let run = p.oneoff(&["run"]);
    run.code(0)
        .stderr_has("progress: [1/1] 20260102000000 backfill")
        .stderr_has("rows/s, ETA");
}

fn signal_during_a_backfill_leaves_it_interrupted_and_retry_finishes(p: Project) {
    items(&p, 3000);
    backfill_script(&p, B, 100, "-- oneoff:pause 100ms\n");
    let runner = spawn_run(&p, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress(&p, B).2 < 2 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &runner.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = runner.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = p.entry(B);
    assert_eq!(e["status"], "interrupted");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("`oneoff run --retry` continues"),
        "{e}"
    );
    let (done, _, batches) = progress(&p, B);
    assert_eq!(done, batches * 100, "committed batches and counts agree");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM items WHERE v IS NOT NULL"),
        done
    );
    p.oneoff(&["run", "--retry"]).code(0);
    all_filled(&p, 3000);
    assert_eq!(progress(&p, B), (3000, Some(3000), 30));
}
