//! A script on disk: its file name (id and name), header directives,
//! checksum and statements. [`load_dir`] reads a script directory.

pub mod checksum;
pub mod header;
pub mod name;
mod psql_meta;
pub(crate) mod read;
pub mod rules;
pub mod split;
mod statements;
pub mod stub;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use header::Directives;
pub use split::{Dialect, Statement};
pub use statements::Statements;

use read::{Lines, ReadError};

use crate::error::{Error, Result};

/// Scripts up to this size keep their text in memory from [`load_dir`] to
/// their run; larger ones are read again, a block at a time, when they run.
pub const KEEP_TEXT_UP_TO: usize = 1024 * 1024;

/// What a script is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptKind {
    /// `.sql`: statements oneoff executes.
    #[default]
    Sql,
    /// `.rs`: a Rust function compiled into the application's binary
    /// (`oneoff::embed_scripts!`); the header is its leading `//` lines.
    Rust,
}

impl ScriptKind {
    /// `sql` or `rust`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::Sql => "sql",
            ScriptKind::Rust => "rust",
        }
    }
}

/// One script file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// 14-digit id (UTC timestamp of creation).
    pub id: String,
    /// Name after the id.
    pub name: String,
    /// SQL or Rust.
    pub kind: ScriptKind,
    /// Where the file is.
    pub path: PathBuf,
    /// SHA-256 of the normalised text (see [`checksum`]).
    pub checksum: String,
    /// The first paragraph of the leading comments.
    pub description: String,
    /// Directives from the header.
    pub directives: Directives,
    /// The text as it is in the file, less a BOM, for a file of at most
    /// [`KEEP_TEXT_UP_TO`] bytes (`None`: read the file again). Line endings
    /// are kept, since a CR inside a string literal is data (pg_dump writes
    /// them raw); only the checksum is taken of the normalised text.
    pub text: Option<String>,
}

impl Script {
    /// Reads and parses one script file whose name is already known to be
    /// valid, a block at a time: the checksum and header are taken as it is
    /// read, and the text is kept only for a small file.
    pub fn read(path: &Path, id: String, name: String) -> Result<Script> {
        let kind = name::parse_file_name(&path.file_name().unwrap_or_default().to_string_lossy())
            .map_or(ScriptKind::Sql, |n| n.kind);
        let file = std::fs::File::open(path).map_err(|e| read_error(path, ReadError::Io(e)))?;
        Script::read_from(file, path, (id, name, kind), KEEP_TEXT_UP_TO)
    }

    /// [`Script::read`] from any reader (an embedded script's text), keeping
    /// the text when it is at most `keep` bytes. `path` names it in messages.
    pub(crate) fn read_from(
        reader: impl std::io::Read,
        path: &Path,
        (id, name, kind): (String, String, ScriptKind),
        keep: usize,
    ) -> Result<Script> {
        let mut lines = Lines::new(reader);
        let mut header = header::HeaderParser::default();
        let mut kept = (kind == ScriptKind::Sql).then(String::new);
        while let Some(block) = lines.next_block().map_err(|e| read_error(path, e))? {
            for line in block.lines() {
                let line = match kind {
                    ScriptKind::Sql => std::borrow::Cow::Borrowed(line),
                    ScriptKind::Rust => header::rust_line(line),
                };
                header
                    .line(&line)
                    .map_err(|e| Error::script(path, Some(e.line), e.message))?;
            }
            // Kept at its size, not the read buffer's.
            kept = kept
                .filter(|k| k.len() + block.len() <= keep)
                .map(|k| k + &block);
        }
        let header = header
            .finish()
            .map_err(|e| Error::script(path, Some(e.line), e.message))?;
        if kind == ScriptKind::Rust {
            header::check_rust(&header.directives).map_err(|e| Error::script(path, None, e))?;
        }
        Ok(Script {
            id,
            name,
            kind,
            path: path.to_path_buf(),
            checksum: lines.checksum(),
            description: header.description,
            directives: header.directives,
            text: kept,
        })
    }

