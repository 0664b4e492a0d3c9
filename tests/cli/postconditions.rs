//! Post-conditions (`-- oneoff:expect-rows`, `-- oneoff:verify`): checked
//! inside the script's transaction before it commits; a violation rolls the
//! script back and records it `failed` with the directive's line and what
//! it found. In real runs, dry runs and batched scripts, on every backend.

use crate::on_all_backends;
use crate::support::{Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";
const D: &str = "20260104000000";

on_all_backends!(
    expect_rows_of_each_form_passes_when_the_count_is_in_range,
    expect_rows_out_of_range_rolls_the_script_back_and_records_it_failed,
    verify_returning_rows_rolls_back_and_shows_the_first_rows,
    a_dry_run_reports_whether_post_conditions_pass,
    a_batched_script_is_checked_after_its_last_batch_on_all_its_rows,
    a_verify_query_cannot_change_data_or_read_the_ledger,
    post_conditions_on_a_no_transaction_script_are_refused_before_it_runs,
);

/// `accounts` with balances 10, 5 and 20 (ids 1, 2, 3).
fn with_accounts(p: Project) -> Project {
    p.db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)");
    p.db.execute("INSERT INTO accounts (id, balance) VALUES (1, 10), (2, 5), (3, 20)");
    p
}

fn balances(p: &Project) -> Vec<String> {
    p.db.lines("SELECT CAST(balance AS CHAR(20)) AS line FROM accounts ORDER BY id")
        .into_iter()
        .map(|l| l.trim().to_string())
        .collect()
}

