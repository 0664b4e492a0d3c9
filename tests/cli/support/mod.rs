//! Test support: a temporary project (script directory + working directory)
//! per test, bound to a fresh database of its own on one backend, and the
//! `oneoff` binary to drive. PostgreSQL and MySQL tests skip with a printed
//! notice when their server is unreachable, except under `CI=true`, where
//! they fail instead.

#![allow(dead_code)]

pub mod app;
pub mod db;
pub mod dump;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

pub use db::{Backend, TestDb};

/// A project directory with `one_off/` and a database of its own.
pub struct Project {
    /// The working directory of every command.
    pub dir: tempfile::TempDir,
    /// The project's database.
    pub db: TestDb,
}

impl Project {
    /// A fresh project on `backend`, or `None` when that backend is unavailable here.
    pub fn new(backend: Backend) -> Option<Project> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("one_off")).expect("one_off dir");
        let db = TestDb::create(backend, dir.path())?;
        Some(Project { dir, db })
    }

    /// The script directory.
    pub fn scripts(&self) -> PathBuf {
        self.dir.path().join("one_off")
    }

    /// Writes `one_off/<id>_<name>.sql` and returns its path.
    pub fn script(&self, id: &str, name: &str, body: &str) -> PathBuf {
        let path = self.scripts().join(format!("{id}_{name}.sql"));
        std::fs::write(&path, body).expect("write script");
        path
    }

    /// A script that records its one execution in the `effects` table.
    pub fn effect_script(&self, id: &str, name: &str) -> PathBuf {
        self.script(
            id,
            name,
            &format!("-- {name}\nINSERT INTO effects (script) VALUES ('{id}');\n"),
        )
    }

    /// Creates the `effects` table that effect scripts write to.
    pub fn with_effects(self) -> Self {
        self.db
            .execute("CREATE TABLE effects (script VARCHAR(20) NOT NULL)");
        self
    }

    /// How many times the script with this id took effect.
    pub fn effects(&self, id: &str) -> i64 {
        self.db.count(&format!(
            "SELECT COUNT(*) AS n FROM effects WHERE script = '{id}'"
        ))
    }

    /// The `oneoff` binary, in the project directory, pointed at its database.
    pub fn cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(binary());
        cmd.current_dir(self.dir.path())
            .env("DATABASE_URL", &self.db.url)
            .env("NO_COLOR", "1")
            .env("ONEOFF_USER", "tester")
            .env_remove("ONEOFF_DIR")
            .env_remove("ONEOFF_ENV")
            .env_remove("ONEOFF_CONFIG")
            .env_remove("ONEOFF_LOG");
        cmd
    }

    /// `oneoff` with its database from an environment of `oneoff.toml`
    /// (written with `toml`; `TEST_DB_URL` holds the project's URL), not
    /// from `DATABASE_URL`, as `user`; no standard input.
    pub fn with_config(&self, toml: &str, user: &str, args: &[&str]) -> Run {
        std::fs::write(self.dir.path().join("oneoff.toml"), toml).expect("write oneoff.toml");
        let output = self
            .cmd()
            .env_remove("DATABASE_URL")
            .env("TEST_DB_URL", &self.db.url)
            .env("ONEOFF_USER", user)
            .stdin(Stdio::null())
            .args(args)
            .output()
            .expect("run oneoff");
        Run { output }
    }

    /// Runs `oneoff ARGS` to completion.
    pub fn oneoff(&self, args: &[&str]) -> Run {
        let output = self.cmd().args(args).output().expect("run oneoff");
        Run { output }
    }

    /// `status --json`, parsed; asserts it exits 0.
    pub fn status(&self) -> serde_json::Value {
        let run = self.oneoff(&["status", "--json"]);
        run.code(0);
        serde_json::from_str(&run.stdout()).expect("status --json is JSON")
    }

    /// The status entry of one script.
    pub fn entry(&self, id: &str) -> serde_json::Value {
        let status = self.status();
        status["scripts"]
            .as_array()
            .expect("scripts array")
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no status entry for {id} in {status:#}"))
    }

    /// The status word of one script.
    pub fn status_of(&self, id: &str) -> String {
        self.entry(id)["status"]
            .as_str()
            .expect("status word")
            .to_string()
    }

    /// Turns the ledger into what the first schema version left: the later
    /// versions' columns and migration rows gone.
    pub fn ledger_as_first_version(&self) {
        self.db
            .execute("ALTER TABLE oneoff_runs DROP COLUMN batches");
        self.db
            .execute("ALTER TABLE oneoff_ledger DROP COLUMN rows_total");
        self.db
            .execute("ALTER TABLE oneoff_ledger DROP COLUMN batches");
        self.db
            .execute("ALTER TABLE oneoff_ledger DROP COLUMN committed_checksum");
        self.db
            .execute("ALTER TABLE oneoff_ledger DROP COLUMN committed");
        self.db
            .execute("ALTER TABLE oneoff_runs DROP COLUMN checksum");
        self.db
            .execute("ALTER TABLE oneoff_lock DROP COLUMN in_flight");
        if self.db.backend == Backend::Postgres {
            self.db.execute("DROP SEQUENCE oneoff_in_flight");
        }
        // Tables of later versions (keep in step with ledger_schema/).
        self.db.execute("DROP TABLE oneoff_output");
        self.db.execute("DROP TABLE oneoff_approvals");
        self.db.execute("DROP TABLE oneoff_invocations");
        self.db.execute("DROP TABLE oneoff_changes");
        self.db.execute("DROP TABLE oneoff_capture");
        self.db.execute("DROP TABLE oneoff_cursors");
        self.db
            .execute("DELETE FROM oneoff_schema_migrations WHERE version <> '20261122000000'");
    }

    /// A snapshot of the ledger tables, to assert that something changed nothing.
    pub fn ledger_snapshot(&self) -> String {
        self.db.ledger_snapshot()
    }
}

