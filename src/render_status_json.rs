//! `status --json`: one object per script, fields added, never removed.

use oneoff::ledger::Status;
use oneoff::{PlanEntry, StatusReport};
use serde::Serialize;

use super::{audit, rfc3339};

/// One script in `status --json`; fields may be added, never removed.
#[derive(Serialize)]
struct StatusJson<'a> {
    id: &'a str,
    name: &'a str,
    kind: Option<&'static str>,
    file: Option<String>,
    status: Status,
    description: Option<&'a str>,
    checksum: Option<&'a str>,
    recorded_checksum: Option<&'a str>,
    modified: bool,
    missing: bool,
    attempts: i32,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
    rows_affected: Option<i64>,
    error: Option<&'a str>,
    run_by: Option<&'a str>,
    note: Option<&'a str>,
    progress: Option<ProgressJson>,
    /// With an environment: its approvals of this script.
    #[serde(skip_serializing_if = "Option::is_none")]
    approvals: Option<Vec<audit::ApprovalJson<'a>>>,
}

/// A batched script's progress in `status --json`.
#[derive(Serialize)]
struct ProgressJson {
    rows_done: i64,
    rows_total: Option<i64>,
    batches: i64,
}

/// Whether an entry is a batched script (by its file, or by its ledger row).
pub(super) fn batched(e: &PlanEntry) -> bool {
    e.script.as_ref().is_some_and(|s| s.directives.batch)
        || e.row.as_ref().is_some_and(|r| r.batches.is_some())
}

impl<'a> From<&'a PlanEntry> for StatusJson<'a> {
    fn from(e: &'a PlanEntry) -> Self {
        let row = e.row.as_ref();
        StatusJson {
            id: &e.id,
            name: &e.name,
            kind: e.script.as_ref().map(|s| s.kind.as_str()),
            file: e.file().map(|p| p.display().to_string()),
            status: e.status,
            description: e.script.as_ref().map(|s| s.description.as_str()),
            checksum: e.script.as_ref().map(|s| s.checksum.as_str()),
            recorded_checksum: row.map(|r| r.checksum.as_str()),
            modified: e.modified,
            missing: e.missing,
            attempts: row.map_or(0, |r| r.attempts),
            started_at: rfc3339(row.and_then(|r| r.started_at)),
            finished_at: rfc3339(row.and_then(|r| r.finished_at)),
            duration_ms: row.and_then(|r| r.duration_ms),
            rows_affected: row.and_then(|r| r.rows_affected),
            error: row.and_then(|r| r.error.as_deref()),
            run_by: row.map(|r| r.run_by.as_str()),
            note: row.and_then(|r| r.note.as_deref()),
            progress: batched(e).then(|| ProgressJson {
                rows_done: row.and_then(|r| r.rows_affected).unwrap_or(0),
                rows_total: row.and_then(|r| r.rows_total),
                batches: row.and_then(|r| r.batches).unwrap_or(0),
            }),
            approvals: None,
        }
    }
}

/// `status --json`.
pub fn status_json(report: &StatusReport) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        database: &'a str,
        environment: Option<&'a str>,
        scripts: Vec<StatusJson<'a>>,
        summary: oneoff::plan::Summary,
    }
    let scripts = report
        .plan
        .entries
        .iter()
        .map(|e| {
            let mut json = StatusJson::from(e);
            if report.environment.is_some() {
                json.approvals = Some(audit::approvals_json(e, report.approvals.get(&e.id)));
            }
            json
        })
        .collect();
    let doc = Doc {
        database: &report.database,
        environment: report.environment.as_deref(),
        scripts,
        summary: report.plan.summary(),
    };
    serde_json::to_string_pretty(&doc).expect("status serialises")
}
