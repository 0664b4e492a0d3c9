//! Post-conditions a script states in its header, checked inside its
//! transaction after its statements and before the ledger says `succeeded`
//! (see `runner::postconditions`): `-- oneoff:expect-rows RANGE` (the rows
//! the script changed in all) and `-- oneoff:verify QUERY` (repeatable; the
//! query must return no rows). Parsed here without a database; a verify
//! query is checked against the static rules once the dialect is known
//! ([`verify_problems`]).

use std::fmt;

use super::rules;
use super::split::{split, Dialect};

/// How many rows a script may change: `N`, `A..B`, `<=N` or `>=N` (bounds included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RowRange {
    /// At least this many.
    pub min: Option<i64>,
    /// At most this many.
    pub max: Option<i64>,
}

impl RowRange {
    /// Parses `N`, `A..B`, `<=N` or `>=N`; the error says how to write one.
    pub fn parse(text: &str) -> Result<RowRange, String> {
        let bad = || {
            format!(
                "`{text}` is not a row range; write `N`, `A..B`, `<=N` or `>=N` with whole numbers, like `-- oneoff:expect-rows 1..500`"
            )
        };
        let number = |s: &str| s.trim().parse::<i64>().ok().filter(|n| *n >= 0);
        let text = text.trim();
        let range = if let Some(n) = text.strip_prefix("<=") {
            RowRange {
                min: None,
                max: Some(number(n).ok_or_else(bad)?),
            }
        } else if let Some(n) = text.strip_prefix(">=") {
            RowRange {
                min: Some(number(n).ok_or_else(bad)?),
                max: None,
            }
        } else if let Some((a, b)) = text.split_once("..") {
            let (a, b) = (number(a).ok_or_else(bad)?, number(b).ok_or_else(bad)?);
            if a > b {
                return Err(format!(
                    "`{text}` is an empty range ({a} is more than {b}); write the smaller bound first"
                ));
            }
            RowRange {
                min: Some(a),
                max: Some(b),
            }
        } else {
            let n = number(text).ok_or_else(bad)?;
            RowRange {
                min: Some(n),
                max: Some(n),
            }
        };
        Ok(range)
    }

    /// Whether `rows` falls in the range.
    pub fn contains(&self, rows: i64) -> bool {
        self.min.is_none_or(|m| rows >= m) && self.max.is_none_or(|m| rows <= m)
    }
}

impl fmt::Display for RowRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => write!(f, "{a}"),
            (Some(a), Some(b)) => write!(f, "{a}..{b}"),
            (None, Some(b)) => write!(f, "<={b}"),
            (Some(a), None) => write!(f, ">={a}"),
            (None, None) => write!(f, ">=0"),
        }
    }
}

/// `-- oneoff:expect-rows RANGE`, with its line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExpectRows {
    /// The range.
    pub range: RowRange,
    /// Its line in the file.
    pub line: usize,
}

/// `-- oneoff:verify QUERY`, with its line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verify {
    /// The query, without a trailing `;`.
    pub query: String,
    /// Its line in the file.
    pub line: usize,
}

/// A script's post-conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Postconditions {
    /// `-- oneoff:expect-rows`, at most one.
    pub expect_rows: Option<ExpectRows>,
    /// `-- oneoff:verify`, in header order.
    pub verify: Vec<Verify>,
}

impl Postconditions {
    /// Whether the script states none.
    pub fn is_empty(&self) -> bool {
        self.expect_rows.is_none() && self.verify.is_empty()
    }

    /// The line of the first one, for messages about them all.
    pub fn first_line(&self) -> Option<usize> {
        let verify = self.verify.iter().map(|v| v.line);
        self.expect_rows.iter().map(|e| e.line).chain(verify).min()
    }
}

/// Applies `-- oneoff:expect-rows` or `-- oneoff:verify` at `line`;
/// `None` when `name` is neither.
pub(crate) fn apply(
    post: &mut Postconditions,
    name: &str,
    argument: Option<&str>,
    line: usize,
) -> Option<Result<&'static str, String>> {
    match name {
        "expect-rows" => Some(expect_rows(post, argument, line).map(|()| "expect-rows")),
        "verify" => Some(verify(post, argument, line).map(|()| "verify")),
        _ => None,
    }
}

