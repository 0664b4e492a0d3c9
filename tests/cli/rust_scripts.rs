//! Scripts in Rust, embedded in an application: the example application
//! (`examples/app`, two SQL and three Rust scripts) driven on every backend,
//! and the standalone binary, which lists Rust scripts but never runs them.

use std::time::{Duration, Instant};

use crate::on_all_backends;
use crate::support::Project;

const CREATE: &str = "20261201090000";
const FILL: &str = "20261201100000";
const RESET: &str = "20261202090000";
const CODES: &str = "20261202100000";
const ANNOUNCE: &str = "20261202110000";

on_all_backends!(
    the_app_runs_its_sql_and_rust_scripts_exactly_once,
    a_panic_rolls_the_script_back_and_fails_it_with_the_panic_message,
    a_dry_run_rolls_rust_scripts_back_and_skips_after_commit_effects,
    a_killed_checkpointing_script_resumes_from_its_cursor_without_redoing_a_step,
    a_failing_after_commit_effect_is_recorded_and_never_run_again,
    a_changed_rust_file_shows_as_modified_with_the_same_checksums_on_disk,
    the_standalone_binary_lists_rust_scripts_and_refuses_a_run_that_reaches_one,
    a_rust_script_that_executes_commit_is_refused_and_rolled_back,
    a_rust_script_that_commits_through_its_connection_is_never_retried_on_its_own,
    a_rust_script_that_writes_the_ledger_through_its_connection_is_rolled_back,
    a_timeout_stops_a_rust_script_at_its_next_context_call_and_retry_resumes,
    sigterm_stops_a_rust_script_at_its_next_context_call_and_retry_resumes,
    a_diesel_transaction_on_the_connection_never_lets_the_script_run_twice,
);

/// Runs the two SQL scripts, which create and fill the tables.
fn tables(p: &Project) {
    p.app(&["run", CREATE, FILL], &[]).code(0);
}

fn steps(p: &Project, script: &str) -> i64 {
    p.db.count(&format!(
        "SELECT COUNT(*) AS n FROM steps WHERE script = '{script}'"
    ))
}

/// The example application's `status --json` entry of a script.
fn entry(p: &Project, id: &str) -> serde_json::Value {
    let run = p.app(&["status", "--json"], &[]);
    run.code(0);
    let status: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    status["scripts"]
        .as_array()
        .expect("scripts")
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no status entry for {id} in {status:#}"))
}

fn status_of(p: &Project, id: &str) -> String {
    entry(p, id)["status"].as_str().expect("status").to_string()
}

/// A script's log and effect lines in the history.
fn output(p: &Project, id: &str) -> Vec<String> {
    p.db.lines(&format!(
        "SELECT message AS line FROM oneoff_output WHERE script_id = '{id}' \
         AND kind IN ('log', 'effect') ORDER BY run_id, seq"
    ))
}

fn the_app_runs_its_sql_and_rust_scripts_exactly_once(p: Project) {
    let run = p.app(&["run"], &[]);
    run.code(0)
        .stdout_has("Done: 5 succeeded.")
        .stdout_has("log: reset 8 totals")
        .stdout_has("effect: after-commit effect 1 ran");
    for id in [CREATE, FILL, RESET, CODES, ANNOUNCE] {
        assert_eq!(status_of(&p, id), "succeeded", "{id}");
    }
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
        0
    );
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE code IS NULL"),
        0
    );
    assert_eq!(
        p.db.lines("SELECT code AS line FROM orders WHERE id = 3"),
        ["ORD-00021"]
    );
    assert_eq!(
        (steps(&p, "codes"), steps(&p, "announce"), p.sent()),
        (6, 1, 1)
    );
    assert_eq!(output(&p, RESET), ["reset 8 totals"]);
    let codes = entry(&p, CODES);
    assert_eq!(codes["kind"], "rust");
    assert_eq!(codes["rows_affected"], 24, "{codes:#}");
    assert_eq!(entry(&p, FILL)["kind"], "sql");
    // A second run has nothing to do, and nothing happens twice.
    let snapshot = p.ledger_snapshot();
    p.app(&["run"], &[]).code(0);
    assert_eq!(
        (steps(&p, "codes"), steps(&p, "announce"), p.sent()),
        (6, 1, 1)
    );
    assert_eq!(p.ledger_snapshot(), snapshot);
}

on_all_backends!(failing_post_conditions_of_a_rust_script_roll_it_back);