    /// The statements, split as the text is read (from memory or the file
    /// again), one at a time.
    pub fn stream(&self, dialect: Dialect) -> Result<Statements<'_>> {
        Statements::new(self, dialect)
    }

    /// Splits the script into statements for a dialect. A script with no
    /// statement (empty, or only comments) is an error: running it would
    /// record a change that never happened.
    pub fn statements(&self, dialect: Dialect) -> Result<Vec<Statement>> {
        Ok(self.load(dialect)?.0)
    }

    /// [`Script::statements`], with the checksum of the text they were split
    /// from, which differs from [`Script::checksum`] if the file changed.
    pub fn load(&self, dialect: Dialect) -> Result<(Vec<Statement>, String)> {
        let mut stream = self.stream(dialect)?;
        let statements = stream.by_ref().collect::<Result<Vec<_>>>()?;
        self.check_count(statements.len(), statements.get(1))?;
        Ok((statements, stream.checksum()))
    }

    /// Reads the script, a statement at a time, and checks each against the
    /// static rules: the first problem, before anything runs. Holds one
    /// statement at a time.
    pub fn check(&self, dialect: Dialect) -> Result<()> {
        if self.kind == ScriptKind::Rust {
            return Ok(()); // compiled, and checked by the compiler
        }
        let mut rules = rules::Checker::new(dialect, !self.directives.no_transaction);
        let mut stream = self.stream(dialect)?;
        let (mut count, mut second) = (0, None);
        for statement in stream.by_ref() {
            let statement = statement?;
            count += 1;
            if count == 2 && self.directives.batch {
                second = Some(statement);
                continue;
            }
            if second.is_some() {
                continue; // counting, for the message
            }
            if let Some(v) = rules.check(&statement) {
                return Err(Error::script(&self.path, Some(v.line), v.to_string()));
            }
        }
        self.check_count(count, second.as_ref())
    }

    /// A script has a statement, and a batched one exactly one.
    fn check_count(&self, count: usize, second: Option<&Statement>) -> Result<()> {
        if let Some(second) = second.filter(|_| self.directives.batch) {
            return Err(Error::script(
                &self.path,
                Some(second.line),
                format!(
                    "a batched script has exactly one statement, which runs again and again; found {count}: move the others to a script of their own"
                ),
            ));
        }
        if count == 0 {
            return Err(Error::script(
                &self.path,
                None,
                "has no SQL statement (it is empty or only comments); write the statements below the header, or delete the file",
            ));
        }
        Ok(())
    }
}

/// The error for a file that cannot be read as a script's text.
fn read_error(path: &Path, e: ReadError) -> Error {
    let message = match e {
        ReadError::Io(e) => format!("cannot read the file: {e}; check its permissions"),
        ReadError::NotUtf8(offset) => format!(
            "is not valid UTF-8 (first bad byte at offset {offset}); save the file as UTF-8 (a mysqldump of binary columns: dump with --hex-blob)"
        ),
        ReadError::Binary => "looks like a binary file (it contains NUL bytes), not SQL text; remove it or save the script as text".into(),
    };
    Error::script(path, None, message)
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
    let mut named = Vec::new();
    let mut ignored = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| not_a_dir(format!("cannot list the directory: {e}")))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        // The directory entry knows its type on most file systems: no stat.
        if file_name.starts_with('.') || is_dir(&entry) {
            continue;
        }
        match name::parse_file_name(&file_name) {
            Ok(parsed) => named.push((file_name, entry.path(), parsed)),
            Err(reason) => ignored.push(IgnoredFile {
                path: entry.path(),
                reason,
            }),
        }
    }
    // Errors name the first file in name order, whichever thread read it.
    named.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut by_id: BTreeMap<String, Script> = BTreeMap::new();
    for script in read_all(named)? {
        if let Some(other) = by_id.get(&script.id) {
            let (a, b) = ordered(&other.path, &script.path);
            return Err(Error::script(
                b,
                None,
                format!(
                    "has the same id {} as {}; ids must be unique: rename one (`oneoff new` picks a free id)",
                    script.id,
                    a.display()
                ),
            ));
        }
        by_id.insert(script.id.clone(), script);
    }
    ignored.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ScriptSet {
        scripts: by_id.into_values().collect(),
        ignored,
    })
}

fn is_dir(entry: &std::fs::DirEntry) -> bool {
    match entry.file_type() {
        // A symlink is followed, as `Path::is_dir` would.
        Ok(t) if t.is_symlink() => entry.path().is_dir(),
        Ok(t) => t.is_dir(),
        Err(_) => entry.path().is_dir(),
    }
}

/// Reads the scripts on all cores (reading and hashing is most of a no-op
/// run's start-up with thousands of scripts); the first error in path order.
fn read_all(named: Vec<(String, PathBuf, name::ScriptName)>) -> Result<Vec<Script>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = named.len().div_ceil(threads).max(64);
    let read = |part: &[(String, PathBuf, name::ScriptName)]| -> Result<Vec<Script>> {
        part.iter()
            .map(|(_, path, parsed)| {
                let file =
                    std::fs::File::open(path).map_err(|e| read_error(path, ReadError::Io(e)))?;
                let identity = (parsed.id.clone(), parsed.name.clone(), parsed.kind);
                Script::read_from(file, path, identity, KEEP_TEXT_UP_TO)
            })
            .collect()
    };
    if named.len() <= per_thread {
        return read(&named);
    }
    let parts: Vec<Result<Vec<Script>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = named
            .chunks(per_thread)
            .map(|part| scope.spawn(move || read(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reading a script panicked"))
            .collect()
    });
    let mut scripts = Vec::with_capacity(named.len());
    for part in parts {
        scripts.extend(part?);
    }
    Ok(scripts)
}

/// Orders two paths so that duplicate-id errors are the same on every run.
fn ordered<'a>(a: &'a Path, b: &'a Path) -> (&'a Path, &'a Path) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}
