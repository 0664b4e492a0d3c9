//! Real SQL written by others: a database built from `fixtures/`, dumped by
//! pg_dump or mysqldump, must load through `oneoff run` exactly as through
//! psql or mysql — same objects, same rows, working triggers. Each test
//! first checks the reference load against the source, so that a failure
//! points at oneoff, not at the fixture or the comparison.

use std::path::{Path, PathBuf};

use crate::support::dump::{self, snapshot, Tools};
use crate::support::{Backend, Project, TestDb};

/// pg_dump's plain format, loadable by psql, as the brief of a migration
/// between servers would write it.
const PG_DUMP_ARGS: &[&str] = &["--inserts", "--no-owner", "--no-privileges"];
/// mysqldump with everything a database needs, minus the `LOCK TABLES`.
const MYSQLDUMP_ARGS: &[&str] = &["--routines", "--triggers", "--skip-add-locks"];
/// The id of the script holding the dump.
const DUMP: &str = "20260101000000";
/// The id of an ordinary script that runs after the dump.
const AFTER: &str = "20260101000001";
/// MySQL commits DDL implicitly, which oneoff refuses inside a transaction.
const MYSQL_HEADER: &str = "-- oneoff:no-transaction\n";

/// A source database built from a fixture and dumped, the dump loaded with
/// the reference client into a second database, and a project (with a third,
/// empty database) for oneoff to load it into. All three are dropped on drop.
struct RoundTrip {
    p: Project,
    source: TestDb,
    reference: TestDb,
    dump: PathBuf,
}

impl RoundTrip {
    /// `None` (with a notice) when the server or a tool is missing here.
    fn new(backend: Backend, fixture: &str, dump_args: &[&str]) -> Option<RoundTrip> {
        let tools = Tools::of(backend)?;
        let p = Project::new(backend)?;
        let source = TestDb::create(backend, p.dir.path())?;
        tools.load(&source, &fixture_path(fixture));
        let dump = p.dir.path().join("dump.sql");
        tools.dump(&source, dump_args, &dump);
        let reference = TestDb::create(backend, p.dir.path())?;
        tools.load(&reference, &dump);
        Some(RoundTrip {
            p,
            source,
            reference,
            dump,
        })
    }

    /// Copies the dump, byte for byte after `header`, into the script directory.
    fn install(&self, header: &str) {
        let mut text = header.as_bytes().to_vec();
        text.extend(std::fs::read(&self.dump).expect("read the dump"));
        let path = self.p.scripts().join(format!("{DUMP}_dump.sql"));
        std::fs::write(path, text).expect("write the dump script");
    }

    /// The reference load equals the source and itself: the fixture, the
    /// tools and the comparison work, so a later difference is oneoff's.
    fn assert_reference_is_faithful(&self) {
        self.assert_reference_is_faithful_for("customers");
    }

    /// As [`Self::assert_reference_is_faithful`], for a fixture whose rows
    /// include `table`'s.
    fn assert_reference_is_faithful_for(&self, table: &str) {
        let reference = snapshot(&self.reference);
        dump::assert_same("reference", &reference, "reference", &reference);
        dump::assert_same("source", &snapshot(&self.source), "reference", &reference);
        let rows = format!("row {table} ");
        assert!(
            reference.iter().any(|l| l.starts_with(&rows)),
            "the snapshot holds {table}'s rows: {reference:#?}"
        );
    }

    /// `oneoff run ARGS` on the dump; asserts exit 0 and a succeeded ledger row.
    fn run_through_oneoff(&self, args: &[&str]) {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        self.p.oneoff(&all).code(0);
        assert_eq!(self.p.status_of(DUMP), "succeeded");
    }

    /// The oneoff load has the reference load's objects and rows.
    fn assert_oneoff_load_matches_reference(&self) {
        dump::assert_same(
            "loaded by the reference client",
            &snapshot(&self.reference),
            "loaded by oneoff",
            &snapshot(&self.p.db),
        );
    }
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/fixtures")
        .join(name)
}