fn error_of(p: &Project, id: &str) -> String {
    p.entry(id)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn expect_rows_of_each_form_passes_when_the_count_is_in_range(p: Project) {
    let p = with_accounts(p);
    let update = "UPDATE accounts SET balance = balance + 1;\n";
    p.script(
        A,
        "exact",
        &format!("-- a\n-- oneoff:expect-rows 3\n{update}"),
    );
    p.script(
        B,
        "range",
        &format!("-- b\n-- oneoff:expect-rows 1..3\n{update}"),
    );
    p.script(
        C,
        "at_most",
        &format!("-- c\n-- oneoff:expect-rows <=3\n{update}"),
    );
    p.script(
        D,
        "at_least",
        &format!("-- d\n-- oneoff:expect-rows >= 3\n{update}"),
    );
    p.oneoff(&["run"])
        .code(0)
        .stdout_has("post-conditions passed: 3 row(s) changed, expected 1..3");
    for id in [A, B, C, D] {
        assert_eq!(p.status_of(id), "succeeded", "{id}");
    }
    assert_eq!(balances(&p), ["14", "9", "24"]);
}

fn expect_rows_out_of_range_rolls_the_script_back_and_records_it_failed(p: Project) {
    let p = with_accounts(p);
    // One that passes first: on SQLite the two share a group commit.
    p.script(
        "20251231000000",
        "before",
        "-- ok\n-- oneoff:expect-rows 3\nUPDATE accounts SET balance = balance * 2;\n",
    );
    p.script(
        A,
        "too_many",
        "-- a\n--\n-- oneoff:expect-rows 1..2\nUPDATE accounts SET balance = balance + 1;\n",
    );
    p.script(
        B,
        "after",
        "-- b\n-- oneoff:expect-rows >=1\nUPDATE accounts SET balance = 0;\n",
    );
    p.oneoff(&["run"]).code(1).stderr_has(
        "post-condition failed: line 3 `-- oneoff:expect-rows 1..2`: the script changed 3 row(s)",
    );
    assert_eq!(
        balances(&p),
        ["20", "10", "40"],
        "only the failing one rolled back"
    );
    assert_eq!(p.status_of("20251231000000"), "succeeded");
    assert_eq!(p.status_of(A), "failed");
    assert!(
        error_of(&p, A).contains("post-condition failed: line 3"),
        "{}",
        error_of(&p, A)
    );
    assert_eq!(p.status_of(B), "pending", "nothing after it ran");
    p.oneoff(&["status"])
        .code(0)
        .stdout_has("post-condition failed");
}

fn verify_returning_rows_rolls_back_and_shows_the_first_rows(p: Project) {
    let p = with_accounts(p);
    p.script(
        A,
        "charge",
        "-- charge everyone 8\n-- oneoff:verify SELECT id, balance FROM accounts WHERE balance > 100\n-- oneoff:verify SELECT id, balance FROM accounts WHERE balance < 0 ORDER BY id\nUPDATE accounts SET balance = balance - 8;\n",
    );
    let out = p.oneoff(&["run"]);
    out.code(1).stderr_has(
        "post-condition failed: line 3 `-- oneoff:verify SELECT id, balance FROM accounts WHERE balance < 0 ORDER BY id` returned 1 row(s): {\"id\":2,\"balance\":-3}",
    );
    assert_eq!(balances(&p), ["10", "5", "20"], "rolled back");
    assert_eq!(p.status_of(A), "failed");
    assert!(
        error_of(&p, A).contains("{\"id\":2,\"balance\":-3}"),
        "{}",
        error_of(&p, A)
    );
    // Fixed, it passes and commits.
    p.script(
        A,
        "charge",
        "-- charge everyone 8 who can pay\n-- oneoff:verify SELECT id, balance FROM accounts WHERE balance < 0 ORDER BY id -- none overdrawn\nUPDATE accounts SET balance = balance - 8 WHERE balance >= 8;\n",
    );
    p.oneoff(&["run", "--retry"])
        .code(0)
        .stdout_has("post-conditions passed: the verify query returned no rows");
    assert_eq!(balances(&p), ["2", "5", "12"]);
    // More than ten rows: the first ten are shown, and that there were more.
    p.db.execute("CREATE TABLE many (id INTEGER PRIMARY KEY)");
    let values: Vec<String> = (1..=12).map(|i| format!("({i})")).collect();
    p.db.execute(&format!(
        "INSERT INTO many (id) VALUES {}",
        values.join(", ")
    ));
    p.script(B, "many", "-- m\n-- oneoff:verify SELECT id FROM many ORDER BY id\nUPDATE accounts SET balance = balance;\n");
    p.oneoff(&["run"])
        .code(1)
        .stderr_has(
            "returned 10 row(s) (the first 10 shown; it returned more): {\"id\":1}, {\"id\":2}",
        )
        .stderr_has("{\"id\":10}");
}

fn a_dry_run_reports_whether_post_conditions_pass(p: Project) {
    let p = with_accounts(p);
    p.script(
        A,
        "ok",
        "-- a\n-- oneoff:expect-rows 3\n-- oneoff:verify SELECT id FROM accounts WHERE balance < 0\nUPDATE accounts SET balance = balance + 1;\n",
    );
    p.oneoff(&["run", "--dry-run"]).code(0).stdout_has(
        "post-conditions passed: 3 row(s) changed, expected 3; the verify query returned no rows",
    );
    let json = p.oneoff(&["run", "--dry-run", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout()).expect("json");
    let passed = doc["scripts"][0]["postconditions"]
        .as_str()
        .unwrap_or_default();
    assert!(passed.starts_with("post-conditions passed"), "{doc:#}");
    p.script(
        B,
        "bad",
        "-- b\n-- oneoff:expect-rows 0\nUPDATE accounts SET balance = balance + 1;\n",
    );
    p.oneoff(&["run", "--dry-run"])
        .code(1)
        .stdout_has("FAILED in dry run")
        .stdout_has(
            "post-condition failed: line 2 `-- oneoff:expect-rows 0`: the script changed 3 row(s)",
        );
    assert_eq!(balances(&p), ["10", "5", "20"]);
    assert_eq!(p.status_of(A), "pending");
    assert_eq!(p.status_of(B), "pending");
}

fn backfill(backend: Backend) -> &'static str {
    match backend {
        Backend::Mysql => "UPDATE items SET v = id * 2 WHERE v IS NULL LIMIT 2",
        _ => {
            "UPDATE items SET v = id * 2 WHERE id IN (SELECT id FROM items WHERE v IS NULL LIMIT 2)"
        }
    }
}

fn a_batched_script_is_checked_after_its_last_batch_on_all_its_rows(p: Project) {
    p.db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)");
    p.db.execute("INSERT INTO items (id) VALUES (1), (2), (3), (4), (5)");
    let sql = backfill(p.db.backend);
    p.script(
        A,
        "backfill",
        &format!("-- fill v\n-- oneoff:batch\n-- oneoff:expect-rows 5\n-- oneoff:verify SELECT id FROM items WHERE v IS NULL\n{sql};\n"),
    );
    p.oneoff(&["run", "--dry-run"])
        .code(0)
        .stdout_has("checked after the last batch of a real run");
    p.oneoff(&["run"])
        .code(0)
        .stdout_has("post-conditions passed: 5 row(s) changed, expected 5");
    assert_eq!(p.status_of(A), "succeeded");
    // A failing one: the batches before stay committed, the script is failed.
    p.db.execute("CREATE TABLE others (id INTEGER PRIMARY KEY, v INTEGER)");
    p.db.execute("UPDATE items SET v = NULL");
    p.script(
        B,
        "refill",
        &format!("-- fill v again\n-- oneoff:batch\n-- oneoff:expect-rows <=4\n{sql};\n"),
    );
    p.oneoff(&["run"])
        .code(1)
        .stderr_has("post-condition failed: line 3 `-- oneoff:expect-rows <=4`: the script changed 5 row(s)")
        .stderr_has("checked after the last batch");
    assert_eq!(p.status_of(B), "failed");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM items WHERE v IS NULL"),
        0
    );
}

