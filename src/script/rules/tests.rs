use super::*;
use crate::script::split::split;
use Dialect::{Mysql, Postgres, Sqlite};

const ALL: [Dialect; 3] = [Sqlite, Postgres, Mysql];

fn violation(sql: &str, dialect: Dialect, transactional: bool) -> Option<Violation> {
    check(&split(sql, dialect).unwrap(), dialect, transactional)
}

/// The rule and `what` of the first violation.
fn refused(sql: &str, dialect: Dialect, transactional: bool) -> Option<(Rule, String)> {
    violation(sql, dialect, transactional).map(|v| (v.rule, v.what))
}

fn rule(sql: &str, dialect: Dialect) -> Option<Rule> {
    violation(sql, dialect, true).map(|v| v.rule)
}

#[test]
fn commit_in_a_transactional_script_is_refused_with_its_statement_line_and_fix() {
    let v = violation("UPDATE t SET a = 1;\n\nCOMMIT;", Postgres, true).unwrap();
    assert_eq!(
        v.to_string(),
        "statement 2 (line 3): COMMIT ends oneoff's transaction: oneoff commits the script's work together with its ledger row; remove it, or make the script `-- oneoff:no-transaction`"
    );
}

#[test]
fn transaction_control_is_refused_in_every_dialect() {
    for d in ALL {
        for sql in [
            "BEGIN",
            "begin transaction",
            "COMMIT",
            "END",
            "ROLLBACK",
            "rollback work",
        ] {
            assert_eq!(rule(sql, d), Some(Rule::EndsTransaction), "{sql} {d:?}");
        }
    }
    for sql in [
        "START TRANSACTION",
        "ABORT",
        "PREPARE TRANSACTION 'x'",
        "COMMIT PREPARED 'x'",
        "ROLLBACK PREPARED 'x'",
    ] {
        assert_eq!(rule(sql, Postgres), Some(Rule::EndsTransaction), "{sql}");
    }
    for sql in [
        "SET autocommit = 1",
        "SET SESSION autocommit=0",
        "SET @@autocommit := 1",
        "XA START 'x'",
        "BEGIN WORK",
        "START TRANSACTION READ ONLY",
    ] {
        assert_eq!(rule(sql, Mysql), Some(Rule::EndsTransaction), "{sql}");
    }
    assert_eq!(
        refused("XA COMMIT 'x'", Mysql, true).unwrap().1,
        "XA COMMIT"
    );
    for sql in ["BEGIN IMMEDIATE", "END TRANSACTION", "COMMIT TRANSACTION"] {
        assert_eq!(rule(sql, Sqlite), Some(Rule::EndsTransaction), "{sql}");
    }
}

#[test]
fn savepoints_are_allowed_in_a_transactional_script() {
    let sql = "SAVEPOINT s; UPDATE t SET a = 1; ROLLBACK TO SAVEPOINT s; ROLLBACK TO s; RELEASE SAVEPOINT s; RELEASE s";
    for d in ALL {
        assert_eq!(violation(sql, d, true), None, "{d:?}");
    }
    assert_eq!(violation("ROLLBACK WORK TO SAVEPOINT s", Mysql, true), None);
}

#[test]
fn a_no_transaction_script_refuses_transaction_control_and_savepoints() {
    for d in ALL {
        for (sql, what) in [
            ("BEGIN", "BEGIN"),
            ("SAVEPOINT s", "SAVEPOINT"),
            ("RELEASE s", "RELEASE SAVEPOINT"),
            ("ROLLBACK TO s", "ROLLBACK TO SAVEPOINT"),
        ] {
            assert_eq!(
                refused(sql, d, false),
                Some((Rule::EndsTransaction, what.into())),
                "{sql} {d:?}"
            );
        }
    }
    let v = violation("SELECT 1;\nBEGIN;", Postgres, false).unwrap();
    assert_eq!(
        v.to_string(),
        "statement 2 (line 2): BEGIN controls transactions, but each statement of a no-transaction script commits on its own; remove it, or drop `-- oneoff:no-transaction` to run the script in one transaction"
    );
}

#[test]
fn end_and_commit_inside_bodies_strings_and_comments_are_not_transaction_control() {
    let pg = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END; END;\n\
              DO $$ BEGIN COMMIT; END $$;\nSELECT 'commit; rollback' /* commit */ -- end\n;";
    assert_eq!(violation(pg, Postgres, true), None);
    let my = "CREATE PROCEDURE p() BEGIN START TRANSACTION; UPDATE t SET a = 1; COMMIT; END;\nSELECT begin_at, `commit` FROM t WHERE x = 'ROLLBACK';";
    assert_eq!(violation(my, Mysql, false), None);
    let lite = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET end_at = CASE WHEN 1 THEN 2 END; END;";
    assert_eq!(violation(lite, Sqlite, true), None);
}

