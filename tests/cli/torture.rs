//! Fault injection: runners killed with SIGKILL at random moments, many
//! runners at once, sessions ended by the server, lock holders that die. Each
//! scenario checks the invariants through the `effects` table that every
//! script writes to, and appends a row of figures to
//! `target/torture-report.tsv` (printed by `make torture`).
//!
//! `make test` runs a reduced version; `ONEOFF_TORTURE_TRIALS=200` (as
//! `make torture` sets) runs the full one.

use std::io::Write;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::on_all_backends;
use crate::support::{spawn_run, wait_until_running, Backend, Project};

on_all_backends!(
    kill_9_at_random_moments_never_applies_a_script_twice_or_loses_one,
    eight_concurrent_runners_over_a_hundred_scripts_apply_each_once,
    lock_holder_killed_never_blocks_the_next_runner_for_long,
    kill_9_of_the_app_never_repeats_a_rust_step_nor_runs_an_effect_without_its_commit,
);

/// Trials of the random-kill scenario (at least 20 in `make test`).
fn trials() -> usize {
    std::env::var("ONEOFF_TORTURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// One row of the figures table.
struct Figures {
    backend: Backend,
    scenario: &'static str,
    trials: usize,
    kills: usize,
    scripts: usize,
    doubles: i64,
    lost: i64,
    running_left: i64,
    max_lock_wait_ms: u128,
}

impl Figures {
    fn new(backend: Backend, scenario: &'static str) -> Self {
        Figures {
            backend,
            scenario,
            trials: 0,
            kills: 0,
            scripts: 0,
            doubles: 0,
            lost: 0,
            running_left: 0,
            max_lock_wait_ms: 0,
        }
    }

    /// Appends the row to the report and to the real stderr, then asserts
    /// the invariants.
    fn report(&self) {
        let row = format!(
            "{:?}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.backend,
            self.scenario,
            self.trials,
            self.kills,
            self.scripts,
            self.doubles,
            self.lost,
            self.running_left,
            self.max_lock_wait_ms
        );
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/torture-report.tsv");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{row}");
        }
        let _ = writeln!(std::io::stderr(), "torture: {row}");
        assert_eq!(self.doubles, 0, "double applications: {row}");
        assert_eq!(self.lost, 0, "lost applications: {row}");
        assert_eq!(self.running_left, 0, "rows left running: {row}");
    }
}

/// A short pause inside a statement, so that kills land inside transactions.
fn short_work(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT pg_sleep(0.02)",
        Backend::Mysql => "DO SLEEP(0.02)",
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000) SELECT x FROM c) t"
        }
    }
}

fn write_scripts(p: &Project, count: usize, work: bool) -> Vec<String> {
    // Real UTC times (`check` refuses others): one a second from midnight.
    let ids: Vec<String> = (0..count)
        .map(|i| format!("2026010100{:02}{:02}", i / 60, i % 60))
        .collect();
    for id in &ids {
        let pause = if work {
            format!("{};\n", short_work(p.db.backend))
        } else {
            String::new()
        };
        p.script(
            id,
            "effect",
            &format!("-- effect\nINSERT INTO effects (script) VALUES ('{id}');\n{pause}"),
        );
    }
    ids
}

/// Adds what the database says about the scripts to the figures.
fn check(p: &Project, ids: &[String], figures: &mut Figures) {
    for id in ids {
        let applied = p.effects(id);
        figures.doubles += (applied - 1).max(0);
        figures.lost += i64::from(applied == 0);
        let succeeded = p.db.count(&format!(
            "SELECT COUNT(*) AS n FROM oneoff_runs WHERE script_id = '{id}' AND status = 'succeeded' AND dry_run = FALSE"
        ));
        figures.doubles += (succeeded - 1).max(0);
        figures.lost += i64::from(succeeded == 0);
    }
    figures.running_left +=
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_ledger WHERE status = 'running'");
    figures.scripts += ids.len();
}

