//! The real dump tools and reference clients (pg_dump and psql, mysqldump
//! and mysql) driven against test databases, and a text snapshot of a
//! database's objects and rows so that two loads of one dump can be compared
//! with a readable diff. A missing binary skips the test with a notice,
//! except under `CI=true`, where it fails it, as an unreachable server does.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Backend, TestDb};

/// The first of `candidates` that runs (`--version`), or `None` with a
/// printed notice; under `CI=true` a missing tool panics instead.
pub fn tool(candidates: &[&'static str]) -> Option<&'static str> {
    let found = candidates.iter().copied().find(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("none of {candidates:?} is installed; under CI=true the dump tests must run, not skip");
        }
        // Written to the real stderr, past the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "NOTICE: none of {candidates:?} is installed: this dump test is SKIPPED on this machine"
        );
    }
    found
}

/// The dump tool and the reference client of a backend.
#[derive(Debug, Clone, Copy)]
pub struct Tools {
    /// `pg_dump` or `mysqldump` / `mariadb-dump`.
    pub dump: &'static str,
    /// `psql` or `mysql` / `mariadb`.
    pub client: &'static str,
}

impl Tools {
    /// The tools of `backend`, or `None` (with a notice) when one is missing.
    pub fn of(backend: Backend) -> Option<Tools> {
        let (dump, client): (&[&str], &[&str]) = match backend {
            Backend::Postgres => (&["pg_dump"], &["psql"]),
            Backend::Mysql => (&["mysqldump", "mariadb-dump"], &["mysql", "mariadb"]),
            Backend::Sqlite => panic!("no dump round trip for SQLite"),
        };
        Some(Tools {
            dump: tool(dump)?,
            client: tool(client)?,
        })
    }

    /// Loads `file` into `db` with the reference client, which must succeed.
    pub fn load(&self, db: &TestDb, file: &Path) {
        let mut cmd = Command::new(self.client);
        match db.backend {
            Backend::Postgres => {
                cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
                    .arg(file);
            }
            _ => {
                cmd.args(mysql_args(&db.url))
                    .stdin(std::fs::File::open(file).expect("open SQL file"));
            }
        }
        run(cmd, &format!("{} < {}", self.client, file.display()));
    }

    /// Dumps `db` into `out` with the dump tool and `args`.
    pub fn dump(&self, db: &TestDb, args: &[&str], out: &Path) {
        let mut cmd = Command::new(self.dump);
        cmd.args(args);
        match db.backend {
            Backend::Postgres => cmd.args(["-d", &db.url]),
            _ => cmd.args(mysql_args(&db.url)),
        };
        let output = run(cmd, self.dump);
        std::fs::write(out, output).expect("write the dump");
    }
}

/// Command-line connection options of the mysql tools for a URL, the
/// database last (they do not take URLs).
fn mysql_args(url: &str) -> Vec<String> {
    let url = url::Url::parse(url).expect("MySQL URL");
    let mut args = vec![
        format!("--host={}", url.host_str().unwrap_or("127.0.0.1")),
        format!("--port={}", url.port().unwrap_or(3306)),
        format!("--user={}", url.username()),
    ];
    if let Some(password) = url.password() {
        args.push(format!("--password={password}"));
    }
    args.push(url.path().trim_start_matches('/').to_string());
    args
}

