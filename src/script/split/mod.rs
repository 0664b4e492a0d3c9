//! Splits a script's text into SQL statements the way psql and the mysql client do: on `;`
//! outside quotes, comments, dollar quotes, parentheses and routine/trigger bodies, and (MySQL)
//! on the delimiter a `DELIMITER` line sets. Records the line each statement starts on.
//! One linear pass: [`lexer`] makes the tokens, [`blocks`] knows when `;` is inside something.

mod blocks;
pub(crate) mod lexer;

use std::fmt;

use blocks::Blocks;
use lexer::{Kind, Lexer};

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
    let mut lexer = Lexer::script(sql, dialect);
    let mut blocks = Blocks::new(dialect);
    let mut out = Vec::new();
    // Byte offset and line of the current statement's first token, and where its last ends.
    let mut start: Option<(usize, usize)> = None;
    let mut end = 0;
    let mut finish = |start: &mut Option<(usize, usize)>, end: usize, blocks: &mut Blocks| {
        if let Some((from, line)) = start.take() {
            let number = out.len() + 1;
            let text = sql[from..end].to_string();
            out.push(Statement { number, line, text });
        }
        blocks.reset();
    };
    while let Some(token) = lexer.next_token()? {
        match token.kind {
            Kind::DelimiterCommand => finish(&mut start, end, &mut blocks),
            Kind::End if lexer.custom_delimiter() || !blocks.inside() => {
                finish(&mut start, end, &mut blocks)
            }
            kind => {
                start.get_or_insert((token.from, token.line));
                end = token.to;
                match kind {
                    Kind::Word => blocks.word(token.text(sql).as_bytes()),
                    Kind::ExecOpen | Kind::ExecClose => {} // see through `/*!50003 ... */`
                    _ => blocks.other(sql.as_bytes()[token.from], token.line),
                }
            }
        }
    }
    if let Some((_, line)) = start {
        if let Some((what, line)) = blocks.unclosed(line) {
            return Err(SplitError::Unterminated { what, line });
        }
    }
    finish(&mut start, end, &mut blocks);
    Ok(out)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_bodies;
