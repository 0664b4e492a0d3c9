//! Everything about a script directory that can be checked without a
//! database, with every problem listed (not only the first): file names,
//! ids that are not real UTC times, duplicate ids, headers and directives,
//! statement splitting, scripts without a statement, the static rules, and
//! post-condition queries. `oneoff check` reports it; `run` refuses on it
//! before it connects, so a rejected script never creates a database file,
//! a lock file or ledger tables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::name::ScriptName;
use super::{list_dir, Dialect, Script, ScriptSet};
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
    let mut problems = Vec::new();
    let mut by_id: BTreeMap<String, Script> = BTreeMap::new();
    let mut first_of: BTreeMap<&str, &Path> = BTreeMap::new();
    let read = on_all_cores(&named, |(_, path, parsed)| read_file(path, parsed));
    for ((_, path, parsed), (script, found)) in named.iter().zip(read) {
        problems.extend(found);
        if let Some(other) = first_of.get(parsed.id.as_str()) {
            problems.push(Problem {
                path: path.clone(),
                line: None,
                message: format!(
                    "has the same id {} as {}; ids must be unique: rename one (`oneoff new` picks a free id)",
                    parsed.id,
                    other.display()
                ),
            });
            continue;
        }
        first_of.insert(&parsed.id, path);
        if let Some(script) = script {
            by_id.insert(script.id.clone(), script);
        }
    }
    Ok(Validated {
        set: ScriptSet {
            scripts: by_id.into_values().collect(),
            ignored,
        },
        problems,
    })
}

/// `f` of each item, on all cores, in order.
fn on_all_cores<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(64);
    let run = |part: &[T]| -> Vec<R> { part.iter().map(&f).collect() };
    if items.len() <= per_thread {
        return run(items);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|part| scope.spawn(|| run(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checking a script panicked"))
            .collect()
    })
}

/// One file: its script when it reads well, and the problems of its name
/// and header.
fn read_file(path: &Path, parsed: &ScriptName) -> (Option<Script>, Vec<Problem>) {
    let mut problems = Vec::new();
    if let Some(why) = not_a_utc_time(&parsed.id) {
        problems.push(Problem {
            path: path.to_path_buf(),
            line: None,
            message: why,
        });
    }
    let mut header = Vec::new();
    let script =
        match Script::read_noting(path, parsed.id.clone(), parsed.name.clone(), &mut header) {
            Ok(script) => script,
            Err(e) => {
                problems.push(Problem::of(e, path));
                return (None, problems);
            }
        };
    if !header.is_empty() {
        problems.extend(header.into_iter().map(|e| Problem::of(e, path)));
        return (None, problems);
    }
    (Some(script), problems)
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
