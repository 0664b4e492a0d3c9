//! PostgreSQL statements with semicolons inside their body: one statement
//! each, run as written.

use super::{expect_vs, vs, with_t, B};
use crate::support::Project;

on_backends!([postgres]:
    begin_atomic_function_body_is_one_statement,
    rule_with_several_actions_is_one_statement,
);

fn begin_atomic_function_body_is_one_statement(p: Project) {
    let p = with_t(p);
    p.script(
        B,
        "atomic",
        "-- atomic\nCREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nUPDATE t SET v = f() WHERE id = 1;\n",
    );
    p.oneoff(&["run", "--dry-run"]).code(0);
    assert_eq!(vs(&p), expect_vs(&[]));
    assert_eq!(statements_run(&p), 2);
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(vs(&p), expect_vs(&[(1, 1)]));
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM pg_proc WHERE proname = 'f'"),
        1
    );
}

fn rule_with_several_actions_is_one_statement(p: Project) {
    let p = with_t(p);
    p.db.execute("CREATE TABLE src (x INT); CREATE TABLE log1 (x INT); CREATE TABLE log2 (x INT)");
    p.script(
        B,
        "rule",
        "-- rule\nCREATE RULE fan_out AS ON INSERT TO src DO INSTEAD (\n  INSERT INTO log1 VALUES (NEW.x);\n  INSERT INTO log2 VALUES (NEW.x);\n);\nINSERT INTO src VALUES (5);\nUPDATE t SET v = 1 WHERE id = 1;\n",
    );
    assert_eq!(statements_run(&p), 3);
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM pg_rules WHERE rulename = 'fan_out'"),
        1
    );
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM log1"), 1);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM log2"), 1);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM src"), 0);
    assert_eq!(vs(&p), expect_vs(&[(1, 1)]));
}

/// `run --json`: how many statements the one script was split into.
fn statements_run(p: &Project) -> usize {
    let run = p.oneoff(&["run", "--json"]);
    run.code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    doc["scripts"][0]["statements"]
        .as_array()
        .map_or(0, Vec::len)
}