fn a_verify_query_cannot_change_data_or_read_the_ledger(p: Project) {
    let p = with_accounts(p);
    p.script(
        A,
        "peek",
        "-- a\n-- oneoff:verify SELECT * FROM oneoff_ledger\nUPDATE accounts SET balance = 1;\n",
    );
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("oneoff_ledger")
        .stderr_has(&format!("{A}_peek.sql:2: directive `oneoff:verify`"));
    std::fs::remove_file(p.scripts().join(format!("{A}_peek.sql"))).unwrap();
    p.script(
        A,
        "write",
        "-- a\n-- oneoff:verify DELETE FROM accounts\nUPDATE accounts SET balance = 1;\n",
    );
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("SELECT, WITH or VALUES");
    std::fs::remove_file(p.scripts().join(format!("{A}_write.sql"))).unwrap();
    p.script(
        A,
        "commit",
        "-- a\n-- oneoff:verify SELECT 1; COMMIT\nUPDATE accounts SET balance = 1;\n",
    );
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("takes exactly one query, found 2");
    std::fs::remove_file(p.scripts().join(format!("{A}_commit.sql"))).unwrap();
    assert!(
        !p.db.has_table("oneoff_ledger"),
        "refused before connecting"
    );
    // A query that writes as it reads fails (a data-modifying WITH is not
    // allowed where oneoff runs the query) and the script is rolled back.
    p.script(
        A,
        "sneaky",
        "-- a\n-- oneoff:verify WITH gone AS (DELETE FROM accounts RETURNING id) SELECT id FROM gone WHERE id < 0\nUPDATE accounts SET balance = balance + 1;\n",
    );
    p.oneoff(&["run"]).code(1).stderr_has("its query failed");
    assert_eq!(balances(&p), ["10", "5", "20"]);
    if p.db.backend != Backend::Postgres {
        return;
    }
    // A function that writes is undone with the query's own savepoint.
    p.db.execute(
        "CREATE FUNCTION wipe() RETURNS boolean AS $$ DELETE FROM accounts; SELECT false $$ LANGUAGE sql",
    );
    p.script(
        A,
        "sneaky",
        "-- a\n-- oneoff:verify SELECT id FROM accounts WHERE wipe()\nUPDATE accounts SET balance = balance + 1;\n",
    );
    p.oneoff(&["run", "--retry"]).code(0);
    assert_eq!(
        balances(&p),
        ["11", "6", "21"],
        "the function's DELETE was undone"
    );
}

fn post_conditions_on_a_no_transaction_script_are_refused_before_it_runs(p: Project) {
    let p = with_accounts(p);
    p.script(
        A,
        "no_tx",
        "-- a\n-- oneoff:no-transaction\n-- oneoff:expect-rows 3\nUPDATE accounts SET balance = 0;\n",
    );
    p.oneoff(&["run"])
        .code(2)
        .stderr_has(&format!("{A}_no_tx.sql:3"))
        .stderr_has("need a transaction to roll back");
    assert_eq!(balances(&p), ["10", "5", "20"]);
    assert!(!p.db.has_table("oneoff_ledger"));
}
