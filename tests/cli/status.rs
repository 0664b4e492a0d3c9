//! `oneoff status`: every script and where it stands, as a table or JSON,
//! without ever writing to the database.

use serde_json::Value;

use crate::on_all_backends;
use crate::support::{Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";

/// A failing statement whose error is longer than the table's error column.
const LONG_FAILURE: &str = "-- fails\nINSERT INTO table_that_does_not_exist_anywhere_in_this_database_at_all (x) VALUES (1);\n";

on_all_backends!(
    without_a_ledger_everything_is_pending_and_status_creates_nothing,
    json_has_every_field_with_its_type_before_and_after_a_run,
    a_ledger_row_whose_file_was_deleted_shows_as_missing,
    the_table_counts_scripts_by_status_and_shows_a_short_error,
    a_badly_named_file_is_reported_on_stderr_and_never_run,
    status_leaves_the_ledger_exactly_as_it_was,
);

fn without_a_ledger_everything_is_pending_and_status_creates_nothing(p: Project) {
    p.effect_script(A, "first");
    p.effect_script(B, "second");
    let doc = p.status();
    let scripts = doc["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), 2, "{doc:#}");
    for s in scripts {
        assert_eq!(s["status"], "pending", "{s:#}");
        assert_eq!(s["attempts"], 0);
    }
    p.oneoff(&["status"])
        .code(0)
        .stdout_has("2 scripts: 2 pending");
    for table in [
        "oneoff_ledger",
        "oneoff_runs",
        "oneoff_schema_migrations",
        "oneoff_lock",
    ] {
        assert!(!p.db.has_table(table), "status created {table}");
    }
}

#[test]
fn status_of_an_sqlite_file_that_does_not_exist_does_not_create_it() {
    let p = Project::new(Backend::Sqlite).unwrap();
    p.effect_script(A, "first");
    let fresh = p.dir.path().join("fresh.db");
    let url = format!("sqlite://{}", fresh.display());
    let run = p.oneoff(&["--database-url", &url, "status", "--json"]);
    run.code(0);
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["database"], url.as_str());
    assert_eq!(doc["scripts"][0]["status"], "pending");
    p.oneoff(&["--database-url", &url, "status"])
        .code(0)
        .stdout_has("1 script: 1 pending");
    assert!(!fresh.exists(), "status created {}", fresh.display());
    let names: Vec<_> = std::fs::read_dir(p.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["one_off"], "no database, no lock file");
}

/// Asserts an RFC 3339 UTC timestamp (`...Z`) within a few minutes of now.
fn assert_recent_utc(value: &Value, what: &str) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    assert!(text.ends_with('Z'), "{what} is not UTC `Z`: {text}");
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{what} {text}: {e}"))
        .to_utc();
    let off = (chrono::Utc::now() - t).num_seconds().abs();
    assert!(off < 300, "{what} {text} is {off} s away from now (UTC)");
    t
}

fn json_has_every_field_with_its_type_before_and_after_a_run(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "counted");
    let doc = p.status();
    assert_eq!(doc["database"], p.db.url.as_str());
    assert!(doc["scripts"].is_array());
    assert_eq!(doc["summary"]["total"], 1, "{doc:#}");
    let e = &doc["scripts"][0];
    let keys = [
        "id",
        "name",
        "file",
        "status",
        "checksum",
        "recorded_checksum",
        "modified",
        "missing",
        "attempts",
        "started_at",
        "finished_at",
        "duration_ms",
        "rows_affected",
        "error",
        "run_by",
    ];
    for key in keys {
        assert!(e.get(key).is_some(), "no key {key}: {e:#}");
    }
    assert_eq!(e["id"], A);
    assert_eq!(e["name"], "counted");
    assert!(
        e["file"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{A}_counted.sql")),
        "{e:#}"
    );
    assert_eq!(e["status"], "pending");
    let checksum = e["checksum"].as_str().unwrap().to_string();
    assert!(
        checksum.len() == 64 && checksum.bytes().all(|b| b.is_ascii_hexdigit()),
        "{checksum}"
    );
    assert_eq!(
        (&e["modified"], &e["missing"]),
        (&Value::Bool(false), &Value::Bool(false))
    );
    assert_eq!(e["attempts"], 0);
    for key in [
        "recorded_checksum",
        "started_at",
        "finished_at",
        "duration_ms",
        "rows_affected",
        "error",
        "run_by",
    ] {
        assert!(e[key].is_null(), "{key} before a run: {e:#}");
    }

    p.oneoff(&["run"]).code(0);
    let e = p.entry(A);
    assert_eq!(e["status"], "succeeded");
    assert_eq!(e["checksum"], checksum.as_str());
    assert_eq!(e["recorded_checksum"], checksum.as_str());
    assert_eq!(
        (&e["modified"], &e["missing"]),
        (&Value::Bool(false), &Value::Bool(false))
    );
    assert_eq!(e["attempts"], 1);
    let started = assert_recent_utc(&e["started_at"], "started_at");
    let finished = assert_recent_utc(&e["finished_at"], "finished_at");
    assert!(started <= finished, "{e:#}");
    assert!(e["duration_ms"].as_i64().is_some_and(|d| d >= 0), "{e:#}");
    assert_eq!(e["rows_affected"], 1);
    assert!(e["error"].is_null());
    assert!(
        e["run_by"].as_str().unwrap().starts_with("tester@"),
        "{e:#}"
    );
}

fn a_ledger_row_whose_file_was_deleted_shows_as_missing(p: Project) {
    let p = p.with_effects();
    let path = p.effect_script(A, "gone");
    p.effect_script(B, "kept");
    p.oneoff(&["run"]).code(0);
    let recorded = p.entry(A)["checksum"].as_str().unwrap().to_string();
    std::fs::remove_file(path).unwrap();

    let e = p.entry(A);
    assert_eq!(e["name"], "gone", "the name comes from the ledger");
    assert_eq!(e["status"], "succeeded");
    assert!(e["file"].is_null(), "{e:#}");
    assert!(e["checksum"].is_null(), "{e:#}");
    assert_eq!(e["recorded_checksum"], recorded.as_str());
    assert_eq!(e["missing"], true);
    assert_eq!(e["modified"], false);
    assert_eq!(p.entry(B)["missing"], false);

    let run = p.oneoff(&["status"]);
    run.code(0)
        .stdout_has("succeeded, file missing")
        .stdout_has("2 scripts: 2 succeeded (0 modified, 1 missing)");
    let out = run.stdout();
    let line = out.lines().find(|l| l.contains(B)).unwrap();
    assert!(!line.contains("missing"), "only the deleted one: {line}");
}

fn the_table_counts_scripts_by_status_and_shows_a_short_error(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "good");
    p.script(B, "bad", LONG_FAILURE);
    p.effect_script(C, "later");
    p.oneoff(&["run"]).code(1);
    let error = p.entry(B)["error"].as_str().unwrap().to_string();
    assert!(error.contains("statement 1 (line 2)"), "{error}");

    let run = p.oneoff(&["status"]);
    run.code(0)
        .stdout_has(&format!("Database: {}", p.db.url))
        .stdout_has("ATTEMPTS")
        .stdout_has("3 scripts: 1 succeeded, 1 pending, 1 failed");
    let out = run.stdout();
    let row = |id: &str| {
        out.lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{out}"))
            .to_string()
    };
    assert!(row(A).contains("succeeded"), "{out}");
    assert!(row(C).contains("pending"), "{out}");
    let failed = row(B);
    assert!(failed.contains("failed"), "{out}");
    // The error column holds the start of the error, cut short with `…`.
    assert!(failed.contains("statement 1 (line 2)"), "{out}");
    assert!(failed.contains('…'), "{out}");
    assert!(
        !out.contains(&error),
        "the full error is only in --json:\n{out}"
    );
}

