//! `make bench`: a backfill of 1,000,000 rows in batches of 10,000, run by
//! oneoff (a `-- oneoff:batch` script, each batch committed with its ledger
//! progress) and by a bare loop (the same statement in a transaction per
//! batch, no ledger), on SQLite and PostgreSQL. Reports rows per second of
//! both and their ratio; rounds alternate the order, and the median counts.
//! A third column runs the script with a `-- oneoff:total` count as well
//! (one COUNT more than the bare loop does, for the progress bar).
//!
//! `ONEOFF_BENCH_ROWS` and `ONEOFF_BENCH_ROUNDS` change the size
//! (`ONEOFF_BENCH_BACKENDS=sqlite` leaves PostgreSQL out); the
//! PostgreSQL part needs the server of `ONEOFF_TEST_PG_URL` (default
//! postgres://postgres@127.0.0.1:5432/test) and is skipped with a notice
//! without it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

const BATCH: u32 = 10_000;

fn env_or(key: &str, default: u32) -> u32 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The statement both sides run until it changes no rows. The partial index
/// on the rows still to do keeps each batch from rescanning finished rows.
const STATEMENT: &str =
    "UPDATE items SET v = id * 2 WHERE id IN (SELECT id FROM items WHERE v IS NULL LIMIT 10000)";

enum Db {
    Sqlite(String),
    Postgres(String),
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite://{path}"),
            Db::Postgres(url) => url.clone(),
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
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The bare loop: one transaction per batch, until a batch changes nothing.
    fn bare_loop(&self) -> (u64, Duration) {
        fn drive<C: Connection>(conn: &mut C) -> u64
        where
            diesel::query_builder::SqlQuery: diesel::query_dsl::methods::ExecuteDsl<C>,
        {
            let mut rows = 0u64;
            loop {
                let changed = conn
                    .transaction::<usize, diesel::result::Error, _>(|c| {
                        diesel::sql_query(STATEMENT).execute(c)
                    })
                    .expect("batch");
                if changed == 0 {
                    return rows;
                }
                rows += changed as u64;
            }
        }
        // Timed from before the connection, as oneoff's run is timed from its start.
        let started = Instant::now();
        let rows = match self {
            Db::Sqlite(path) => drive(&mut SqliteConnection::establish(path).expect("sqlite")),
            Db::Postgres(url) => drive(&mut PgConnection::establish(url).expect("pg")),
        };
        (rows, started.elapsed())
    }

