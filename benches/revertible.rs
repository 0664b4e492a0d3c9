//! `make bench`: what `-- oneoff:revertible` costs. A 100,000-row UPDATE
//! run by oneoff as a plain script and as a revertible one (every changed
//! row recorded in `oneoff_changes`, in the same transaction), on SQLite,
//! PostgreSQL and MySQL/MariaDB; reports the median time of each, their
//! ratio (target: at most 2) and the size of the change log.
//!
//! `ONEOFF_BENCH_ROWS` and `ONEOFF_BENCH_ROUNDS` change the size;
//! `ONEOFF_BENCH_BACKENDS=sqlite,mysql` picks backends (default: all). The
//! server parts need the servers of `ONEOFF_TEST_PG_URL` (default
//! postgres://postgres@127.0.0.1:5432/test) and `ONEOFF_TEST_MYSQL_URL`
//! (default mysql://root@127.0.0.1:3306/test); each is skipped without its
//! server. `ONEOFF_BENCH_BASELINE=PATH` also runs the revertible script
//! with another `oneoff` binary (an older build) in every round, so that
//! the two are compared under the same load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

const STATEMENT: &str = "UPDATE items SET v = id * 2, note = 'done'";

fn env_or(key: &str, default: u32) -> u32 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

enum Db {
    Sqlite(String),
    Postgres(String),
    Mysql(String),
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite://{path}"),
            Db::Postgres(url) | Db::Mysql(url) => url.clone(),
        }
    }

    fn exec(&self, sql: &str) {
        let result = match self {
            Db::Sqlite(path) => SqliteConnection::establish(path)
                .map_err(|e| e.to_string())
                .and_then(|mut c| c.batch_execute(sql).map_err(|e| e.to_string())),
            Db::Postgres(url) => PgConnection::establish(url)
                .map_err(|e| e.to_string())
                .and_then(|mut c| c.batch_execute(sql).map_err(|e| e.to_string())),
            Db::Mysql(url) => MysqlConnection::establish(url)
                .map_err(|e| e.to_string())
                .and_then(|mut c| c.batch_execute(sql).map_err(|e| e.to_string())),
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn number(&self, sql: &str) -> i64 {
        let q = diesel::sql_query(sql);
        match self {
            Db::Sqlite(path) => {
                q.get_result::<Size>(&mut SqliteConnection::establish(path).unwrap())
            }
            Db::Postgres(url) => q.get_result::<Size>(&mut PgConnection::establish(url).unwrap()),
            Db::Mysql(url) => q.get_result::<Size>(&mut MysqlConnection::establish(url).unwrap()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
    }

    /// One `oneoff run` of the script in `dir`, the whole process timed.
    fn run(&self, dir: &Path, binary: &Path) -> Duration {
        let started = Instant::now();
        let out = Command::new(binary)
            .args(["--database-url", &self.url(), "--dir"])
            .arg(dir)
            .args(["run", "--json"])
            .output()
            .expect("run oneoff");
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        elapsed
    }

    /// Every row back as it was, the ledger and the log empty.
    fn reset(&self) {
        self.exec("UPDATE items SET v = NULL, note = NULL; DELETE FROM oneoff_changes; DELETE FROM oneoff_runs; DELETE FROM oneoff_ledger;");
        match self {
            Db::Postgres(_) => {
                // One request each: several would run as one transaction.
                self.exec("VACUUM ANALYZE items");
                self.exec("VACUUM ANALYZE oneoff_changes");
            }
            Db::Mysql(_) => self.exec("ANALYZE TABLE items, oneoff_changes"),
            Db::Sqlite(_) => {}
        }
        let _ = Command::new("sync").status();
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Bytes of the change log: the table's size on PostgreSQL, the
    /// recorded text on SQLite (which has no per-table size without dbstat).
    fn log_size(&self) -> i64 {
        match self {
            Db::Sqlite(_) => self.number(
                "SELECT SUM(LENGTH(row_key) + COALESCE(LENGTH(old_values), 0) + COALESCE(LENGTH(new_values), 0) + 80) AS n FROM oneoff_changes",
            ),
            Db::Postgres(_) => self.number("SELECT pg_total_relation_size('oneoff_changes') AS n"),
            // InnoDB's own estimate, refreshed by ANALYZE: pages, not rows.
            Db::Mysql(_) => {
                self.exec("ANALYZE TABLE oneoff_changes");
                self.number(
                    "SELECT CAST(DATA_LENGTH + INDEX_LENGTH AS SIGNED) AS n FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'oneoff_changes'",
                )
            }
        }
    }
}

fn setup(db: &Db, rows: u32, dir: &Path) {
    let fill = match db {
        Db::Sqlite(_) => format!(
            "INSERT INTO items (id) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) SELECT x FROM c"
        ),
        Db::Postgres(_) => format!("INSERT INTO items (id) SELECT generate_series(1, {rows})"),
        // MySQL and MariaDB limit recursive CTEs with different variables:
        // cross joins of digits instead.
        Db::Mysql(_) => {
            let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            let places = rows.max(2).ilog10() as usize + 1;
            let from: Vec<String> = (0..places).map(|i| format!("{digits} AS d{i}")).collect();
            let sum: Vec<String> = (0..places)
                .map(|i| format!("d{i}.d * {}", 10u64.pow(i as u32)))
                .collect();
            format!(
                "INSERT INTO items (id) SELECT * FROM (SELECT 1 + {} AS id FROM {}) AS n WHERE id <= {rows}",
                sum.join(" + "),
                from.join(", ")
            )
        }
    };
    db.exec(&format!(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, v BIGINT, note TEXT); {fill};"
    ));
    for (sub, header) in [("plain", ""), ("revertible", "-- oneoff:revertible\n")] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(
            dir.join(sub).join("20260101000000_update.sql"),
            format!("-- benchmark update\n{header}{STATEMENT};\n"),
        )
        .unwrap();
    }
    db.run(&dir.join("plain"), &this_binary()); // creates the ledger
}

/// The server URL `admin` with its database replaced by `name`.
fn with_path(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// This build's `oneoff`.
fn this_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oneoff"))
}

/// The medians of one backend: seconds plain and revertible, the ratio,
/// the log's bytes, and the baseline binary's ratio if there is one.
struct Measured {
    plain: f64,
    revertible: f64,
    ratio: f64,
    size: i64,
    baseline: Option<f64>,
}

/// Runs the rounds: plain, revertible (and the baseline's revertible), in
/// an order that alternates, each on a reset table.
fn measure(db: &Db, rows: u32, rounds: u32, dir: &Path, baseline: Option<&Path>) -> Measured {
    setup(db, rows, dir);
    let (mut plain, mut revertible, mut before, mut size) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut kinds = vec!["plain", "revertible"];
    if baseline.is_some() {
        kinds.push("baseline");
    }
    for _ in 0..rounds {
        kinds.rotate_left(1);
        for kind in &kinds {
            db.reset();
            let (sub, binary) = match *kind {
                "plain" => ("plain", this_binary()),
                "revertible" => ("revertible", this_binary()),
                _ => ("revertible", baseline.expect("a baseline").to_path_buf()),
            };
            let took = db.run(&dir.join(sub), &binary).as_secs_f64();
            if sub == "revertible" {
                assert_eq!(
                    db.number("SELECT COUNT(*) AS n FROM oneoff_changes"),
                    i64::from(rows)
                );
            }
            match *kind {
                "plain" => plain.push(took),
                "revertible" => {
                    size = db.log_size();
                    revertible.push(took);
                }
                _ => before.push(took),
            }
        }
    }
    let ratio = |times: &[f64]| median(times.iter().zip(&plain).map(|(r, p)| r / p).collect());
    Measured {
        plain: median(plain.clone()),
        revertible: median(revertible.clone()),
        ratio: ratio(&revertible),
        size,
        baseline: (!before.is_empty()).then(|| ratio(&before)),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("revertible benchmark: skipped (run it with `make bench`)");
        return;
    }
    let rows = env_or("ONEOFF_BENCH_ROWS", 100_000);
    let rounds = env_or("ONEOFF_BENCH_ROUNDS", 5).max(1);
    let work = tempfile::tempdir().expect("temp dir");
    let baseline = std::env::var_os("ONEOFF_BENCH_BASELINE").map(PathBuf::from);
    let baseline = baseline.as_deref();
    let mut results = Vec::new();
    let wanted =
        std::env::var("ONEOFF_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres,mysql".into());
    let wants = |name: &str| wanted.split(',').any(|b| b.trim() == name);
    if wants("sqlite") {
        let sqlite = Db::Sqlite(work.path().join("bench.db").display().to_string());
        results.push((
            "sqlite",
            measure(&sqlite, rows, rounds, &work.path().join("sqlite"), baseline),
        ));
    }
    let name = format!("oneoff_bench_rev_{}", std::process::id());
    if wants("postgres") {
        let admin = std::env::var("ONEOFF_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match PgConnection::establish(&admin) {
            Ok(mut conn) => {
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create bench db");
                let pg = Db::Postgres(with_path(&admin, &name));
                results.push((
                    "postgres",
                    measure(&pg, rows, rounds, &work.path().join("pg"), baseline),
                ));
                conn.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .expect("drop bench db");
            }
            Err(e) => eprintln!("postgres: skipped ({e})"),
        }
    }
    if wants("mysql") {
        let admin = std::env::var("ONEOFF_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
        match MysqlConnection::establish(&admin) {
            Ok(mut conn) => {
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create bench db");
                let my = Db::Mysql(with_path(&admin, &name));
                results.push((
                    "mysql",
                    measure(&my, rows, rounds, &work.path().join("mysql"), baseline),
                ));
                conn.batch_execute(&format!("DROP DATABASE {name}"))
                    .expect("drop bench db");
            }
            Err(e) => eprintln!("mysql: skipped ({e})"),
        }
    }
    println!("UPDATE of {rows} rows in one script, median of {rounds} rounds (ratio: median of the rounds' ratios)");
    println!(
        "{:<10} {:>10} {:>13} {:>7} {:>12} {:>10} {:>15}",
        "backend", "plain s", "revertible s", "ratio", "log bytes", "bytes/row", "baseline ratio"
    );
    for (name, m) in results {
        let before = m.baseline.map_or("-".into(), |r| format!("{r:.2}"));
        println!(
            "{name:<10} {:>10.3} {:>13.3} {:>7.2} {:>12} {:>10} {before:>15}",
            m.plain,
            m.revertible,
            m.ratio,
            m.size,
            m.size / i64::from(rows)
        );
    }
}