/// Runs until every script succeeded, retrying where the ledger says so.
fn run_to_completion(p: &Project) {
    for _ in 0..10 {
        let run = p.oneoff(&["run", "--lock-timeout", "60s"]);
        match run.output.status.code() {
            Some(0) => return,
            Some(1) if run.stderr().contains("--retry") => {
                let retry = p.oneoff(&["run", "--retry", "--lock-timeout", "60s"]);
                if retry.output.status.success() {
                    return;
                }
            }
            _ => panic!("unexpected run:\n{}\n{}", run.stdout(), run.stderr()),
        }
    }
    panic!("did not complete in 10 runs");
}

fn kill(child: &mut Child) -> bool {
    let alive = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    alive
}

fn kill_9_at_random_moments_never_applies_a_script_twice_or_loses_one(p: Project) {
    let p = p.with_effects();
    let ids = write_scripts(&p, 8, true);
    let mut figures = Figures::new(p.db.backend, "kill -9 at random");
    // How long an undisturbed run takes, to spread the kills over it.
    let started = Instant::now();
    run_to_completion(&p);
    let full = started.elapsed();
    check(&p, &ids, &mut figures);
    let mut rng = fastrand::Rng::with_seed(0x0e0f);
    for _ in 0..trials() {
        p.db.execute("DELETE FROM effects");
        p.db.execute("DELETE FROM oneoff_runs");
        p.db.execute("DELETE FROM oneoff_ledger");
        let mut runner = spawn_run(&p, &["--lock-timeout", "60s"]);
        let at = full.mul_f64(rng.f64() * 1.1);
        std::thread::sleep(at);
        figures.kills += usize::from(kill(&mut runner));
        run_to_completion(&p);
        check(&p, &ids, &mut figures);
        figures.trials += 1;
    }
    figures.report();
}

fn eight_concurrent_runners_over_a_hundred_scripts_apply_each_once(p: Project) {
    let p = p.with_effects();
    let ids = write_scripts(&p, 100, false);
    let mut figures = Figures::new(p.db.backend, "8 concurrent runners");
    let runners: Vec<Child> = (0..8)
        .map(|_| spawn_run(&p, &["--lock-timeout", "300s"]))
        .collect();
    let mut ran = 0;
    for runner in runners {
        let out = runner.wait_with_output().expect("runner output");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran += usize::from(String::from_utf8_lossy(&out.stdout).contains("Running 100 scripts"));
    }
    assert_eq!(
        ran, 1,
        "one runner ran everything; the others found nothing to do"
    );
    figures.trials = 1;
    check(&p, &ids, &mut figures);
    figures.report();
}

fn lock_holder_killed_never_blocks_the_next_runner_for_long(p: Project) {
    let p = p.with_effects();
    let slow = crate::support::slow_sql(p.db.backend, 120);
    p.script("20260101000000", "slow", &format!("-- slow\n{slow};\n"));
    let mut figures = Figures::new(p.db.backend, "lock holder killed");
    for _ in 0..3 {
        if p.db.has_table("oneoff_runs") {
            p.db.execute("DELETE FROM oneoff_runs");
            p.db.execute("DELETE FROM oneoff_ledger");
        }
        let mut holder = spawn_run(&p, &[]);
        wait_until_running(&p, "20260101000000");
        figures.kills += usize::from(kill(&mut holder));
        // The next runner gets the lock, finds the dead runner's row and
        // reports it (exit 1) instead of waiting for a lock nobody holds.
        let started = Instant::now();
        p.oneoff(&["run", "--lock-timeout", "60s"])
            .code(1)
            .stderr_has("interrupted");
        figures.max_lock_wait_ms = figures.max_lock_wait_ms.max(started.elapsed().as_millis());
        figures.trials += 1;
    }
    figures.running_left =
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_ledger WHERE status = 'running'");
    figures.report();
    assert!(
        figures.max_lock_wait_ms < Duration::from_secs(10).as_millis(),
        "the next runner waited {} ms",
        figures.max_lock_wait_ms
    );
}

/// Runs the example application until every script succeeded.
fn app_to_completion(p: &Project) {
    let mut last = String::new();
    for _ in 0..10 {
        let run = p.app(&["run", "--lock-timeout", "60s"], &[]);
        match run.output.status.code() {
            Some(0) => return,
            Some(1) if run.stderr().contains("--retry") => {
                let retry = p.app(&["run", "--retry", "--lock-timeout", "60s"], &[]);
                if retry.output.status.success() {
                    return;
                }
                last = format!("{}\n{}", retry.stdout(), retry.stderr());
                if retry.stderr().contains(
                    "(create_orders) is interrupted and part of its work may be committed",
                ) {
                    finish_create_by_hand(p);
                }
            }
            _ => panic!("unexpected run:\n{}\n{}", run.stdout(), run.stderr()),
        }
    }
    panic!("the example app did not complete in 10 runs; the last retry:\n{last}");
}

