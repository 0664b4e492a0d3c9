//! A fresh database per test: a temporary SQLite file, or a database created
//! on the local PostgreSQL / MariaDB server and dropped afterwards (kept when
//! `ONEOFF_KEEP_TEST_DB` is set, to look at after a failure).

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// The backends under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

/// Admin URL of the PostgreSQL server (override with `ONEOFF_TEST_PG_URL`).
fn pg_admin() -> String {
    std::env::var("ONEOFF_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Admin URL of the MySQL server (override with `ONEOFF_TEST_MYSQL_URL`).
fn mysql_admin() -> String {
    std::env::var("ONEOFF_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// Replaces the database name (the path) of a server URL.
fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("admin URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// A database for one test.
pub struct TestDb {
    /// Its backend.
    pub backend: Backend,
    /// The URL `oneoff` is given.
    pub url: String,
    name: String,
}

pub enum Conn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
    Mysql(MysqlConnection),
}

/// oneoff's run lock, held by a test (see [`TestDb::hold_run_lock`]).
#[allow(dead_code, reason = "held only to be dropped")]
pub enum RunLock {
    File(std::fs::File),
    Conn(Conn),
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// Whether a server is reachable; decided once per backend. Under `CI=true`
/// an unreachable server fails the test instead of skipping it.
fn available(backend: Backend) -> bool {
    static PG: OnceLock<bool> = OnceLock::new();
    static MY: OnceLock<bool> = OnceLock::new();
    let (cell, url, label) = match backend {
        Backend::Sqlite => return true,
        Backend::Postgres => (&PG, pg_admin(), "PostgreSQL"),
        Backend::Mysql => (&MY, mysql_admin(), "MySQL/MariaDB"),
    };
    *cell.get_or_init(|| {
        let reachable = match backend {
            Backend::Postgres => PgConnection::establish(&url).map(drop).map_err(|e| e.to_string()),
            _ => MysqlConnection::establish(&url).map(drop).map_err(|e| e.to_string()),
        };
        match reachable {
            Ok(()) => true,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{label} is unreachable at {url} ({e}); under CI=true its tests must run, not skip")
            }
            Err(e) => {
                // Written to the real stderr, past the test harness's capture.
                let _ = writeln!(
                    std::io::stderr(),
                    "NOTICE: {label} unreachable at {url} ({e}): its tests are SKIPPED on this machine"
                );
                false
            }
        }
    })
}

impl TestDb {
    /// Creates a fresh database, or `None` when the backend is unavailable.
    pub fn create(backend: Backend, dir: &Path) -> Option<TestDb> {
        if !available(backend) {
            return None;
        }
        let name = format!("oneoff_t_{}", uuid::Uuid::new_v4().simple());
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("test.db").display()),
            Backend::Postgres => {
                admin_pg()
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create pg db");
                with_database(&pg_admin(), &name)
            }
            Backend::Mysql => {
                admin_mysql()
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create mysql db");
                with_database(&mysql_admin(), &name)
            }
        };
        Some(TestDb { backend, url, name })
    }

    fn connect(&self) -> Conn {
        match self.backend {
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut c = SqliteConnection::establish(path).expect("sqlite");
                c.batch_execute("PRAGMA busy_timeout = 30000")
                    .expect("busy timeout");
                Conn::Sqlite(c)
            }
            Backend::Postgres => Conn::Pg(PgConnection::establish(&self.url).expect("pg")),
            Backend::Mysql => Conn::Mysql(MysqlConnection::establish(&self.url).expect("mysql")),
        }
    }

    /// Runs SQL (one or more statements) on the test database.
    pub fn execute(&self, sql: &str) {
        match self.connect() {
            Conn::Sqlite(mut c) => c.batch_execute(sql),
            Conn::Pg(mut c) => c.batch_execute(sql),
            Conn::Mysql(mut c) => c.batch_execute(sql),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The result of a query `SELECT <integer> AS n ...`.
    pub fn count(&self, sql: &str) -> i64 {
        let q = diesel::sql_query(sql);
        let found: Count = match self.connect() {
            Conn::Sqlite(mut c) => q.get_result(&mut c),
            Conn::Pg(mut c) => q.get_result(&mut c),
            Conn::Mysql(mut c) => q.get_result(&mut c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        found.n
    }

    /// The rows of a query `SELECT <text> AS line ...`.
    pub fn lines(&self, sql: &str) -> Vec<String> {
        let q = diesel::sql_query(sql);
        let rows: Vec<Line> = match self.connect() {
            Conn::Sqlite(mut c) => q.load(&mut c),
            Conn::Pg(mut c) => q.load(&mut c),
            Conn::Mysql(mut c) => q.load(&mut c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().map(|l| l.line).collect()
    }

    /// Takes oneoff's run lock the way a runner does, until the guard drops.
    pub fn hold_run_lock(&self) -> RunLock {
        match self.connect() {
            Conn::Sqlite(_) => {
                let path = format!("{}.oneoff-lock", self.url.trim_start_matches("sqlite://"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .expect("open the lock file");
                file.lock().expect("lock the lock file");
                RunLock::File(file)
            }
            Conn::Pg(mut c) => {
                // "oneoff" in ASCII, as src/db/postgres.rs has it.
                c.batch_execute("SELECT pg_advisory_lock(122519938885222)")
                    .expect("advisory lock");
                RunLock::Conn(Conn::Pg(c))
            }
            Conn::Mysql(mut c) => {
                c.batch_execute(&format!("DO GET_LOCK('oneoff:{}', 10)", self.name))
                    .expect("GET_LOCK");
                RunLock::Conn(Conn::Mysql(c))
            }
        }
    }

    /// Whether a table exists.
    pub fn has_table(&self, table: &str) -> bool {
        let sql = match self.backend {
            Backend::Sqlite => format!("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"),
            Backend::Postgres => format!("SELECT COUNT(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = '{table}'"),
            Backend::Mysql => format!(
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
        };
        self.count(&sql) > 0
    }

    /// Every ledger and history row as text (empty when there is no ledger).
    pub fn ledger_snapshot(&self) -> String {
        if !self.has_table("oneoff_ledger") {
            return String::from("(no ledger)");
        }
        let cast = |col: &str| match self.backend {
            Backend::Mysql => format!("COALESCE(CAST({col} AS CHAR), 'NULL')"),
            _ => format!("COALESCE(CAST({col} AS TEXT), 'NULL')"),
        };
        let concat = |cols: &[&str]| {
            let parts: Vec<String> = cols.iter().map(|c| cast(c)).collect();
            match self.backend {
                Backend::Mysql => format!("CONCAT_WS('|', {})", parts.join(", ")),
                _ => parts.join(" || '|' || "),
            }
        };
        let ledger = self.lines(&format!(
            "SELECT {} AS line FROM oneoff_ledger ORDER BY id",
            concat(&[
                "id",
                "name",
                "checksum",
                "status",
                "attempts",
                "started_at",
                "finished_at",
                "duration_ms",
                "rows_affected",
                "error",
                "run_by"
            ])
        ));
        let runs = self.lines(&format!(
            "SELECT {} AS line FROM oneoff_runs ORDER BY started_at, script_id",
            concat(&[
                "run_id",
                "script_id",
                "status",
                "started_at",
                "finished_at",
                "rows_affected",
                "error",
                "dry_run"
            ])
        ));
        format!(
            "ledger:\n{}\nruns:\n{}\n",
            ledger.join("\n"),
            runs.join("\n")
        )
    }
}

fn admin_pg() -> PgConnection {
    PgConnection::establish(&pg_admin()).expect("pg admin connection")
}

fn admin_mysql() -> MysqlConnection {
    MysqlConnection::establish(&mysql_admin()).expect("mysql admin connection")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("ONEOFF_KEEP_TEST_DB").is_some() {
            let _ = writeln!(std::io::stderr(), "kept test database {}", self.url);
            return;
        }
        let sql = match self.backend {
            Backend::Sqlite => return,
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Backend::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let result = match self.backend {
            Backend::Postgres => admin_pg().batch_execute(&sql),
            _ => admin_mysql().batch_execute(&sql),
        };
        if let Err(e) = result {
            let _ = writeln!(std::io::stderr(), "could not drop {}: {e}", self.name);
        }
    }
}
