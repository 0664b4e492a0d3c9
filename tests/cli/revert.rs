//! `-- oneoff:revertible`, `oneoff changes` and `oneoff revert`: the change
//! log a revertible script records in its transaction, and undoing it.

use crate::on_all_backends;
use crate::support::{finish, slow_sql, spawn_run, wait_until_running, Backend, Project};

const ID: &str = "20261201000000";

/// `accounts`, with four rows.
fn with_accounts(p: &Project) {
    p.db.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR(20) NOT NULL, balance INTEGER NOT NULL, note VARCHAR(40))",
    );
    p.db.execute(
        "INSERT INTO accounts (id, owner, balance, note) VALUES (1, 'ann', 10, NULL), (2, 'bob', 20, 'vip'), (3, 'cid', 30, NULL), (4, 'dan', 40, 'x')",
    );
}

/// Every row of `accounts`, as text, in id order.
fn accounts(p: &Project) -> Vec<String> {
    let cols = ["id", "owner", "balance", "note"];
    let expr = match p.db.backend {
        Backend::Mysql => format!(
            "CONCAT_WS('|', {})",
            cols.map(|c| format!("COALESCE(CAST({c} AS CHAR), 'NULL')"))
                .join(", ")
        ),
        _ => cols
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), 'NULL')"))
            .join(" || '|' || "),
    };
    p.db.lines(&format!("SELECT {expr} AS line FROM accounts ORDER BY id"))
}

/// A revertible script that inserts, updates (twice, and to and from NULL) and deletes.
fn revertible_script(p: &Project) {
    p.script(
        ID,
        "fix_accounts",
        "-- Fix the accounts\n-- oneoff:revertible\n\
         INSERT INTO accounts (id, owner, balance, note) VALUES (5, 'eve', 50, NULL), (6, 'fay', 60, 'new');\n\
         UPDATE accounts SET balance = balance + 1, note = 'bumped' WHERE id IN (1, 5);\n\
         UPDATE accounts SET note = NULL WHERE id = 2;\n\
         UPDATE accounts SET balance = 0 WHERE id = 1;\n\
         DELETE FROM accounts WHERE id IN (3, 6);\n",
    );
}

fn changes_json(p: &Project) -> serde_json::Value {
    let run = p.oneoff(&["changes", ID, "--json"]);
    run.code(0);
    serde_json::from_str(&run.stdout()).expect("changes --json is JSON")
}

fn revert_of_inserts_updates_and_deletes_restores_the_table_exactly(p: Project) {
    with_accounts(&p);
    let before = accounts(&p);
    revertible_script(&p);
    p.oneoff(&["run"]).code(0);
    assert_ne!(accounts(&p), before);
    let log = changes_json(&p);
    assert_eq!(log["script"], ID);
    // 2 inserts, 2 + 1 + 1 updates, 2 deletes.
    assert_eq!(log["total"], 8, "{log:#}");
    let ops: Vec<&str> = log["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops.iter().filter(|o| **o == "insert").count(), 2, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| **o == "update").count(), 4, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| **o == "delete").count(), 2, "{ops:?}");
    let first = &log["changes"][0];
    assert_eq!(first["table"], "accounts");
    assert_eq!(first["key"]["id"], 5, "{first:#}");
    assert!(
        first["old"].is_null() && first["new"]["owner"] == "eve",
        "{first:#}"
    );
    let limited: serde_json::Value = serde_json::from_str(
        &p.oneoff(&["changes", ID, "--json", "--limit", "3"])
            .code(0)
            .stdout(),
    )
    .unwrap();
    assert_eq!(limited["changes"].as_array().unwrap().len(), 3);
    assert_eq!(limited["total"], 8);
    p.oneoff(&["changes", ID])
        .code(0)
        .stdout_has("balance 10 -> 11");
    p.oneoff(&["show", ID])
        .code(0)
        .stdout_has("change log:  8 change(s) (2 delete, 2 insert, 4 update)");
    let shown: serde_json::Value =
        serde_json::from_str(&p.oneoff(&["show", ID, "--json"]).code(0).stdout()).unwrap();
    assert_eq!(shown["changes"]["total"], 8, "{shown:#}");

    p.oneoff(&["revert", ID, "--reason", "wrong accounts"])
        .code(0)
        .stdout_has("reverted 8 change(s)");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_invocations WHERE command = 'revert'"),
        1,
        "the decision is in the audit trail with who, where and which database user"
    );
    assert_eq!(accounts(&p), before);
    assert_eq!(p.status_of(ID), "reverted");
    let history = p.db.lines(&format!(
        "SELECT note AS line FROM oneoff_runs WHERE script_id = '{ID}' AND status = 'reverted' AND rows_affected = 8 AND run_by LIKE 'tester@%'"
    ));
    assert_eq!(history, ["wrong accounts"]);
    // A reverted script never runs again on its own.
    p.oneoff(&["run"]).code(0);
    assert_eq!(accounts(&p), before);
    p.oneoff(&["run", ID]).code(3).stderr_has("reverted");
}