/// A kill during the example's no-transaction `create_orders` leaves what
/// committed unknown, and `--retry` rightly refuses it: do what a person
/// would, finish its statements by hand and mark it.
fn finish_create_by_hand(p: &Project) {
    p.db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total INTEGER, code VARCHAR(20))");
    p.db.execute(
        "CREATE TABLE IF NOT EXISTS steps (script VARCHAR(40) NOT NULL, step INTEGER NOT NULL)",
    );
    p.app(
        &[
            "mark",
            "20261201090000",
            "succeeded",
            "--reason",
            "torture: created by hand",
        ],
        &[],
    )
    .code(0);
}

/// The example application (SQL and Rust scripts, a checkpointing one and
/// one with an after-commit effect) killed at random moments: no step of
/// the checkpointing script is done twice or lost, and the effect never
/// runs for work that did not commit (at most once: a kill between the
/// commit and the effect loses it, counted apart).
fn kill_9_of_the_app_never_repeats_a_rust_step_nor_runs_an_effect_without_its_commit(p: Project) {
    let mut figures = Figures::new(p.db.backend, "kill -9 rust scripts");
    app_to_completion(&p);
    let reset = || {
        for table in ["orders", "steps"] {
            p.db.execute(&format!("DROP TABLE IF EXISTS {table}"));
        }
        for table in [
            "oneoff_runs",
            "oneoff_ledger",
            "oneoff_output",
            "oneoff_cursors",
        ] {
            p.db.execute(&format!("DELETE FROM {table}"));
        }
        let _ = std::fs::remove_file(p.outbox());
        p.app_cmd()
            .args(["run", "--lock-timeout", "60s"])
            .env("ONEOFF_EXAMPLE_STEP_MS", "20")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the app")
    };
    // How long an undisturbed run takes (on a ledger that exists), to
    // spread the kills over it.
    let started = Instant::now();
    assert!(reset().wait().expect("run").success());
    let full = started.elapsed();
    let mut effects_lost = 0;
    let mut rng = fastrand::Rng::with_seed(0x0e10);
    for trial in 0..=(trials() / 2) {
        if trial > 0 {
            let mut runner = reset();
            std::thread::sleep(full.mul_f64(rng.f64() * 1.1));
            figures.kills += usize::from(kill(&mut runner));
            app_to_completion(&p);
        }
        let count = |sql: &str| p.db.count(sql);
        let steps = count("SELECT COUNT(*) AS n FROM steps WHERE script = 'codes'");
        let distinct = count("SELECT COUNT(DISTINCT step) AS n FROM steps WHERE script = 'codes'");
        figures.doubles += steps - distinct;
        figures.lost += 6 - distinct;
        let announced = count("SELECT COUNT(*) AS n FROM steps WHERE script = 'announce'");
        figures.doubles += (announced - 1).max(0);
        figures.lost += i64::from(announced == 0);
        // An effect that ran more often than its work committed ran for work
        // that did not commit.
        let sent = i64::try_from(p.sent()).unwrap();
        figures.doubles += (sent - announced).max(0);
        effects_lost += (announced - sent).max(0);
        let succeeded = count(
            "SELECT COUNT(*) AS n FROM oneoff_runs WHERE status IN ('succeeded', 'marked_succeeded') AND dry_run = FALSE",
        );
        figures.doubles += (succeeded - 5).max(0);
        figures.lost += (5 - succeeded).max(0);
        figures.running_left +=
            count("SELECT COUNT(*) AS n FROM oneoff_ledger WHERE status = 'running'");
        figures.scripts += 5;
        figures.trials += 1;
    }
    let _ = writeln!(
        std::io::stderr(),
        "torture: {:?} after-commit effects lost to a kill between commit and effect: {effects_lost}",
        p.db.backend
    );
    figures.report();
}
