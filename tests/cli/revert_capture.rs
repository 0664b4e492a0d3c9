//! How a revertible script's rows are captured, path by path: on SQLite the
//! pre-update hook and the trigger fallback record the same log (the
//! fallback forced with `ONEOFF_SQLITE_CAPTURE=triggers`, as on a library
//! built without the hook); tables whose key is not the rowid, WITHOUT
//! ROWID tables, generated columns, savepoints and values JSON cannot hold.

use crate::support::{Backend, Project, Run};

const ID: &str = "20261203000000";

/// The two SQLite capture paths, by the environment that picks them.
const PATHS: [(&str, &str); 2] = [
    ("hook", "pre-update hook"),
    ("triggers", "temporary triggers"),
];

/// `oneoff ARGS` with the SQLite capture path forced, logging which one ran.
fn on_path(p: &Project, path: &str, args: &[&str]) -> Run {
    let mut cmd = p.cmd();
    cmd.env("ONEOFF_LOG", "oneoff=debug");
    if path == "triggers" {
        cmd.env("ONEOFF_SQLITE_CAPTURE", "triggers");
    }
    Run {
        output: cmd.args(args).output().expect("run oneoff"),
    }
}

/// Every row of `table`, as its JSON text (SQLite's own), in key order.
fn rows(p: &Project, table: &str, columns: &[&str], order: &str) -> Vec<String> {
    let pairs: Vec<String> = columns.iter().map(|c| format!("'{c}', {c}")).collect();
    p.db.lines(&format!(
        "SELECT json_object({}) AS line FROM {table} ORDER BY {order}",
        pairs.join(", ")
    ))
}

/// The change log of the script's latest attempt, without the attempt.
fn log(p: &Project) -> Vec<serde_json::Value> {
    let run = p.oneoff(&["changes", ID, "--json"]);
    run.code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    doc["changes"].as_array().expect("changes").clone()
}

/// A table to compare: its name, columns and order.
type Table<'a> = (&'a str, &'a [&'a str], &'a str);

/// Runs `body` as a revertible script on each path, each on a fresh
/// database made by `setup` (a revert may move rows, and with them the
/// order an UPDATE visits them in); checks that each path recorded the same
/// log and that revert restored the table exactly; returns the log.
fn same_log_on_both_paths(setup: &str, body: &str, table: Table<'_>) -> Vec<serde_json::Value> {
    let (name, columns, order) = table;
    let mut logs = Vec::new();
    for (path, said) in PATHS {
        let Some(p) = Project::new(Backend::Sqlite) else {
            return Vec::new();
        };
        p.db.execute(setup);
        let before = rows(&p, name, columns, order);
        p.script(ID, "fix", &format!("-- fix\n-- oneoff:revertible\n{body}"));
        on_path(&p, path, &["run"]).code(0).stderr_has(said);
        assert_ne!(rows(&p, name, columns, order), before, "{path}");
        logs.push(log(&p));
        p.oneoff(&["revert", ID, "--reason", path]).code(0);
        assert_eq!(
            rows(&p, name, columns, order),
            before,
            "{path}: reverted exactly"
        );
    }
    assert_eq!(
        logs[0], logs[1],
        "the hook and the triggers record the same log"
    );
    logs.remove(0)
}

