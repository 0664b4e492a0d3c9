//! A script on disk: its file name (id and name), header directives,
//! checksum and statements. [`load_dir`] reads a script directory.

pub mod checksum;
pub mod header;
pub mod name;
mod psql_meta;
pub(crate) mod read;
pub mod rules;
pub mod split;
pub mod stub;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use header::Directives;
pub use split::{Dialect, Statement};

use crate::error::{Error, Result};

/// One SQL script file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// 14-digit id (UTC timestamp of creation).
    pub id: String,
    /// Name after the id.
    pub name: String,
    /// Where the file is.
    pub path: PathBuf,
    /// SHA-256 of the normalised text (see [`checksum`]).
    pub checksum: String,
    /// The first paragraph of the leading comments.
    pub description: String,
    /// Directives from the header.
    pub directives: Directives,
    /// The text as it is in the file, less a BOM: what runs. Line endings
    /// are kept, since a CR inside a string literal is data (pg_dump writes
    /// them raw); only the checksum is taken of the normalised text.
    pub text: String,
}

impl Script {
    /// Reads and parses one script file whose name is already known to be valid.
    pub fn read(path: &Path, id: String, name: String) -> Result<Script> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::script(
                path,
                None,
                format!("cannot read the file: {e}; check its permissions"),
            )
        })?;
        let raw = String::from_utf8(bytes).map_err(|e| {
            Error::script(
                path,
                None,
                format!(
                    "is not valid UTF-8 (first bad byte at offset {}); save the file as UTF-8 (a mysqldump of binary columns: dump with --hex-blob)",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        if raw.contains('\0') {
            return Err(Error::script(
                path,
                None,
                "looks like a binary file (it contains NUL bytes), not SQL text; remove it or save the script as text",
            ));
        }
        let normalised = checksum::normalise(&raw);
        let header =
            header::parse(&normalised).map_err(|e| Error::script(path, Some(e.line), e.message))?;
        let text = raw.strip_prefix('\u{feff}').unwrap_or(&raw).to_string();
        Ok(Script {
            id,
            name,
            path: path.to_path_buf(),
            checksum: checksum::sha256_hex(&normalised),
            description: header.description,
            directives: header.directives,
            text,
        })
    }

    /// Splits the script into statements for a dialect. A script with no
    /// statement (empty, or only comments) is an error: running it would
    /// record a change that never happened.
    pub fn statements(&self, dialect: Dialect) -> Result<Vec<Statement>> {
        let text = match dialect {
            Dialect::Postgres => psql_meta::strip(&self.text)
                .map_err(|(line, msg)| Error::script(&self.path, Some(line), msg))?,
            _ => std::borrow::Cow::Borrowed(self.text.as_str()),
        };
        let statements = split::split(&text, dialect)
            .map_err(|e| Error::script(&self.path, None, e.to_string()))?;
        if self.directives.batch && statements.len() > 1 {
            return Err(Error::script(
                &self.path,
                Some(statements[1].line),
                format!(
                    "a batched script has exactly one statement, which runs again and again; found {}: move the others to a script of their own",
                    statements.len()
                ),
            ));
        }
        if statements.is_empty() {
            return Err(Error::script(
                &self.path,
                None,
                "has no SQL statement (it is empty or only comments); write the statements below the header, or delete the file",
            ));
        }
        Ok(statements)
    }
}

/// A file in the script directory that is not a script.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IgnoredFile {
    /// The file.
    pub path: PathBuf,
    /// Why it is not a script.
    pub reason: String,
}

/// The scripts of a directory, in id order, and the files that were ignored.
#[derive(Debug, Clone, Default)]
pub struct ScriptSet {
    /// Valid scripts, sorted by id.
    pub scripts: Vec<Script>,
    /// Files whose names are not script names (never run).
    pub ignored: Vec<IgnoredFile>,
}

/// Reads every script in `dir`. Bad names are collected as ignored files;
/// unreadable or malformed scripts and duplicate ids are errors, raised before
/// anything runs. Hidden files and subdirectories are skipped silently.
pub fn load_dir(dir: &Path) -> Result<ScriptSet> {
    let not_a_dir = |msg: String| Error::script(dir, None, msg);
    let meta = std::fs::metadata(dir).map_err(|e| {
        not_a_dir(format!(
            "script directory cannot be read ({e}); create it with `oneoff new`, or point --dir / ONEOFF_DIR at it"
        ))
    })?;
    if !meta.is_dir() {
        return Err(not_a_dir(
            "is not a directory; point --dir / ONEOFF_DIR at the script directory".into(),
        ));
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| not_a_dir(format!("cannot list the directory: {e}")))?;
    let mut by_id: BTreeMap<String, Script> = BTreeMap::new();
    let mut ignored = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| not_a_dir(format!("cannot list the directory: {e}")))?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') || path.is_dir() {
            continue;
        }
        let parsed = match name::parse_file_name(&file_name) {
            Ok(parsed) => parsed,
            Err(reason) => {
                ignored.push(IgnoredFile { path, reason });
                continue;
            }
        };
        let script = Script::read(&path, parsed.id.clone(), parsed.name)?;
        if let Some(other) = by_id.get(&parsed.id) {
            let (a, b) = ordered(&other.path, &script.path);
            return Err(Error::script(
                b,
                None,
                format!(
                    "has the same id {} as {}; ids must be unique: rename one (`oneoff new` picks a free id)",
                    parsed.id,
                    a.display()
                ),
            ));
        }
        by_id.insert(parsed.id, script);
    }
    ignored.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ScriptSet {
        scripts: by_id.into_values().collect(),
        ignored,
    })
}

/// Orders two paths so that duplicate-id errors are the same on every run.
fn ordered<'a>(a: &'a Path, b: &'a Path) -> (&'a Path, &'a Path) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}
