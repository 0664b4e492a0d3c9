//! The directives of a revertible script: `-- oneoff:revertible` (record
//! every row the script changes in `oneoff_changes`, for `oneoff revert`)
//! and `-- oneoff:track TABLE` (a table to record beyond those its
//! statements name). Kept apart from `header` so that each directive family
//! parses in one place.

use super::header::{Directives, HeaderError};

/// A table a revertible script changes, as its statements or a `track`
/// directive name it: an optional schema (or database) and the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct TableName {
    /// `schema.` (PostgreSQL) or `database.` (MySQL) when written.
    pub schema: Option<String>,
    /// The table, as written (quotes removed).
    pub name: String,
}

impl TableName {
    /// Parses `table` or `schema.table`, each part bare or quoted.
    pub fn parse(text: &str) -> Option<TableName> {
        let parts: Vec<String> = split_dotted(text)?;
        match parts.as_slice() {
            [name] => Some(TableName {
                schema: None,
                name: name.clone(),
            }),
            [schema, name] => Some(TableName {
                schema: Some(schema.clone()),
                name: name.clone(),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// `a.b` into its parts, each unquoted (`"x"`, `` `x` ``, `[x]`).
fn split_dotted(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    loop {
        let (part, after) = match rest.chars().next()? {
            q @ ('"' | '`' | '[') => {
                let close = if q == '[' { ']' } else { q };
                let end = rest[1..].find(close)? + 1;
                (rest[1..end].to_string(), &rest[end + 1..])
            }
            _ => {
                let end = rest.find('.').unwrap_or(rest.len());
                let word = rest[..end].trim();
                let ok = !word.is_empty()
                    && word
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80);
                if !ok {
                    return None;
                }
                (word.to_string(), &rest[end..])
            }
        };
        parts.push(part);
        match after.trim_start().strip_prefix('.') {
            Some(next) => rest = next.trim_start(),
            None if after.trim().is_empty() => return Some(parts),
            None => return None,
        }
    }
}

/// Applies `revertible` or `track`; `None` when `name` is neither.
pub(super) fn apply(
    directives: &mut Directives,
    name: &str,
    argument: Option<&str>,
    line: usize,
) -> Option<Result<&'static str, HeaderError>> {
    let error = |message: String| Err(HeaderError { line, message });
    Some(match name {
        "revertible" => match argument {
            Some(arg) => error(format!(
                "directive `oneoff:revertible` takes no argument, found `{arg}`"
            )),
            None => {
                directives.revertible = true;
                Ok("revertible")
            }
        },
        "track" => match argument.map(|a| a.trim_end_matches(';')).and_then(TableName::parse) {
            Some(table) => {
                directives.track.push(table);
                Ok("track")
            }
            None => error(
                "directive `oneoff:track` needs one table, like `-- oneoff:track accounts` or `-- oneoff:track billing.invoices`".into(),
            ),
        },
        _ => return None,
    })
}

/// `revertible` does not go with `batch` or `no-transaction` (its change log
/// commits with the script's one transaction), and `track` needs it.
pub(super) fn check_combination(
    directives: &Directives,
    line_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<(), HeaderError> {
    if directives.revertible {
        for other in ["batch", "no-transaction"] {
            if let Some(line) = line_of(other) {
                return Err(HeaderError {
                    line,
                    message: format!(
                        "`oneoff:revertible` and `oneoff:{other}` cannot go together: the change log commits with the script's work in one transaction; remove one"
                    ),
                });
            }
        }
    } else if let Some(line) = line_of("track") {
        return Err(HeaderError {
            line,
            message: "`oneoff:track` only applies to revertible scripts; add `-- oneoff:revertible` or remove it".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::script::header::parse;

    use super::TableName;

    #[test]
    fn revertible_and_track_parse_in_the_header() {
        let h = parse("-- oneoff:revertible\n-- oneoff:track audit\n-- oneoff:track \"billing\".invoices\nUPDATE t SET a = 1;").unwrap();
        assert!(h.directives.revertible);
        assert_eq!(
            h.directives.track,
            vec![
                TableName::parse("audit").unwrap(),
                TableName {
                    schema: Some("billing".into()),
                    name: "invoices".into()
                }
            ]
        );
    }

    #[test]
    fn revertible_refuses_batch_no_transaction_and_bad_track() {
        let err = parse("-- oneoff:revertible\n-- oneoff:batch\nUPDATE t SET a = 1;").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("cannot go together"),
            "{}",
            err.message
        );
        let err = parse("-- oneoff:no-transaction\n-- oneoff:revertible\nselect 1;").unwrap_err();
        assert!(
            err.message.contains("cannot go together"),
            "{}",
            err.message
        );
        let err = parse("-- oneoff:track t\nselect 1;").unwrap_err();
        assert!(
            err.message.contains("only applies to revertible"),
            "{}",
            err.message
        );
        let err = parse("-- oneoff:revertible\n-- oneoff:track a b\nselect 1;").unwrap_err();
        assert!(err.message.contains("needs one table"), "{}", err.message);
        let err = parse("-- oneoff:revertible yes\nselect 1;").unwrap_err();
        assert!(err.message.contains("takes no argument"), "{}", err.message);
    }
}