/// The PostgreSQL fixture's triggers, rule and SQL-standard function work.
fn assert_pg_objects_work(db: &TestDb) {
    db.execute("INSERT INTO public.orders (customer_id, sku, quantity) VALUES (4, 'D--4', 2)");
    let new_order = "(SELECT max(id) FROM public.orders)";
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) AS n FROM public.orders WHERE id = {new_order} AND total = 300"
        )),
        1,
        "the BEFORE trigger fills in the total"
    );
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) AS n FROM public.order_audit WHERE order_id = {new_order} \
             AND event = 'created; state=new ''quoted'''"
        )),
        1,
        "the AFTER trigger writes the audit row"
    );
    db.execute("INSERT INTO public.order_requests VALUES (78, 6, 'A-1', 1)");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM public.order_audit WHERE order_id = 78 AND event = 'requested; via rule'"),
        1,
        "the rule's two INSERTs run instead"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM public.order_requests"),
        0
    );
    let bands = db.lines("SELECT public.price_band(5) || ',' || public.price_band(50) || ',' || public.price_band(500) AS line");
    assert_eq!(bands, ["cheap,fair,dear"], "the BEGIN ATOMIC function");
}

/// The MySQL fixture's triggers, procedure and function work.
fn assert_mysql_objects_work(db: &TestDb) {
    db.execute("INSERT INTO orders (customer_id, sku, quantity) VALUES (4, 'D--4', 2)");
    let new_order = "(SELECT max(id) FROM orders)";
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) AS n FROM orders WHERE id = {new_order} AND total = 300"
        )),
        1,
        "the BEFORE trigger fills in the total"
    );
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) AS n FROM order_audit WHERE order_id = {new_order} \
             AND event = 'created; state=new ''quoted'' a;;b'"
        )),
        1,
        "the AFTER trigger writes the audit row"
    );
    db.execute("CALL restock(4)");
    assert_eq!(
        db.count("SELECT stock AS n FROM products WHERE sku = 'C;3'"),
        13 + 2 + 10,
        "the procedure's WHILE and nested IFs"
    );
    let bands =
        db.lines("SELECT CONCAT_WS(',', price_band(5), price_band(50), price_band(500)) AS line");
    assert_eq!(bands, ["cheap,fair,dear"], "the function's CASE");
}

#[test]
fn psql_load_of_a_pg_dump_matches_its_source_and_its_triggers_work() {
    let Some(t) = RoundTrip::new(Backend::Postgres, "pg_sample.sql", PG_DUMP_ARGS) else {
        return;
    };
    t.assert_reference_is_faithful();
    assert_pg_objects_work(&t.reference);
}

#[test]
fn a_pg_dump_loads_through_oneoff_as_through_psql() {
    let Some(t) = RoundTrip::new(Backend::Postgres, "pg_sample.sql", PG_DUMP_ARGS) else {
        return;
    };
    t.install("");
    t.run_through_oneoff(&[]);
    t.assert_oneoff_load_matches_reference();
    assert_pg_objects_work(&t.p.db);
}

#[test]
fn a_dry_run_of_a_pg_dump_leaves_nothing_behind_and_the_real_run_then_loads_it() {
    let Some(t) = RoundTrip::new(Backend::Postgres, "pg_sample.sql", PG_DUMP_ARGS) else {
        return;
    };
    t.install("");
    t.p.oneoff(&["run", "--dry-run"]).code(0);
    assert_eq!(
        snapshot(&t.p.db),
        Vec::<String>::new(),
        "a dry run leaves no tables, views, types, functions or sequences"
    );
    assert_ne!(t.p.status_of(DUMP), "succeeded");
    t.run_through_oneoff(&[]);
    t.assert_oneoff_load_matches_reference();
}

#[test]
fn a_script_after_a_pg_dump_in_the_same_run_still_finds_unqualified_tables() {
    let Some(t) = RoundTrip::new(Backend::Postgres, "pg_sample.sql", PG_DUMP_ARGS) else {
        return;
    };
    t.install("");
    // pg_dump empties search_path for the session; this script relies on the default.
    t.p.script(
        AFTER,
        "touch_customer",
        "-- An ordinary script after the dump\nUPDATE customers SET note = 'touched after the dump' WHERE id = 1;\n",
    );
    t.run_through_oneoff(&[]);
    assert_eq!(t.p.status_of(AFTER), "succeeded");
    assert_eq!(
        t.p.db.count(
            "SELECT COUNT(*) AS n FROM public.customers WHERE id = 1 AND note = 'touched after the dump'"
        ),
        1
    );
}

