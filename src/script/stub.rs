//! `oneoff new`: writes a stub script named after the UTC time and a slug of
//! the description, never overwriting a file and never leaving the script
//! directory.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use super::name::slug;
use super::ScriptKind;
use crate::error::{Error, Result};

/// How many later seconds `new` tries when ids are taken.
const MAX_TRIES: i64 = 3600;

/// Creates `<dir>/<id>_<slug>.sql` for `description` at time `now` (moving to
/// the next free second if the id is taken) and returns its path. Creates
/// the directory when missing.
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn create(dir: &Path, description: &str, now: DateTime<Utc>) -> Result<PathBuf> {
    create_kind(dir, description, now, ScriptKind::Sql)
}

/// [`create`] for a script of either kind: a Rust stub (`.rs`) compiles as
/// it is, and fails its attempt until it is written.
pub fn create_kind(
    dir: &Path,
    description: &str,
    now: DateTime<Utc>,
    kind: ScriptKind,
) -> Result<PathBuf> {
    let description = description.split_whitespace().collect::<Vec<_>>().join(" ");
    if description.is_empty() {
        return Err(Error::Usage(
            "the description is blank; say what the script does, e.g. `oneoff new \"backfill user emails\"`".into(),
        ));
    }
    let slug = slug(&description).ok_or_else(|| {
        Error::Usage(format!(
            "the description `{description}` has no ASCII letters or digits to name the file after; add a few words in ASCII"
        ))
    })?;
    if dir.exists() && !dir.is_dir() {
        return Err(Error::script(
            dir,
            None,
            "is not a directory; point --dir / ONEOFF_DIR at the script directory",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::script(
            dir,
            None,
            format!("cannot create the script directory: {e}"),
        )
    })?;
    let taken = taken_ids(dir)?;
    for offset in 0..MAX_TRIES {
        let id = (now + Duration::seconds(offset))
            .format("%Y%m%d%H%M%S")
            .to_string();
        if taken.iter().any(|t| t == &id) {
            continue;
        }
        let path = dir.join(format!("{id}_{slug}.{}", extension(kind)));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                let text = match kind {
                    ScriptKind::Sql => template(&description, &id),
                    ScriptKind::Rust => rust_template(&description, &id),
                };
                file.write_all(text.as_bytes()).map_err(|e| {
                    Error::script(&path, None, format!("cannot write the stub: {e}"))
                })?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::script(
                    &path,
                    None,
                    format!("cannot create the file: {e}"),
                ))
            }
        }
    }
    Err(Error::script(
        dir,
        None,
        "no free id in the next hour; is the clock right?",
    ))
}

fn taken_ids(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::script(dir, None, format!("cannot list the directory: {e}")))?;
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split_once('_').map(|(id, _)| id.to_string())
        })
        .filter(|id| super::name::is_id(id))
        .collect())
}

/// The stub: what a reviewer wants filled in before the script runs.
fn template(description: &str, id: &str) -> String {
    format!(
        "-- {description}
--
-- What and why: <what this changes, for which rows, and why; link the ticket>
-- Checked:      <paste what `oneoff run --dry-run {id}` reported, and how you
--               verified the affected rows are the right ones>
-- Undo:         <the statement or backup that reverts this change>
--
-- All statements below run in one transaction together with the ledger
-- record: all or nothing. For statements that cannot run in a transaction
-- (e.g. CREATE INDEX CONCURRENTLY), add the directive line
-- `-- oneoff:no-transaction` to this header.

-- Example (replace with the real statements):
-- UPDATE users SET email = lower(email) WHERE email <> lower(email);
"
    )
}

fn extension(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Sql => "sql",
        ScriptKind::Rust => "rs",
    }
}

/// The Rust stub: compiles as it is, and fails (rolled back) until written.
fn rust_template(description: &str, id: &str) -> String {
    format!(
        r#"// {description}
//
// What and why: <what this changes, for which rows, and why; link the ticket>
// Checked:      <paste what `oneoff run --dry-run {id}` reported>
// Undo:         <the statement or backup that reverts this change>
//
// `run` works in one transaction together with the ledger record: all or
// nothing, unless it calls `ctx.checkpoint(&cursor)`. Build the
// application's binary to run it (README, "Scripts in Rust").
use oneoff::Context;

pub fn run(ctx: &mut Context) -> oneoff::ScriptResult {{
    // Example (replace with the real work):
    // let n = ctx.execute("UPDATE users SET email = lower(email) WHERE email <> lower(email)")?;
    // ctx.log(format!("lowered {{n}} e-mails"));
    let _ = ctx;
    Err("not written yet: write the script's work in `run`".into())
}}
"#
    )
}

/// The Rust stub as `new --rust "Fix orders"` writes it, compiled with
/// the library's tests (the stub must compile as it is).
#[cfg(test)]
#[path = "../../tests/cli/fixtures/rust_stub.rs"]
mod rust_stub;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 0).unwrap()
    }

    #[test]
    fn new_names_the_file_after_utc_time_and_slug() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), "Backfill user e-mails", at()).unwrap();
        assert_eq!(
            path.file_name().unwrap(),
            "20261122093000_backfill_user_e_mails.sql"
        );
    }

    #[test]
    fn new_moves_to_the_next_free_second_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("20261122093000_other.sql"), "keep me").unwrap();
        let path = create(dir.path(), "x", at()).unwrap();
        assert_eq!(path.file_name().unwrap(), "20261122093001_x.sql");
        let again = create(dir.path(), "x", at()).unwrap();
        assert_eq!(again.file_name().unwrap(), "20261122093002_x.sql");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("20261122093000_other.sql")).unwrap(),
            "keep me"
        );
    }

    #[test]
    fn the_stub_parses_and_has_no_statement_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), "Fix orders", at()).unwrap();
        let script =
            crate::script::Script::read(&path, "20261122093000".into(), "fix_orders".into())
                .unwrap();
        assert_eq!(script.description, "Fix orders");
        assert!(!script.directives.no_transaction);
        assert!(script.statements(crate::script::Dialect::Postgres).is_err());
    }

    #[test]
    fn the_rust_stub_is_the_fixture_that_compiles_and_parses_as_a_rust_script() {
        let dir = tempfile::tempdir().unwrap();
        let path = create_kind(dir.path(), "Fix orders", at(), ScriptKind::Rust).unwrap();
        assert_eq!(path.file_name().unwrap(), "20261122093000_fix_orders.rs");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, include_str!("../../tests/cli/fixtures/rust_stub.rs"));
        let script =
            crate::script::Script::read(&path, "20261122093000".into(), "fix_orders".into())
                .unwrap();
        assert_eq!(script.kind, ScriptKind::Rust);
        assert_eq!(script.description, "Fix orders");
        let _: crate::RunFn = rust_stub::run;
    }

    #[test]
    fn blank_description_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            create(dir.path(), "  \t ", at()),
            Err(Error::Usage(_))
        ));
    }
}
