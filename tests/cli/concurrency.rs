//! Runners at the same time and runners that die: the run lock makes each
//! script run once, a waiting runner gives up naming the holder, and a
//! killed runner leaves `running`, which the next run reports as
//! `interrupted`.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::on_all_backends;
use crate::support::{slow_sql, spawn_run, wait_until_running, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";

on_all_backends!(
    concurrent_runners_apply_each_script_exactly_once,
    second_runner_gives_up_after_the_lock_timeout_naming_the_holder,
    killed_runner_leaves_running_which_the_next_run_reports_as_interrupted,
);

fn concurrent_runners_apply_each_script_exactly_once(p: Project) {
    let p = p.with_effects();
    let ids: Vec<String> = (0..20).map(|i| format!("202601010000{i:02}")).collect();
    for id in &ids {
        p.effect_script(id, "effect");
    }
    let runners: Vec<Child> = (0..4)
        .map(|_| spawn_run(&p, &["--lock-timeout", "120s"]))
        .collect();
    for runner in runners {
        let out = runner.wait_with_output().expect("runner output");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for id in &ids {
        assert_eq!(p.effects(id), 1, "script {id} took effect once");
        assert_eq!(p.entry(id)["attempts"], 1);
    }
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_runs"), 20);
}

fn second_runner_gives_up_after_the_lock_timeout_naming_the_holder(p: Project) {
    p.script(
        A,
        "slow",
        &format!("-- slow\n{};\n", slow_sql(p.db.backend, 20)),
    );
    let mut holder = spawn_run(&p, &[]);
    wait_until_running(&p, A);
    let started = Instant::now();
    let waiter = p.oneoff(&["run", "--lock-timeout", "1s"]);
    waiter
        .code(3)
        .stderr_has("another oneoff run holds the lock")
        .stderr_has(&format!("pid {}", holder.id()))
        .stderr_has("tester@")
        .stderr_has("--lock-timeout");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up after about the timeout"
    );
    holder.kill().expect("kill holder");
    holder.wait().expect("reap holder");
}

fn killed_runner_leaves_running_which_the_next_run_reports_as_interrupted(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "before");
    let body =
        |slow: &str| format!("-- slow\nINSERT INTO effects (script) VALUES ('{B}');\n{slow};\n");
    let path = p.script(B, "slow", &body(&slow_sql(p.db.backend, 60)));
    let mut runner = spawn_run(&p, &[]);
    wait_until_running(&p, B);
    runner.kill().expect("kill -9 the runner");
    runner.wait().expect("reap runner");
    assert_eq!(
        p.status_of(B),
        "running",
        "a dead runner's row stays running until the next run"
    );
    assert_eq!(
        p.effects(B),
        0,
        "the killed transaction was never committed"
    );

    // The lock died with the runner: the next run does not wait for it.
    let next = p.oneoff(&["run", "--lock-timeout", "20s"]);
    next.code(1).stderr_has("interrupted").stderr_has("--retry");
    let e = p.entry(B);
    assert_eq!(e["status"], "interrupted");
    assert!(e["error"]
        .as_str()
        .unwrap()
        .contains("stopped before recording an outcome"));
    assert_eq!(p.db.count(&format!("SELECT COUNT(*) AS n FROM oneoff_runs WHERE script_id = '{B}' AND status = 'interrupted'")), 1);

    std::fs::write(&path, body("SELECT 1")).unwrap();
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(p.entry(B)["attempts"], 2);
    assert_eq!((p.effects(A), p.effects(B)), (1, 1));
}
