//! A script's leading comment block: its description, and the directives
//! (`-- oneoff:<directive>`) that change how it runs.

/// The prefix that marks a directive inside a `--` comment.
const DIRECTIVE_PREFIX: &str = "oneoff:";
/// Directives this version understands, for error messages.
pub const KNOWN_DIRECTIVES: &[&str] = &[
    "no-transaction",
    "timeout DURATION",
    "batch",
    "total QUERY",
    "pause DURATION",
    "expect-rows RANGE",
    "verify QUERY",
    "revertible",
    "track TABLE",
];

/// How a script asks to be run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Directives {
    /// `-- oneoff:no-transaction`: statements run one by one, each committed
    /// on its own, for statements a transaction cannot hold.
    pub no_transaction: bool,
    /// `-- oneoff:timeout DURATION`: stop and roll back the script when it
    /// runs longer (overrides `run --timeout`).
    #[serde(with = "humantime_serde_opt")]
    pub timeout: Option<std::time::Duration>,
    /// `-- oneoff:batch`: the one statement runs again and again, each
    /// execution committed with the progress, until it changes no rows.
    pub batch: bool,
    /// `-- oneoff:total QUERY`: counts the rows a batched script has to do.
    pub total: Option<String>,
    /// `-- oneoff:pause DURATION`: sleep between batches.
    #[serde(with = "humantime_serde_opt")]
    pub pause: Option<std::time::Duration>,
    /// `-- oneoff:expect-rows RANGE` and `-- oneoff:verify QUERY`: checked
    /// before the script's work commits (see [`super::postconditions`]).
    pub postconditions: super::postconditions::Postconditions,
    /// `-- oneoff:revertible`: every row the script changes is recorded in
    /// `oneoff_changes`, in its transaction, for `oneoff revert`.
    pub revertible: bool,
    /// `-- oneoff:track TABLE` (may repeat): tables a revertible script's
    /// changes are recorded in, beyond those its statements name.
    pub track: Vec<super::revertible::TableName>,
}

mod humantime_serde_opt {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

/// The parsed leading comment block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The description: the first paragraph of the leading comments.
    pub description: String,
    /// The directives found.
    pub directives: Directives,
}

/// A problem in the header, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    /// The line of the offending directive.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// Parses the leading comment block of normalised (LF) script text.
///
/// The block is the run of `--` comment lines and blank lines at the top of
/// the file. A directive anywhere else is an error, so that it never looks
/// active while being ignored.
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn parse(text: &str) -> Result<Header, HeaderError> {
    let mut parser = HeaderParser::default();
    for raw in text.lines() {
        parser.line(raw)?;
    }
    parser.finish()
}

/// [`parse`] a line at a time, for a file read in chunks: feed every line
/// (without its `\n`), then [`HeaderParser::finish`].
#[derive(Debug, Default)]
pub struct HeaderParser {
    header: Header,
    paragraph_done: bool,
    past_block: bool,
    line: usize,
    seen: Vec<(&'static str, usize)>,
}

impl HeaderParser {
    /// Takes the next line of the file.
    pub fn line(&mut self, raw: &str) -> Result<(), HeaderError> {
        self.line += 1;
        let line = self.line;
        let trimmed = raw.trim();
        let Some(comment) = trimmed.strip_prefix("--").map(str::trim) else {
            if !trimmed.is_empty() {
                self.past_block = true;
            } else {
                self.end_paragraph();
            }
            return Ok(());
        };
        // The prefix matches in any case, so that `-- OneOff:...` is not
        // silently taken for a plain comment.
        let directive = comment
            .get(..DIRECTIVE_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(DIRECTIVE_PREFIX))
            .map(|_| &comment[DIRECTIVE_PREFIX.len()..]);
        if let Some(directive) = directive {
            if self.past_block {
                return Err(HeaderError {
                    line,
                    message: format!(
                        "directive `{trimmed}` must be in the leading comment block, before the first statement; move it to the top of the file"
                    ),
                });
            }
            let name = apply(&mut self.header.directives, directive.trim(), line)?;
            self.seen.push((name, line));
        } else if self.past_block || self.paragraph_done {
        } else if comment.is_empty() {
            // An empty `--` line or a blank line ends the description's paragraph.
            self.end_paragraph();
        } else {
            let description = &mut self.header.description;
            if !description.is_empty() {
                description.push(' ');
            }
            description.push_str(comment);
        }
        Ok(())
    }

