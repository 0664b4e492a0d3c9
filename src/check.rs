//! `check`: every problem in the scripts that can be found without running
//! them ([`crate::script::validate`]), and, given a database, what `run`
//! would do there: the same plan as `status` and `run --dry-run`, scripts
//! merged out of order, and succeeded scripts edited since. Reads the
//! ledger without writing anything (an SQLite file that does not exist is
//! not created).

use std::path::PathBuf;

use serde::Serialize;

use crate::db::{Backend, DatabaseUrl};
use crate::error::Result;
use crate::plan::Selection;
use crate::runner::{build_plan, ModifiedScript};
use crate::script::validate::{validate_dir, Problem};
use crate::script::IgnoredFile;

/// What `oneoff check` looks at.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The script directory.
    pub dir: PathBuf,
    /// Whose SQL the statements are checked as.
    pub backend: Backend,
    /// The database to compare with, if any (only read).
    pub database: Option<DatabaseUrl>,
    /// Whether this binary runs Rust scripts (an application's, with its
    /// scripts compiled in); the standalone `oneoff` does not.
    pub runs_rust: bool,
}

/// A pending script older than one that already succeeded.
#[derive(Debug, Clone, Serialize)]
pub struct LateScript {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// The newest succeeded script's id.
    pub after: String,
}

/// Everything `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The backend whose SQL the statements were checked as.
    pub backend: Backend,
    /// Scripts found (with a script's file name).
    pub scripts: usize,
    /// Every problem, with file and line; any makes `check` fail.
    pub problems: Vec<Problem>,
    /// Files that are not scripts (never run).
    pub ignored: Vec<IgnoredFile>,
    /// The database compared with (redacted), if any.
    pub database: Option<String>,
    /// With a database: the ids `run` would run, in order.
    pub would_run: Vec<String>,
    /// With a database: why `run` would refuse to run anything, if it would.
    pub refused: Option<String>,
    /// With a database: pending scripts older than a succeeded one (they
    /// would run, after it; reported, not a problem).
    pub out_of_order: Vec<LateScript>,
    /// With a database: succeeded scripts whose file changed since (also
    /// listed as problems).
    pub modified: Vec<ModifiedScript>,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the scripts, and compares them with the database when given one.
/// `Err` only when the directory cannot be listed or the database read.
pub fn check(opts: &CheckOptions) -> Result<CheckReport> {
    let validated = validate_dir(&opts.dir, crate::runner::dialect(opts.backend))?;
    let mut report = CheckReport {
        backend: opts.backend,
        scripts: validated.set.scripts.len() + unread(&validated.problems, &validated.set),
        problems: validated.problems,
        ignored: validated.set.ignored.clone(),
        database: None,
        would_run: Vec::new(),
        refused: None,
        out_of_order: Vec::new(),
        modified: Vec::new(),
    };
    if !opts.runs_rust {
        report.problems.extend(
            validated
                .set
                .scripts
                .iter()
                .filter(|s| s.kind == crate::script::ScriptKind::Rust)
                .map(|s| Problem {
                    path: s.path.clone(),
                    line: None,
                    message: "is a Rust script, which this binary (the standalone `oneoff`) cannot run: run it, and `check`, with your application's own binary (see Embedding in the README)".into(),
                }),
        );
    }
    let Some(url) = &opts.database else {
        return Ok(report);
    };
    let database = url.redacted();
    let (rows, _) = crate::status::read_ledger(url, &database, None)?;
    let plan = build_plan(validated.set.scripts, rows, &database)?;
    match plan.select(&Selection::default()) {
        Ok(selected) => report.would_run = selected.iter().map(|e| e.id.clone()).collect(),
        Err(e) => report.refused = Some(e.to_string()),
    }
    report.out_of_order = plan
        .out_of_order()
        .iter()
        .map(|late| LateScript {
            id: late.entry.id.clone(),
            name: late.entry.name.clone(),
            after: late.after.id.clone(),
        })
        .collect();
    for entry in plan.modified() {
        let (Some(script), Some(row)) = (&entry.script, &entry.row) else {
            continue;
        };
        report.problems.push(Problem {
            path: script.path.clone(),
            line: None,
            message: format!(
                "succeeded on {} and changed since (checksum {} then, {} now); it never runs again: restore the file as it ran, and put further changes in a new script (`oneoff new`)",
                row.finished_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default(),
                row.checksum,
                script.checksum
            ),
        });
        report.modified.push(ModifiedScript {
            id: entry.id.clone(),
            name: entry.name.clone(),
            recorded_checksum: row.checksum.clone(),
            checksum: script.checksum.clone(),
        });
    }
    report.database = Some(database);
    Ok(report)
}

/// Files with a script's name that could not be read as one.
fn unread(problems: &[Problem], set: &crate::script::ScriptSet) -> usize {
    let mut files: Vec<&std::path::Path> = problems
        .iter()
        .map(|p| p.path.as_path())
        .filter(|p| !set.scripts.iter().any(|s| s.path == *p))
        .collect();
    files.sort();
    files.dedup();
    files.len()
}
