//! Hostile scripts meet stops: Ctrl-C in a batched backfill or a long write,
//! a timeout, and a script that ends its own connection.

use std::process::{Child, Command};

use super::{error_of, expect_vs, vs, with_t, B};
use crate::on_all_backends;
use crate::support::{finish, slow_sql, spawn_run, wait_until_running, Backend, Project};

on_all_backends!(ctrl_c_in_a_batched_script_leaves_it_interrupted_with_truthful_progress);
on_backends!([sqlite]:
    ctrl_c_during_a_write_rolls_back_and_restores_the_pending_row,
    timeout_during_a_long_write_records_failed_and_rolls_back,
);
on_backends!([postgres, mysql]: script_that_kills_its_own_connection_is_never_recorded_succeeded);

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// One row per execution, each taking about half a second.
fn slow_batch(backend: Backend) -> String {
    match backend {
        Backend::Postgres => "UPDATE t SET v = v + 1 WHERE id IN (SELECT id FROM t WHERE v = 0 ORDER BY id LIMIT 1) AND pg_sleep(0.5) IS NOT NULL".into(),
        Backend::Mysql => "UPDATE t SET v = v + 1 WHERE v = 0 AND SLEEP(0.5) = 0 ORDER BY id LIMIT 1".into(),
        Backend::Sqlite => "UPDATE t SET v = v + 1 WHERE id IN (SELECT id FROM t WHERE v = 0 ORDER BY id LIMIT 1) AND (SELECT COUNT(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500000) SELECT x FROM c)) > 0".into(),
    }
}

fn ctrl_c_in_a_batched_script_leaves_it_interrupted_with_truthful_progress(p: Project) {
    let p = with_t(p);
    p.script(
        B,
        "backfill",
        &format!(
            "-- backfill\n-- oneoff:batch\n{};\n",
            slow_batch(p.db.backend)
        ),
    );
    let runner = spawn_run(&p, &[]);
    wait_until_running(&p, B);
    interrupt(&runner);
    let (code, out) = finish(runner);
    assert_eq!(code, Some(130), "{out}");
    let e = p.entry(B);
    assert_eq!(e["status"], "interrupted", "{e}\n{out}");
    let done = vs(&p);
    assert!(done.iter().all(|&v| v <= 1), "{done:?}");
    let applied: i64 = done.iter().sum();
    assert_eq!(
        e["progress"]["rows_done"], applied,
        "progress tells the truth: {e}"
    );
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(vs(&p), [1; 10], "each row once");
    assert_eq!(p.status_of(B), "succeeded");
}

fn ctrl_c_during_a_write_rolls_back_and_restores_the_pending_row(p: Project) {
    let p = with_t(p);
    let path = p.script(
        B,
        "long_write",
        &format!(
            "-- long write\nUPDATE t SET v = v + 1;\n{};\n",
            slow_sql(p.db.backend, 60)
        ),
    );
    let runner = spawn_run(&p, &[]);
    wait_until_running(&p, B);
    interrupt(&runner);
    let (code, out) = finish(runner);
    assert_eq!(code, Some(130), "{out}");
    assert_eq!(vs(&p), [0; 10], "rolled back");
    let e = p.entry(B);
    assert_eq!(e["status"], "pending", "{e}");
    assert_eq!(e["attempts"], 0);
    std::fs::write(&path, "-- long write\nUPDATE t SET v = v + 1;\n").unwrap();
    p.oneoff(&["run"]).code(0);
    assert_eq!(vs(&p), [1; 10]);
}

fn timeout_during_a_long_write_records_failed_and_rolls_back(p: Project) {
    let p = with_t(p);
    p.script(
        B,
        "long_write",
        &format!(
            "-- long write\nUPDATE t SET v = v + 1;\n{};\n",
            slow_sql(p.db.backend, 60)
        ),
    );
    p.oneoff(&["run", "--timeout", "1s"])
        .code(1)
        .stderr_has("timeout after 1s");
    assert_eq!(vs(&p), [0; 10], "rolled back");
    assert_eq!(p.status_of(B), "failed");
    let error = error_of(&p, B);
    assert!(error.contains("timeout after"), "{error}");
}

fn script_that_kills_its_own_connection_is_never_recorded_succeeded(p: Project) {
    let p = with_t(p);
    let kill = match p.db.backend {
        Backend::Postgres => "SELECT pg_terminate_backend(pg_backend_pid())",
        _ => "KILL CONNECTION_ID()",
    };
    p.script(
        B,
        "suicide",
        &format!("-- suicide\nUPDATE t SET v = v + 1 WHERE id = 1;\n{kill};\nUPDATE t SET v = v + 1 WHERE id = 2;\n"),
    );
    let run = p.oneoff(&["run"]);
    assert_ne!(run.output.status.code(), Some(0), "{}", run.stderr());
    assert_ne!(p.status_of(B), "succeeded");
    assert_eq!(vs(&p), expect_vs(&[]), "the work is absent");
    let next = p.oneoff(&["run"]);
    next.code(1).stderr_has(B);
    let status = p.status_of(B);
    assert!(status == "failed" || status == "interrupted", "{status}");
    assert_eq!(vs(&p), expect_vs(&[]));
}
