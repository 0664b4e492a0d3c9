//! The pure planning step: scripts on disk + ledger rows -> a [`Plan`] that
//! says where every script stands, and (for `run`) which scripts run in what
//! order. `status` and `run --dry-run` render the same plan. No I/O here.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::error::{Blocker, Error};
use crate::ledger::{LedgerRow, Standing, Status};
use crate::script::Script;

/// One script as seen through its file and its ledger row.
#[derive(Debug, Clone)]
pub struct PlanEntry {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// The file, when it is on disk.
    pub script: Option<Script>,
    /// The ledger row, when there is one.
    pub row: Option<LedgerRow>,
    /// `pending` without a row, else the row's status.
    pub status: Status,
    /// The file changed after the script ran.
    pub modified: bool,
    /// The ledger knows the script but its file is gone.
    pub missing: bool,
}

impl PlanEntry {
    /// The file path, if on disk.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.script.as_ref().map(|s| s.path.as_path())
    }

    fn blocker(&self) -> Blocker {
        Blocker {
            id: self.id.clone(),
            name: self.name.clone(),
            status: self.status.to_string(),
            error: self.row.as_ref().and_then(|r| r.error.clone()),
            no_transaction: self
                .script
                .as_ref()
                .is_some_and(|s| s.directives.no_transaction),
        }
    }
}

/// Something that belongs to one script id: a file, a ledger row.
pub trait ById {
    /// The script id.
    fn id(&self) -> &str;
}

impl ById for Script {
    fn id(&self) -> &str {
        &self.id
    }
}

impl ById for LedgerRow {
    fn id(&self) -> &str {
        &self.id
    }
}

impl ById for Standing {
    fn id(&self) -> &str {
        &self.id
    }
}

impl<T: ById> ById for &T {
    fn id(&self) -> &str {
        (**self).id()
    }
}

/// Sorts `items` by id, only when they are not sorted already.
fn sort_by_id<T: ById>(items: &mut [T]) {
    if !items.is_sorted_by(|a, b| a.id() <= b.id()) {
        items.sort_by(|a, b| a.id().cmp(b.id()));
    }
}

/// Files and ledger rows, both in id order, paired by id: a merge of the
/// two lists, each item by itself when the other list lacks its id.
fn merge<S: ById, R: ById>(
    scripts: impl IntoIterator<Item = S>,
    rows: impl IntoIterator<Item = R>,
) -> impl Iterator<Item = (Option<S>, Option<R>)> {
    let (mut s, mut r) = (scripts.into_iter().peekable(), rows.into_iter().peekable());
    std::iter::from_fn(move || {
        let order = match (s.peek(), r.peek()) {
            (None, None) => return None,
            (Some(a), Some(b)) => a.id().cmp(b.id()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        };
        Some(match order {
            Ordering::Equal => (s.next(), r.next()),
            Ordering::Less => (s.next(), None),
            Ordering::Greater => (None, r.next()),
        })
    })
}

/// Every script on disk and in the ledger, borrowed and paired by id, in id
/// order, without building a [`Plan`] (the lists are sorted when they are not).
pub fn join<'a, R: ById>(
    scripts: &'a [Script],
    rows: &'a [R],
) -> impl Iterator<Item = (Option<&'a Script>, Option<&'a R>)> {
    let mut scripts: Vec<&Script> = scripts.iter().collect();
    let mut rows: Vec<&R> = rows.iter().collect();
    sort_by_id(&mut scripts);
    sort_by_id(&mut rows);
    merge(scripts, rows)
}

/// The status a ledger row gives its script (`pending` without a row).
fn status_of(id: &str, row: Option<&LedgerRow>) -> Result<Status, UnknownStatus> {
    match row {
        None => Ok(Status::Pending),
        Some(r) => Status::parse(&r.status).ok_or_else(|| UnknownStatus {
            id: id.to_string(),
            status: r.status.clone(),
        }),
    }
}

/// The entry of one id, from its file, its ledger row or both, which it keeps.
fn entry(script: Option<Script>, row: Option<LedgerRow>) -> Result<PlanEntry, UnknownStatus> {
    let (id, name) = match (&script, &row) {
        (Some(s), _) => (&s.id, &s.name),
        (None, Some(r)) => (&r.id, &r.name),
        (None, None) => unreachable!("a file or a row"),
    };
    let (id, name) = (id.clone(), name.clone());
    let status = status_of(&id, row.as_ref())?;
    let modified = matches!((&script, &row), (Some(s), Some(r)) if s.checksum != r.checksum)
        && status == Status::Succeeded;
    Ok(PlanEntry {
        id,
        name,
        missing: script.is_none(),
        script,
        row,
        status,
        modified,
    })
}

/// Every script on disk and in the ledger, in id order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The entries, sorted by id.
    pub entries: Vec<PlanEntry>,
}

/// A pending script older than a succeeded one.
#[derive(Debug, Clone, Copy)]
pub struct OutOfOrder<'a> {
    /// The pending script.
    pub entry: &'a PlanEntry,
    /// The newest succeeded script, whose id is newer.
    pub after: &'a PlanEntry,
}

