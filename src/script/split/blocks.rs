//! Where a `;` does not end a statement: inside parentheses (as psql counts them), inside a
//! PostgreSQL `BEGIN ATOMIC ... END` routine body (psql's own heuristic), and inside SQLite
//! trigger and MySQL stored-program `BEGIN ... END` bodies, whose `IF`, `CASE`, `LOOP`,
//! `WHILE`, `REPEAT` blocks end in `END IF` and friends.

use super::Dialect;

/// How a statement begins, as far as bodies matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// No word yet.
    Start,
    /// After `CREATE` and modifiers; the number is how many unknown words (a MySQL
    /// `DEFINER = user@host`) may still come before the object kind.
    AfterCreate(u8),
    /// MySQL/MariaDB `BEGIN` as the first word: `BEGIN NOT ATOMIC` opens a block.
    AfterBegin,
    /// A routine or trigger: `BEGIN`/`CASE` ... `END` nesting is counted.
    Compound,
    /// Anything else: only parentheses matter.
    Plain,
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

/// Object kinds that never have a body (they end a MySQL `DEFINER` clause early).
const PLAIN_KINDS: &[&str] = &["VIEW", "TABLE", "INDEX", "DATABASE", "SCHEMA", "USER"];

fn is_any(w: &[u8], words: &[&str]) -> bool {
    words.iter().any(|k| w.eq_ignore_ascii_case(k.as_bytes()))
}

/// The nesting state of the statement being read.
#[derive(Debug)]
pub(super) struct Blocks {
    dialect: Dialect,
    head: Head,
    depth: usize,
    /// Open parentheses, and the line of the outermost one.
    parens: usize,
    paren_line: usize,
    /// Set right after an `END` word: whether it closed a level (to undo on `END IF` etc.).
    after_end: Option<bool>,
}

impl Blocks {
    pub fn new(dialect: Dialect) -> Self {
        Blocks {
            dialect,
            head: Head::Start,
            depth: 0,
            parens: 0,
            paren_line: 0,
            after_end: None,
        }
    }

    /// Whether a `;` here is inside something and so does not end the statement.
    pub fn inside(&self) -> bool {
        self.depth > 0 || self.parens > 0
    }

    /// What is left open at the end of the text, and the line to report it at
    /// (`statement_line` for a body, the first open parenthesis otherwise).
    pub fn unclosed(&self, statement_line: usize) -> Option<(&'static str, usize)> {
        if self.depth > 0 {
            Some(("BEGIN ... END block", statement_line))
        } else if self.parens > 0 {
            Some(("parenthesis", self.paren_line))
        } else {
            None
        }
    }

    /// A token that is not a word: a symbol, a string, a quoted identifier.
    /// `first` is its first byte.
    pub fn other(&mut self, first: u8, line: usize) {
        self.after_end = None;
        if self.head == Head::Start || self.head == Head::AfterBegin {
            self.head = Head::Plain;
        }
        match first {
            b'(' => {
                if self.parens == 0 {
                    self.paren_line = line;
                }
                self.parens += 1;
            }
            b')' => self.parens = self.parens.saturating_sub(1),
            _ => {}
        }
    }

    /// A word (keyword or unquoted identifier).
    pub fn word(&mut self, w: &[u8]) {
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
            Head::Start if self.dialect == Dialect::Mysql && w.eq_ignore_ascii_case(b"BEGIN") => {
                self.head = Head::AfterBegin;
            }
            Head::AfterBegin if w.eq_ignore_ascii_case(b"NOT") => {
                self.head = Head::Compound;
                self.depth = 1;
            }
            Head::Start | Head::AfterBegin => self.head = Head::Plain,
            Head::AfterCreate(unknown_left) => self.after_create(w, unknown_left),
            Head::Compound if self.dialect == Dialect::Postgres => self.atomic_body(w),
            Head::Compound => self.compound_body(w),
            Head::Plain => {}
        }
    }

    fn after_create(&mut self, w: &[u8], unknown_left: u8) {
        let programs: &[&str] = match self.dialect {
            Dialect::Mysql => &["TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"],
            Dialect::Postgres => &["PROCEDURE", "FUNCTION"],
            Dialect::Sqlite => &["TRIGGER"],
        };
        let modifiers = match self.dialect {
            // psql only looks for CREATE [OR REPLACE] {FUNCTION|PROCEDURE}
            Dialect::Postgres => &CREATE_MODIFIERS[2..4],
            _ => CREATE_MODIFIERS,
        };
        self.head = if is_any(w, programs) {
            Head::Compound
        } else if self.dialect == Dialect::Mysql && w.eq_ignore_ascii_case(b"DEFINER") {
            Head::AfterCreate(4)
        } else if is_any(w, modifiers) {
            Head::AfterCreate(unknown_left)
        } else if unknown_left > 0 && !is_any(w, PLAIN_KINDS) {
            Head::AfterCreate(unknown_left - 1)
        } else {
            Head::Plain
        };
    }

    /// psql's rule for SQL-standard bodies: outside parentheses, `BEGIN` opens, `CASE` opens
    /// only inside a body, `END` closes.
    /// <https://github.com/postgres/postgres/blob/master/src/fe_utils/psqlscan.l>
    fn atomic_body(&mut self, w: &[u8]) {
        if self.parens > 0 {
            return;
        }
        if w.eq_ignore_ascii_case(b"BEGIN") || (self.depth > 0 && w.eq_ignore_ascii_case(b"CASE")) {
            self.depth += 1;
        } else if w.eq_ignore_ascii_case(b"END") {
            self.depth = self.depth.saturating_sub(1);
        }
    }

    /// SQLite trigger and MySQL stored-program bodies: `BEGIN` and `CASE` open, `END` closes;
    /// `IF`, `LOOP`, `WHILE`, `REPEAT` are not counted, so their `END X` undoes the close.
    fn compound_body(&mut self, w: &[u8]) {
        if is_any(w, &["BEGIN", "CASE"]) {
            self.depth += 1;
        } else if w.eq_ignore_ascii_case(b"END") {
            let closed = self.depth > 0;
            self.depth -= usize::from(closed);
            self.after_end = Some(closed);
        }
    }
}