    fn end_paragraph(&mut self) {
        if !self.past_block {
            self.paragraph_done |= !self.header.description.is_empty();
        }
    }

    /// The header, once every line was given.
    pub fn finish(self) -> Result<Header, HeaderError> {
        check_combination(&self.header.directives, &self.seen)?;
        Ok(self.header)
    }
}

/// A line of a Rust script as the header parser reads it: a `//` comment
/// is a `--` comment, a blank line is blank, and anything else is code
/// (so that SQL inside a Rust string is never taken for a directive).
pub fn rust_line(line: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = line.trim();
    match trimmed.strip_prefix("//") {
        Some(rest) => format!("--{rest}").into(),
        None if trimmed.is_empty() => "".into(),
        None => "code".into(),
    }
}

/// Directives a Rust script may have; the error says why the others do
/// not apply to it.
pub fn check_rust(directives: &Directives) -> Result<(), String> {
    if directives.batch || directives.total.is_some() || directives.pause.is_some() {
        return Err("`oneoff:batch`, `oneoff:total` and `oneoff:pause` are for SQL scripts; a Rust script makes its own batches: call `ctx.checkpoint(&cursor)` after each, and `ctx.set_total(n)` / `ctx.advance(n)` for the progress".into());
    }
    if directives.revertible || !directives.track.is_empty() {
        return Err("`oneoff:revertible` and `oneoff:track` are for SQL scripts, whose statements oneoff can read; a Rust script records what it changes with `ctx.record_change(…)` (listed by `oneoff changes`, undone by you), or puts its revertible part in an SQL script".into());
    }
    Ok(())
}

fn apply(
    directives: &mut Directives,
    directive: &str,
    line: usize,
) -> Result<&'static str, HeaderError> {
    let (name, argument) = match directive.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, Some(arg.trim()).filter(|a| !a.is_empty())),
        None => (directive, None),
    };
    let error = |message: String| HeaderError { line, message };
    let no_argument = |name: &str| match argument {
        Some(arg) => Err(error(format!(
            "directive `oneoff:{name}` takes no argument, found `{arg}`"
        ))),
        None => Ok(()),
    };
    let duration = |name: &str, zero_ok: bool| {
        let arg = argument.ok_or_else(|| {
            error(format!(
                "directive `oneoff:{name}` needs a duration, like `-- oneoff:{name} 5s`"
            ))
        })?;
        humantime::parse_duration(arg)
            .ok()
            .filter(|d| zero_ok || !d.is_zero())
            .ok_or_else(|| {
                error(format!(
                    "directive `oneoff:{name}` has `{arg}`, not a duration; write one like 30s, 5m or 1h"
                ))
            })
    };
    if let Some(applied) =
        super::postconditions::apply(&mut directives.postconditions, name, argument, line)
    {
        return applied.map_err(error);
    }
    if let Some(applied) = super::revertible::apply(directives, name, argument, line) {
        return applied;
    }
    match name {
        "no-transaction" => {
            no_argument(name)?;
            directives.no_transaction = true;
            Ok("no-transaction")
        }
        "timeout" => {
            directives.timeout = Some(duration(name, false)?);
            Ok("timeout")
        }
        "batch" => {
            no_argument(name)?;
            directives.batch = true;
            Ok("batch")
        }
        "total" => {
            let query = argument.ok_or_else(|| {
                error("directive `oneoff:total` needs a query, like `-- oneoff:total SELECT COUNT(*) FROM users WHERE email IS NULL`".into())
            })?;
            directives.total = Some(query.trim_end_matches(';').trim().to_string());
            Ok("total")
        }
        "pause" => {
            directives.pause = Some(duration(name, true)?);
            Ok("pause")
        }
        _ => Err(error(format!(
            "unknown directive `oneoff:{name}` (known: {}); fix the spelling or remove the line",
            KNOWN_DIRECTIVES.join(", ")
        ))),
    }
}