fn failing_post_conditions_of_a_rust_script_roll_it_back(p: Project) {
    tables(&p);
    let cases = [
        (&["run"][..], "verify_fails", "returned 8 row(s)"),
        (
            &["run", "--retry"][..],
            "expect_rows_fails",
            "the script changed 8 row(s)",
        ),
    ];
    for (args, hook, says) in cases {
        let run = p.app(args, &[("ONEOFF_EXAMPLE_HOOK", hook)]);
        run.code(1).stderr_has("post-condition failed");
        let reset = entry(&p, RESET);
        assert_eq!(reset["status"], "failed", "{hook}");
        let error = reset["error"].as_str().unwrap();
        assert!(
            error.contains("post-condition failed") && error.contains(says),
            "{hook}: {error}"
        );
        assert_eq!(
            p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
            8,
            "{hook}: the update was rolled back"
        );
    }
    // The rules hold: the real post-conditions pass.
    p.app(&["run", "--retry"], &[]).code(0);
    assert_eq!(status_of(&p, RESET), "succeeded");
}

fn a_panic_rolls_the_script_back_and_fails_it_with_the_panic_message(p: Project) {
    tables(&p);
    let run = p.app(&["run"], &[("ONEOFF_EXAMPLE_HOOK", "panic")]);
    run.code(1)
        .stderr_has("panicked: asked to panic by ONEOFF_EXAMPLE_HOOK");
    let reset = entry(&p, RESET);
    assert_eq!(reset["status"], "failed");
    assert!(
        reset["error"]
            .as_str()
            .unwrap()
            .contains("panicked: asked to panic"),
        "{reset:#}"
    );
    // Its update was rolled back, and the scripts after it did not run.
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
        8
    );
    assert_eq!(status_of(&p, CODES), "pending");
    // Its log line is kept with the failed attempt.
    assert_eq!(output(&p, RESET), ["reset 8 totals"]);
    p.app(&["run", "--retry"], &[]).code(0);
    assert_eq!(status_of(&p, RESET), "succeeded");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
        0
    );
}

