//! Splits a script's text into SQL statements on `;`, honouring each dialect's quotes,
//! comments, PostgreSQL dollar quoting and SQLite/MySQL `BEGIN ... END` trigger bodies,
//! and records the line on which each statement starts. One linear pass over the bytes.

use std::fmt;

/// Which SQL dialect's quoting rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 1-based position among the script's statements.
    pub number: usize,
    /// 1-based line in the file where the statement's first non-blank, non-comment character is.
    pub line: usize,
    /// The statement text: leading whitespace and leading comments removed, trailing `;` and
    /// trailing whitespace (and trailing comments) removed. Inner comments and text kept verbatim.
    pub text: String,
}

/// Why a script could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// A quoted string, quoted identifier, dollar-quoted body or block comment is never closed
    /// (or, for SQLite/MySQL, a trigger's `BEGIN ... END` body never reaches its `END`).
    Unterminated { what: &'static str, line: usize },
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::Unterminated { what, line } => {
                write!(f, "unterminated {what} starting at line {line}")
            }
        }
    }
}

impl std::error::Error for SplitError {}

/// Splits `sql` into statements on `;` outside quotes and comments.
pub fn split(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, SplitError> {
    let mut s = Splitter {
        src: sql,
        b: sql.as_bytes(),
        dialect,
        i: 0,
        line: 1,
        out: Vec::new(),
        start: None,
        end: 0,
        head: Head::Start,
        depth: 0,
        after_end: None,
    };
    s.run()?;
    Ok(s.out)
}

/// How a statement begins, as far as `BEGIN ... END` bodies matter (SQLite and MySQL only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// No significant token yet.
    Start,
    /// After `CREATE` and modifiers; the number is how many unknown words (a MySQL
    /// `DEFINER = user@host`) may still come before the object kind.
    AfterCreate(u8),
    /// A trigger (or MySQL stored program): `BEGIN`/`CASE` ... `END` nesting is counted.
    Compound,
    /// Anything else: every `;` outside quotes and comments ends the statement.
    Plain,
}

/// The rules of one kind of quote.
#[derive(Clone, Copy)]
struct Quote {
    close: u8,
    doubled: bool,
    backslash: bool,
    what: &'static str,
}

struct Splitter<'a> {
    src: &'a str,
    b: &'a [u8],
    dialect: Dialect,
    i: usize,
    line: usize,
    out: Vec<Statement>,
    /// Byte offset and line of the current statement's first significant token.
    start: Option<(usize, usize)>,
    /// Byte offset just past the current statement's last significant token.
    end: usize,
    head: Head,
    depth: usize,
    /// Set right after an `END` word: whether it closed a level (to undo on `END IF` etc.).
    after_end: Option<bool>,
}

/// Words that may sit between `CREATE` and the object kind.
const CREATE_MODIFIERS: &[&str] = &[
    "TEMP",
    "TEMPORARY",
    "OR",
    "REPLACE",
    "AGGREGATE",
    "CURRENT_USER",
];

const fn quote(close: u8, doubled: bool, backslash: bool, what: &'static str) -> Quote {
    Quote {
        close,
        doubled,
        backslash,
        what,
    }
}