fn a_row_changed_since_the_script_is_a_conflict_and_nothing_is_reverted(p: Project) {
    with_accounts(&p);
    let before = accounts(&p);
    revertible_script(&p);
    p.oneoff(&["run"]).code(0);
    p.db.execute("UPDATE accounts SET balance = 99 WHERE id = 5");
    let changed = accounts(&p);
    let ledger = p.ledger_snapshot();
    p.oneoff(&["revert", ID, "--reason", "undo"])
        .code(3)
        .stdout_has("1 row(s) changed since script")
        .stdout_has("\"balance\":99")
        .stdout_has("--force");
    assert_eq!(accounts(&p), changed, "nothing reverted");
    assert_eq!(p.ledger_snapshot(), ledger, "ledger unchanged");
    assert_eq!(p.status_of(ID), "succeeded");
    // A dry run shows the same and changes nothing.
    p.oneoff(&["revert", ID, "--reason", "undo", "--dry-run"])
        .code(3)
        .stdout_has("dry run");
    assert_eq!(accounts(&p), changed);

    p.oneoff(&["revert", ID, "--reason", "undo anyway", "--force"])
        .code(0)
        .stdout_has("--force");
    assert_eq!(accounts(&p), before);
    let note = p.db.lines(&format!(
        "SELECT note AS line FROM oneoff_runs WHERE script_id = '{ID}' AND status = 'reverted'"
    ));
    assert_eq!(note.len(), 1);
    assert!(
        note[0].contains("undo anyway") && note[0].contains("--force: overwrote 1 row(s)"),
        "{note:?}"
    );
}

fn a_second_revert_is_refused(p: Project) {
    with_accounts(&p);
    revertible_script(&p);
    p.oneoff(&["run"]).code(0);
    p.oneoff(&["revert", ID, "--reason", "first"]).code(0);
    let rows = accounts(&p);
    let ledger = p.ledger_snapshot();
    p.oneoff(&["revert", ID, "--reason", "second"])
        .code(3)
        .stderr_has("already reverted")
        .stderr_has("first");
    assert_eq!(accounts(&p), rows);
    assert_eq!(p.ledger_snapshot(), ledger);
}

fn again_runs_a_reverted_script_once_more(p: Project) {
    with_accounts(&p);
    revertible_script(&p);
    p.oneoff(&["run"]).code(0);
    let after_first = accounts(&p);
    p.oneoff(&["revert", ID, "--reason", "oops"]).code(0);
    p.oneoff(&["run", ID, "--again"])
        .code(2)
        .stderr_has("--reason");
    p.oneoff(&["run", ID, "--again", "--reason", "fixed upstream"])
        .code(0);
    assert_eq!(accounts(&p), after_first);
    assert_eq!(p.status_of(ID), "succeeded");
    // The new attempt's changes are the ones listed and reverted.
    assert_eq!(changes_json(&p)["total"], 8);
    p.oneoff(&["revert", ID, "--reason", "again oops"]).code(0);
    assert_eq!(p.status_of(ID), "reverted");
}