fn a_dry_run_rolls_rust_scripts_back_and_skips_after_commit_effects(p: Project) {
    tables(&p);
    let snapshot = p.ledger_snapshot();
    let run = p.app(&["run", "--dry-run"], &[]);
    run.code(0)
        .stdout_has("after-commit effect 1 not run: dry run")
        .stdout_has("checkpoints (6) committed nothing");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL OR code IS NULL"),
        8 + 16
    );
    assert_eq!(
        (steps(&p, "codes"), steps(&p, "announce"), p.sent()),
        (0, 0, 0)
    );
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_cursors"), 0);
    for id in [RESET, CODES, ANNOUNCE] {
        assert_eq!(status_of(&p, id), "pending", "{id}");
    }
    // The ledger rows are untouched; the dry run is in the history only.
    let ledger_rows = |s: &str| {
        s.lines()
            .filter(|l| l.contains("oneoff_ledger"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(ledger_rows(&p.ledger_snapshot()), ledger_rows(&snapshot));
}

fn a_killed_checkpointing_script_resumes_from_its_cursor_without_redoing_a_step(p: Project) {
    tables(&p);
    p.app(&["run", RESET], &[]).code(0);
    let mut child = p
        .app_cmd()
        .args(["run"])
        .env("ONEOFF_EXAMPLE_STEP_MS", "300")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the app");
    let deadline = Instant::now() + Duration::from_secs(60);
    while steps(&p, "codes") < 2 {
        assert!(Instant::now() < deadline, "no two checkpoints committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let committed = steps(&p, "codes");
    assert!(
        (2..6).contains(&committed),
        "{committed} steps before the kill"
    );
    // What committed is exactly what the checkpoints say.
    let killed = entry(&p, CODES);
    assert_eq!(killed["progress"]["batches"], committed, "{killed:#}");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE code IS NOT NULL"),
        committed * 4
    );
    assert_eq!(p.sent(), 0, "the announcement's work did not commit");
    let run = p.app(&["run", "--retry"], &[]);
    run.code(0);
    assert_eq!(status_of(&p, CODES), "succeeded");
    assert_eq!(steps(&p, "codes"), 6, "a step was done twice or lost");
    assert_eq!(
        p.db.count("SELECT COUNT(DISTINCT step) AS n FROM steps WHERE script = 'codes'"),
        6
    );
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE code IS NULL"),
        0
    );
    let log = output(&p, CODES);
    assert!(
        log.contains(&format!("resuming after order {}", committed * 4)),
        "{log:?}"
    );
    assert_eq!(entry(&p, CODES)["rows_affected"], 24);
    assert_eq!((steps(&p, "announce"), p.sent()), (1, 1));
}

fn a_failing_after_commit_effect_is_recorded_and_never_run_again(p: Project) {
    let run = p.app(&["run"], &[("ONEOFF_EXAMPLE_EFFECT_FAIL", "1")]);
    run.code(1)
        .stderr_has("after-commit effect 1 failed: the mail server refused the message");
    // The data change stays; the script succeeded.
    assert_eq!(status_of(&p, ANNOUNCE), "succeeded");
    assert_eq!(steps(&p, "announce"), 1);
    let lines = output(&p, ANNOUNCE);
    assert!(
        lines.iter().any(|l| l.contains("effect 1 failed")),
        "{lines:?}"
    );
    p.app(&["run"], &[]).code(0);
    p.app(&["run", "--retry"], &[]).code(0);
    assert_eq!((steps(&p, "announce"), p.sent()), (1, 0));
}

fn a_changed_rust_file_shows_as_modified_with_the_same_checksums_on_disk(p: Project) {
    p.app(&["run"], &[]).code(0);
    let p = p.with_app_scripts();
    let status = p.status();
    let modified: Vec<&serde_json::Value> = status["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["modified"] == true)
        .collect();
    assert!(
        modified.is_empty(),
        "embedded and on-disk checksums differ: {modified:?}"
    );
    let path = p.scripts().join(format!("{CODES}_assign_order_codes.rs"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("four orders a step", "4 orders a step")).unwrap();
    let entry = p.entry(CODES);
    assert_eq!(entry["modified"], true, "{entry:#}");
    assert_eq!(p.entry(RESET)["modified"], false);
    // Line endings alone do not change a checksum, as for SQL.
    std::fs::write(&path, text.replace('\n', "\r\n")).unwrap();
    assert_eq!(p.entry(CODES)["modified"], false);
}

fn the_standalone_binary_lists_rust_scripts_and_refuses_a_run_that_reaches_one(p: Project) {
    let p = p.with_app_scripts();
    let status = p.status();
    let kinds: Vec<&str> = status["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sql", "sql", "rust", "rust", "rust"]);
    p.oneoff(&["status"])
        .code(0)
        .stdout_has("reset_missing_totals (rust)");
    let run = p.oneoff(&["run"]);
    run.code(2)
        .stderr_has(&format!("{RESET}_reset_missing_totals.rs"))
        .stderr_has("nothing ran")
        .stderr_has("embed_scripts!");
    assert!(!p.db.has_table("orders"), "a script ran");
    assert!(
        !p.db.has_table("oneoff_ledger"),
        "the refused run created the ledger"
    );
    assert_eq!(p.status_of(CREATE), "pending");
    // The SQL scripts before it run; a retry that would reach it is refused too.
    p.oneoff(&["run", CREATE, FILL]).code(0);
    let snapshot = p.ledger_snapshot();
    p.oneoff(&["run"]).code(2).stderr_has("nothing ran");
    p.oneoff(&["run", "--dry-run"]).code(2);
    assert_eq!(p.ledger_snapshot(), snapshot);
}

fn a_rust_script_that_executes_commit_is_refused_and_rolled_back(p: Project) {
    tables(&p);
    let run = p.app(
        &["run", RESET],
        &[("ONEOFF_EXAMPLE_HOOK", "execute_commit")],
    );
    run.code(1).stderr_has("refused, not executed");
    assert_eq!(status_of(&p, RESET), "failed");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
        8
    );
    p.app(&["run", "--retry", RESET], &[]).code(0);
}

fn a_rust_script_that_commits_through_its_connection_is_never_retried_on_its_own(p: Project) {
    tables(&p);
    let run = p.app(&["run", RESET], &[("ONEOFF_EXAMPLE_HOOK", "conn_commit")]);
    run.code(1).stdout_has("FAILED, partly committed");
    // Its update committed behind oneoff's back: failed with an unknown
    // committed part, and `--retry` refuses to run it again.
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
        0
    );
    assert_eq!(status_of(&p, RESET), "failed");
    let snapshot = p.ledger_snapshot();
    p.app(&["run", "--retry"], &[])
        .code(3)
        .stderr_has("`--retry` does not run it again");
    assert_eq!(p.ledger_snapshot(), snapshot);
}

fn a_diesel_transaction_on_the_connection_never_lets_the_script_run_twice(p: Project) {
    tables(&p);
    let run = p.app(
        &["run", RESET],
        &[("ONEOFF_EXAMPLE_HOOK", "conn_transaction")],
    );
    run.code(1);
    assert_eq!(status_of(&p, RESET), "failed");
    let missing =
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL");
    if p.db.backend == crate::support::Backend::Sqlite {
        // SQLite refuses the nested BEGIN: the script's error, rolled back.
        run.stderr_has("cannot start a transaction within a transaction");
        assert_eq!(missing, 8);
        p.app(&["run", "--retry", RESET], &[]).code(0);
    } else {
        // diesel's COMMIT ended oneoff's transaction: committed behind its
        // back, so `--retry` refuses to run it again.
        run.stderr_has("`conn.transaction(…)` included");
        assert_eq!(missing, 0);
        p.app(&["run", "--retry", RESET], &[]).code(3);
        assert_eq!(status_of(&p, RESET), "failed");
    }
}

fn a_timeout_stops_a_rust_script_at_its_next_context_call_and_retry_resumes(p: Project) {
    tables(&p);
    p.app(&["run", RESET], &[]).code(0);
    // Each step sleeps 1.5 s after its checkpoint, outside any Context call.
    let run = p.app(
        &["run", "--timeout", "1s"],
        &[("ONEOFF_EXAMPLE_STEP_MS", "1500")],
    );
    run.code(1)
        .stderr_has("timeout after 1s")
        .stderr_has("`oneoff run --retry` resumes from the last");
    assert_eq!(status_of(&p, CODES), "failed");
    // The first step committed with its checkpoint; the stop came at the
    // next call, before the second step's work.
    assert_eq!(steps(&p, "codes"), 1);
    let stopped = entry(&p, CODES);
    assert_eq!(stopped["progress"]["rows_done"], 4, "{stopped:#}");
    assert_eq!(stopped["progress"]["rows_total"], 24, "{stopped:#}");
    assert_eq!(status_of(&p, ANNOUNCE), "pending");
    p.app(&["run", "--retry"], &[]).code(0);
    assert_eq!(steps(&p, "codes"), 6);
    assert_eq!(
        p.db.count("SELECT COUNT(DISTINCT step) AS n FROM steps WHERE script = 'codes'"),
        6
    );
}

fn sigterm_stops_a_rust_script_at_its_next_context_call_and_retry_resumes(p: Project) {
    tables(&p);
    p.app(&["run", RESET], &[]).code(0);
    let child = p
        .app_cmd()
        .args(["run"])
        .env("ONEOFF_EXAMPLE_STEP_MS", "1000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the app");
    let deadline = Instant::now() + Duration::from_secs(60);
    while steps(&p, "codes") < 1 {
        assert!(Instant::now() < deadline, "no checkpoint committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let (code, text) = crate::support::finish(child);
    assert_eq!(code, Some(130), "{text}");
    // The steps that checkpointed stay; the script is interrupted, not restored.
    let committed = steps(&p, "codes");
    assert!((1..6).contains(&committed), "{committed} steps\n{text}");
    assert_eq!(status_of(&p, CODES), "interrupted", "{text}");
    assert_eq!(status_of(&p, ANNOUNCE), "pending");
    p.app(&["run", "--retry"], &[]).code(0);
    assert_eq!(steps(&p, "codes"), 6);
    assert_eq!(
        p.db.count("SELECT COUNT(DISTINCT step) AS n FROM steps WHERE script = 'codes'"),
        6
    );
}

fn a_rust_script_that_writes_the_ledger_through_its_connection_is_rolled_back(p: Project) {
    tables(&p);
    let run = p.app(&["run", RESET], &[("ONEOFF_EXAMPLE_HOOK", "conn_ledger")]);
    run.code(1);
    let entry = entry(&p, RESET);
    assert_eq!(entry["status"], "failed", "{entry:#}");
    assert_eq!(entry["attempts"], 1, "{entry:#}");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
        8
    );
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_ledger WHERE attempts = 99"),
        0
    );
}

// Checks that need no database server: once, on SQLite.

#[test]
fn new_rust_writes_a_rust_stub_that_status_lists_and_the_standalone_binary_refuses() {
    let p = Project::new(crate::support::Backend::Sqlite).expect("sqlite");
    let run = p.oneoff(&["new", "--rust", "Fix", "orders"]);
    run.code(0);
    let path = std::path::PathBuf::from(run.stdout().trim());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("_fix_orders.rs"), "{name}");
    let text = std::fs::read_to_string(p.dir.path().join(&path)).unwrap();
    assert!(text.starts_with("// Fix orders\n"), "{text}");
    assert!(text.contains("pub fn run(ctx: &mut Context) -> oneoff::ScriptResult {"));
    let id = &name[..14];
    let entry = p.entry(id);
    assert_eq!(
        (entry["kind"].as_str(), entry["status"].as_str()),
        (Some("rust"), Some("pending"))
    );
    assert_eq!(entry["description"], "Fix orders");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has(&name)
        .stderr_has("nothing ran");
    assert_eq!(p.status_of(id), "pending");
}

