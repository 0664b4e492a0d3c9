//! Splitting routine, trigger and rule bodies, `DELIMITER` lines and executable comments,
//! with snippets in the shapes pg_dump and mysqldump write.

use super::split_in_parts as split;
use super::*;
use Dialect::{Mysql, Postgres, Sqlite};

fn texts(sql: &str, dialect: Dialect) -> Vec<String> {
    split(sql, dialect)
        .unwrap()
        .into_iter()
        .map(|s| s.text)
        .collect()
}

#[test]
fn postgres_begin_atomic_function_with_a_case_is_one_statement() {
    let f = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END; SELECT 2; END";
    assert_eq!(
        texts(&format!("{f};\nSELECT 3;"), Postgres),
        [f, "SELECT 3"]
    );
}

#[test]
fn postgres_create_or_replace_procedure_with_begin_atomic_is_one_statement() {
    let p = "CREATE OR REPLACE PROCEDURE p(a int) LANGUAGE sql\nBEGIN ATOMIC\n  INSERT INTO t VALUES (a);\n  UPDATE u SET n = n + 1;\nEND";
    assert_eq!(
        texts(&format!("{p};\nCALL p(1);"), Postgres),
        [p, "CALL p(1)"]
    );
}

#[test]
fn postgres_sql_standard_return_body_without_begin_splits_normally() {
    let sql = "CREATE FUNCTION g(a int) RETURNS int RETURN CASE WHEN a > 0 THEN 1 END;\nSELECT 2;";
    assert_eq!(
        texts(sql, Postgres),
        [
            "CREATE FUNCTION g(a int) RETURNS int RETURN CASE WHEN a > 0 THEN 1 END",
            "SELECT 2"
        ]
    );
}

#[test]
fn pg_dump_output_splits_like_psql() {
    let got = split(include_str!("testdata/pg_dump.sql"), Postgres).unwrap();
    let f = got
        .iter()
        .find(|s| s.text.starts_with("CREATE FUNCTION"))
        .unwrap();
    assert!(f.text.ends_with(" SELECT 2;\nEND"), "{}", f.text);
    let p = got
        .iter()
        .find(|s| s.text.starts_with("CREATE PROCEDURE"))
        .unwrap();
    assert!(p.text.ends_with("VALUES (pr.a);\nEND"), "{}", p.text);
    let rule = got
        .iter()
        .find(|s| s.text.starts_with("CREATE RULE"))
        .unwrap();
    assert!(rule.text.ends_with("VALUES (new.x);\n)"), "{}", rule.text);
    assert!(got.iter().all(|s| !s.text.starts_with("END")));
    assert_eq!(got.len(), 23);
}

#[test]
fn semicolons_inside_parentheses_do_not_split_in_any_dialect() {
    let rule = "CREATE RULE r AS ON INSERT TO t DO INSTEAD ( INSERT INTO a VALUES (new.x); INSERT INTO b VALUES (new.x); )";
    assert_eq!(
        texts(&format!("{rule};\nSELECT 2;"), Postgres),
        [rule, "SELECT 2"]
    );
    for d in [Sqlite, Postgres, Mysql] {
        assert_eq!(
            texts("SELECT f(1; 2); SELECT 3", d),
            ["SELECT f(1; 2)", "SELECT 3"]
        );
    }
}

#[test]
fn an_unclosed_parenthesis_reports_its_line() {
    for d in [Sqlite, Postgres, Mysql] {
        assert_eq!(
            split("SELECT 1;\nSELECT f(\n1; SELECT 2;", d),
            Err(SplitError::Unterminated {
                what: "parenthesis",
                line: 2
            })
        );
    }
}

#[test]
fn a_stray_closing_parenthesis_does_not_stop_splitting() {
    assert_eq!(
        texts("SELECT 1); SELECT 2", Sqlite),
        ["SELECT 1)", "SELECT 2"]
    );
}

#[test]
fn mysql_procedure_with_nested_blocks_labels_and_if_function_is_one_statement() {
    let proc = "CREATE DEFINER=`root`@`%` PROCEDURE p(n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  outer_loop: LOOP
    SET i = i + 1;
    IF i > n THEN LEAVE outer_loop; ELSEIF i = 2 THEN SELECT IF(i > 1, 'a;', 'b'); END IF;
    BEGIN
      DECLARE j INT DEFAULT 0;
      WHILE j < 3 DO SET j = j + 1; END WHILE;
      REPEAT SET j = j - 1; UNTIL j = 0 END REPEAT;
    END;
    CASE i WHEN 1 THEN SELECT 1; ELSE BEGIN SELECT 2; END; END CASE;
    SELECT CASE WHEN i > 1 THEN 'x' ELSE 'y' END AS c;
  END LOOP outer_loop;
  lbl: BEGIN SELECT 3; END lbl;
END";
    assert_eq!(
        texts(&format!("{proc};\nCALL p(3);"), Mysql),
        [proc, "CALL p(3)"]
    );
}

