//! An attempt's output lines in `oneoff_output`, in order: per-statement
//! rows, database notices and warnings, a Rust script's log lines. Bounded
//! per attempt ([`MAX_LINES`], [`MAX_BYTES`]); when lines are dropped the
//! last line, of kind `truncated`, says how many.

use diesel::prelude::*;

use super::schema::oneoff_output as output;
use crate::db::AnyConnection;

/// Lines kept per attempt.
pub const MAX_LINES: usize = 500;
/// Bytes kept per attempt (over all messages).
pub const MAX_BYTES: usize = 64 * 1024;
/// Bytes kept of one message.
const MAX_LINE_BYTES: usize = 2000;

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// What a statement did.
    Statement,
    /// A database notice or warning.
    Notice,
    /// A Rust script's log line.
    Log,
    /// A Rust script's after-commit effect: ran, or failed.
    Effect,
    /// The error that ended the attempt.
    Error,
    /// How many lines were dropped.
    Truncated,
}

impl Kind {
    /// The word stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Statement => "statement",
            Kind::Notice => "notice",
            Kind::Log => "log",
            Kind::Effect => "effect",
            Kind::Error => "error",
            Kind::Truncated => "truncated",
        }
    }
}

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, serde::Serialize)]
pub struct OutputLine {
    /// The attempt.
    #[serde(skip)]
    pub run_id: String,
    /// The script.
    #[serde(skip)]
    pub script_id: String,
    /// 1-based position.
    pub seq: i32,
    /// `statement`, `notice`, `log`, `effect`, `error`, `truncated`.
    pub kind: String,
    /// The text.
    pub message: String,
}

/// Collects an attempt's lines, keeping within the bounds, until written.
#[derive(Debug, Clone)]
pub struct OutputWriter {
    run_id: String,
    script_id: String,
    lines: Vec<(Kind, String)>,
    bytes: usize,
    dropped: usize,
}

impl OutputWriter {
    /// For the attempt `run_id` of `script_id`.
    pub fn new(run_id: &str, script_id: &str) -> OutputWriter {
        OutputWriter {
            run_id: run_id.to_string(),
            script_id: script_id.to_string(),
            lines: Vec::new(),
            bytes: 0,
            dropped: 0,
        }
    }

    /// Adds a line, or counts it as dropped when the bounds are reached.
    pub fn push(&mut self, kind: Kind, message: &str) {
        let mut message = message.to_string();
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …(cut)");
        }
        if self.lines.len() >= MAX_LINES || self.bytes + message.len() > MAX_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.lines.push((kind, message));
    }

    /// The lines as they will be stored, the truncation line last.
    pub fn lines(&self) -> Vec<(Kind, String)> {
        let mut lines = self.lines.clone();
        if self.dropped > 0 {
            lines.push((
                Kind::Truncated,
                format!(
                    "{} more line(s) not kept: the output of an attempt is kept up to {MAX_LINES} lines and {} KiB",
                    self.dropped,
                    MAX_BYTES / 1024
                ),
            ));
        }
        lines
    }

    /// Writes the lines (the caller picks the transaction).
    pub fn write(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        // One row a statement: diesel's batch insert is not available on
        // a connection that may be any backend.
        for (i, (kind, message)) in self.lines().into_iter().enumerate() {
            diesel::insert_into(output::table)
                .values((
                    output::run_id.eq(&self.run_id),
                    output::script_id.eq(&self.script_id),
                    output::seq.eq(i as i32 + 1),
                    output::kind.eq(kind.as_str()),
                    output::message.eq(message),
                ))
                .execute(conn)?;
        }
        Ok(())
    }
}

/// The lines of one attempt, in order.
pub fn read(
    conn: &mut AnyConnection,
    run_id: &str,
    script_id: &str,
) -> QueryResult<Vec<OutputLine>> {
    output::table
        .filter(output::run_id.eq(run_id))
        .filter(output::script_id.eq(script_id))
        .order(output::seq.asc())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_bound_are_counted_and_said_in_a_last_line() {
        let mut w = OutputWriter::new("r", "s");
        for i in 0..MAX_LINES + 7 {
            w.push(Kind::Statement, &format!("statement {i}"));
        }
        let lines = w.lines();
        assert_eq!(lines.len(), MAX_LINES + 1);
        let (kind, last) = lines.last().unwrap();
        assert_eq!(*kind, Kind::Truncated);
        assert!(last.starts_with("7 more line(s) not kept"), "{last}");
    }

    #[test]
    fn a_long_line_is_cut_on_a_character_boundary() {
        let mut w = OutputWriter::new("r", "s");
        w.push(Kind::Notice, &"é".repeat(MAX_LINE_BYTES));
        let (_, line) = &w.lines()[0];
        assert!(line.ends_with("…(cut)") && line.len() <= MAX_LINE_BYTES + 10);
    }
}