fn unterminated(what: &'static str, line: usize) -> SplitError {
    SplitError::Unterminated { what, line }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_any(w: &[u8], words: &[&str]) -> bool {
    words.iter().any(|k| w.eq_ignore_ascii_case(k.as_bytes()))
}

impl Splitter<'_> {
    fn run(&mut self) -> Result<(), SplitError> {
        let b = self.b;
        while self.i < b.len() {
            let c = b[self.i];
            let next = b.get(self.i + 1).copied();
            match c {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => self.i += 1,
                b';' if self.depth == 0 => {
                    self.finish();
                    self.i += 1;
                }
                b'-' if next == Some(b'-') && self.dash_dash_is_comment() => self.skip_line(),
                b'#' if self.dialect == Dialect::Mysql => self.skip_line(),
                b'/' if next == Some(b'*') => self.block_comment()?,
                _ => {
                    if let Some(q) = self.quote_for(c) {
                        self.quoted(self.i, self.i, q)?;
                    } else if c == b'$' && self.dialect == Dialect::Postgres {
                        match self.dollar_delimiter_len() {
                            Some(len) => self.dollar_quoted(len)?,
                            None => self.word()?,
                        }
                    } else if is_word_byte(c) {
                        self.word()?;
                    } else {
                        self.symbol(self.i, self.line, self.i + 1);
                    }
                }
            }
        }
        if let Some((_, line)) = self.start {
            if self.depth > 0 {
                return Err(unterminated("BEGIN ... END block", line));
            }
        }
        self.finish();
        Ok(())
    }

    fn quote_for(&self, c: u8) -> Option<Quote> {
        let mysql = self.dialect == Dialect::Mysql;
        Some(match (c, self.dialect) {
            (b'\'', _) => quote(b'\'', true, mysql, "single-quoted string"),
            (b'"', Dialect::Mysql) => quote(b'"', true, true, "double-quoted string"),
            (b'"', _) => quote(b'"', true, false, "double-quoted identifier"),
            (b'`', Dialect::Sqlite | Dialect::Mysql) => {
                quote(b'`', true, false, "backtick-quoted identifier")
            }
            (b'[', Dialect::Sqlite) => quote(b']', false, false, "bracket-quoted identifier"),
            _ => return None,
        })
    }

    /// `--` always starts a comment, except that MySQL wants whitespace or a control char after it.
    fn dash_dash_is_comment(&self) -> bool {
        self.dialect != Dialect::Mysql || self.b.get(self.i + 2).is_none_or(|&c| c <= b' ')
    }

    /// Skips a line comment, leaving the `\n` for the main loop.
    fn skip_line(&mut self) {
        self.i = match self.b[self.i..].iter().position(|&c| c == b'\n') {
            Some(n) => self.i + n,
            None => self.b.len(),
        };
    }

    fn block_comment(&mut self) -> Result<(), SplitError> {
        let (b, from, line) = (self.b, self.i, self.line);
        // MySQL/MariaDB executable comments (`/*! ... */`, `/*M! ... */`) are code, not comments.
        let rest = &b[from + 2..];
        let code =
            self.dialect == Dialect::Mysql && (rest.starts_with(b"!") || rest.starts_with(b"M!"));
        let nests = self.dialect == Dialect::Postgres;
        let (mut depth, mut j) = (1usize, from + 2);
        while depth > 0 {
            match b.get(j) {
                None => return Err(unterminated("block comment", line)),
                Some(b'\n') => {
                    self.line += 1;
                    j += 1;
                }
                Some(b'*') if b.get(j + 1) == Some(&b'/') => {
                    depth -= 1;
                    j += 2;
                }
                Some(b'/') if nests && b.get(j + 1) == Some(&b'*') => {
                    depth += 1;
                    j += 2;
                }
                _ => j += 1,
            }
        }
        if code {
            self.symbol(from, line, j);
        } else {
            self.i = j;
        }
        Ok(())
    }

    /// Scans a quoted token whose opening quote is at `open`; the token itself starts at `from`
    /// (earlier than `open` for a PostgreSQL `E'...'` string).
    fn quoted(&mut self, from: usize, open: usize, q: Quote) -> Result<(), SplitError> {
        let (b, line) = (self.b, self.line);
        let mut j = open + 1;
        loop {
            match b.get(j) {
                None => return Err(unterminated(q.what, line)),
                Some(&c) if c == q.close => {
                    if q.doubled && b.get(j + 1) == Some(&q.close) {
                        j += 2;
                    } else {
                        j += 1;
                        break;
                    }
                }
                Some(b'\\') if q.backslash => {
                    if b.get(j + 1) == Some(&b'\n') {
                        self.line += 1;
                    }
                    j += 2;
                }
                Some(b'\n') => {
                    self.line += 1;
                    j += 1;
                }
                Some(_) => j += 1,
            }
        }
        self.symbol(from, line, j);
        Ok(())
    }

    /// At a `$` (PostgreSQL): the length of a `$$` / `$tag$` delimiter starting here, if any.
    fn dollar_delimiter_len(&self) -> Option<usize> {
        let b = self.b;
        let mut j = self.i + 1;
        if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
            return None; // `$1` is a parameter
        }
        while j < b.len() && b[j] != b'$' && is_word_byte(b[j]) {
            j += 1;
        }
        (b.get(j) == Some(&b'$')).then_some(j + 1 - self.i)
    }

    fn dollar_quoted(&mut self, len: usize) -> Result<(), SplitError> {
        let (b, from, line) = (self.b, self.i, self.line);
        let delimiter = &b[from..from + len];
        let mut j = from + len;
        loop {
            match b.get(j) {
                None => return Err(unterminated("dollar-quoted string", line)),
                Some(b'\n') => self.line += 1,
                Some(b'$') if b[j..].starts_with(delimiter) => break,
                Some(_) => {}
            }
            j += 1;
        }
        self.symbol(from, line, j + len);
        Ok(())
    }

    fn word(&mut self) -> Result<(), SplitError> {
        let (b, from, line) = (self.b, self.i, self.line);
        let mut j = from + 1;
        while j < b.len() && is_word_byte(b[j]) {
            j += 1;
        }
        if self.dialect == Dialect::Postgres {
            if j == from + 1 && b[from].eq_ignore_ascii_case(&b'e') && b.get(j) == Some(&b'\'') {
                return self.quoted(from, j, quote(b'\'', true, true, "single-quoted string"));
            }
        } else {
            self.on_word(&b[from..j]);
        }
        self.token(from, line, j);
        Ok(())
    }

    /// Tracks `CREATE ... TRIGGER` heads and `BEGIN`/`CASE` ... `END` nesting (SQLite, MySQL).
    fn on_word(&mut self, w: &[u8]) {
        if let Some(closed) = self.after_end.take() {
            if is_any(w, &["IF", "LOOP", "WHILE", "REPEAT", "FOR"]) {
                // `END IF` and friends close blocks that were never counted.
                self.depth += usize::from(closed);
                return;
            }
            if w.eq_ignore_ascii_case(b"CASE") {
                return; // `END CASE`: the END already closed the CASE
            }
        }
        match self.head {
            Head::Start if w.eq_ignore_ascii_case(b"CREATE") => self.head = Head::AfterCreate(0),
            Head::Start => self.head = Head::Plain,
            Head::AfterCreate(unknown_left) => {
                let programs: &[&str] = match self.dialect {
                    Dialect::Mysql => &["TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"],
                    _ => &["TRIGGER"],
                };
                if is_any(w, programs) {
                    self.head = Head::Compound;
                } else if w.eq_ignore_ascii_case(b"DEFINER") {
                    self.head = Head::AfterCreate(4);
                } else if is_any(w, CREATE_MODIFIERS) {
                    // modifiers between CREATE and the object kind
                } else if unknown_left > 0 {
                    self.head = Head::AfterCreate(unknown_left - 1);
                } else {
                    self.head = Head::Plain;
                }
            }
            Head::Compound => {
                if is_any(w, &["BEGIN", "CASE"]) {
                    self.depth += 1;
                } else if w.eq_ignore_ascii_case(b"END") {
                    let closed = self.depth > 0;
                    self.depth -= usize::from(closed);
                    self.after_end = Some(closed);
                }
            }
            Head::Plain => {}
        }
    }

    /// Records a significant token spanning `from..to` that started on `line`.
    fn token(&mut self, from: usize, line: usize, to: usize) {
        if self.start.is_none() {
            self.start = Some((from, line));
        }
        self.end = to;
        self.i = to;
    }

    /// A significant token that is not a word.
    fn symbol(&mut self, from: usize, line: usize, to: usize) {
        self.token(from, line, to);
        self.after_end = None;
        if self.head == Head::Start {
            self.head = Head::Plain;
        }
    }

    fn finish(&mut self) {
        if let Some((from, line)) = self.start.take() {
            let number = self.out.len() + 1;
            self.out.push(Statement {
                number,
                line,
                text: self.src[from..self.end].to_string(),
            });
        }
        self.head = Head::Start;
        self.depth = 0;
        self.after_end = None;
    }
}

#[cfg(test)]
mod tests {
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
        let sql =
            "CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1);\n\n  UPDATE t\n  SET a = 2;\n";
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
        let sql = "-- lead\n/* lead */ UPDATE t /* inner; */ SET a = 1 -- why; because\n WHERE id = 2 ;  \n";
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
    fn error_message_names_what_and_where() {
        let err = split("SELECT 1;\n'oops", Sqlite).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unterminated single-quoted string starting at line 2"
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
        let trigger = "CREATE DEFINER=`admin`@`%` TRIGGER trg BEFORE INSERT ON t FOR EACH ROW\nBEGIN\n  \
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
}