#[test]
fn mysql_ddl_commits_implicitly_and_is_refused_in_a_transactional_script() {
    for (sql, what) in [
        ("CREATE TABLE t (a INT)", "CREATE TABLE"),
        ("ALTER TABLE t ADD b INT", "ALTER TABLE"),
        ("DROP INDEX i ON t", "DROP INDEX"),
        ("CREATE UNIQUE INDEX i ON t (a)", "CREATE INDEX"),
        (
            "CREATE DEFINER=`root`@`%` PROCEDURE p() SELECT 1",
            "CREATE PROCEDURE",
        ),
        (
            "CREATE ALGORITHM=MERGE DEFINER=root@localhost SQL SECURITY DEFINER VIEW v AS SELECT 1",
            "CREATE VIEW",
        ),
        (
            "CREATE OR REPLACE TABLE t (a INT)",
            "CREATE OR REPLACE TABLE",
        ),
        ("ALTER TEMPORARY TABLE t ADD b INT", "ALTER TABLE"),
        ("CREATE SEQUENCE s", "CREATE SEQUENCE"),
        ("DROP USER u", "DROP USER"),
        ("RENAME TABLE a TO b", "RENAME TABLE"),
        ("TRUNCATE t", "TRUNCATE TABLE"),
        ("GRANT SELECT ON t TO u", "GRANT"),
        ("SET PASSWORD FOR u = 'x'", "SET PASSWORD"),
        ("ANALYZE LOCAL TABLE t", "ANALYZE TABLE"),
        ("OPTIMIZE TABLE t", "OPTIMIZE TABLE"),
        ("FLUSH PRIVILEGES", "FLUSH"),
        ("RESET MASTER", "RESET MASTER"),
        ("LOAD INDEX INTO CACHE t", "LOAD INDEX INTO CACHE"),
        ("INSTALL SONAME 'ha_x'", "INSTALL SONAME"),
        ("STOP REPLICA", "STOP REPLICA"),
        ("CHANGE MASTER TO MASTER_HOST = 'h'", "CHANGE MASTER"),
        ("/*!50003 DROP PROCEDURE IF EXISTS `p` */", "DROP PROCEDURE"),
    ] {
        assert_eq!(
            refused(sql, Mysql, true),
            Some((Rule::ImplicitCommit, what.into())),
            "{sql}"
        );
    }
}

#[test]
fn ddl_is_allowed_where_it_does_not_commit() {
    for sql in [
        "CREATE TEMPORARY TABLE t (a INT)",
        "DROP TEMPORARY TABLE IF EXISTS t",
        "DROP PREPARE s",
        "RESET PERSIST",
        "LOAD DATA INFILE 'x' INTO TABLE t",
        "CHECKSUM TABLE t",
    ] {
        assert_eq!(violation(sql, Mysql, true), None, "{sql}");
    }
    assert_eq!(
        violation(
            "CREATE TABLE t (a int); ALTER TABLE t ADD b int",
            Postgres,
            true
        ),
        None
    );
    assert_eq!(
        violation("CREATE TABLE t (a INT); TRUNCATE t", Mysql, false),
        None
    );
}

#[test]
fn mysqldump_disable_keys_is_an_implicit_commit_with_a_mysqldump_tip() {
    let v = violation(
        "/*!40101 SET NAMES utf8mb4 */;\n/*!40000 ALTER TABLE `t` DISABLE KEYS */;",
        Mysql,
        true,
    )
    .unwrap();
    assert_eq!(
        v.to_string(),
        "statement 2 (line 2): ALTER TABLE commits implicitly on MySQL, which would end oneoff's transaction; remove it (mysqldump: --skip-disable-keys), or move it to a `-- oneoff:no-transaction` script"
    );
}

#[test]
fn lock_tables_is_an_implicit_commit_in_a_transactional_script() {
    let v = violation(
        "SELECT 1;\nSELECT 2;\n\n\nLOCK TABLES `t` WRITE;",
        Mysql,
        true,
    )
    .unwrap();
    assert_eq!((v.statement, v.line, v.rule), (3, 5, Rule::ImplicitCommit));
    assert_eq!(
        v.to_string(),
        "statement 3 (line 5): LOCK TABLES commits implicitly on MySQL, which would end oneoff's transaction; remove it (mysqldump: --skip-add-locks); oneoff's transaction already keeps the script's work together"
    );
}

#[test]
fn lock_and_unlock_tables_are_allowed_in_a_no_transaction_script() {
    // oneoff writes a no-transaction script's progress on a second
    // connection and unlocks tables when it puts the session back.
    for sql in ["LOCK TABLES t WRITE", "LOCK TABLE t READ", "UNLOCK TABLES"] {
        assert_eq!(refused(sql, Mysql, false), None, "{sql}");
    }
}

#[test]
fn pg_dump_and_mysqldump_session_settings_are_allowed() {
    let pg = "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;";
    assert_eq!(violation(pg, Postgres, true), None);
    let my = "/*!40101 SET NAMES utf8mb4 */;\n/*!40101 SET @OLD_AUTOCOMMIT=@@AUTOCOMMIT */;\n/*!40014 SET FOREIGN_KEY_CHECKS=0 */;";
    assert_eq!(violation(my, Mysql, true), None);
}