#[test]
fn sqlite_hook_and_triggers_record_the_same_values_of_every_type() {
    let log = same_log_on_both_paths(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, r REAL, t TEXT, n NUMERIC, x);\
         INSERT INTO m VALUES (1, 0.1, 'it''s \"quoted\" \\ é', 10, NULL), (2, 1e300, '', 2.5, 'any'), (3, -0.0, NULL, NULL, 7)",
        "INSERT INTO m VALUES (4, 1.0 / 3, 'new' || char(10) || 'line', 1, 2.0);\n\
         UPDATE m SET r = r * 3, t = t || '!', x = NULL WHERE id IN (1, 2, 4);\n\
         DELETE FROM m WHERE id = 3;\n",
        ("m", &["id", "r", "t", "n", "x"], "id"),
    );
    let ops: Vec<&str> = log.iter().map(|c| c["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["insert", "update", "update", "update", "delete"]);
    assert_eq!(log[0]["key"], serde_json::json!({"id": 4}));
}

/// Hundreds of rows in one statement go to the log in batches; rows with a
/// REAL value among them are written one by one, in their place.
#[test]
fn sqlite_a_large_statement_with_some_real_values_is_recorded_in_order() {
    let log = same_log_on_both_paths(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, v); \
         INSERT INTO big (id, v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300) \
         SELECT x, CASE WHEN x % 70 = 0 THEN x + 0.5 ELSE x END FROM c",
        "UPDATE big SET v = v * 2;\nDELETE FROM big WHERE id > 290;\n",
        ("big", &["id", "v"], "id"),
    );
    assert_eq!(log.len(), 310);
    let keys: Vec<i64> = log[..300]
        .iter()
        .map(|c| c["key"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        keys,
        (1..=300).collect::<Vec<_>>(),
        "in the order SQLite changed them"
    );
    assert_eq!(log[69]["new"]["v"], 141.0);
}

#[test]
fn sqlite_a_without_rowid_table_with_a_composite_text_key_is_captured_and_reverted() {
    let log = same_log_on_both_paths(
        "CREATE TABLE w (region TEXT NOT NULL, code TEXT NOT NULL, qty INTEGER, PRIMARY KEY (code, region)) WITHOUT ROWID;\
         INSERT INTO w VALUES ('eu', 'a', 1), ('us', 'a', 2), ('eu', 'b', 3)",
        "INSERT INTO w VALUES ('ap', 'c', 9);\nUPDATE w SET qty = qty * 10 WHERE code = 'a';\nDELETE FROM w WHERE code = 'b';\n",
        ("w", &["region", "code", "qty"], "code, region"),
    );
    assert_eq!(log.len(), 4, "{log:#?}");
    assert_eq!(
        log[1]["key"],
        serde_json::json!({"code": "a", "region": "eu"})
    );
}

#[test]
fn sqlite_a_rowid_table_keyed_by_another_column_keeps_that_key() {
    let log = same_log_on_both_paths(
        "CREATE TABLE k (code TEXT PRIMARY KEY, n INTEGER NOT NULL);\
         INSERT INTO k VALUES ('x', 1), ('y', 2)",
        "UPDATE k SET n = n + 1;\nDELETE FROM k WHERE code = 'x';\nINSERT INTO k VALUES ('x', 5);\n",
        ("k", &["code", "n"], "code"),
    );
    assert_eq!(log.len(), 4);
    assert!(
        log.iter()
            .all(|c| c["key"].as_object().unwrap().keys().eq(["code"])),
        "{log:#?}"
    );
}

#[test]
fn sqlite_a_savepoint_rolled_back_by_the_script_leaves_nothing_in_the_log() {
    let log = same_log_on_both_paths(
        "CREATE TABLE s (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO s VALUES (1, 0), (2, 0)",
        "SAVEPOINT a;\nUPDATE s SET v = 1;\nROLLBACK TO a;\nRELEASE a;\nUPDATE s SET v = 2 WHERE id = 2;\n",
        ("s", &["id", "v"], "id"),
    );
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["new"], serde_json::json!({"id": 2, "v": 2}));
}

#[test]
fn sqlite_a_table_with_a_generated_column_falls_back_to_triggers() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    p.db.execute(
        "CREATE TABLE g (id INTEGER PRIMARY KEY, v INTEGER, twice INTEGER GENERATED ALWAYS AS (v * 2));\
         INSERT INTO g (id, v) VALUES (1, 1)",
    );
    p.script(
        ID,
        "fix",
        "-- fix\n-- oneoff:revertible\nUPDATE g SET v = 5;\n",
    );
    on_path(&p, "hook", &["run"])
        .code(0)
        .stderr_has("temporary triggers");
    assert_eq!(log(&p)[0]["new"], serde_json::json!({"id": 1, "v": 5}));
    p.oneoff(&["revert", ID, "--reason", "undo"]).code(0);
    assert_eq!(
        p.db.lines("SELECT v || ',' || twice AS line FROM g"),
        ["1,2"]
    );
}

#[test]
fn sqlite_a_blob_fails_the_script_on_both_paths_and_nothing_is_kept() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    p.db.execute(
        "CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB); INSERT INTO b VALUES (1, NULL)",
    );
    p.script(
        ID,
        "fix",
        "-- fix\n-- oneoff:revertible\nUPDATE b SET data = NULL;\nUPDATE b SET data = x'00ff';\n",
    );
    for (path, _) in PATHS {
        let ledger = p.ledger_snapshot();
        on_path(&p, path, &["run", "--retry"])
            .code(1)
            .stderr_has("statement 2 (line 4)")
            .stderr_has("BLOB");
        assert_eq!(
            p.db.lines("SELECT quote(data) AS line FROM b"),
            ["NULL"],
            "{path}"
        );
        assert_eq!(
            p.db.count("SELECT COUNT(*) AS n FROM oneoff_changes"),
            0,
            "{path}"
        );
        assert_ne!(
            p.ledger_snapshot(),
            ledger,
            "{path}: the failure is recorded"
        );
        assert_eq!(p.status_of(ID), "failed");
    }
}

/// `accounts` with three rows, and an earlier revertible script whose
/// change log a hostile routine may go for.
fn with_an_earlier_log(p: &Project) {
    p.db.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); \
         INSERT INTO accounts (id, balance) VALUES (1, 10), (2, 20), (3, 30)",
    );
    p.script(
        EARLIER,
        "earlier",
        "-- earlier\n-- oneoff:revertible\nUPDATE accounts SET balance = balance + 1 WHERE id = 1;\n",
    );
    p.oneoff(&["run"]).code(0);
}

