//! A script on disk: its file name (id and name), header directives,
//! checksum and statements. [`load_dir`] reads a script directory.

pub mod checksum;
mod dir;
pub mod header;
pub mod name;
pub mod postconditions;
mod psql_meta;
pub(crate) mod read;
pub mod revertible;
pub mod rules;
pub mod split;
mod statements;
pub mod stub;
pub mod validate;

use std::path::{Path, PathBuf};

pub use dir::load_dir;
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
        Self::read_with(path, id, name, None)
    }

    /// [`Script::read`], noting every problem in the header in `header`
    /// and reading on, instead of stopping at the first; the script read is
    /// only usable when `header` stays empty.
    pub fn read_noting(
        path: &Path,
        id: String,
        name: String,
        header: &mut Vec<Error>,
    ) -> Result<Script> {
        Self::read_with(path, id, name, Some(header))
    }

    fn read_with(
        path: &Path,
        id: String,
        name: String,
        noted: Option<&mut Vec<Error>>,
    ) -> Result<Script> {
        let kind = name::parse_file_name(&path.file_name().unwrap_or_default().to_string_lossy())
            .map_or(ScriptKind::Sql, |n| n.kind);
        let file = std::fs::File::open(path).map_err(|e| read_error(path, ReadError::Io(e)))?;
        Script::read_from(
            file,
            path.to_path_buf(),
            (id, name, kind),
            KEEP_TEXT_UP_TO,
            noted,
        )
    }

    /// [`Script::read`] from any reader (an embedded script's text), keeping
    /// the text when it is at most `keep` bytes. `path` names it in messages.
    pub(crate) fn read_from(
        reader: impl std::io::Read,
        path: PathBuf,
        (id, name, kind): (String, String, ScriptKind),
        keep: usize,
        mut noted: Option<&mut Vec<Error>>,
    ) -> Result<Script> {
        let mut lines = Lines::new(reader);
        let mut header = header::HeaderParser::default();
        let mut kept = (kind == ScriptKind::Sql).then(String::new);
        let mut note = |e: header::HeaderError| -> Result<()> {
            let error = Error::script(&path, Some(e.line), e.message);
            match noted.as_deref_mut() {
                Some(all) => {
                    all.push(error);
                    Ok(())
                }
                None => Err(error),
            }
        };
        while let Some(block) = lines.next_block().map_err(|e| read_error(&path, e))? {
            for line in block.lines() {
                let line = match kind {
                    ScriptKind::Sql => std::borrow::Cow::Borrowed(line),
                    ScriptKind::Rust => header::rust_line(line),
                };
                if let Err(e) = header.line(&line) {
                    note(e)?;
                }
            }
            // Kept at its size, not the read buffer's; a file of one block
            // (most scripts) keeps the block itself.
            kept = kept
                .filter(|k| k.len() + block.len() <= keep)
                .map(|k| match k.is_empty() {
                    true => {
                        let mut block = block;
                        block.shrink_to_fit();
                        block
                    }
                    false => k + &block,
                });
        }
        let header = match header.finish() {
            Ok(header) => header,
            Err(e) => {
                note(e.clone())?;
                header::Header::default()
            }
        };
        if kind == ScriptKind::Rust {
            if let Err(e) = header::check_rust(&header.directives) {
                let error = Error::script(&path, None, e);
                match noted {
                    Some(all) => all.push(error),
                    None => return Err(error),
                }
            }
        }
        Ok(Script {
            id,
            name,
            kind,
            path,
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
        match self.problems(dialect, 1).into_iter().next() {
            Some(p) => Err(Error::script(p.path, p.line, p.message)),
            None => Ok(()),
        }
    }

    /// The script's problems on `dialect`, up to `limit` of them: each
    /// statement against the static rules, splitting, the statement count,
    /// and the post-condition queries. Holds one statement at a time.
    pub fn problems(&self, dialect: Dialect, limit: usize) -> Vec<validate::Problem> {
        if self.kind == ScriptKind::Rust {
            return Vec::new(); // compiled, and checked by the compiler
        }
        let problem = |line: Option<usize>, message: String| validate::Problem {
            path: self.path.clone(),
            line,
            message,
        };
        let mut found: Vec<validate::Problem> = self
            .directives
            .postconditions
            .verify
            .iter()
            .filter_map(|v| {
                Some(problem(
                    Some(v.line),
                    postconditions::verify_problems(v, dialect)?,
                ))
            })
            .collect();
        let mut rules = rules::Checker::new(dialect, !self.directives.no_transaction);
        let mut stream = match self.stream(dialect) {
            Ok(stream) => stream,
            Err(e) => {
                found.push(validate::Problem::of(e, &self.path));
                found.truncate(limit);
                return found;
            }
        };
        let (mut count, mut second) = (0, None);
        for statement in stream.by_ref() {
            if found.len() >= limit {
                break;
            }
            let statement = match statement {
                Ok(statement) => statement,
                Err(e) => {
                    // The rest cannot be split either.
                    found.push(validate::Problem::of(e, &self.path));
                    found.truncate(limit);
                    return found;
                }
            };
            count += 1;
            if count == 2 && self.directives.batch {
                second = Some(statement);
                continue;
            }
            if second.is_some() {
                continue; // counting, for the message
            }
            if let Some(v) = rules.check(&statement) {
                found.push(problem(Some(v.line), v.to_string()));
            }
            if self.directives.revertible {
                if let Err(v) = rules::revertible_targets(&statement, dialect) {
                    found.push(problem(Some(v.line), v.to_string()));
                }
            }
        }
        if found.len() < limit {
            if let Err(e) = self.check_count(count, second.as_ref()) {
                found.push(validate::Problem::of(e, &self.path));
            }
        }
        found.truncate(limit);
        found
    }

    /// The tables a revertible script writes: those its statements name
    /// (each with the line of the first statement naming it), then those of
    /// its `-- oneoff:track` directives (line `None`).
    pub fn tracked_tables(
        &self,
        dialect: Dialect,
    ) -> Result<Vec<(revertible::TableName, Option<usize>)>> {
        let mut tables: Vec<(revertible::TableName, Option<usize>)> = Vec::new();
        for statement in self.stream(dialect)? {
            let statement = statement?;
            let found = rules::revertible_targets(&statement, dialect)
                .map_err(|v| Error::script(&self.path, Some(v.line), v.to_string()))?;
            for table in found {
                if !tables.iter().any(|(t, _)| *t == table) {
                    tables.push((table, Some(statement.line)));
                }
            }
        }
        for table in &self.directives.track {
            if !tables.iter().any(|(t, _)| t == table) {
                tables.push((table.clone(), None));
            }
        }
        Ok(tables)
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