#[test]
fn mysql_function_event_and_mariadb_anonymous_block_are_one_statement_each() {
    let f = "CREATE FUNCTION f(a INT) RETURNS INT DETERMINISTIC BEGIN RETURN IF(a > 0, 1, 0); END";
    let e = "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; INSERT INTO u VALUES (1); END";
    let b = "BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; INSERT INTO t VALUES (x); END";
    let sql = format!("{f};\n{e};\n{b};\nBEGIN;\nSELECT 1;");
    assert_eq!(texts(&sql, Mysql), [f, e, b, "BEGIN", "SELECT 1"]);
}

#[test]
fn mysql_delimiter_lines_change_where_statements_end() {
    let sql = "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nSELECT 2$$\ndelimiter ;\nSELECT 3;\n";
    let got = split(sql, Mysql).unwrap();
    let summary: Vec<_> = got
        .iter()
        .map(|s| (s.number, s.line, s.text.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, 2, "CREATE PROCEDURE p() BEGIN SELECT 1; END"),
            (2, 3, "SELECT 2"),
            (3, 5, "SELECT 3")
        ]
    );
}

#[test]
fn under_a_custom_delimiter_semicolons_never_split() {
    let sql = "DELIMITER //\nSELECT 1; SELECT 2 //\nDELIMITER ;";
    assert_eq!(texts(sql, Mysql), ["SELECT 1; SELECT 2"]);
}

#[test]
fn a_delimiter_line_ends_the_statement_before_it() {
    assert_eq!(
        texts("SELECT 1\nDELIMITER ;;\nSELECT 2;;", Mysql),
        ["SELECT 1", "SELECT 2"]
    );
}

#[test]
fn a_delimiter_line_without_a_delimiter_is_an_error_with_its_line() {
    let err = split("SELECT 1;\n\nDELIMITER  \nSELECT 2;", Mysql).unwrap_err();
    assert_eq!(err.line(), 3);
    assert_eq!(
        err.to_string(),
        "the DELIMITER command at line 3 has no delimiter after it; write one, as in `DELIMITER ;;`"
    );
}

#[test]
fn delimiter_is_only_a_command_at_the_start_of_a_line_and_only_for_mysql() {
    assert_eq!(
        texts("SELECT a, delimiter FROM t; SELECT 2;", Mysql),
        ["SELECT a, delimiter FROM t", "SELECT 2"]
    );
    assert_eq!(
        texts("DELIMITER ;;\nSELECT 1;", Sqlite),
        ["DELIMITER", "SELECT 1"]
    );
}

#[test]
fn mysql_executable_comments_are_kept_verbatim_as_code() {
    let sql = "/*!40101 SET NAMES utf8mb4 */;\n/*M!100100 SET sql_mode = 'x;y' */;\n/* plain */ SELECT /*!32302 1, */ 2;";
    assert_eq!(
        texts(sql, Mysql),
        [
            "/*!40101 SET NAMES utf8mb4 */",
            "/*M!100100 SET sql_mode = 'x;y' */",
            "SELECT /*!32302 1, */ 2"
        ]
    );
}

#[test]
fn mysql_trigger_inside_executable_comments_is_one_statement_without_delimiter() {
    let trigger = "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN\n  IF NEW.a < 0 THEN SET NEW.a = 0; END IF;\nEND */";
    assert_eq!(
        texts(&format!("{trigger};\nSELECT 2;"), Mysql),
        [trigger, "SELECT 2"]
    );
}

#[test]
fn an_unclosed_executable_comment_reports_its_line() {
    assert_eq!(
        split("SELECT 1;\n/*!40101 SET NAMES utf8mb4;", Mysql),
        Err(SplitError::Unterminated {
            what: "executable comment",
            line: 2
        })
    );
}

#[test]
fn mysqldump_output_splits_like_the_mysql_client() {
    let got = split(include_str!("testdata/mysqldump.sql"), Mysql).unwrap();
    let texts: Vec<&str> = got.iter().map(|s| s.text.as_str()).collect();
    assert!(texts.contains(&"/*!40101 SET NAMES utf8mb4 */"));
    assert!(texts.contains(&"LOCK TABLES `t` WRITE"));
    assert!(texts.contains(&"/*!40000 ALTER TABLE `t` DISABLE KEYS */"));
    let trigger = texts
        .iter()
        .find(|t| t.starts_with("/*!50003 CREATE*/"))
        .unwrap();
    assert!(trigger.ends_with("END IF;\nEND \n*/"), "{trigger}");
    let proc = texts
        .iter()
        .find(|t| t.starts_with("CREATE DEFINER"))
        .unwrap();
    assert!(proc.ends_with("ELSE 'y' END;\nEND"), "{proc}");
    assert!(texts
        .iter()
        .all(|t| !t.to_ascii_uppercase().contains("DELIMITER")));
    assert_eq!(got.len(), 55);
}