const EARLIER: &str = "20261202000000";

/// The balances, in id order.
fn balances(p: &Project) -> Vec<String> {
    let text = match p.db.backend {
        Backend::Mysql => "CHAR",
        _ => "TEXT",
    };
    p.db.lines(&format!(
        "SELECT CAST(balance AS {text}) AS line FROM accounts ORDER BY id"
    ))
}

fn a_savepoint_rolled_back_after_recorded_rows_keeps_only_the_kept_rows(p: Project) {
    with_an_earlier_log(&p);
    p.script(
        ID,
        "fix",
        "-- fix\n-- oneoff:revertible\nSAVEPOINT a;\nUPDATE accounts SET balance = 0;\nROLLBACK TO SAVEPOINT a;\nRELEASE SAVEPOINT a;\nUPDATE accounts SET balance = 99 WHERE id = 2;\n",
    );
    p.oneoff(&["run"]).code(0);
    let log = log(&p);
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["key"]["id"], 2);
    assert_eq!(balances(&p), ["11", "99", "30"]);
    p.oneoff(&["revert", ID, "--reason", "undo"]).code(0);
    assert_eq!(balances(&p), ["11", "20", "30"]);
}

crate::on_all_backends!(a_savepoint_rolled_back_after_recorded_rows_keeps_only_the_kept_rows);

/// On PostgreSQL the capture writes `oneoff_changes` while the script runs;
/// a routine of the script's that writes there too is still caught: a row
/// forged for another script, inserted, deleted or changed.
#[test]
fn postgres_a_routine_writing_the_change_log_during_a_revertible_script_is_caught() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    with_an_earlier_log(&p);
    let forged = format!(
        "INSERT INTO oneoff_changes (script_id, run_id, seq, table_name, op, row_key, old_values, new_values) \
         SELECT script_id, run_id, seq + 1, table_name, 'insert', '{{\"id\": 3}}', NULL, '{{\"id\": 3, \"balance\": 30}}' \
         FROM oneoff_changes WHERE script_id = '{EARLIER}'"
    );
    let writes = [
        ("forge", forged.as_str()),
        ("wipe", "DELETE FROM oneoff_changes"),
        (
            "rewrite",
            "UPDATE oneoff_changes SET new_values = old_values",
        ),
    ];
    for (name, write) in writes {
        p.db.execute(&format!(
            "CREATE FUNCTION {name}() RETURNS int LANGUAGE sql AS $f$ {write}; SELECT 1 $f$"
        ));
    }
    let log_before =
        p.db.lines("SELECT row_key || old_values || new_values AS line FROM oneoff_changes");
    for (name, _) in writes {
        p.script(
            ID,
            "fix",
            &format!("-- fix\n-- oneoff:revertible\nUPDATE accounts SET balance = 0 WHERE id = 2;\nSELECT {name}();\n"),
        );
        let run = p.oneoff(&["run", "--retry"]);
        run.code(1).stderr_has("oneoff's own tables");
        assert_eq!(p.status_of(ID), "failed", "{name}");
        assert_eq!(balances(&p), ["11", "20", "30"], "{name}: rolled back");
        assert_eq!(
            p.db.lines("SELECT row_key || old_values || new_values AS line FROM oneoff_changes"),
            log_before,
            "{name}: the change log is as it was"
        );
    }
    // Without the routine the same script runs and records its one row.
    p.script(
        ID,
        "fix",
        "-- fix\n-- oneoff:revertible\nUPDATE accounts SET balance = 0 WHERE id = 2;\n",
    );
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(log(&p).len(), 1);
}

/// The capture's functions run with their own search path: a script that
/// puts a schema of look-alike functions first changes nothing recorded.
#[test]
fn postgres_a_script_search_path_does_not_reach_the_capture() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    with_an_earlier_log(&p);
    p.db.execute(
        "CREATE SCHEMA evil; \
         CREATE FUNCTION evil.row_to_json(anyelement) RETURNS json LANGUAGE sql AS $f$ SELECT '{}'::json $f$",
    );
    p.script(
        ID,
        "fix",
        "-- fix\n-- oneoff:revertible\nSET search_path = evil, pg_catalog, public;\nUPDATE accounts SET balance = 0 WHERE id = 2;\n",
    );
    p.oneoff(&["run"]).code(0);
    let log = log(&p);
    assert_eq!(log[0]["old"], serde_json::json!({"id": 2, "balance": 20}));
    p.oneoff(&["revert", ID, "--reason", "undo"]).code(0);
    assert_eq!(balances(&p), ["11", "20", "30"]);
}
