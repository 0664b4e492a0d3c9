//! Session state a script leaves behind (settings, role, search_path, `USE`,
//! temporary tables, pragmas) must reach neither oneoff's ledger writes nor
//! the next script.

use super::{expect_vs, ledger_rows, values_of, vs, with_t, A, B};
use crate::support::Project;

on_backends!([postgres]:
    empty_search_path_set_by_a_script_does_not_break_the_ledger_or_the_next_script,
    search_path_set_by_a_script_does_not_reach_the_next_script,
    search_path_set_by_a_script_never_sends_ledger_writes_to_another_schema,
    statement_timeout_set_by_a_script_does_not_reach_the_next_script,
    role_set_by_a_script_reaches_neither_the_ledger_nor_the_next_script,
    temporary_table_of_a_script_does_not_shadow_the_next_scripts_table,
);
on_backends!([mysql]:
    safe_updates_set_by_a_script_do_not_reach_the_next_script,
    use_of_another_database_does_not_move_the_next_script_or_the_ledger,
    sql_mode_set_by_a_script_does_not_reach_the_next_script,
);
on_backends!([sqlite]:
    query_only_pragma_reaches_neither_the_ledger_nor_the_next_script,
    attached_database_of_a_script_does_not_reach_the_next_script,
    foreign_keys_pragma_toggled_by_a_script_does_not_reach_the_next_script,
);

/// Runs `A` (the hostile one) then `B` (innocent, `UPDATE t ...`) in one run,
/// after a dry run that must change nothing; asserts both succeeded once.
fn both_succeed(p: &Project, hostile: &str, next: &str, expected: &[i64]) {
    p.script(A, "hostile", &format!("-- hostile\n{hostile}\n"));
    p.script(B, "next", &format!("-- next\n{next}\n"));
    let (before, ledger) = (vs(p), ledger_rows(p));
    p.oneoff(&["run", "--dry-run"]);
    assert_eq!(vs(p), before, "a dry run changes nothing");
    assert_eq!(ledger_rows(p), ledger, "nor the ledger rows");
    assert_eq!(p.status_of(A), "pending");
    assert_eq!(p.status_of(B), "pending");
    p.oneoff(&["run"]).code(0);
    p.oneoff(&["run", "--retry"])
        .code(0)
        .stdout_has("Nothing to run");
    assert_eq!(p.status_of(A), "succeeded");
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(vs(p), expected, "each script applied once, on the real t");
}

fn empty_search_path_set_by_a_script_does_not_break_the_ledger_or_the_next_script(p: Project) {
    let p = with_t(p);
    both_succeed(
        &p,
        "SELECT pg_catalog.set_config('search_path', '', false);\nUPDATE public.t SET v = v + 1 WHERE id = 1;",
        "UPDATE t SET v = v + 1 WHERE id = 2;",
        &expect_vs(&[(1, 1), (2, 1)]),
    );
}

/// A schema `other` with its own `t`, all `v = 0`.
fn with_other_schema(p: Project) -> Project {
    let p = with_t(p);
    p.db.execute("CREATE SCHEMA other; CREATE TABLE other.t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO other.t SELECT id, 0 FROM public.t");
    p
}

fn search_path_set_by_a_script_does_not_reach_the_next_script(p: Project) {
    let p = with_other_schema(p);
    both_succeed(
        &p,
        "SET search_path TO other, public;",
        "UPDATE t SET v = 1;",
        &[1; 10],
    );
    assert_eq!(values_of(&p, "other.t"), [0; 10], "other.t untouched");
}

fn search_path_set_by_a_script_never_sends_ledger_writes_to_another_schema(p: Project) {
    let p = with_other_schema(p);
    p.oneoff(&["run"]).code(0); // creates the ledger, to copy
    for table in [
        "oneoff_ledger",
        "oneoff_runs",
        "oneoff_lock",
        "oneoff_schema_migrations",
    ] {
        p.db.execute(&format!(
            "CREATE TABLE other.{table} (LIKE public.{table} INCLUDING ALL); INSERT INTO other.{table} SELECT * FROM public.{table}"
        ));
    }
    let copy = |table: &str| {
        p.db.count(&format!("SELECT COUNT(*) AS n FROM other.{table}"))
    };
    let runs_before = copy("oneoff_runs");
    both_succeed(
        &p,
        "SET search_path TO other, public;\nUPDATE t SET v = 2 WHERE id = 1;",
        "UPDATE t SET v = 1 WHERE id = 2;",
        &expect_vs(&[(2, 1)]),
    );
    assert_eq!(
        values_of(&p, "other.t"),
        expect_vs(&[(1, 2)]),
        "A wrote other.t as asked"
    );
    assert_eq!(
        copy("oneoff_ledger"),
        0,
        "the copy of the ledger got no row"
    );
    assert_eq!(copy("oneoff_runs"), runs_before, "nor any history");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM public.oneoff_ledger WHERE status = 'succeeded'"),
        2
    );
}

fn statement_timeout_set_by_a_script_does_not_reach_the_next_script(p: Project) {
    let p = with_t(p);
    both_succeed(
        &p,
        "SET statement_timeout = '50ms';",
        "SELECT pg_sleep(0.2);\nUPDATE t SET v = v + 1 WHERE id = 1;",
        &expect_vs(&[(1, 1)]),
    );
}

/// A role created for one test, dropped with it.
struct Role {
    name: String,
    admin: String,
}

