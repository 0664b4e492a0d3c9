//! `oneoff check`: every problem that can be found without running, each
//! with its file and line, before anything connects; and `run` doing the
//! same validation first, so that a script `check` rejects never creates a
//! database file, a lock file or ledger tables.

use crate::on_all_backends;
use crate::support::{Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";

on_all_backends!(
    run_refuses_an_unfilled_stub_before_it_creates_anything,
    run_lists_the_problems_check_finds_in_the_same_order,
    check_lists_every_problem_with_its_file_and_line,
    check_passes_on_good_scripts,
    check_reports_an_id_that_is_not_a_real_utc_time,
    check_with_a_database_reports_modified_and_out_of_order_scripts,
);

#[test]
fn check_offline_as_mysql_refuses_ddl_in_a_transactional_script() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("one_off");
    std::fs::create_dir(&scripts).unwrap();
    std::fs::write(
        scripts.join(format!("{A}_ddl.sql")),
        "-- ddl\nUPDATE t SET a = 1;\nALTER TABLE t ADD b INT;\n",
    )
    .unwrap();
    let check = |args: &[&str]| {
        std::process::Command::new(crate::support::binary())
            .current_dir(dir.path())
            .arg("check")
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("ONEOFF_DIR")
            .output()
            .expect("oneoff check")
    };
    let out = check(&["--dialect", "mysql"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains(&format!("{A}_ddl.sql:3: ")), "{text}");
    assert!(text.contains("commits implicitly on MySQL"), "{text}");
    let out = check(&["--dialect", "postgres"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A dialect that is not the database's is a usage error, unless offline.
    let url = "sqlite://x.db";
    let out = check(&["--dialect", "mysql", "--database-url", url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--offline"));
    assert!(!dir.path().join("x.db").exists());
    let out = check(&["--dialect", "postgres", "--database-url", url, "--offline"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!dir.path().join("x.db").exists());
}

/// Nothing was created: no ledger tables (and, on SQLite, no database file
/// and no lock file).
fn nothing_created(p: &Project) {
    if p.db.backend == Backend::Sqlite {
        let file = p.dir.path().join("test.db");
        assert!(!file.exists(), "the database file was created");
        assert!(
            !p.dir.path().join("test.db.oneoff-lock").exists(),
            "the lock file was created"
        );
    } else {
        assert!(!p.db.has_table("oneoff_ledger"), "ledger tables created");
        assert!(!p.db.has_table("oneoff_runs"), "ledger tables created");
    }
}

fn run_refuses_an_unfilled_stub_before_it_creates_anything(p: Project) {
    p.oneoff(&["new", "fix orders"]).code(0);
    for args in [&["run"][..], &["run", "--dry-run"][..]] {
        p.oneoff(args)
            .code(2)
            .stderr_has("has no SQL statement")
            .stderr_has("oneoff check");
        nothing_created(&p);
    }
    p.oneoff(&["check"])
        .code(2)
        .stdout_has("has no SQL statement")
        .stdout_has("_fix_orders.sql");
    nothing_created(&p);
}

fn run_lists_the_problems_check_finds_in_the_same_order(p: Project) {
    // A statement problem in the first file, a header problem in the
    // second: file order, whatever kind of problem comes first.
    p.script(A, "commits", "-- a\nUPDATE t SET a = 1;\nCOMMIT;\n");
    p.script(B, "bad_header", "-- b\n-- oneoff:frobnicate\nSELECT 1;\n");
    let check = p.oneoff(&["check"]);
    check.code(2);
    let run = p.oneoff(&["run"]);
    run.code(2);
    let listed = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("_commits.sql:") || l.contains("_bad_header.sql:"))
            .map(|l| l.trim().to_string())
            .collect()
    };
    let (checked, ran) = (listed(&check.stdout()), listed(&run.stderr()));
    assert_eq!(checked.len(), 2, "{checked:?}");
    assert!(checked[0].contains("_commits.sql:3:"), "{checked:?}");
    assert_eq!(ran, checked);
    nothing_created(&p);
}

fn check_lists_every_problem_with_its_file_and_line(p: Project) {
    p.script(
        A,
        "two_commits",
        "-- a\nUPDATE t SET a = 1;\nCOMMIT;\nSELECT 1;\nROLLBACK;\n",
    );
    p.script(
        B,
        "bad_header",
        "-- b\n-- oneoff:frobnicate\n-- oneoff:timeout soon\nSELECT 1;\n",
    );
    p.script(C, "empty", "-- only a comment\n");
    p.script(C, "same_id", "SELECT 1;\n");
    p.script("20260104000000", "quote", "SELECT 'unterminated;\n");
    p.script(
        "20260105000000",
        "bad_post",
        "-- p\n-- oneoff:expect-rows lots\n-- oneoff:verify\nSELECT 1;\n",
    );
    let out = p.oneoff(&["check"]);
    out.code(2);
    let text = out.stdout();
    let file = |id: &str, name: &str| format!("{id}_{name}.sql");
    for (needle, line) in [
        (file(A, "two_commits"), ":3: "),
        (file(A, "two_commits"), ":5: "),
        (file(B, "bad_header"), ":2: "),
        (file(B, "bad_header"), ":3: "),
        (file("20260104000000", "quote"), ":1: "),
        (file("20260105000000", "bad_post"), ":2: "),
        (file("20260105000000", "bad_post"), ":3: "),
    ] {
        assert!(
            text.contains(&format!("{needle}{line}")),
            "no problem at {needle}{line}:\n{text}"
        );
    }
    for needle in [
        "has no SQL statement",
        "has the same id",
        "unterminated",
        "unknown directive",
        "not a duration",
        "oneoff:expect-rows",
        "oneoff:verify",
    ] {
        assert!(text.contains(needle), "lacks {needle}:\n{text}");
    }
    // JSON lists the same problems.
    let out = p.oneoff(&["check", "--json"]);
    out.code(2);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout()).expect("json");
    let problems = doc["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 9, "{doc:#}");
    assert!(problems.iter().any(|p| p["file"]
        .as_str()
        .unwrap()
        .ends_with(&file(A, "two_commits"))
        && p["line"] == 5));
    nothing_created(&p);
}

fn check_passes_on_good_scripts(p: Project) {
    p.script(
        A,
        "good",
        "-- a\n-- oneoff:expect-rows <=10\nUPDATE t SET a = 1;\n",
    );
    p.oneoff(&["check"]).code(0).stdout_has("no problems");
    nothing_created(&p);
}

#[test]
fn check_names_a_rust_script_the_standalone_binary_cannot_run() {
    let p = Project::new(Backend::Sqlite).unwrap();
    p.script(A, "good", "-- a\nUPDATE t SET a = 1;\n");
    let rust = p.scripts().join(format!("{B}_recompute.rs"));
    std::fs::write(
        &rust,
        "// Recompute\npub fn run(_: &mut oneoff::Context) -> oneoff::ScriptResult {\n    Ok(())\n}\n",
    )
    .unwrap();
    p.oneoff(&["check", "--offline"])
        .code(2)
        .stdout_has(&format!("{B}_recompute.rs"))
        .stdout_has("cannot run");
    nothing_created(&p);
}

/// The example scripts are written for SQLite and PostgreSQL (MySQL
/// refuses their `CREATE TABLE` in a transaction).
#[test]
fn check_passes_on_the_example_scripts() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("one_off");
    for dialect in ["sqlite", "postgres"] {
        let out = std::process::Command::new(crate::support::binary())
            .args(["check", "--offline", "--dialect", dialect, "--dir"])
            .arg(&examples)
            .env_remove("DATABASE_URL")
            .output()
            .expect("oneoff check");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{dialect}: {text}");
        assert!(text.contains("no problems"), "{text}");
    }
}

fn check_reports_an_id_that_is_not_a_real_utc_time(p: Project) {
    p.script("20261301000000", "month_13", "SELECT 1;\n");
    p.script("20260230000000", "feb_30", "SELECT 1;\n");
    p.oneoff(&["check"])
        .code(2)
        .stdout_has("20261301000000_month_13.sql")
        .stdout_has("20260230000000_feb_30.sql")
        .stdout_has("not a real UTC time");
    p.oneoff(&["run"]).code(2).stderr_has("not a real UTC time");
    nothing_created(&p);
}

fn check_with_a_database_reports_modified_and_out_of_order_scripts(p: Project) {
    let p = p.with_effects();
    p.effect_script(B, "second");
    p.oneoff(&["run"]).code(0);
    let modified = p.effect_script(C, "third");
    p.oneoff(&["run"]).code(0);
    std::fs::write(&modified, "-- changed\nSELECT 2;\n").unwrap();
    p.effect_script(A, "merged_late");
    p.effect_script("20260104000000", "next");
    let before = p.ledger_snapshot();
    let url = p.db.url.clone();
    let out = p.oneoff(&["check", "--database-url", &url]);
    out.code(2)
        .stdout_has(&format!("out of order: {A} merged_late is older than {C}"))
        .stdout_has(&format!("modified: {C} third"))
        .stdout_has("succeeded on ")
        .stdout_has("would run 2");
    let out = p.oneoff(&["check", "--database-url", &url, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout()).expect("json");
    assert_eq!(
        doc["would_run"],
        serde_json::json!([A, "20260104000000"]),
        "{doc:#}"
    );
    assert_eq!(doc["out_of_order"][0]["id"], A, "{doc:#}");
    assert_eq!(doc["modified"][0]["id"], C, "{doc:#}");
    assert_eq!(p.ledger_snapshot(), before, "check wrote to the ledger");
    assert_eq!(p.effects(A), 0);
    // `run` warns about the script merged late, and runs it.
    p.oneoff(&["run"]).code(0).stderr_has("out of order");
}
