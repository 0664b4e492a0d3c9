//! `make bench`: oneoff's start-up cost. The release binary, as a child
//! process, applies N trivial scripts to a fresh database, then runs again
//! with nothing to do (no-op), then shows `status`; on SQLite and
//! PostgreSQL, at 1,000 and 10,000 scripts. Reports the median wall time of
//! each phase and its peak RSS (the child's own `ru_maxrss`, from `wait4`).
//! The scripts have the shape of `/work/shared/bench/gen.py N DIR oneoff`,
//! so the figures compare with the peers measured there.
//!
//! `ONEOFF_BENCH_SCRIPTS` (default `1000,10000`) and `ONEOFF_BENCH_REPS`
//! (default 3: fresh databases per size, each applied once, then as many
//! no-op and status runs) change the size; `ONEOFF_BENCH_BACKENDS=sqlite`
//! leaves PostgreSQL out. The PostgreSQL part needs the server of
//! `ONEOFF_TEST_PG_URL` (default postgres://postgres@127.0.0.1:5432/test)
//! and is skipped with a notice without it, except under `CI=true`, where
//! an unreachable server is an error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// The phases measured, in the order they run.
const PHASES: [&str; 3] = ["apply", "no-op", "status"];

/// One phase's figures: seconds and peak RSS in KiB, per repetition.
#[derive(Default)]
struct Figures {
    seconds: Vec<f64>,
    rss_kib: Vec<u64>,
}

/// A database to run against.
enum Target {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::Sqlite(path) => format!("sqlite://{}", path.display()),
            Target::Postgres { admin, name } => {
                let mut url = url::Url::parse(admin).expect("ONEOFF_TEST_PG_URL is a URL");
                url.set_path(&format!("/{name}"));
                url.to_string()
            }
        }
    }

    /// A fresh, empty database.
    fn recreate(&self) {
        match self {
            Target::Sqlite(path) => {
                for suffix in ["", ".oneoff-lock", "-journal"] {
                    let mut file = path.as_os_str().to_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Target::Postgres { admin, name } => {
                let mut conn = PgConnection::establish(admin).expect("PostgreSQL admin");
                // One statement a request: two would share an implicit
                // transaction, where neither may run.
                conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .expect("drop the bench database");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create the bench database");
            }
        }
    }

    fn drop_database(&self) {
        if let Target::Postgres { admin, name } = self {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn env_or(key: &str, default: u32) -> u32 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` scripts as gen.py's oneoff format writes them: ids 2025-01-01 plus
/// i seconds; the first creates `bench_target` and row 1, each other one
/// inserts row i.
fn generate(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).expect("script dir");
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a date");
    for i in 1..=n {
        let id = (start + chrono::Duration::seconds(i64::from(i))).format("%Y%m%d%H%M%S");
        let body = if i == 1 {
            "CREATE TABLE bench_target (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);\n\
             INSERT INTO bench_target (id, n) VALUES (1, 1);\n"
                .to_string()
        } else {
            format!("INSERT INTO bench_target (id, n) VALUES ({i}, {i});\n")
        };
        std::fs::write(dir.join(format!("{id}_s{i:06}.sql")), body).expect("write a script");
    }
}

/// Runs the release binary once; wall time and the child's peak RSS.
fn oneoff(url: &str, dir: &Path, command: &str, log: &Path) -> (f64, u64) {
    let stderr = std::fs::File::create(log).expect("stderr log");
    let started = Instant::now();
    // Reaped by `wait_with_rusage` (wait4), which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_oneoff"))
        .args(["--database-url", url, "--dir"])
        .arg(dir)
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start oneoff");
    let (ok, rss_kib) = wait_with_rusage(child.id());
    let seconds = started.elapsed().as_secs_f64();
    if !ok {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        panic!("oneoff {command} failed on {url}:\n{text}");
    }
    (seconds, rss_kib)
}

/// Reaps the child and returns whether it exited 0 and its own peak RSS in
/// KiB (Linux reports `ru_maxrss` in KiB). `wait4` rather than
/// `RUSAGE_CHILDREN`, which is the largest of all children so far.
fn wait_with_rusage(pid: u32) -> (bool, u64) {
    let mut status = 0;
    // SAFETY: rusage is plain data, and the child is ours and not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(
        got,
        pid as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, usage.ru_maxrss.max(0) as u64)
}

/// Every phase at one size on one database, `reps` times.
fn measure(target: &Target, dir: &Path, reps: u32, log: &Path) -> Vec<Figures> {
    let mut figures: Vec<Figures> = PHASES.iter().map(|_| Figures::default()).collect();
    let url = target.url();
    for _ in 0..reps {
        target.recreate();
        for (phase, command) in figures.iter_mut().zip(["run", "run", "status"]) {
            let (seconds, rss) = oneoff(&url, dir, command, log);
            phase.seconds.push(seconds);
            phase.rss_kib.push(rss);
        }
    }
    figures
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The PostgreSQL target, or `None` (with a notice) when it is unreachable.
fn postgres() -> Option<Target> {
    let admin = std::env::var("ONEOFF_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match PgConnection::establish(&admin) {
        Ok(_) => Some(Target::Postgres {
            admin,
            name: format!("oneoff_startup_{}", std::process::id()),
        }),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL unreachable at {admin} ({e}) under CI=true: start it or set ONEOFF_BENCH_BACKENDS=sqlite")
        }
        Err(e) => {
            eprintln!("NOTICE: PostgreSQL unreachable at {admin} ({e}): its start-up benchmark is SKIPPED");
            None
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // too, without it, and must not spend minutes on a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("start-up benchmark: skipped (run it with `make bench`)");
        return;
    }
    let sizes: Vec<u32> = std::env::var("ONEOFF_BENCH_SCRIPTS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let reps = env_or("ONEOFF_BENCH_REPS", 3).max(1);
    let work = tempfile::tempdir().expect("temp dir");
    let mut targets = vec![("sqlite", Target::Sqlite(work.path().join("bench.db")))];
    let only_sqlite = std::env::var("ONEOFF_BENCH_BACKENDS").is_ok_and(|b| b == "sqlite");
    if !only_sqlite {
        targets.extend(postgres().map(|t| ("postgres", t)));
    }
    let mut lines = vec![
        format!("start-up: N trivial INSERT scripts, median of {reps} runs each (wall seconds, peak RSS MiB of the process)"),
        format!(
            "{:<10} {:>7} {:>9} {:>7} {:>9} {:>7} {:>9} {:>7}",
            "backend", "scripts", "apply s", "MiB", "no-op s", "MiB", "status s", "MiB"
        ),
    ];
    let log = work.path().join("stderr.log");
    for &n in &sizes {
        let dir = work.path().join(format!("scripts-{n}"));
        generate(&dir, n);
        for (backend, target) in &targets {
            let figures = measure(target, &dir, reps, &log);
            let mut line = format!("{backend:<10} {n:>7}");
            for phase in figures {
                let rss = phase.rss_kib.iter().copied().max().unwrap_or(0);
                line.push_str(&format!(
                    " {:>9.3} {:>7.1}",
                    median(phase.seconds),
                    rss as f64 / 1024.0
                ));
            }
            eprintln!("{line}");
            lines.push(line);
        }
    }
    for (_, target) in &targets {
        target.drop_database();
    }
    let report = lines.join("\n");
    println!("{report}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/startup-report.txt"),
        report + "\n",
    );
}