impl Role {
    fn create(p: &Project) -> Role {
        let name = format!("oneoff_r_{}", uuid::Uuid::new_v4().simple());
        p.db.execute(&format!("CREATE ROLE {name} NOLOGIN"));
        let admin =
            p.db.lines("SELECT CAST(current_user AS TEXT) AS line")
                .remove(0);
        // The test user is a superuser here; granting also covers one that is not.
        p.db.execute(&format!("GRANT {name} TO {admin}"));
        Role {
            name,
            admin: p.db.url.clone(),
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if let Ok(mut c) = diesel::PgConnection::establish(&self.admin) {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.name));
        }
    }
}

fn role_set_by_a_script_reaches_neither_the_ledger_nor_the_next_script(p: Project) {
    let p = with_t(p);
    let role = Role::create(&p);
    both_succeed(
        &p,
        &format!("SET ROLE {};", role.name),
        "UPDATE t SET v = v + 1 WHERE id = 1;",
        &expect_vs(&[(1, 1)]),
    );
}

fn temporary_table_of_a_script_does_not_shadow_the_next_scripts_table(p: Project) {
    let p = with_t(p);
    both_succeed(
        &p,
        "CREATE TEMP TABLE t (id INT PRIMARY KEY, v INT NOT NULL);\nINSERT INTO t VALUES (1, 100);",
        "UPDATE t SET v = v + 1 WHERE id = 1;",
        &expect_vs(&[(1, 1)]),
    );
}

fn safe_updates_set_by_a_script_do_not_reach_the_next_script(p: Project) {
    let p = with_t(p);
    both_succeed(
        &p,
        "SET sql_safe_updates = 1;",
        "UPDATE t SET v = 1;",
        &[1; 10],
    );
}

/// A second database on the MySQL server, dropped with the test.
struct OtherDb {
    name: String,
    url: String,
}

impl Drop for OtherDb {
    fn drop(&mut self) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if let Ok(mut c) = diesel::MysqlConnection::establish(&self.url) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}

fn use_of_another_database_does_not_move_the_next_script_or_the_ledger(p: Project) {
    let p = with_t(p);
    let name = format!(
        "{}_other",
        p.db.lines("SELECT DATABASE() AS line").remove(0)
    );
    let other = OtherDb {
        name: name.clone(),
        url: p.db.url.clone(),
    };
    p.db.execute(&format!(
        "CREATE DATABASE {name}; CREATE TABLE {name}.t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO {name}.t SELECT id, 0 FROM t"
    ));
    both_succeed(&p, &format!("USE {name};"), "UPDATE t SET v = 1;", &[1; 10]);
    assert_eq!(
        values_of(&p, &format!("{name}.t")),
        [0; 10],
        "the other t untouched"
    );
    assert_eq!(
        p.db.count(&format!(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '{}' AND table_name LIKE 'oneoff%'",
            other.name
        )),
        0,
        "no ledger in the other database"
    );
}

fn sql_mode_set_by_a_script_does_not_reach_the_next_script(p: Project) {
    let p = with_t(p);
    // Under ANSI_QUOTES "abc" is a column name, and the UPDATE fails.
    both_succeed(
        &p,
        "SET SESSION sql_mode = 'ANSI_QUOTES';",
        "UPDATE t SET v = LENGTH(\"abc\") WHERE id = 1;",
        &expect_vs(&[(1, 3)]),
    );
}

fn query_only_pragma_reaches_neither_the_ledger_nor_the_next_script(p: Project) {
    let p = with_t(p);
    both_succeed(
        &p,
        "PRAGMA query_only = 1;",
        "UPDATE t SET v = 1 WHERE id = 1;",
        &expect_vs(&[(1, 1)]),
    );
}

fn foreign_keys_pragma_toggled_by_a_script_does_not_reach_the_next_script(p: Project) {
    let p = with_t(p);
    p.db.execute("CREATE TABLE seen (script VARCHAR(20) NOT NULL, fk INT NOT NULL)");
    let record = |id: &str| {
        format!("-- record\nINSERT INTO seen (script, fk) SELECT '{id}', foreign_keys FROM pragma_foreign_keys;\n")
    };
    // What a script sees without interference, then after a script that
    // flips the pragma outside a transaction (where it takes effect).
    p.script(A, "baseline", &record(A));
    p.oneoff(&["run"]).code(0);
    let seen = |id: &str| {
        p.db.count(&format!("SELECT fk AS n FROM seen WHERE script = '{id}'"))
    };
    let default = seen(A);
    p.script(
        B,
        "flip",
        &format!(
            "-- flip\n-- oneoff:no-transaction\nPRAGMA foreign_keys = {};\n",
            1 - default
        ),
    );
    p.script(super::C, "after_flip", &record(super::C));
    p.oneoff(&["run"]).code(0);
    assert_eq!(p.status_of(B), "succeeded");
    assert_eq!(seen(super::C), default, "the next script sees the default");
}

fn attached_database_of_a_script_does_not_reach_the_next_script(p: Project) {
    let p = with_t(p);
    // ATTACH works inside a transaction; a second ATTACH of the same name
    // fails while the first is still attached.
    let attach = "ATTACH DATABASE 'other.db' AS other;";
    both_succeed(
        &p,
        &format!("{attach}\nUPDATE t SET v = 1 WHERE id = 1;"),
        &format!("{attach}\nUPDATE t SET v = 1 WHERE id = 2;"),
        &expect_vs(&[(1, 1), (2, 1)]),
    );
}