/// Runs a tool to completion, panicking with its stderr when it fails.
fn run(mut cmd: Command, what: &str) -> Vec<u8> {
    let output = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Every user object's name (and definition where the catalog keeps one)
/// and every table's rows ordered by primary key with each column as text,
/// one line each. The ledger tables (`oneoff_*`) are left out.
pub fn snapshot(db: &TestDb) -> Vec<String> {
    let catalog: &[(&str, &str)] = match db.backend {
        Backend::Postgres => PG_CATALOG,
        Backend::Mysql => MYSQL_CATALOG,
        Backend::Sqlite => panic!("no dump round trip for SQLite"),
    };
    let mut lines = Vec::new();
    for (kind, sql) in catalog {
        lines.extend(db.lines(sql).into_iter().map(|l| format!("{kind} {l}")));
    }
    for table in user_tables(db) {
        let rows = db.lines(&rows_query(db, &table));
        lines.extend(rows.into_iter().map(|r| format!("row {table} {r}")));
    }
    lines
}

/// The names of the user's base tables.
pub fn user_tables(db: &TestDb) -> Vec<String> {
    db.lines(match db.backend {
        Backend::Postgres => {
            "SELECT tablename::text AS line FROM pg_tables WHERE schemaname = 'public' \
             AND tablename NOT LIKE 'oneoff\\_%' ORDER BY 1"
        }
        _ => {
            "SELECT table_name AS line FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' \
             AND table_name NOT LIKE 'oneoff\\_%' ORDER BY 1"
        }
    })
}

/// The catalog queries of PostgreSQL: (kind, query yielding `line`).
const PG_CATALOG: &[(&str, &str)] = &[
    ("table", "SELECT tablename::text AS line FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'oneoff\\_%' ORDER BY 1"),
    ("view", "SELECT viewname || ' ' || definition AS line FROM pg_views WHERE schemaname = 'public' ORDER BY 1"),
    ("sequence", "SELECT sequencename || ' last_value=' || COALESCE(last_value::text, 'NULL') AS line FROM pg_sequences WHERE schemaname = 'public' AND sequencename NOT LIKE 'oneoff\\_%' ORDER BY 1"),
    ("type", "SELECT typname || ' ' || typtype::text AS line FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd') ORDER BY 1"),
    ("function", "SELECT pg_get_functiondef(oid) AS line FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY proname"),
    ("trigger", "SELECT pg_get_triggerdef(oid) AS line FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"),
    ("rule", "SELECT definition AS line FROM pg_rules WHERE schemaname = 'public' ORDER BY rulename"),
];

/// The catalog queries of MySQL: (kind, query yielding `line`).
const MYSQL_CATALOG: &[(&str, &str)] = &[
    ("table", "SELECT CONCAT(table_name, ' auto_increment=', COALESCE(auto_increment, 'NULL')) AS line FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'oneoff\\_%' ORDER BY table_name"),
    ("view", "SELECT CONCAT(table_name, ' ', REPLACE(view_definition, CONCAT('`', DATABASE(), '`.'), '')) AS line FROM information_schema.views WHERE table_schema = DATABASE() ORDER BY table_name"),
    ("trigger", "SELECT CONCAT_WS(' ', trigger_name, action_timing, event_manipulation, event_object_table, action_statement) AS line FROM information_schema.triggers WHERE trigger_schema = DATABASE() ORDER BY trigger_name"),
    ("routine", "SELECT CONCAT_WS(' ', routine_type, routine_name, routine_definition) AS line FROM information_schema.routines WHERE routine_schema = DATABASE() ORDER BY routine_name"),
];

/// A query of one table's rows as `line`, ordered by its primary key.
fn rows_query(db: &TestDb, table: &str) -> String {
    match db.backend {
        Backend::Postgres => {
            let key = db.lines(&format!(
                "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) AS line \
                 FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = 'public.{table}'::regclass AND i.indisprimary"
            ));
            let key = key
                .first()
                .unwrap_or_else(|| panic!("{table} has no primary key"));
            // The whole-row cast renders every column as text, NULLs included.
            format!("SELECT t::text AS line FROM public.{table} t ORDER BY {key}")
        }
        _ => {
            let columns = db.lines(&format!(
                "SELECT CASE WHEN data_type IN ('binary', 'varbinary', 'blob', 'tinyblob', 'mediumblob', 'longblob', 'bit') \
                 THEN CONCAT('COALESCE(HEX(`', column_name, '`), ''NULL'')') \
                 ELSE CONCAT('QUOTE(`', column_name, '`)') END AS line \
                 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}' \
                 ORDER BY ordinal_position"
            ));
            let key = db.lines(&format!(
                "SELECT CONCAT('`', column_name, '`') AS line FROM information_schema.key_column_usage \
                 WHERE table_schema = DATABASE() AND table_name = '{table}' AND constraint_name = 'PRIMARY' \
                 ORDER BY ordinal_position"
            ));
            assert!(!key.is_empty(), "{table} has no primary key");
            format!(
                "SELECT CONCAT_WS(', ', {}) AS line FROM `{table}` ORDER BY {}",
                columns.join(", "),
                key.join(", ")
            )
        }
    }
}

/// Asserts two snapshots are equal; on failure shows where they first part
/// and the lines found on one side only, each cut to a readable length.
pub fn assert_same(left_label: &str, left: &[String], right_label: &str, right: &[String]) {
    if left == right {
        return;
    }
    panic!("{}", diff(left_label, left, right_label, right));
}

/// A readable account of how two snapshots differ.
pub fn diff(left_label: &str, left: &[String], right_label: &str, right: &[String]) -> String {
    const SHOWN: usize = 8;
    let cut = |l: &String| -> String {
        let one_line = l.replace('\n', "\\n");
        match one_line.char_indices().nth(300) {
            Some((at, _)) => format!("{}… ({} chars)", &one_line[..at], one_line.len()),
            None => one_line,
        }
    };
    let first = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    let mut out = format!(
        "{left_label} ({} lines) and {right_label} ({} lines) differ from line {}:\n",
        left.len(),
        right.len(),
        first + 1
    );
    for (label, side) in [(left_label, left), (right_label, right)] {
        out += &format!("--- {label} from line {}:\n", first + 1);
        for l in side.iter().skip(first).take(SHOWN) {
            out += &format!("  {}\n", cut(l));
        }
    }
    for (label, side, other) in [(left_label, left, right), (right_label, right, left)] {
        let only: Vec<&String> = side.iter().filter(|l| !other.contains(l)).collect();
        out += &format!("--- only in {label} ({} lines):\n", only.len());
        for l in only.iter().take(SHOWN) {
            out += &format!("  {}\n", cut(l));
        }
    }
    out
}
