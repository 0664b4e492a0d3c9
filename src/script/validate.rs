//! Everything about a script directory that can be checked without a
//! database, with every problem listed (not only the first): file names,
//! ids that are not real UTC times, duplicate ids, headers and directives,
//! statement splitting, scripts without a statement, the static rules, and
//! post-condition queries. `oneoff check` reports it; `run` refuses on it
//! before it connects, so a rejected script never creates a database file,
//! a lock file or ledger tables.

use std::fmt;
use std::path::{Path, PathBuf};

use super::dir::{into_scripts, list_dir, on_all_cores, on_all_cores_into, Named};
use super::{Dialect, Script, ScriptSet};
use crate::error::{Error, Result};

/// One problem, with its file and (when known) line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file (or the script directory).
    #[serde(rename = "file")]
    pub path: PathBuf,
    /// The 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl Problem {
    /// The problem an error about a script file tells of.
    pub fn of(error: Error, path: &Path) -> Problem {
        match error {
            Error::Script {
                path,
                line,
                message,
            } => Problem {
                path,
                line,
                message,
            },
            other => Problem {
                path: path.to_path_buf(),
                line: None,
                message: other.to_string(),
            },
        }
    }
}

/// The scripts of a directory that read well, and every problem found.
#[derive(Debug, Clone, Default)]
pub struct Validated {
    /// The scripts that could be read (of two with one id, the first by
    /// file name), and the files that are not scripts.
    pub set: ScriptSet,
    /// Every problem, in file-name order.
    pub problems: Vec<Problem>,
}

/// Reads and checks every script in `dir` for `dialect`. `Err` only when
/// the directory itself cannot be listed.
pub fn validate_dir(dir: &Path, dialect: Dialect) -> Result<Validated> {
    let mut validated = read_dir(dir)?;
    validated.check_statements(dialect, |_| true);
    Ok(validated)
}

impl Validated {
    /// Adds the problems of the statements of each script `wanted` picks
    /// (split, static rules, post-condition queries), checked on all
    /// cores; every problem stays in file-name order, a file's name and
    /// header problems before its statements'.
    pub fn check_statements(&mut self, dialect: Dialect, wanted: impl Fn(&Script) -> bool + Sync) {
        let picked: Vec<&Script> = self.set.scripts.iter().filter(|s| wanted(s)).collect();
        let found = on_all_cores(&picked, |script| script.problems(dialect, usize::MAX));
        self.problems.extend(found.into_iter().flatten());
        self.problems.sort_by(|a, b| a.path.cmp(&b.path));
    }
}

/// Reads every script in `dir`, with the problems of their names and
/// headers, but not yet of their statements ([`Validated::check_statements`]): what
/// `run` reads before it knows which scripts it may run.
pub fn read_dir(dir: &Path) -> Result<Validated> {
    let (named, ignored) = list_dir(dir)?;
    let mut read: Vec<Option<Script>> = std::iter::repeat_with(|| None).take(named.len()).collect();
    let found = on_all_cores_into(&named, &mut read, |n, slot| read_file(dir, n, slot));
    let mut problems: Vec<Problem> = found.into_iter().flatten().collect();
    // Names sort by their fixed-width id first: files with one id are
    // neighbours, and only the first by name is kept.
    for (i, pair) in named.windows(2).enumerate() {
        if pair[0].id() == pair[1].id() {
            read[i + 1] = None;
            problems.push(Problem {
                path: dir.join(&pair[1].file_name),
                line: None,
                message: format!(
                    "has the same id {} as {}; ids must be unique: rename one (`oneoff new` picks a free id)",
                    pair[1].id(),
                    first_of_id(dir, &named, pair[1].id()).display()
                ),
            });
        }
    }
    // A file's own problems before its duplicate's, files in name order.
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Validated {
        set: ScriptSet {
            scripts: into_scripts(read),
            ignored,
        },
        problems,
    })
}

/// The path of the first file, by name, with the id.
fn first_of_id(dir: &Path, named: &[Named], id: &str) -> PathBuf {
    let first = named.partition_point(|n| n.id() < id);
    dir.join(&named[first].file_name)
}

/// One file: its script, in `slot`, when it reads well, and the problems
/// of its name and header.
fn read_file(dir: &Path, named: &Named, slot: &mut Option<Script>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let path = || dir.join(&named.file_name);
    if let Some(why) = not_a_utc_time(named.id()) {
        problems.push(Problem {
            path: path(),
            line: None,
            message: why,
        });
    }
    let mut header = Vec::new();
    match named.read(dir, Some(&mut header)) {
        Err(e) => problems.push(Problem::of(e, &path())),
        Ok(_) if !header.is_empty() => {
            let path = path();
            problems.extend(header.into_iter().map(|e| Problem::of(e, &path)));
        }
        Ok(script) => *slot = Some(script),
    }
    problems
}

/// Why a 14-digit id is not a real UTC time (`YYYYMMDDHHMMSS`), if it is not.
pub fn not_a_utc_time(id: &str) -> Option<String> {
    let part = |from: usize, to: usize| id.get(from..to).and_then(|s| s.parse::<u32>().ok());
    let date = part(0, 4)
        .zip(part(4, 6))
        .zip(part(6, 8))
        .and_then(|((y, m), d)| chrono::NaiveDate::from_ymd_opt(y as i32, m, d));
    let time = part(8, 10)
        .zip(part(10, 12))
        .zip(part(12, 14))
        .and_then(|((h, m), s)| chrono::NaiveTime::from_hms_opt(h, m, s));
    match (date, time) {
        (Some(_), Some(_)) => None,
        _ => Some(format!(
            "its id {id} is not a real UTC time (YYYYMMDDHHMMSS: month 01-12, a day the month has, hour 00-23, minute and second 00-59); rename the file with the time it was written (`oneoff new` names files)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_real_utc_times() {
        assert_eq!(not_a_utc_time("20261122093000"), None);
        assert_eq!(not_a_utc_time("20240229235959"), None);
        for bad in [
            "20261301000000",
            "20260230000000",
            "20230229000000",
            "20261122240000",
            "20261122096000",
            "20261122093060",
            "20260001000000",
        ] {
            assert!(not_a_utc_time(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_listed_not_only_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "20260101000000_a.sql",
            "-- a\nSELECT 1;\nCOMMIT;\nSELECT 2;\nBEGIN;\n",
        );
        write(
            "20260102000000_b.sql",
            "-- oneoff:nope\n-- oneoff:timeout never\nSELECT 1;\n",
        );
        write("20260102000000_c.sql", "SELECT 1;\n");
        write("20261302000000_d.sql", "-- only a comment\n");
        let found = validate_dir(dir.path(), Dialect::Sqlite).unwrap();
        let at: Vec<(String, Option<usize>)> = found
            .problems
            .iter()
            .map(|p| {
                (
                    p.path.file_name().unwrap().to_string_lossy().into_owned(),
                    p.line,
                )
            })
            .collect();
        let expected = [
            ("20260101000000_a.sql", Some(3)),
            ("20260101000000_a.sql", Some(5)),
            ("20260102000000_b.sql", Some(1)),
            ("20260102000000_b.sql", Some(2)),
            ("20260102000000_c.sql", None),
            ("20261302000000_d.sql", None),
            ("20261302000000_d.sql", None),
        ];
        let expected: Vec<(String, Option<usize>)> =
            expected.iter().map(|(f, l)| (f.to_string(), *l)).collect();
        assert_eq!(at, expected, "{:#?}", found.problems);
    }
}
