//! Scripts that release oneoff's run lock or reset the session under it:
//! refused when the text says so; a release hidden in a function or
//! procedure stops the runner that lost its lock (exit 3, rolled back) so
//! that no script runs twice while a second runner works.

use std::process::Child;
use std::time::{Duration, Instant};

use super::{assert_refused, with_t, A, B, C};
use crate::support::{slow_sql, spawn_run, wait_until_running, Backend, Project};

on_backends!([postgres]:
    advisory_unlock_all_is_refused,
    discard_all_is_refused,
    deallocate_all_is_refused,
);
on_backends!([mysql]: release_all_locks_is_refused);
on_backends!([postgres, mysql]:
    run_lock_released_by_a_hidden_call_stops_that_runner_and_no_script_runs_twice,
);

fn advisory_unlock_all_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- unlock\nUPDATE t SET v = 1 WHERE id = 1;\nSELECT pg_advisory_unlock_all();\n",
        "statement 2 (line 3)",
    );
}

fn release_all_locks_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- unlock\nUPDATE t SET v = 1 WHERE id = 1;\nSELECT RELEASE_ALL_LOCKS();\n",
        "statement 2 (line 3)",
    );
}

fn discard_all_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- discard\n-- oneoff:no-transaction\nUPDATE t SET v = 1 WHERE id = 1;\nDISCARD ALL;\n",
        "statement 2 (line 4)",
    );
}

fn deallocate_all_is_refused(p: Project) {
    let p = with_t(p);
    assert_refused(
        &p,
        "-- deallocate\nUPDATE t SET v = 1 WHERE id = 1;\nDEALLOCATE ALL;\n",
        "statement 2 (line 3)",
    );
}

/// Waits for a runner at most `secs` seconds (killing it after), returning
/// its exit code and output.
fn finish_within(mut child: Child, secs: u64) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "runner still going after {secs}s\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn run_lock_released_by_a_hidden_call_stops_that_runner_and_no_script_runs_twice(p: Project) {
    let p = with_t(p).with_effects();
    let (setup, call) = match p.db.backend {
        Backend::Postgres => (
            "CREATE FUNCTION let_go() RETURNS boolean LANGUAGE sql AS 'SELECT pg_advisory_unlock_all() IS NULL'",
            "SELECT let_go()",
        ),
        _ => (
            "CREATE PROCEDURE let_go() BEGIN DO RELEASE_ALL_LOCKS(); END",
            "CALL let_go()",
        ),
    };
    p.db.execute(setup);
    let path = p.script(
        A,
        "let_go",
        &format!(
            "-- let go\n{call};\nINSERT INTO effects (script) VALUES ('{A}');\n{};\n",
            slow_sql(p.db.backend, 4)
        ),
    );
    p.effect_script(B, "b");
    p.effect_script(C, "c");
    let first = spawn_run(&p, &[]);
    wait_until_running(&p, A);
    let second = spawn_run(&p, &["--lock-timeout", "20s", B, C]);
    let (code2, out2) = finish_within(second, 30);
    let (code1, out1) = finish_within(first, 30);
    assert_eq!(code2, Some(0), "the second runner got the lock\n{out2}");
    assert_eq!(code1, Some(3), "the first runner lost its lock\n{out1}");
    assert_eq!(p.effects(A), 0, "the first runner's script was rolled back");
    assert_eq!(
        (p.effects(B), p.effects(C)),
        (1, 1),
        "b and c ran once\n{out1}"
    );
    assert_ne!(p.status_of(A), "succeeded");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(p.status_of(C), "succeeded");
    // Without the hidden call, A runs once; b and c never again.
    std::fs::write(
        &path,
        format!("-- let go\nINSERT INTO effects (script) VALUES ('{A}');\n"),
    )
    .unwrap();
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!((p.effects(A), p.effects(B), p.effects(C)), (1, 1, 1));
}