#[test]
fn carriage_returns_inside_dumped_strings_reach_the_table_through_oneoff() {
    let Some(t) = RoundTrip::new(Backend::Postgres, "pg_crlf.sql", PG_DUMP_ARGS) else {
        return;
    };
    t.assert_reference_is_faithful_for("notes");
    t.install("");
    t.run_through_oneoff(&[]);
    t.assert_oneoff_load_matches_reference();
}

#[test]
fn mysql_load_of_a_mysqldump_matches_its_source_and_its_triggers_work() {
    let Some(t) = RoundTrip::new(Backend::Mysql, "mysql_sample.sql", MYSQLDUMP_ARGS) else {
        return;
    };
    t.assert_reference_is_faithful();
    assert_mysql_objects_work(&t.reference);
}

#[test]
fn a_mysqldump_with_routines_and_triggers_loads_through_oneoff_as_through_mysql() {
    let Some(t) = RoundTrip::new(Backend::Mysql, "mysql_sample.sql", MYSQLDUMP_ARGS) else {
        return;
    };
    t.install(MYSQL_HEADER);
    t.run_through_oneoff(&[]);
    t.assert_oneoff_load_matches_reference();
    assert_mysql_objects_work(&t.p.db);
}

#[test]
fn a_mysqldump_with_its_default_lock_tables_loads_through_oneoff_as_through_mysql() {
    // mysqldump's defaults: LOCK TABLES around each table's rows, triggers
    // but no routines.
    let Some(t) = RoundTrip::new(Backend::Mysql, "mysql_sample.sql", &[]) else {
        return;
    };
    t.install(MYSQL_HEADER);
    t.run_through_oneoff(&[]);
    t.assert_oneoff_load_matches_reference();
}

#[test]
fn a_mysqldump_of_raw_binary_values_is_refused_with_the_hex_blob_hint_and_loads_with_it() {
    // Raw bytes that are not UTF-8 are refused before anything runs: SQL
    // text is UTF-8 here, and guessing an encoding could change the data.
    let Some(raw) = RoundTrip::new(Backend::Mysql, "mysql_binary.sql", MYSQLDUMP_ARGS) else {
        return;
    };
    raw.install(MYSQL_HEADER);
    let run = raw.p.oneoff(&["run"]);
    run.code(2);
    let said = run.stdout() + &run.stderr();
    assert!(
        said.contains("is not valid UTF-8") && said.contains("--hex-blob"),
        "{said}"
    );
    assert!(
        !raw.p.db.has_table("oneoff_ledger"),
        "refused before anything ran"
    );
    let mut args = MYSQLDUMP_ARGS.to_vec();
    args.push("--hex-blob");
    let Some(t) = RoundTrip::new(Backend::Mysql, "mysql_binary.sql", &args) else {
        return;
    };
    t.assert_reference_is_faithful_for("attachments");
    t.install(MYSQL_HEADER);
    t.run_through_oneoff(&[]);
    t.assert_oneoff_load_matches_reference();
}

#[test]
fn the_snapshot_diff_shows_the_first_differing_rows_and_the_lines_on_one_side() {
    let a: Vec<String> = ["table t", "row t (1,x)", "row t (2,y)"]
        .map(String::from)
        .to_vec();
    let b: Vec<String> = ["table t", "row t (1,x)", "row t (2,Y)", "row t (3,z)"]
        .map(String::from)
        .to_vec();
    let text = dump::diff("psql", &a, "oneoff", &b);
    assert!(text.contains("differ from line 3"), "{text}");
    assert!(
        text.contains("--- only in psql (1 lines):\n  row t (2,y)"),
        "{text}"
    );
    assert!(
        text.contains("--- only in oneoff (2 lines):\n  row t (2,Y)\n  row t (3,z)"),
        "{text}"
    );
}
