//! Where the scripts come from: the script directory on disk (the `oneoff`
//! binary), or the files `embed_scripts!` compiled into an application's
//! binary, Rust scripts included. Either way they become the same
//! [`Script`]s, with the same checksums.

use std::path::{Path, PathBuf};

use crate::context::RunFn;
use crate::error::{Error, Result};
use crate::script::{self, name, IgnoredFile, Script, ScriptKind, ScriptSet};

/// The scripts a run or `status` sees: read from the script directory
/// (`--dir`) at run time, or embedded in the binary by
/// [`embed_scripts!`](crate::embed_scripts).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scripts {
    embedded: Option<Embedded>,
}

#[derive(Debug, Clone, Copy)]
struct Embedded {
    dir: &'static str,
    files: &'static [EmbeddedFile],
    ignored: &'static [&'static str],
}

/// One file `embed_scripts!` compiled in. Not a stable interface: written
/// by the macro only.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct EmbeddedFile {
    /// The file name, `<id>_<name>.sql` or `.rs`.
    pub file: &'static str,
    /// Its text, for the checksum, the header and (SQL) the statements.
    pub text: &'static str,
    /// A Rust script's `run`.
    pub run: Option<RunFn>,
}

impl std::fmt::Debug for EmbeddedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedFile")
            .field("file", &self.file)
            .field("rust", &self.run.is_some())
            .finish()
    }
}

/// What the macro expands to; not a stable interface.
#[doc(hidden)]
pub const fn embedded(
    dir: &'static str,
    files: &'static [EmbeddedFile],
    ignored: &'static [&'static str],
) -> Scripts {
    Scripts {
        embedded: Some(Embedded {
            dir,
            files,
            ignored,
        }),
    }
}

impl Scripts {
    /// The scripts of the directory given at run time (`--dir`,
    /// `ONEOFF_DIR`), read from disk: what the standalone `oneoff` binary
    /// runs. Rust scripts there are listed, never run.
    pub const fn from_disk() -> Scripts {
        Scripts { embedded: None }
    }

    /// Whether the scripts are compiled into this binary.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The directory the scripts were embedded from (relative to the
    /// application's `Cargo.toml`), if they were.
    pub fn embedded_dir(&self) -> Option<&'static str> {
        self.embedded.map(|e| e.dir)
    }

    /// Reads the scripts: the embedded ones, or those in `dir`.
    pub(crate) fn load(&self, dir: &Path) -> Result<ScriptSet> {
        match &self.embedded {
            None => script::load_dir(dir),
            Some(embedded) => embedded.load(),
        }
    }

    /// The function of a Rust script, when it is compiled in.
    pub(crate) fn function(&self, id: &str) -> Option<RunFn> {
        let embedded = self.embedded?;
        embedded
            .files
            .iter()
            .find(|f| f.file.get(..name::ID_LEN) == Some(id) && f.run.is_some())
            .and_then(|f| f.run)
    }
}

impl Embedded {
    fn load(&self) -> Result<ScriptSet> {
        let dir = PathBuf::from(self.dir);
        let mut set = ScriptSet::default();
        for file in self.files {
            let path = dir.join(file.file);
            let parsed = match name::parse_file_name(file.file) {
                Ok(parsed) => parsed,
                Err(reason) => {
                    set.ignored.push(IgnoredFile { path, reason });
                    continue;
                }
            };
            if let Some(other) = set.scripts.iter().find(|s| s.id == parsed.id) {
                return Err(Error::script(
                    &path,
                    None,
                    format!(
                        "has the same id {} as {}; ids must be unique: rename one (`oneoff new` picks a free id)",
                        parsed.id,
                        other.path.display()
                    ),
                ));
            }
            let identity = (parsed.id, parsed.name, parsed.kind);
            // Kept whole: there is no file to read again.
            let script = Script::read_from(file.text.as_bytes(), path, identity, usize::MAX, None)?;
            debug_assert!(script.kind == ScriptKind::Sql || file.run.is_some());
            set.scripts.push(script);
        }
        set.ignored.extend(
            self.ignored.iter().map(|f| IgnoredFile {
                path: dir.join(f),
                reason:
                    "not a .sql file, nor a .rs file named <14-digit id>_<name>.rs; not embedded"
                        .into(),
            }),
        );
        set.scripts.sort_by(|a, b| a.id.cmp(&b.id));
        set.ignored.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "tests/cli/fixtures/embedded";

    fn embedded() -> Scripts {
        crate::embed_scripts!("tests/cli/fixtures/embedded")
    }

    #[test]
    fn embedded_scripts_are_the_scripts_on_disk_with_the_same_checksums() {
        let from_disk = script::load_dir(Path::new(DIR)).unwrap();
        let set = embedded().load(Path::new("ignored")).unwrap();
        let ids = |s: &ScriptSet| {
            s.scripts
                .iter()
                .map(|s| {
                    (
                        s.id.clone(),
                        s.kind,
                        s.checksum.clone(),
                        s.description.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&set), ids(&from_disk));
        assert_eq!(set.scripts[1].kind, ScriptKind::Rust);
        // The Rust file has CRLF line endings: the header still reads.
        assert_eq!(set.scripts[1].description, "Add the first note");
        assert_eq!(
            set.scripts[1].directives.timeout,
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(set.ignored.len(), 1);
        assert!(set.ignored[0].path.ends_with("README.txt"));
        assert!(embedded().function("20260102000000").is_some());
        assert!(embedded().function("20260101000000").is_none());
        assert!(Scripts::from_disk().function("20260102000000").is_none());
    }

    #[test]
    fn a_runner_runs_the_embedded_scripts_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let runner = crate::Runner::new(url);
        let report = runner.run_pending(&embedded()).unwrap();
        assert!(report.failure().is_none(), "{report:?}");
        let ran: Vec<_> = report
            .scripts
            .iter()
            .map(|s| (s.id.as_str(), s.outcome))
            .collect();
        assert_eq!(
            ran,
            [
                ("20260101000000", crate::Outcome::Succeeded),
                ("20260102000000", crate::Outcome::Succeeded)
            ]
        );
        assert_eq!(report.scripts[1].output[0].message, "added 1 note");
        let again = runner.run_pending(&embedded()).unwrap();
        assert!(again.scripts.is_empty(), "{again:?}");
    }
}
