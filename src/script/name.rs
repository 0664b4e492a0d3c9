//! Script file names: `<id>_<name>.sql` (or `.rs`, a Rust script), where the id is 14 digits (UTC
//! `YYYYMMDDHHMMSS`) and the name is `[a-z0-9_]+`; and the slug that `new`
//! derives from a description.

pub use super::ScriptKind;

/// Length of a script id.
pub const ID_LEN: usize = 14;
/// Longest slug `new` writes.
pub const MAX_SLUG: usize = 60;

/// The parts of a valid script file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptName {
    /// The 14-digit id.
    pub id: String,
    /// The name after the id.
    pub name: String,
    /// SQL or Rust, by the extension.
    pub kind: ScriptKind,
}

/// Parses `<id>_<name>.sql` or `<id>_<name>.rs`; the error says what is
/// wrong with the name.
pub fn parse_file_name(file_name: &str) -> Result<ScriptName, String> {
    let (id, name, kind) = split_file_name(file_name)?;
    Ok(ScriptName {
        id: id.to_string(),
        name: name.to_string(),
        kind,
    })
}

/// [`parse_file_name`], borrowing the id and the name from `file_name`.
pub fn split_file_name(file_name: &str) -> Result<(&str, &str, ScriptKind), String> {
    const EXPECTED: &str = "expected <14-digit UTC id>_<name>.sql (or .rs, a Rust script) with a name of a-z, 0-9 and _ (`oneoff new` writes one)";
    let (stem, kind) = match file_name.strip_suffix(".sql") {
        Some(stem) => (stem, ScriptKind::Sql),
        None => match file_name.strip_suffix(".rs") {
            Some(stem) => (stem, ScriptKind::Rust),
            None => return Err(format!("not a .sql or .rs file; {EXPECTED}")),
        },
    };
    let (id, name) = stem
        .split_once('_')
        .ok_or_else(|| format!("no `_` between id and name; {EXPECTED}"))?;
    if !is_id(id) {
        return Err(format!("`{id}` is not a 14-digit id; {EXPECTED}"));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!("`{name}` is not a valid name; {EXPECTED}"));
    }
    Ok((id, name, kind))
}

/// Whether `s` has the shape of a script id.
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit())
}

/// Turns a description into a file-name slug: lowercase ASCII letters and
/// digits, every other run of characters becomes one `_`, trimmed, at most
/// [`MAX_SLUG`] characters. Returns `None` when nothing usable is left.
pub fn slug(description: &str) -> Option<String> {
    let mut out = String::new();
    for c in description.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut slug = out.trim_matches('_').to_string();
    if slug.len() > MAX_SLUG {
        slug.truncate(MAX_SLUG);
        slug = slug.trim_end_matches('_').to_string();
    }
    (!slug.is_empty()).then_some(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_name_parses_into_id_and_name() {
        let n = parse_file_name("20261122093000_backfill_emails_2.sql").unwrap();
        assert_eq!(n.id, "20261122093000");
        assert_eq!(n.name, "backfill_emails_2");
    }

    #[test]
    fn malformed_names_are_rejected_with_a_reason() {
        for bad in [
            "readme.md",
            "20261122093000.sql",
            "2026112209300_short.sql",
            "202611220930001_long.sql",
            "2026112209300x_x.sql",
            "20261122093000_Upper.sql",
            "20261122093000_dash-ed.sql",
            "20261122093000_.sql",
            "20261122093000_x.SQL",
        ] {
            assert!(parse_file_name(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn slug_lowercases_and_collapses_other_characters() {
        assert_eq!(
            slug("Backfill  user e-mails!").unwrap(),
            "backfill_user_e_mails"
        );
        assert_eq!(slug("  --Fix: orders #123 -- ").unwrap(), "fix_orders_123");
        assert_eq!(slug("Ünïcödé café").unwrap(), "n_c_d_caf");
    }

    #[test]
    fn slug_of_nothing_usable_is_none() {
        assert_eq!(slug("   "), None);
        assert_eq!(slug("ééé"), None);
        assert_eq!(slug("../../"), None);
    }

    #[test]
    fn slug_is_at_most_sixty_characters_and_never_ends_in_underscore() {
        let s = slug(&"ab ".repeat(50)).unwrap();
        assert!(s.len() <= MAX_SLUG);
        assert!(!s.ends_with('_'));
        let s = slug(&"a".repeat(100)).unwrap();
        assert_eq!(s.len(), MAX_SLUG);
    }

    #[test]
    fn slugs_never_contain_path_separators() {
        let s = slug("../../etc/passwd").unwrap();
        assert_eq!(s, "etc_passwd");
    }
}