#[test]
fn a_rust_script_with_a_sql_only_directive_is_refused_before_anything_runs() {
    let p = Project::new(crate::support::Backend::Sqlite).expect("sqlite");
    p.effect_script("20260101000000", "first");
    std::fs::write(
        p.scripts().join("20260102000000_batched.rs"),
        "// Batched\n// oneoff:batch\nuse oneoff::Context;\n\npub fn run(_: &mut Context) -> oneoff::ScriptResult {\n    Ok(())\n}\n",
    )
    .unwrap();
    for args in [&["status"][..], &["run"][..]] {
        p.oneoff(args)
            .code(2)
            .stderr_has("20260102000000_batched.rs")
            .stderr_has("are for SQL scripts")
            .stderr_has("ctx.checkpoint(&cursor)");
    }
    assert!(
        !p.db.has_table("oneoff_ledger"),
        "the run touched the database"
    );
}

on_all_backends!(
    external_changes_of_a_rust_script_are_listed_and_refuse_a_revert,
    a_failed_attempt_keeps_the_external_changes_a_rollback_cannot_undo,
);

/// The JSON of `oneoff changes ID`.
fn changes_of(p: &Project, id: &str) -> serde_json::Value {
    let run = p.app(&["changes", id, "--json"], &[]);
    run.code(0);
    serde_json::from_str(&run.stdout()).expect("changes JSON")
}