    /// oneoff: the same statement as a batched script, the whole process timed.
    fn oneoff(&self, dir: &Path) -> Duration {
        self.exec("DELETE FROM oneoff_runs; DELETE FROM oneoff_ledger;");
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_oneoff"))
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

    /// Puts every row back to "to do", and (PostgreSQL) vacuums the dead
    /// row versions away, so that every timed run starts from the same table.
    fn reset(&self) {
        self.exec("UPDATE items SET v = NULL");
        if let Db::Postgres(_) = self {
            self.exec("VACUUM ANALYZE items");
            self.exec("VACUUM ANALYZE oneoff_ledger");
            self.exec("VACUUM ANALYZE oneoff_runs");
        }
        // Let the kernel write the reset's dirty pages back now, not during
        // the next timed run.
        let _ = Command::new("sync").status();
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn setup(db: &Db, rows: u32, dir: &Path) {
    let fill = match db {
        Db::Sqlite(_) => format!(
            "INSERT INTO items (id) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) SELECT x FROM c"
        ),
        Db::Postgres(_) => format!("INSERT INTO items (id) SELECT generate_series(1, {rows})"),
    };
    db.exec(&format!(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, v BIGINT); {fill}; CREATE INDEX items_todo ON items (id) WHERE v IS NULL;"
    ));
    for (sub, header) in [
        ("plain", ""),
        (
            "total",
            "-- oneoff:total SELECT COUNT(*) FROM items WHERE v IS NULL\n",
        ),
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(
            dir.join(sub).join("20260101000000_backfill.sql"),
            format!("-- benchmark backfill\n-- oneoff:batch\n{header}{STATEMENT};\n"),
        )
        .unwrap();
    }
    // A first, untimed run creates the ledger, so that every timed run
    // starts from the same state.
    let out = Command::new(env!("CARGO_BIN_EXE_oneoff"))
        .args(["--database-url", &db.url(), "--dir"])
        .arg(dir.join("plain"))
        .args(["run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Medians of one backend: the bare loop, oneoff running the same batches,
/// and oneoff with a `-- oneoff:total` count on top; the ratios are medians
/// of the ratios within each round (the runs of one round are back to back,
/// so they share the machine's mood).
struct Medians {
    bare: f64,
    oneoff: f64,
    with_total: f64,
    ratio: f64,
    ratio_total: f64,
}

/// Runs the rounds on one database.
fn measure(db: &Db, rows: u32, rounds: u32, dir: &Path) -> Medians {
    setup(db, rows, dir);
    let (mut bare, mut ours, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut bare_run = || {
            db.reset();
            let (done, took) = db.bare_loop();
            assert_eq!(done, u64::from(rows));
            bare.push(f64::from(rows) / took.as_secs_f64());
        };
        let mut oneoff_run = || {
            db.reset();
            ours.push(f64::from(rows) / db.oneoff(&dir.join("plain")).as_secs_f64());
        };
        // Alternate the order so that neither side always runs on a warmer cache.
        if round % 2 == 0 {
            bare_run();
            oneoff_run();
        } else {
            oneoff_run();
            bare_run();
        }
        db.reset();
        totals.push(f64::from(rows) / db.oneoff(&dir.join("total")).as_secs_f64());
    }
    if std::env::var_os("ONEOFF_BENCH_VERBOSE").is_some() {
        eprintln!(
            "bare rows/s:   {bare:.0?}\noneoff rows/s: {ours:.0?}\nwith total:    {totals:.0?}"
        );
    }
    let ratios = |side: &[f64]| median(side.iter().zip(&bare).map(|(o, b)| o / b).collect());
    Medians {
        ratio: ratios(&ours),
        ratio_total: ratios(&totals),
        bare: median(bare.clone()),
        oneoff: median(ours),
        with_total: median(totals),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // too, without it, and must not spend minutes on a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("backfill benchmark: skipped (run it with `make bench`)");
        return;
    }
    let rows = env_or("ONEOFF_BENCH_ROWS", 1_000_000);
    let rounds = env_or("ONEOFF_BENCH_ROUNDS", 7).max(1);
    let work = tempfile::tempdir().expect("temp dir");
    let mut lines = vec![format!(
        "backfill of {rows} rows in batches of {BATCH}, median of {rounds} rounds (ratio: median of the rounds' ratios)\n{:<10} {:>12} {:>14} {:>7} {:>20} {:>7}",
        "backend", "bare rows/s", "oneoff rows/s", "ratio", "oneoff+total rows/s", "ratio"
    )];
    let sqlite = Db::Sqlite(work.path().join("bench.db").display().to_string());
    let mut results = vec![(
        "sqlite",
        measure(&sqlite, rows, rounds, &work.path().join("sqlite")),
    )];

    let admin = std::env::var("ONEOFF_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let only_sqlite = std::env::var("ONEOFF_BENCH_BACKENDS").is_ok_and(|b| b == "sqlite");
    match PgConnection::establish(&admin) {
        _ if only_sqlite => {}
        Ok(mut conn) => {
            let name = format!("oneoff_bench_{}", std::process::id());
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create bench db");
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&format!("/{name}"));
            let pg = Db::Postgres(url.to_string());
            results.push((
                "postgres",
                measure(&pg, rows, rounds, &work.path().join("pg")),
            ));
            conn.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .expect("drop bench db");
        }
        Err(e) => {
            eprintln!("NOTICE: PostgreSQL unreachable at {admin} ({e}): its benchmark is SKIPPED")
        }
    }
    for (backend, m) in results {
        lines.push(format!(
            "{backend:<10} {:>12.0} {:>14.0} {:>7.3} {:>20.0} {:>7.3}",
            m.bare, m.oneoff, m.ratio, m.with_total, m.ratio_total
        ));
    }
    let report = lines.join("\n");
    println!("{report}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-report.txt"),
        report + "\n",
    );
}
