//! Splits a script's text into SQL statements the way psql and the mysql client do: on `;`
//! outside quotes, comments, dollar quotes, parentheses and routine/trigger bodies, and (MySQL)
//! on the delimiter a `DELIMITER` line sets. Records the line each statement starts on.
//! One linear pass: [`lexer`] makes the tokens, [`blocks`] knows when `;` is inside something.

mod blocks;
pub(crate) mod lexer;
mod stream;

use std::fmt;

pub use stream::Splitter;

/// Which SQL dialect's quoting rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 1-based position among the script's statements.
    pub number: usize,
    /// 1-based line in the file where the statement's first non-blank, non-comment character is.
    pub line: usize,
    /// The statement text: leading whitespace and leading comments removed, trailing delimiter
    /// and trailing whitespace (and trailing comments) removed. Inner comments and text kept
    /// verbatim; MySQL executable comments (`/*! ... */`) are code and always kept.
    pub text: String,
}

/// Why a script could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// A quoted string, quoted identifier, dollar-quoted body, comment or parenthesis is never
    /// closed (or a routine's or trigger's `BEGIN ... END` body never reaches its `END`).
    Unterminated {
        /// What is left open.
        what: &'static str,
        /// The line it starts on.
        line: usize,
    },
    /// A MySQL `DELIMITER` line the mysql client would refuse.
    Delimiter {
        /// What is wrong with it, and the fix.
        problem: &'static str,
        /// The line of the `DELIMITER` command.
        line: usize,
    },
}

impl SplitError {
    /// The line the problem starts on.
    #[allow(
        dead_code,
        reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
    )]
    pub fn line(&self) -> usize {
        match self {
            SplitError::Unterminated { line, .. } | SplitError::Delimiter { line, .. } => *line,
        }
    }
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::Unterminated { what, line } => {
                write!(f, "unterminated {what} starting at line {line}; close it")
            }
            SplitError::Delimiter { problem, line } => {
                write!(f, "the DELIMITER command at line {line} {problem}")
            }
        }
    }
}

impl std::error::Error for SplitError {}

/// Splits `sql` into statements, as described in the module documentation.
pub fn split(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, SplitError> {
    let mut splitter = Splitter::new(dialect);
    splitter.push(sql);
    std::iter::from_fn(|| splitter.next_statement(true).transpose()).collect()
}

/// For the tests: [`split`], after checking that feeding the same text a few lines at a time
/// (as a file is read) gives the same statements or the same error.
#[cfg(test)]
fn split_in_parts(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, SplitError> {
    let whole = split(sql, dialect);
    let lines: Vec<&str> = sql.split_inclusive('\n').collect();
    for per_block in [1, 2, 3] {
        let mut splitter = Splitter::new(dialect);
        let mut blocks = lines.chunks(per_block);
        let mut got = Vec::new();
        let parts = loop {
            match splitter.next_statement(false) {
                Ok(Some(s)) => got.push(s),
                Ok(None) => match blocks.next() {
                    Some(block) => splitter.push(&block.concat()),
                    None => {
                        break std::iter::from_fn(|| splitter.next_statement(true).transpose())
                            .collect::<Result<Vec<_>, _>>()
                            .map(|rest| got.into_iter().chain(rest).collect())
                    }
                },
                Err(e) => break Err(e),
            }
        };
        assert_eq!(parts, whole, "{per_block} line(s) at a time: {sql:?}");
    }
    whole
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_bodies;