/// Directives that only make sense together, or never together.
fn check_combination(directives: &Directives, seen: &[(&str, usize)]) -> Result<(), HeaderError> {
    let line_of = |name: &str| seen.iter().find(|(n, _)| *n == name).map_or(1, |(_, l)| *l);
    if directives.batch && directives.no_transaction {
        return Err(HeaderError {
            line: line_of("no-transaction"),
            message: "`oneoff:batch` and `oneoff:no-transaction` cannot go together: each batch commits in a transaction with its progress; remove one".into(),
        });
    }
    if directives.no_transaction {
        if let Some(line) = directives.postconditions.first_line() {
            return Err(HeaderError {
                line,
                message: "post-conditions (`oneoff:expect-rows`, `oneoff:verify`) need a transaction to roll back when they fail, and a `oneoff:no-transaction` script commits each statement as it goes; remove them, or drop `-- oneoff:no-transaction`".into(),
            });
        }
    }
    super::revertible::check_combination(directives, &|name| {
        seen.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
    })?;
    for name in ["total", "pause"] {
        if !directives.batch && seen.iter().any(|(n, _)| *n == name) {
            return Err(HeaderError {
                line: line_of(name),
                message: format!("`oneoff:{name}` only applies to batched scripts; add `-- oneoff:batch` or remove it"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_is_the_first_paragraph_of_leading_comments() {
        let h = parse(
            "-- Backfill emails\n-- for old users\n--\n-- Undo: nothing\nUPDATE t SET a = 1;\n",
        )
        .unwrap();
        assert_eq!(h.description, "Backfill emails for old users");
        assert!(!h.directives.no_transaction);
    }

    #[test]
    fn no_transaction_directive_is_recognised_in_the_header() {
        let h = parse(
            "-- Build index\n-- oneoff:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
        )
        .unwrap();
        assert!(h.directives.no_transaction);
        assert_eq!(h.description, "Build index");
    }

    #[test]
    fn unknown_directive_is_an_error_with_its_line() {
        let err = parse("-- x\n\n-- oneoff:no-transactoin\nselect 1;").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(
            err.message
                .contains("unknown directive `oneoff:no-transactoin`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn directive_with_an_unexpected_argument_is_an_error() {
        let err = parse("-- oneoff:no-transaction yes\nselect 1;").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("takes no argument"));
    }

    #[test]
    fn directive_after_the_first_statement_is_an_error() {
        let err = parse("-- x\nselect 1;\n-- oneoff:no-transaction\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("leading comment block"));
    }

    #[test]
    fn timeout_directive_takes_a_duration() {
        let h = parse("-- oneoff:timeout 90s\nselect 1;").unwrap();
        assert_eq!(
            h.directives.timeout,
            Some(std::time::Duration::from_secs(90))
        );
        for bad in [
            "-- oneoff:timeout",
            "-- oneoff:timeout soon",
            "-- oneoff:timeout 0s",
        ] {
            let err = parse(&format!("{bad}\nselect 1;")).unwrap_err();
            assert_eq!(err.line, 1, "{bad}");
            assert!(err.message.contains("oneoff:timeout"), "{}", err.message);
        }
    }

    #[test]
    fn batch_directives_parse_together() {
        let h = parse("-- b\n-- oneoff:batch\n-- oneoff:total SELECT COUNT(*) FROM t;\n-- oneoff:pause 50ms\nUPDATE t SET a = 1;").unwrap();
        assert!(h.directives.batch);
        assert_eq!(
            h.directives.total.as_deref(),
            Some("SELECT COUNT(*) FROM t")
        );
        assert_eq!(
            h.directives.pause,
            Some(std::time::Duration::from_millis(50))
        );
    }

    #[test]
    fn batch_with_no_transaction_or_total_without_batch_is_an_error() {
        let err = parse("-- oneoff:batch\n-- oneoff:no-transaction\nselect 1;").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("cannot go together"));
        let err = parse("-- x\n-- oneoff:total SELECT 1\nselect 1;").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("only applies to batched scripts"));
        let err = parse("-- oneoff:batch\n-- oneoff:total\nselect 1;").unwrap_err();
        assert!(err.message.contains("needs a query"));
    }

    #[test]
    fn a_comment_that_mentions_oneoff_later_is_not_a_directive() {
        let h = parse("-- see `-- oneoff:no-transaction` in the docs\nselect 1;").unwrap();
        assert!(!h.directives.no_transaction);
    }
}
