//! Scripts too large to hold: read again when they run, failed (and rolled
//! back) if the file changed since its statements were checked, and summarised in human output
//! while `--json` lists every statement. The file-change check does not
//! depend on the backend, so it runs on SQLite only.

use crate::support::{finish, slow_sql, spawn_run, wait_until_running, Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";

/// Comment lines that take a script past the size kept in memory (1 MiB),
/// so that it is read from its file again when it runs.
fn padding() -> String {
    "-- padding to make the file larger than what oneoff keeps in memory\n".repeat(20_000)
}

#[test]
fn a_large_script_edited_after_its_check_is_rolled_back() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    let p = p.with_effects();
    p.script(
        A,
        "slow",
        &format!(
            "-- slow\nINSERT INTO effects (script) VALUES ('{A}');\n{};\n",
            slow_sql(Backend::Sqlite, 3)
        ),
    );
    let large = |value: &str| {
        format!(
            "-- large\nINSERT INTO effects (script) VALUES ('{value}');\n{}",
            padding()
        )
    };
    let path = p.script(B, "large", &large(B));
    let child = spawn_run(&p, &[]);
    wait_until_running(&p, A);
    // Checked and planned as it was; rewritten before its turn.
    std::fs::write(&path, large("edited")).unwrap();
    let (code, all) = finish(child);
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains("the file changed while it ran"), "{all}");
    assert_eq!(p.effects(A), 1);
    assert_eq!(p.effects(B) + p.effects("edited"), 0, "rolled back: {all}");
    assert_eq!(p.status_of(B), "failed");
    // Run again, the file as it is now is checked and runs.
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(p.effects("edited"), 1);
}

#[test]
fn a_large_script_edited_to_hold_a_refused_statement_does_not_run_it() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    let p = p.with_effects();
    p.script(
        A,
        "slow",
        &format!("-- slow\n{};\n", slow_sql(Backend::Sqlite, 3)),
    );
    let body = |statement: &str| {
        format!(
            "-- large\n-- oneoff:no-transaction\n{statement};\nINSERT INTO effects (script) VALUES ('{B}');\n{}",
            padding()
        )
    };
    let path = p.script(B, "large", &body("SELECT 1"));
    let child = spawn_run(&p, &[]);
    wait_until_running(&p, A);
    std::fs::write(&path, body("DELETE FROM oneoff_ledger")).unwrap();
    let (code, all) = finish(child);
    assert_eq!(code, Some(1), "{all}");
    assert!(
        all.contains("now refused: statement 1 (line 3): oneoff_ledger"),
        "{all}"
    );
    assert_eq!(p.effects(B), 0, "{all}");
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(p.status_of(B), "failed");
}

#[test]
fn a_large_script_runs_from_its_file_with_the_checksum_of_its_text() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    let p = p.with_effects();
    let body = format!(
        "\u{feff}-- large\r\nINSERT INTO effects (script) VALUES ('{B}');\r\n{}",
        padding()
    );
    p.script(B, "large", &body);
    p.oneoff(&["run"]).code(0);
    assert_eq!(p.effects(B), 1);
    let normalised = body.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let expected = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(normalised.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(p.entry(B)["checksum"], expected.as_str());
}

#[test]
fn a_dry_run_lists_the_first_statements_and_sums_up_the_rest_while_json_lists_all() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    let p = p.with_effects();
    let inserts: String = (0..100)
        .map(|i| format!("INSERT INTO effects (script) VALUES ('{i}');\n"))
        .collect();
    p.script(A, "many", &format!("-- many\n{inserts}"));
    let human = p.oneoff(&["run", "--dry-run"]);
    human
        .code(0)
        .stdout_has("statement 20 (line 21): 1 row")
        .stdout_has("… 80 more statements, to statement 100 (line 101): 80 rows");
    assert!(
        !human.stdout().contains("statement 21 (line"),
        "{}",
        human.stdout()
    );
    let json = p.oneoff(&["run", "--dry-run", "--json"]);
    json.code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout()).expect("JSON");
    let statements = doc["scripts"][0]["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 100);
    assert_eq!(statements[99]["line"], 101);
}
