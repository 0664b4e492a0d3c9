//! Everything a run does before it takes the run lock: the scripts read
//! and checked (every problem `oneoff check` would find in a script the
//! run may execute refuses it, before anything is created), and the ledger
//! read without the lock, which may show there is nothing to do.

use std::collections::HashSet;

use super::{build_plan, noop, prepare, warn_ignored, ModifiedScript, RunOptions};
use crate::db::{DatabaseUrl, Db};
use crate::error::{Error, Result};
use crate::ledger::{Standing, Status};
use crate::plan::{self, Plan, Selection};
use crate::script::{validate, Dialect, Script, ScriptSet};

/// The scripts checked and the database open, before the lock.
pub(super) struct Checked {
    /// The scripts.
    pub set: ScriptSet,
    /// The connection the run goes on with.
    pub db: Db,
    /// Scripts whose statements were checked (by id): not read again.
    pub checked: HashSet<String>,
    /// When the ledger shows there is nothing to do, the succeeded scripts
    /// whose file changed since.
    pub nothing_to_do: Option<Vec<ModifiedScript>>,
}

/// Reads and checks the scripts, opens the database, and plans against
/// the ledger as it is.
pub(super) fn check(opts: &RunOptions, dialect: Dialect) -> Result<Checked> {
    // Everything that needs no database first: a script `oneoff check`
    // rejects never creates a database file, a lock file or ledger tables.
    // A ledger that exists already says which scripts are done with the
    // very text on disk: that text passed these checks when it ran, and
    // never runs again, so it is not checked again (`oneoff check` does).
    // It is read while the directory is.
    let (scripts, (opened, read)) = std::thread::scope(|scope| {
        let ledger = scope.spawn(|| {
            let mut opened = open_existing(&opts.database);
            let read = match &mut opened {
                Some(Ok(db)) => noop::read(&mut db.conn).ok(),
                _ => None,
            };
            (opened, read)
        });
        let scripts = read_scripts(opts);
        (scripts, ledger.join().expect("reading the ledger panicked"))
    });
    let mut validated = scripts?;
    let mut checked = unchecked(&validated.set.scripts, read.as_ref());
    validated.check_statements(dialect, |s| checked.contains(&s.id));
    let validate::Validated { mut set, problems } = validated;
    if !problems.is_empty() {
        return Err(Error::Scripts(problems));
    }
    warn_ignored(&set.ignored);
    if !opts.scripts.is_embedded() {
        forget_finished_texts(&mut set.scripts, read.as_ref());
    }
    let mut db = match opened {
        Some(db) => db?,
        None => Db::open(&opts.database)?,
    };
    let nothing_to_do = precheck(&mut db, read, &mut set.scripts, opts, dialect, &mut checked)?;
    Ok(Checked {
        set,
        db,
        checked,
        nothing_to_do,
    })
}

/// The scripts whose statements are to be checked (by id): all but those
/// the ledger, when there is one, shows done with the very text on disk.
fn unchecked(scripts: &[Script], read: Option<&noop::Unlocked>) -> HashSet<String> {
    let rows = read.map_or(&[][..], |r| &r.standings);
    plan::join(scripts, rows)
        .filter_map(|(script, row)| {
            let script = script?;
            let done = row.is_some_and(|r| {
                r.checksum == script.checksum && r.status.is_some_and(Status::is_done)
            });
            (!done).then(|| script.id.clone())
        })
        .collect()
}

/// Drops the text of the scripts the ledger shows succeeded or skipped with
/// the very text on disk: they never run again, and a run need not hold
/// thousands of them while it works. A script that runs after all (the
/// ledger changed before the lock) is read again from its file, as a large
/// one is, and stops if the file changed. A reverted script, which
/// `run --again` runs, keeps its text.
fn forget_finished_texts(scripts: &mut [Script], read: Option<&noop::Unlocked>) {
    let mut rows: Vec<&Standing> = read.map_or(Vec::new(), |r| r.standings.iter().collect());
    rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let mut rows = rows.into_iter().peekable();
    for script in scripts {
        while rows.next_if(|r| r.id < script.id).is_some() {}
        let finished = rows.next_if(|r| r.id == script.id).is_some_and(|r| {
            r.checksum == script.checksum
                && matches!(r.status, Some(Status::Succeeded | Status::Skipped))
        });
        if finished {
            script.text = None;
        }
    }
}

/// The scripts, read from the directory or compiled into this binary,
/// with the problems of their names and headers (their statements are
/// checked once the ledger says which may run).
fn read_scripts(opts: &RunOptions) -> Result<validate::Validated> {
    if opts.scripts.is_embedded() {
        return Ok(validate::Validated {
            set: opts.scripts.load(&opts.dir)?,
            problems: Vec::new(),
        });
    }
    validate::read_dir(&opts.dir)
}

/// The database when it exists already: a SQLite file that is missing is
/// not created here (a run refused for its scripts must leave no file).
fn open_existing(url: &DatabaseUrl) -> Option<Result<Db>> {
    match url.sqlite_path() {
        Some(path) if !path.exists() => None,
        _ => Some(Db::open(url)),
    }
}

/// Plans and checks the scripts against the ledger as it is, before taking
/// the lock or writing anything: a script that would be refused, or an
/// unknown id, is refused without creating the ledger tables.
/// The same checks run again under the lock, on the ledger as it is then.
/// `Some(modified)` when there is nothing to do (see [`noop`]): the run ends there.
fn precheck(
    db: &mut Db,
    read: Option<noop::Unlocked>,
    scripts: &mut Vec<Script>,
    opts: &RunOptions,
    dialect: Dialect,
    checked: &mut HashSet<String>,
) -> Result<Option<Vec<ModifiedScript>>> {
    let database = opts.database.redacted();
    // A ledger this oneoff cannot read yet is left to the checks under the lock.
    let read = match read {
        Some(read) => read,
        None => match noop::read(&mut db.conn) {
            Ok(read) => read,
            Err(_) => return Ok(None),
        },
    };
    if let Some(modified) = noop::nothing_to_do(&read, scripts, opts) {
        return Ok(Some(modified));
    }
    let Ok(rows) = noop::rows(&mut db.conn, &read) else {
        return Ok(None);
    };
    // The plan keeps the scripts while it is checked, then gives them back.
    let plan = build_plan(std::mem::take(scripts), rows, &database)?;
    let checks = check_selected(db, &plan, opts, dialect, checked);
    *scripts = plan.into_scripts();
    checks.map(|()| None)
}

/// Refuses an unknown id, and the selected scripts that `prepare` refuses
/// or (revertible ones) whose tables have no primary key.
fn check_selected(
    db: &mut Db,
    plan: &Plan,
    opts: &RunOptions,
    dialect: Dialect,
    checked: &mut HashSet<String>,
) -> Result<()> {
    // Which scripts are stuck is only known under the lock (a `running`
    // row may be a live runner's): here only an unknown id is final.
    let selected = match plan.select(&Selection {
        ids: opts.ids.clone(),
        retry: opts.retry,
        again: opts.again.is_some(),
    }) {
        Ok(selected) => selected,
        Err(e @ Error::UnknownIds(_)) => return Err(e),
        Err(_) => return Ok(()),
    };
    for entry in prepare::prepare(&selected, dialect, &opts.scripts, checked)? {
        if entry.script.directives.revertible {
            // A table without a primary key is refused before anything is written.
            crate::capture::preflight(&mut db.conn, entry.script, dialect)?;
        }
    }
    Ok(())
}