/// What `run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these ids (all scripts when empty).
    pub ids: Vec<String>,
    /// Re-attempt failed and interrupted scripts.
    pub retry: bool,
    /// `run ID --again`: run the named scripts that were reverted once more.
    pub again: bool,
}

/// Why a ledger row cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus {
    /// The row's id.
    pub id: String,
    /// The word found.
    pub status: String,
}

/// Counts per status, for summary lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Scripts in all.
    pub total: usize,
    /// Per status word.
    pub by_status: BTreeMap<String, usize>,
    /// Succeeded scripts whose file changed since.
    pub modified: usize,
    /// Ledger rows whose file is gone.
    pub missing: usize,
}

impl Plan {
    /// Joins scripts and ledger rows by id, keeping them (nothing is
    /// copied): a merge of the two lists in id order (both come sorted;
    /// they are sorted here when not).
    pub fn build(
        mut scripts: Vec<Script>,
        mut rows: Vec<LedgerRow>,
    ) -> Result<Plan, UnknownStatus> {
        sort_by_id(&mut scripts);
        sort_by_id(&mut rows);
        let mut entries = Vec::with_capacity(scripts.len().max(rows.len()));
        for (script, row) in merge(scripts, rows) {
            entries.push(entry(script, row)?);
        }
        Ok(Plan { entries })
    }

    /// The scripts on disk, in id order, as the plan got them.
    pub fn into_scripts(self) -> Vec<Script> {
        self.entries.into_iter().filter_map(|e| e.script).collect()
    }

    /// Counts for the summary line.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            total: self.entries.len(),
            ..Summary::default()
        };
        for e in &self.entries {
            *summary.by_status.entry(e.status.to_string()).or_default() += 1;
            summary.modified += usize::from(e.modified);
            summary.missing += usize::from(e.missing);
        }
        summary
    }

    /// Succeeded scripts whose file changed since they ran (reported, never re-run).
    pub fn modified(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.modified)
    }

    /// Pending scripts whose id is older than the newest succeeded one (out
    /// of order: merged late from a branch), each with that newest one.
    pub fn out_of_order(&self) -> Vec<OutOfOrder<'_>> {
        let Some(newest) = self
            .entries
            .iter()
            .rev()
            .find(|e| e.status == Status::Succeeded)
        else {
            return Vec::new();
        };
        self.entries
            .iter()
            .take_while(|e| e.id < newest.id)
            .filter(|e| e.status == Status::Pending && e.script.is_some())
            .map(|entry| OutOfOrder {
                entry,
                after: newest,
            })
            .collect()
    }

    /// The scripts `run` executes, in order: with `retry`, failed and
    /// interrupted ones first, then pending ones, each group in id order.
    ///
    /// Refuses (in this order of precedence) unknown ids (exit 2), a
    /// requested script that succeeded or was skipped (exit 3), a failed or
    /// interrupted script to retry whose file is gone (exit 2), and failed
    /// or interrupted scripts without `retry` (exit 1).
    pub fn select(&self, selection: &Selection) -> Result<Vec<&PlanEntry>, Error> {
        let unknown: Vec<String> = selection
            .ids
            .iter()
            .filter(|id| !self.entries.iter().any(|e| &e.id == *id))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(Error::UnknownIds(unknown));
        }
        let chosen: Vec<&PlanEntry> = self
            .entries
            .iter()
            .filter(|e| selection.ids.is_empty() || selection.ids.contains(&e.id))
            .collect();
        let explicit = !selection.ids.is_empty();
        if let Some(done) = chosen.iter().find(|e| {
            explicit
                && (matches!(e.status, Status::Succeeded | Status::Skipped)
                    || (e.status == Status::Reverted && !selection.again))
        }) {
            return Err(already_done(done));
        }
        let stuck: Vec<&PlanEntry> = chosen
            .iter()
            .copied()
            .filter(|e| {
                matches!(
                    e.status,
                    Status::Failed | Status::Interrupted | Status::Running
                )
            })
            .collect();
        if !selection.retry && !stuck.is_empty() {
            return Err(Error::Blocked(stuck.iter().map(|e| e.blocker()).collect()));
        }
        if let Some(gone) = stuck.iter().find(|e| e.missing) {
            return Err(Error::script(
                format!("{} {}", gone.id, gone.name),
                None,
                format!(
                    "is {} in the ledger but its file is gone; restore the file to retry it",
                    gone.status
                ),
            ));
        }
        let pending = chosen.iter().copied().filter(|e| {
            e.status == Status::Pending
                || (selection.again && explicit && e.status == Status::Reverted)
        });
        Ok(stuck.iter().copied().chain(pending).collect())
    }
}

fn already_done(entry: &PlanEntry) -> Error {
    let row = entry.row.as_ref();
    Error::AlreadyDone {
        id: entry.id.clone(),
        name: entry.name.clone(),
        status: entry.status.to_string(),
        when: row
            .and_then(|r| r.finished_at)
            .map(|t| format!("on {} UTC", t.format("%Y-%m-%d %H:%M:%S")))
            .unwrap_or_default(),
        by: row.map(|r| r.run_by.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
