//! Scripts stopped from outside: by a timeout, by Ctrl-C / SIGTERM, and by
//! the server ending the session.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::on_all_backends;
use crate::support::{slow_sql, spawn_run, wait_until_running, Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";

on_all_backends!(
    timeout_stops_a_long_script_rolls_it_back_and_records_failed,
    timeout_directive_applies_without_the_flag,
    signal_rolls_back_the_script_in_flight_and_restores_its_ledger_row,
    signal_during_a_no_transaction_script_leaves_it_interrupted,
    connection_killed_mid_script_fails_the_run_and_commits_nothing,
);

/// A script that records its effect, then works for `secs` seconds.
fn slow_script(p: &Project, id: &str, header: &str, secs: u32) -> std::path::PathBuf {
    p.script(
        id,
        "slow",
        &format!(
            "-- slow\n{header}INSERT INTO effects (script) VALUES ('{id}');\n{};\n",
            slow_sql(p.db.backend, secs)
        ),
    )
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().expect("runner output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn timeout_stops_a_long_script_rolls_it_back_and_records_failed(p: Project) {
    let p = p.with_effects();
    slow_script(&p, B, "", 60);
    let started = Instant::now();
    p.oneoff(&["run", "--timeout", "1s"])
        .code(1)
        .stderr_has("timeout after 1s during statement 2 (line 3)");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped near the limit: {:?}",
        started.elapsed()
    );
    assert_eq!(p.effects(B), 0, "rolled back");
    let e = p.entry(B);
    assert_eq!(e["status"], "failed");
    assert!(
        e["error"].as_str().unwrap().starts_with("timeout after 1s"),
        "{e}"
    );
}

fn timeout_directive_applies_without_the_flag(p: Project) {
    let p = p.with_effects();
    slow_script(&p, B, "-- oneoff:timeout 1s\n", 60);
    p.oneoff(&["run"]).code(1).stderr_has("timeout after 1s");
    assert_eq!(p.effects(B), 0);
    assert_eq!(p.status_of(B), "failed");
}

fn signal_rolls_back_the_script_in_flight_and_restores_its_ledger_row(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "before");
    let path = slow_script(&p, B, "", 60);
    p.effect_script(C, "after");
    let runner = spawn_run(&p, &[]);
    wait_until_running(&p, B);
    signal(&runner, "INT");
    let (code, stdout, stderr) = finish(runner);
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Cancelled by a signal: 1 script(s) finished"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("not run: {C}")), "{stdout}");
    assert_eq!((p.effects(A), p.effects(B), p.effects(C)), (1, 0, 0));
    let e = p.entry(B);
    assert_eq!(
        e["status"], "pending",
        "the ledger row is as before the attempt"
    );
    assert_eq!(e["attempts"], 0);
    let history = p.db.lines(&format!(
        "SELECT status AS line FROM oneoff_runs WHERE script_id = '{B}'"
    ));
    assert_eq!(history, ["cancelled"]);
    // Nothing blocks the next run.
    std::fs::write(
        &path,
        format!("-- fast now\nINSERT INTO effects (script) VALUES ('{B}');\n"),
    )
    .unwrap();
    p.oneoff(&["run"]).code(0);
    assert_eq!((p.effects(B), p.effects(C)), (1, 1));
}

fn signal_during_a_no_transaction_script_leaves_it_interrupted(p: Project) {
    let p = p.with_effects();
    slow_script(&p, B, "-- oneoff:no-transaction\n", 60);
    let runner = spawn_run(&p, &[]);
    wait_until_running(&p, B);
    signal(&runner, "TERM");
    let (code, stdout, stderr) = finish(runner);
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert_eq!(
        p.effects(B),
        1,
        "the statement before the stop was committed"
    );
    let e = p.entry(B);
    assert_eq!(e["status"], "interrupted");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("cancelled by a signal"),
        "{e}"
    );
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("check its effect by hand");
}

fn connection_killed_mid_script_fails_the_run_and_commits_nothing(p: Project) {
    let kill = match p.db.backend {
        Backend::Sqlite => return, // an embedded database has no session to end
        Backend::Postgres => "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'oneoff' AND pid <> pg_backend_pid()"
            .to_string(),
        Backend::Mysql => String::new(),
    };
    let p = p.with_effects();
    let path = slow_script(&p, B, "", 60);
    p.effect_script(C, "after");
    let runner = spawn_run(&p, &[]);
    wait_until_running(&p, B);
    if p.db.backend == Backend::Mysql {
        let ids = p.db.lines(
            "SELECT CAST(id AS CHAR) AS line FROM information_schema.processlist \
             WHERE db = DATABASE() AND id <> CONNECTION_ID()",
        );
        assert!(!ids.is_empty(), "the runner's session is listed");
        for id in ids {
            p.db.execute(&format!("KILL {id}"));
        }
    } else {
        assert!(!p
            .db
            .lines(&format!(
                "SELECT CAST(({kill}) IS NOT NULL AS TEXT) AS line LIMIT 1"
            ))
            .is_empty());
    }
    let (code, stdout, stderr) = finish(runner);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("connection lost"), "{stderr}");
    assert!(stderr.contains("oneoff run --retry"), "{stderr}");
    assert_eq!(
        (p.effects(B), p.effects(C)),
        (0, 0),
        "nothing of the script is committed"
    );
    assert_eq!(p.status_of(B), "failed", "recorded on a new connection");
    std::fs::write(
        &path,
        format!("-- fast now\nINSERT INTO effects (script) VALUES ('{B}');\n"),
    )
    .unwrap();
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!((p.effects(B), p.effects(C)), (1, 1));
}