fn a_script_that_did_not_record_changes_cannot_be_reverted(p: Project) {
    with_accounts(&p);
    p.script(ID, "plain", "UPDATE accounts SET balance = 0;\n");
    p.oneoff(&["run"]).code(0);
    let ledger = p.ledger_snapshot();
    p.oneoff(&["revert", ID, "--reason", "undo"])
        .code(3)
        .stderr_has("has no change log");
    assert_eq!(p.ledger_snapshot(), ledger);
    p.oneoff(&["revert", ID, "--reason", " "])
        .code(2)
        .stderr_has("--reason is blank");
}

fn an_untrackable_statement_refuses_the_script_before_it_runs(p: Project) {
    with_accounts(&p);
    p.db.execute("CREATE TABLE nokey (a INTEGER)");
    let rows = accounts(&p);
    for (body, message) in [
        (
            "UPDATE accounts SET balance = 1;\nTRUNCATE accounts;\n",
            "statement 2 (line 3): TRUNCATE",
        ),
        (
            "ALTER TABLE accounts ADD COLUMN c INTEGER;\n",
            "ALTER TABLE",
        ),
        ("INSERT INTO nokey (a) VALUES (1);\n", "has no primary key"),
        ("UPDATE missing SET a = 1;\n", "does not exist"),
        (
            "INSERT INTO oneoff_changes (script_id) VALUES ('x');\n",
            "oneoff_changes",
        ),
        (
            "INSERT INTO oneoff_capture (capture) VALUES ('x');\n",
            "oneoff_capture",
        ),
    ] {
        let path = p.script(ID, "bad", &format!("-- oneoff:revertible\n{body}"));
        let ledger = p.ledger_snapshot();
        p.oneoff(&["run"]).code(2).stderr_has(message);
        assert_eq!(p.ledger_snapshot(), ledger, "{body}");
        assert_eq!(accounts(&p), rows, "{body}");
        std::fs::remove_file(path).unwrap();
    }
}

fn a_concurrent_writer_is_never_captured_nor_reverted(p: Project) {
    with_accounts(&p);
    // A revertible script may not say DO (MySQL's slow statement).
    let slow = slow_sql(p.db.backend, 2).replace("DO SLEEP", "SELECT SLEEP");
    p.script(
        ID,
        "slow_fix",
        &format!("-- oneoff:revertible\nUPDATE accounts SET balance = 0 WHERE id = 1;\n{slow};\nUPDATE accounts SET balance = 1 WHERE id = 2;\n"),
    );
    let runner = spawn_run(&p, &[]);
    wait_until_running(&p, ID);
    // Another session writes the same table while the script runs (it may
    // wait for the script's locks; it never sees its triggers).
    let (backend, url) = (p.db.backend, p.db.url.clone());
    let writer = std::thread::spawn(move || {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let insert = "INSERT INTO accounts (id, owner, balance) VALUES (7, 'other', 70)";
        match backend {
            Backend::Sqlite => {
                diesel::SqliteConnection::establish(url.trim_start_matches("sqlite://"))
                    .unwrap()
                    .batch_execute(&format!("PRAGMA busy_timeout = 30000; {insert}"))
            }
            Backend::Postgres => diesel::PgConnection::establish(&url)
                .unwrap()
                .batch_execute(insert),
            Backend::Mysql => diesel::MysqlConnection::establish(&url)
                .unwrap()
                .batch_execute(insert),
        }
        .expect("the concurrent insert");
    });
    let (code, output) = finish(runner);
    writer.join().expect("the concurrent writer");
    assert_eq!(code, Some(0), "{output}");
    let log = changes_json(&p);
    assert_eq!(log["total"], 2, "only the script's own rows: {log:#}");
    assert!(
        log["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["key"]["id"] != 7),
        "{log:#}"
    );
    p.oneoff(&["revert", ID, "--reason", "undo"]).code(0);
    let rows = accounts(&p);
    assert!(rows.contains(&"7|other|70|NULL".to_string()), "{rows:?}");
    assert!(rows.contains(&"1|ann|10|NULL".to_string()), "{rows:?}");
}

on_all_backends!(
    revert_of_inserts_updates_and_deletes_restores_the_table_exactly,
    a_row_changed_since_the_script_is_a_conflict_and_nothing_is_reverted,
    a_second_revert_is_refused,
    again_runs_a_reverted_script_once_more,
    a_script_that_did_not_record_changes_cannot_be_reverted,
    an_untrackable_statement_refuses_the_script_before_it_runs,
    a_concurrent_writer_is_never_captured_nor_reverted,
);

fn a_failed_revertible_script_leaves_no_change_log_and_no_triggers(p: Project) {
    with_accounts(&p);
    let rows = accounts(&p);
    p.script(
        ID,
        "fails",
        "-- oneoff:revertible\nUPDATE accounts SET balance = 0;\nINSERT INTO accounts (id, owner, balance) VALUES (1, 'dup', 0);\n",
    );
    p.oneoff(&["run"]).code(1);
    assert_eq!(accounts(&p), rows);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_changes"), 0);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_capture"), 0);
    let triggers = match p.db.backend {
        Backend::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger'",
        Backend::Postgres => "SELECT COUNT(*) AS n FROM pg_trigger WHERE NOT tgisinternal",
        Backend::Mysql => "SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
    };
    assert_eq!(p.db.count(triggers), 0);
    // Once fixed, it runs and records its changes.
    p.script(
        ID,
        "fails",
        "-- oneoff:revertible\nUPDATE accounts SET balance = 0;\n",
    );
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(changes_json(&p)["total"], 4);
    assert_eq!(p.db.count(triggers), 0);
}