/// How many versions the ledger schema has (each backend has the same).
pub fn ledger_versions() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ledger_schema/sqlite");
    std::fs::read_dir(dir).expect("ledger_schema").count() as i64
}

/// The path of the built `oneoff` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oneoff"))
}

/// A finished `oneoff` invocation.
pub struct Run {
    /// Its output.
    pub output: Output,
}

impl Run {
    /// Standard output as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Standard error as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.output.status.code(),
            Some(expected),
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Asserts that stdout contains `text`.
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout().contains(text),
            "stdout lacks {text:?}:\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Asserts that stderr contains `text`.
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr().contains(text),
            "stderr lacks {text:?}:\n{}\n--- stdout\n{}",
            self.stderr(),
            self.stdout()
        );
        self
    }
}

/// Declares `mod $name { fn sqlite(); fn postgres(); fn mysql(); }` for each
/// test function `$name(Project)`, so every behaviour runs on every backend.
#[macro_export]
macro_rules! on_all_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::support::{Backend, Project};
                #[test]
                fn sqlite() {
                    if let Some(p) = Project::new(Backend::Sqlite) { super::$name(p) }
                }
                #[test]
                fn postgres() {
                    if let Some(p) = Project::new(Backend::Postgres) { super::$name(p) }
                }
                #[test]
                fn mysql() {
                    if let Some(p) = Project::new(Backend::Mysql) { super::$name(p) }
                }
            }
        )*
    };
}

/// A statement that keeps the database busy for about `secs` seconds.
pub fn slow_sql(backend: Backend, secs: u32) -> String {
    match backend {
        Backend::Postgres => format!("SELECT pg_sleep({secs})"),
        Backend::Mysql => format!("DO SLEEP({secs})"),
        // No sleep function in SQLite: count a long recursive sequence.
        Backend::Sqlite => format!(
            "SELECT COUNT(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) SELECT x FROM c) t",
            u64::from(secs) * 3_000_000
        ),
    }
}

pub fn spawn_run(p: &Project, args: &[&str]) -> Child {
    p.cmd()
        .arg("run")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oneoff run")
}

/// Waits until the script's ledger row says `running`.
/// Waits for a spawned runner: its exit code, and its stdout and stderr
/// together (labelled), for assertions and their messages.
pub fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("runner output");
    let text = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

pub fn wait_until_running(p: &Project, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.status_of(id) != "running" {
        assert!(Instant::now() < deadline, "{id} never showed as running");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the runner get into the slow statement.
    std::thread::sleep(Duration::from_millis(300));
}

/// Whether a path exists (for readability in assertions).
pub fn exists(path: &Path) -> bool {
    path.exists()
}
