//! psql meta-commands in PostgreSQL scripts. pg_dump (15.14, 16.10, 17.6 and
//! later) wraps its output in `\restrict KEY` / `\unrestrict KEY`, which only
//! tell psql to refuse other meta-commands meanwhile: oneoff runs no
//! meta-command at all, so those two lines are dropped. Any other line that
//! starts with a backslash (`\connect`, `\copy`, `\set`, COPY data's `\.`)
//! is psql's, not SQL: it is refused with its line, before anything runs.

use std::borrow::Cow;

/// The text without `\restrict` / `\unrestrict` lines (kept as empty lines,
/// so line numbers stay true), or the first other meta-command's line and a
/// message.
pub(super) fn strip(text: &str) -> Result<Cow<'_, str>, (usize, String)> {
    if !text.lines().any(|l| l.starts_with('\\')) {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if !line.starts_with('\\') {
            out.push_str(line);
            continue;
        }
        let command = line.split_whitespace().next().unwrap_or("\\");
        if command == "\\restrict" || command == "\\unrestrict" {
            out.push_str(if line.ends_with('\n') { "\n" } else { "" });
            continue;
        }
        return Err((
            i + 1,
            format!(
                "`{command}` is a psql meta-command, not SQL, and oneoff does not run psql commands: remove it (a pg_dump with COPY data: dump with --inserts)"
            ),
        ));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn restrict_lines_of_a_pg_dump_are_dropped_and_lines_keep_their_numbers() {
        let text = "\\restrict abc\nSELECT 1;\n\\unrestrict abc\n";
        assert_eq!(strip(text).unwrap(), "\nSELECT 1;\n\n");
    }

    #[test]
    fn other_meta_commands_are_refused_with_their_line() {
        let (line, message) = strip("SELECT 1;\n\\connect other\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(
            message.contains("`\\connect` is a psql meta-command"),
            "{message}"
        );
    }

    #[test]
    fn text_without_meta_commands_is_borrowed() {
        assert!(matches!(
            strip("SELECT '\\x';\n").unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