on_all_backends!(a_failed_revertible_script_leaves_no_change_log_and_no_triggers);

/// A function the static rules cannot see into switches triggers off:
/// caught after the statements, rolled back.
#[test]
fn postgres_a_script_that_switches_triggers_off_is_rolled_back() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    with_accounts(&p);
    let rows = accounts(&p);
    p.script(
        ID,
        "sneaky",
        "-- oneoff:revertible\nSELECT set_config('session_replication_role', 'replica', false);\nUPDATE accounts SET balance = 0;\n",
    );
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("session_replication_role");
    assert_eq!(accounts(&p), rows);
    assert_eq!(p.status_of(ID), "failed");
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_changes"), 0);
}

/// Triggers a killed runner left behind are dropped by the next revertible run.
#[test]
fn mysql_capture_triggers_left_by_a_dead_runner_are_dropped() {
    let Some(p) = Project::new(Backend::Mysql) else {
        return;
    };
    with_accounts(&p);
    p.oneoff(&["status"]).code(0);
    p.oneoff(&["run"]).code(0); // creates the ledger
    p.db.execute(
        "CREATE TRIGGER oneoff_capture_dead_0_u AFTER UPDATE ON accounts FOR EACH ROW \
         INSERT INTO oneoff_capture (capture, table_name, op, row_key) SELECT 'dead', 'accounts', 'update', '{}' FROM DUAL WHERE @oneoff_capture_dead = 1",
    );
    p.script(
        ID,
        "fix",
        "-- oneoff:revertible\nUPDATE accounts SET balance = 0 WHERE id = 1;\n",
    );
    p.oneoff(&["run"]).code(0);
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"),
        0
    );
    assert_eq!(changes_json(&p)["total"], 1);
}

fn a_dry_run_of_a_revertible_script_records_nothing_and_a_conflict_lists_as_json(p: Project) {
    with_accounts(&p);
    let before = accounts(&p);
    revertible_script(&p);
    p.oneoff(&["run", "--dry-run"]).code(0);
    assert_eq!(accounts(&p), before);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_changes"), 0);
    p.oneoff(&["run"]).code(0);
    p.db.execute("DELETE FROM accounts WHERE id = 5");
    let run = p.oneoff(&["revert", ID, "--reason", "undo", "--json"]);
    run.code(3);
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout()).expect("revert --json is JSON");
    assert_eq!(report["reverted"], false, "{report:#}");
    let conflicts = report["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{report:#}");
    assert_eq!(conflicts[0]["key"]["id"], 5);
    assert!(conflicts[0]["now"].is_null(), "the row is gone: {report:#}");
    assert_eq!(p.status_of(ID), "succeeded");
}

on_all_backends!(a_dry_run_of_a_revertible_script_records_nothing_and_a_conflict_lists_as_json);