#[test]
fn releasing_every_lock_is_refused_anywhere_in_a_statement() {
    let v = violation(
        "SELECT 1;\nSELECT 2;\nSELECT\n  pg_catalog.pg_advisory_unlock_all();",
        Postgres,
        true,
    )
    .unwrap();
    assert_eq!(
        v.to_string(),
        "statement 3 (line 3): pg_advisory_unlock_all() would release oneoff's run lock; remove it"
    );
    assert_eq!(
        rule(
            "DO $$ BEGIN PERFORM pg_advisory_unlock_all(); END $$",
            Postgres
        ),
        Some(Rule::BreaksSession)
    );
    assert_eq!(rule("SELECT 'pg_advisory_unlock_all()'", Postgres), None);
    for transactional in [true, false] {
        let got = refused(
            "CREATE PROCEDURE p() BEGIN DO RELEASE_ALL_LOCKS(); END",
            Mysql,
            transactional,
        );
        let want = if transactional {
            Rule::ImplicitCommit
        } else {
            Rule::BreaksSession
        };
        assert_eq!(got.map(|g| g.0), Some(want));
        assert_eq!(
            refused("SELECT release_all_locks()", Mysql, transactional).map(|g| g.0),
            Some(Rule::BreaksSession)
        );
    }
}

#[test]
fn discard_all_and_deallocate_are_refused_on_postgres_unless_the_script_prepared_it() {
    assert_eq!(
        refused("DISCARD ALL", Postgres, false),
        Some((Rule::BreaksSession, "DISCARD ALL".into()))
    );
    assert_eq!(
        refused("DEALLOCATE ALL", Postgres, true),
        Some((Rule::BreaksSession, "DEALLOCATE ALL".into()))
    );
    assert_eq!(
        refused("DEALLOCATE __diesel_stmt_0", Postgres, true).map(|g| g.0),
        Some(Rule::BreaksSession)
    );
    let own = "PREPARE q (int) AS SELECT $1; EXECUTE q(1); DEALLOCATE PREPARE q; DEALLOCATE q";
    assert_eq!(violation(own, Postgres, true), None);
    assert_eq!(violation("DISCARD TEMP", Postgres, true), None);
    let mysql = "PREPARE s FROM 'SELECT 1'; EXECUTE s; DEALLOCATE PREPARE s";
    assert_eq!(violation(mysql, Mysql, true), None);
}

#[test]
fn naming_a_oneoff_table_is_refused_quoted_or_not_in_every_dialect() {
    let v = violation(
        "SELECT 1;\nDELETE FROM oneoff_ledger WHERE id = '1';",
        Sqlite,
        true,
    )
    .unwrap();
    assert_eq!(
        v.to_string(),
        "statement 2 (line 2): oneoff_ledger is oneoff's own table; a script must not read or change the ledger: use `oneoff skip` or `oneoff mark`"
    );
    for (sql, d) in [
        ("SELECT * FROM public.\"oneoff_runs\"", Postgres),
        ("UPDATE `app`.`ONEOFF_LOCK` SET a = 1", Mysql),
        ("SELECT * FROM [oneoff_schema_migrations]", Sqlite),
        ("DO $$ BEGIN DELETE FROM oneoff_ledger; END $$", Postgres),
        (
            "CREATE PROCEDURE p() BEGIN DELETE FROM oneoff_runs; END",
            Mysql,
        ),
    ] {
        assert_eq!(
            refused(sql, d, false).map(|g| g.0),
            Some(Rule::OneoffTable),
            "{sql}"
        );
    }
    assert_eq!(
        violation(
            "SELECT 'oneoff_ledger', oneoff_ledger_copy FROM t -- oneoff_ledger",
            Postgres,
            true
        ),
        None
    );
}

#[test]
fn oneoffs_savepoint_is_refused_even_where_savepoints_are_allowed() {
    for sql in [
        "ROLLBACK TO SAVEPOINT oneoff_guard",
        "RELEASE \"oneoff_guard\"",
    ] {
        let v = violation(sql, Postgres, true).unwrap();
        assert_eq!(
            (v.rule, v.what.as_str()),
            (Rule::OneoffTable, "oneoff_guard")
        );
    }
}

#[test]
fn cannot_roll_back_names_mysql_implicit_commits_only() {
    let statements = split(
        "UPDATE t SET a = 1; ALTER TABLE t ADD b INT; CREATE TEMPORARY TABLE x (a INT)",
        Mysql,
    )
    .unwrap();
    let got: Vec<_> = statements
        .iter()
        .map(|s| cannot_roll_back(s, Mysql))
        .collect();
    assert_eq!(
        got,
        [
            None,
            Some(
                "ALTER TABLE commits implicitly on MySQL, so a dry run cannot roll it back".into()
            ),
            None
        ]
    );
    assert_eq!(cannot_roll_back(&statements[1], Postgres), None);
}

#[test]
fn the_savepoint_of_a_post_condition_query_is_oneoffs_too() {
    let v = violation("ROLLBACK TO SAVEPOINT oneoff_post", Sqlite, true).unwrap();
    assert_eq!(
        (v.rule, v.what.as_str()),
        (Rule::OneoffTable, "oneoff_post")
    );
    assert!(v.why.contains("savepoint"), "{}", v.why);
}