fn a_badly_named_file_is_reported_on_stderr_and_never_run(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "good");
    let bad = p.scripts().join("20260102000000_Bad-Name.sql");
    std::fs::write(
        &bad,
        "-- bad\nINSERT INTO effects (script) VALUES ('bad');\n",
    )
    .unwrap();

    let status = p.oneoff(&["status"]);
    status
        .code(0)
        .stderr_has("20260102000000_Bad-Name.sql")
        .stderr_has("ignored, never run")
        .stderr_has("is not a valid name")
        .stdout_has("1 script: 1 pending");
    assert!(!status.stdout().contains("Bad-Name"), "{}", status.stdout());
    let doc = p.status();
    assert_eq!(doc["scripts"].as_array().unwrap().len(), 1, "{doc:#}");

    p.oneoff(&["run"])
        .code(0)
        .stderr_has("20260102000000_Bad-Name.sql")
        .stderr_has("ignored, never run");
    assert_eq!(p.effects(A), 1);
    assert_eq!(p.effects("bad"), 0, "the badly named file never runs");
    assert!(bad.exists());
}

fn status_leaves_the_ledger_exactly_as_it_was(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "good");
    p.script(B, "bad", LONG_FAILURE);
    p.oneoff(&["run"]).code(1);
    p.oneoff(&["run", "--dry-run", "--retry"]).code(1);
    let before = p.ledger_snapshot();
    assert!(before.contains("failed"), "{before}");
    p.oneoff(&["status"]).code(0);
    p.oneoff(&["status", "--json"]).code(0);
    assert_eq!(p.ledger_snapshot(), before);
}
