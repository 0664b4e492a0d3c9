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

fn lines(sql: &str, dialect: Dialect) -> Vec<usize> {
    split(sql, dialect)
        .unwrap()
        .into_iter()
        .map(|s| s.line)
        .collect()
}

fn error_of(sql: &str, dialect: Dialect) -> (&'static str, usize) {
    match split(sql, dialect) {
        Err(SplitError::Unterminated { what, line }) => (what, line),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn plain_statements_split_with_the_line_each_starts_on() {
    let sql = "CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1);\n\n  UPDATE t\n  SET a = 2;\n";
    for d in [Sqlite, Postgres, Mysql] {
        assert_eq!(
            texts(sql, d),
            [
                "CREATE TABLE t (a INT)",
                "INSERT INTO t VALUES (1)",
                "UPDATE t\n  SET a = 2"
            ]
        );
        assert_eq!(lines(sql, d), [1, 2, 4]);
    }
}

#[test]
fn line_of_a_statement_after_comment_lines_is_that_of_its_first_real_character() {
    let sql = "SELECT 1;\n-- explain\n/* more\n   text */\n\n   SELECT 2;";
    assert_eq!(lines(sql, Postgres), [1, 6]);
    assert_eq!(texts(sql, Postgres), ["SELECT 1", "SELECT 2"]);
}

#[test]
fn trailing_statement_without_semicolon_is_kept() {
    assert_eq!(
        texts("SELECT 1; SELECT 2\n  \n", Sqlite),
        ["SELECT 1", "SELECT 2"]
    );
}

#[test]
fn empty_statements_are_dropped_and_consume_no_number() {
    let got = split(";;SELECT 1;; -- nothing\n ; /* x */ ;SELECT 2;;", Sqlite).unwrap();
    let numbered: Vec<_> = got.iter().map(|s| (s.number, s.text.as_str())).collect();
    assert_eq!(numbered, [(1, "SELECT 1"), (2, "SELECT 2")]);
}

#[test]
fn comment_only_or_empty_input_yields_no_statements() {
    for d in [Sqlite, Postgres, Mysql] {
        assert_eq!(split("", d), Ok(vec![]));
        assert_eq!(split("  \n\n", d), Ok(vec![]));
        assert_eq!(
            split("-- just a note; really\n/* and ; this */\n", d),
            Ok(vec![])
        );
    }
}

#[test]
fn statements_are_numbered_consecutively() {
    let got = split("SELECT 1; SELECT 2; SELECT 3", Mysql).unwrap();
    assert_eq!(got.iter().map(|s| s.number).collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn text_keeps_inner_comments_and_drops_leading_comments_and_the_semicolon() {
    let sql =
        "-- lead\n/* lead */ UPDATE t /* inner; */ SET a = 1 -- why; because\n WHERE id = 2 ;  \n";
    assert_eq!(
        texts(sql, Sqlite),
        ["UPDATE t /* inner; */ SET a = 1 -- why; because\n WHERE id = 2"]
    );
}

#[test]
fn trailing_comments_before_the_semicolon_are_dropped() {
    assert_eq!(
        texts("SELECT 1 -- note\n;\nSELECT 2 /* end */", Postgres),
        ["SELECT 1", "SELECT 2"]
    );
}

#[test]
fn semicolon_inside_a_line_comment_does_not_split() {
    assert_eq!(
        texts("SELECT 1 -- a; b\n+ 1;", Sqlite),
        ["SELECT 1 -- a; b\n+ 1"]
    );
}

#[test]
fn semicolon_inside_a_block_comment_does_not_split() {
    assert_eq!(texts("SELECT /* ; */ 1;", Mysql), ["SELECT /* ; */ 1"]);
}

#[test]
fn postgres_block_comments_nest() {
    assert_eq!(
        texts("/* a /* b; */ still; comment */ SELECT 1;", Postgres),
        ["SELECT 1"]
    );
}

#[test]
fn sqlite_and_mysql_block_comments_do_not_nest() {
    for d in [Sqlite, Mysql] {
        assert_eq!(texts("/* a /* b */ SELECT 1; */", d), ["SELECT 1", "*/"]);
    }
}

#[test]
fn semicolon_inside_single_quotes_does_not_split() {
    for d in [Sqlite, Postgres, Mysql] {
        assert_eq!(
            texts("SELECT 'it''s; fine'; SELECT 2", d),
            ["SELECT 'it''s; fine'", "SELECT 2"]
        );
    }
}

#[test]
fn semicolon_inside_a_double_quoted_identifier_does_not_split() {
    for d in [Sqlite, Postgres, Mysql] {
        assert_eq!(
            texts(r#"SELECT "a;""b" FROM t; SELECT 2"#, d),
            [r#"SELECT "a;""b" FROM t"#, "SELECT 2"]
        );
    }
}

#[test]
fn semicolon_inside_a_backtick_identifier_does_not_split() {
    for d in [Sqlite, Mysql] {
        assert_eq!(
            texts("SELECT `a;``b` FROM t; SELECT 2", d),
            ["SELECT `a;``b` FROM t", "SELECT 2"]
        );
    }
}

#[test]
fn semicolon_inside_a_sqlite_bracket_identifier_does_not_split() {
    assert_eq!(
        texts("SELECT [a;b] FROM t; SELECT 2", Sqlite),
        ["SELECT [a;b] FROM t", "SELECT 2"]
    );
}

#[test]
fn semicolon_inside_dollar_quotes_does_not_split() {
    let sql = "DO $$ BEGIN\n  PERFORM 1;\nEND $$;\nSELECT 2;";
    assert_eq!(
        texts(sql, Postgres),
        ["DO $$ BEGIN\n  PERFORM 1;\nEND $$", "SELECT 2"]
    );
    assert_eq!(lines(sql, Postgres), [1, 4]);
}

#[test]
fn tagged_dollar_quote_may_contain_a_plain_dollar_quote() {
    let f = "CREATE FUNCTION f() RETURNS void AS $fn$\nBEGIN EXECUTE $$ SELECT 1; $$; END;\n$fn$ LANGUAGE plpgsql";
    let sql = format!("{f};\nSELECT 2;");
    assert_eq!(texts(&sql, Postgres), [f, "SELECT 2"]);
}

#[test]
fn dollar_followed_by_a_digit_is_a_parameter_not_a_quote() {
    assert_eq!(
        texts("SELECT $1; SELECT $2, a$b$c FROM t;", Postgres),
        ["SELECT $1", "SELECT $2, a$b$c FROM t"]
    );
}

#[test]
fn postgres_e_string_honours_backslash_escapes() {
    assert_eq!(
        texts(r"SELECT E'\';'; SELECT e'\\'; SELECT 3", Postgres),
        [r"SELECT E'\';'", r"SELECT e'\\'", "SELECT 3"]
    );
}

#[test]
fn postgres_plain_string_and_longer_identifier_do_not_honour_backslashes() {
    assert_eq!(
        texts(r"SELECT 'a\'; SELECT 2", Postgres),
        [r"SELECT 'a\'", "SELECT 2"]
    );
    // `de'...'` is not an E-string: the backslash is literal
    assert_eq!(
        texts(r"SELECT de'a\'; SELECT 2", Postgres),
        [r"SELECT de'a\'", "SELECT 2"]
    );
}

#[test]
fn mysql_backslash_escapes_the_next_character_in_strings() {
    let sql = r#"SELECT 'it\'s;', "say \";"; SELECT 2"#;
    assert_eq!(
        texts(sql, Mysql),
        [r#"SELECT 'it\'s;', "say \";""#, "SELECT 2"]
    );
}

#[test]
fn sqlite_backslash_does_not_escape() {
    assert_eq!(
        texts(r"SELECT 'a\'; SELECT 2", Sqlite),
        [r"SELECT 'a\'", "SELECT 2"]
    );
}

#[test]
fn hash_starts_a_comment_in_mysql_only() {
    assert_eq!(texts("# note; here\nSELECT 1;", Mysql), ["SELECT 1"]);
    assert_eq!(
        texts("SELECT '#'; # x; y\nSELECT 2", Mysql),
        ["SELECT '#'", "SELECT 2"]
    );
    assert_eq!(
        texts("SELECT a #> 'b'; SELECT 2", Postgres),
        ["SELECT a #> 'b'", "SELECT 2"]
    );
}

#[test]
fn mysql_double_dash_needs_whitespace_to_start_a_comment() {
    assert_eq!(
        texts("SELECT 1--1; SELECT 2 -- c;\n;", Mysql),
        ["SELECT 1--1", "SELECT 2"]
    );
    assert_eq!(texts("SELECT 1 --\n;", Mysql), ["SELECT 1"]);
}

#[test]
fn mysql_executable_comment_counts_as_a_statement() {
    let sql = "/*!40014 SET FOREIGN_KEY_CHECKS=0 */;\n/* plain */;\nSELECT 1;";
    assert_eq!(
        texts(sql, Mysql),
        ["/*!40014 SET FOREIGN_KEY_CHECKS=0 */", "SELECT 1"]
    );
    assert_eq!(texts(sql, Sqlite), ["SELECT 1"]);
}

#[test]
fn multibyte_text_is_kept_intact() {
    assert_eq!(
        texts("-- é\nSELECT 'ünï;cødé', größe FROM t; SELECT 2", Sqlite),
        ["SELECT 'ünï;cødé', größe FROM t", "SELECT 2"]
    );
}

#[test]
fn unterminated_single_quote_reports_its_starting_line() {
    assert_eq!(
        error_of("SELECT 1;\nSELECT 'abc;\n\n", Sqlite),
        ("single-quoted string", 2)
    );
    assert_eq!(
        error_of("SELECT 1;\n\nSELECT E'x\\'", Postgres),
        ("single-quoted string", 3)
    );
    assert_eq!(error_of("SELECT 'x\\'", Mysql), ("single-quoted string", 1));
}

#[test]
fn unterminated_quoted_identifiers_report_their_starting_line() {
    assert_eq!(
        error_of("\nSELECT \"a;\nb", Postgres),
        ("double-quoted identifier", 2)
    );
    assert_eq!(
        error_of("\nSELECT \"a;\nb", Mysql),
        ("double-quoted string", 2)
    );
    assert_eq!(
        error_of("\n\nSELECT `a", Mysql),
        ("backtick-quoted identifier", 3)
    );
    assert_eq!(
        error_of("SELECT [a", Sqlite),
        ("bracket-quoted identifier", 1)
    );
}

#[test]
fn unterminated_dollar_quote_reports_its_starting_line() {
    assert_eq!(
        error_of("SELECT 1;\nDO $x$ BEGIN END $$;\n", Postgres),
        ("dollar-quoted string", 2)
    );
}

#[test]
fn unterminated_block_comment_reports_its_starting_line() {
    assert_eq!(
        error_of("SELECT 1;\n\n/* never\n closed", Sqlite),
        ("block comment", 3)
    );
    assert_eq!(error_of("/* a /* b */ c", Postgres), ("block comment", 1));
}

#[test]
fn unterminated_trigger_body_reports_the_statement_line() {
    let sql = "SELECT 1;\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n DELETE FROM b;\nSELECT 2;";
    assert_eq!(error_of(sql, Sqlite), ("BEGIN ... END block", 2));
}

#[test]
fn error_message_names_what_and_where_and_the_fix() {
    let err = split("SELECT 1;\n'oops", Sqlite).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unterminated single-quoted string starting at line 2; close it"
    );
}

#[test]
fn sqlite_trigger_body_semicolons_do_not_split() {
    let trigger = "CREATE TEMP TRIGGER IF NOT EXISTS audit AFTER UPDATE ON t\nBEGIN\n  \
                   INSERT INTO log VALUES (CASE WHEN new.a > 0 THEN 'up;' ELSE 'down' END);\n  \
                   UPDATE t SET end_at = 1 WHERE id = new.id;\nEND";
    let sql = format!("-- audit\n{trigger};\nSELECT 2;");
    let got = split(&sql, Sqlite).unwrap();
    assert_eq!(
        got.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
        [trigger, "SELECT 2"]
    );
    assert_eq!(got.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 7]);
}

#[test]
fn mysql_trigger_with_definer_and_if_blocks_is_one_statement() {
    let trigger =
        "CREATE DEFINER=`admin`@`%` TRIGGER trg BEFORE INSERT ON t FOR EACH ROW\nBEGIN\n  \
                   IF NEW.a < 0 THEN SET NEW.a = 0; END IF;\n  \
                   CASE NEW.b WHEN 1 THEN SET NEW.c = 'x;'; ELSE SET NEW.c = 'y'; END CASE;\nEND";
    let sql = format!("{trigger};\nSELECT 2;");
    assert_eq!(texts(&sql, Mysql), [trigger, "SELECT 2"]);
    let unquoted = "CREATE DEFINER = admin@localhost TRIGGER x AFTER DELETE ON t FOR EACH ROW BEGIN DELETE FROM u; END";
    assert_eq!(
        texts(&format!("{unquoted}; SELECT 2"), Mysql),
        [unquoted, "SELECT 2"]
    );
}

#[test]
fn mysql_procedure_body_is_one_statement() {
    let proc = "CREATE PROCEDURE p()\nBEGIN\n  WHILE 1 DO LEAVE; END WHILE;\n  SELECT 1;\nEND";
    assert_eq!(
        texts(&format!("{proc};\nSELECT 2"), Mysql),
        [proc, "SELECT 2"]
    );
}

#[test]
fn begin_and_case_outside_a_trigger_split_normally() {
    let sql =
        "BEGIN;\nCREATE VIEW v AS SELECT CASE WHEN a THEN 1 END AS x FROM t;\nEND;\nSELECT 2;";
    let want = [
        "BEGIN",
        "CREATE VIEW v AS SELECT CASE WHEN a THEN 1 END AS x FROM t",
        "END",
        "SELECT 2",
    ];
    for d in [Sqlite, Postgres, Mysql] {
        assert_eq!(texts(sql, d), want);
    }
    // Postgres has no BEGIN ... END trigger bodies: `;` always splits
    assert_eq!(
        texts("CREATE TRIGGER t BEGIN SELECT 1; END;", Postgres),
        ["CREATE TRIGGER t BEGIN SELECT 1", "END"]
    );
}

#[test]
fn large_input_splits_quickly() {
    let mut sql = String::new();
    for i in 0..200_000 {
        sql.push_str(&format!(
            "INSERT INTO t VALUES ({i}, 'a;b', \"c\"); -- row {i}\n"
        ));
    }
    // The whole text at once: the timing is the splitter's, not the test's comparison.
    let split = super::split;
    let started = std::time::Instant::now();
    let got = split(&sql, Mysql).unwrap();
    assert_eq!(got.len(), 200_000);
    assert_eq!((got[199_999].number, got[199_999].line), (200_000, 200_000));
    let mut one = String::from("INSERT INTO t VALUES\n");
    for i in 0..200_000 {
        one.push_str(&format!("({i}, 'x'),\n"));
    }
    one.push_str("(0, 'y');");
    assert_eq!(split(&one, Postgres).unwrap().len(), 1);
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
}