fn external_changes_of_a_rust_script_are_listed_and_refuse_a_revert(p: Project) {
    // A dry run keeps none, and says so.
    tables(&p);
    p.app(&["run", "--dry-run"], &[])
        .code(0)
        .stdout_has("external change to outbox \"order-codes\" (a dry run keeps none)");
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_changes"), 0);
    p.app(&["run"], &[]).code(0);
    let changes = changes_of(&p, ANNOUNCE);
    assert_eq!(changes["total"], 1, "{changes:#}");
    assert_eq!(
        changes["changes"][0],
        serde_json::json!({"table": "outbox", "op": "external", "key": "order-codes", "old": null, "new": "order codes are ready"})
    );
    p.app(&["changes", ANNOUNCE], &[])
        .code(0)
        .stdout_has("external outbox \"order-codes\": \"order codes are ready\"");
    // revert cannot take a sent message back: refused, nothing changed.
    let snapshot = p.ledger_snapshot();
    p.app(&["revert", ANNOUNCE, "--reason", "wrong codes"], &[])
        .code(3)
        .stderr_has("1 change(s) outside the database")
        .stderr_has("outbox \"order-codes\"")
        .stderr_has("undo them yourself");
    assert_eq!(p.ledger_snapshot(), snapshot);
    assert_eq!(status_of(&p, ANNOUNCE), "succeeded");
    assert_eq!(steps(&p, "announce"), 1);
}

fn a_failed_attempt_keeps_the_external_changes_a_rollback_cannot_undo(p: Project) {
    tables(&p);
    p.app(
        &["run", RESET],
        &[("ONEOFF_EXAMPLE_HOOK", "external_then_fail")],
    )
    .code(1)
    .stderr_has("the CRM answered 500");
    assert_eq!(status_of(&p, RESET), "failed");
    // The database work rolled back; the CRM's change is on record.
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM orders WHERE total IS NULL"),
        8
    );
    let changes = changes_of(&p, RESET);
    assert_eq!(
        changes["changes"],
        serde_json::json!([{"table": "crm.contacts", "op": "external", "key": 7, "old": "old@example.com", "new": "new@example.com"}]),
        "{changes:#}"
    );
}

#[test]
fn a_rust_script_marked_revertible_is_refused_and_pointed_at_record_change() {
    let p = Project::new(crate::support::Backend::Sqlite).expect("sqlite");
    std::fs::write(
        p.scripts().join("20260102000000_undoable.rs"),
        "// Undoable\n// oneoff:revertible\nuse oneoff::Context;\n\npub fn run(_: &mut Context) -> oneoff::ScriptResult {\n    Ok(())\n}\n",
    )
    .unwrap();
    p.oneoff(&["check"])
        .code(2)
        .stdout_has("20260102000000_undoable.rs")
        .stdout_has("ctx.record_change");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("20260102000000_undoable.rs")
        .stderr_has("ctx.record_change");
    assert!(
        !p.db.has_table("oneoff_ledger"),
        "the run touched the database"
    );
}