fn expect_rows(
    post: &mut Postconditions,
    argument: Option<&str>,
    line: usize,
) -> Result<(), String> {
    let arg = argument.ok_or(
        "directive `oneoff:expect-rows` needs a row range, like `-- oneoff:expect-rows 1..500` (or `N`, `<=N`, `>=N`)",
    )?;
    let range = RowRange::parse(arg).map_err(|e| format!("directive `oneoff:expect-rows`: {e}"))?;
    if let Some(first) = &post.expect_rows {
        return Err(format!(
            "a second `oneoff:expect-rows` (the first is on line {}); keep one range",
            first.line
        ));
    }
    post.expect_rows = Some(ExpectRows { range, line });
    Ok(())
}

fn verify(post: &mut Postconditions, argument: Option<&str>, line: usize) -> Result<(), String> {
    let query = argument.ok_or(
        "directive `oneoff:verify` needs a query that returns the rows breaking the rule, like `-- oneoff:verify SELECT id FROM accounts WHERE balance < 0`",
    )?;
    let query = query.trim().trim_end_matches(';').trim_end().to_string();
    post.verify.push(Verify { query, line });
    Ok(())
}

/// What is wrong with a verify query on `dialect`, if anything: it must be
/// one query (`SELECT`, `WITH` or `VALUES`) that keeps to the rules of a
/// transactional script, and may not store its result anywhere (`INTO`,
/// MySQL `:=`), since it runs inside the script's transaction and must
/// change nothing there.
pub fn verify_problems(verify: &Verify, dialect: Dialect) -> Option<String> {
    let prefix = "directive `oneoff:verify`";
    let statements = match split(&verify.query, dialect) {
        Ok(s) => s,
        Err(e) => return Some(format!("{prefix}: its query has an {e}")),
    };
    let [statement] = statements.as_slice() else {
        return Some(format!(
            "{prefix} takes exactly one query, found {}; give each query a `-- oneoff:verify` line of its own",
            statements.len()
        ));
    };
    let first = crate::db::first_keyword(&statement.text);
    if !matches!(first.as_str(), "select" | "with" | "values") {
        return Some(format!(
            "{prefix} runs a query that returns the rows breaking the rule (SELECT, WITH or VALUES), not `{}`",
            first.to_ascii_uppercase()
        ));
    }
    if let Some(v) = rules::Checker::new(dialect, true).check(statement) {
        return Some(format!("{prefix}: {} {}", v.what, v.why));
    }
    rules::stores_result(statement, dialect).map(|what| {
        format!("{prefix}: its query stores its result ({what}); a post-condition must change nothing: return the offending rows instead")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_form_parses_and_bounds_are_included() {
        let r = RowRange::parse("3").unwrap();
        assert!(r.contains(3) && !r.contains(2) && !r.contains(4));
        let r = RowRange::parse(" 1..500 ").unwrap();
        assert!(r.contains(1) && r.contains(500) && !r.contains(0) && !r.contains(501));
        assert_eq!(r.to_string(), "1..500");
        let r = RowRange::parse("<=10").unwrap();
        assert!(r.contains(0) && r.contains(10) && !r.contains(11));
        let r = RowRange::parse(">= 2").unwrap();
        assert!(r.contains(2) && !r.contains(1));
        assert_eq!(r.to_string(), ">=2");
    }

    #[test]
    fn malformed_ranges_say_how_to_write_one() {
        for bad in ["", "lots", "-1", "5..2", "1..", "<=x", "1.5"] {
            let err = RowRange::parse(bad).unwrap_err();
            assert!(err.contains('`'), "{bad}: {err}");
        }
    }

    #[test]
    fn a_verify_query_must_be_one_query_that_changes_nothing() {
        let v = |q: &str| Verify {
            query: q.into(),
            line: 1,
        };
        let ok = v("SELECT id FROM accounts WHERE balance < 0");
        assert_eq!(verify_problems(&ok, Dialect::Postgres), None);
        for (bad, dialect) in [
            ("SELECT 1; SELECT 2", Dialect::Sqlite),
            ("DELETE FROM accounts", Dialect::Postgres),
            ("SELECT * FROM oneoff_ledger", Dialect::Sqlite),
            ("SELECT pg_advisory_unlock_all()", Dialect::Postgres),
            ("SELECT id INTO copy FROM accounts", Dialect::Postgres),
            ("SELECT @x := 1", Dialect::Mysql),
            ("SELECT 'open", Dialect::Sqlite),
        ] {
            assert!(verify_problems(&v(bad), dialect).is_some(), "{bad}");
        }
    }
}
