//! The audit trail for people and machines: `log` (a line per event),
//! `show` (one script's story), `approve`, the review a protected `run`
//! shows before its confirmation, and the approvals `status` lists.

use oneoff::approve::ApproveReport;
use oneoff::history::{LogReport, ShowReport};
use oneoff::ledger::audit::{Approval, Event};
use oneoff::ledger::RunRow;
use oneoff::protect::{short, Review};
use oneoff::{PlanEntry, StatusReport};
use serde::Serialize;

use super::{place, thousands};

fn when(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// What happened, in one word or two.
fn what(run: &RunRow) -> String {
    if run.dry_run {
        format!("dry-run {}", run.status)
    } else {
        run.status.clone()
    }
}

/// One event as a line.
fn event_line(e: &Event) -> String {
    let r = &e.run;
    let env = e
        .invocation
        .as_ref()
        .and_then(|i| i.environment.as_deref())
        .unwrap_or("-");
    let mut who = r.run_by.clone();
    if let Some(db_user) = e.invocation.as_ref().and_then(|i| i.db_user.as_deref()) {
        who.push_str(&format!(" as {db_user}"));
    }
    let mut line = format!(
        "{}  {}  {:<22} {:<12} {who}",
        when(r.started_at),
        r.script_id,
        what(r),
        env
    );
    if let Some(rows) = r.rows_affected {
        line.push_str(&format!(", {}", super::rows(rows)));
    }
    if let Some(ms) = r.duration_ms {
        line.push_str(&format!(", {ms} ms"));
    }
    if let Some(c) = &r.checksum {
        line.push_str(&format!(", checksum {}", short(c)));
    }
    if let Some(v) = e.invocation.as_ref().map(|i| &i.tool_version) {
        line.push_str(&format!(", oneoff {v}"));
    }
    if let Some(note) = &r.note {
        line.push_str(&format!(": {}", first_line(note)));
    }
    if let Some(error) = &r.error {
        line.push_str(&format!(": {}", first_line(error)));
    }
    line
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// `oneoff log`.
pub fn log(report: &LogReport, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(report).expect("log serialises");
    }
    let mut out = format!(
        "History of {}, newest first:\n",
        place(&report.database, report.environment.as_deref())
    );
    if report.events.is_empty() {
        out.push_str("nothing recorded yet\n");
    }
    for e in &report.events {
        out.push_str(&event_line(e));
        out.push('\n');
    }
    out
}

/// `oneoff show ID`.
pub fn show(report: &ShowReport, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(report).expect("show serialises");
    }
    let mut out = format!("{} {}\n", report.id, report.name);
    if let Some(d) = report.description.as_deref().filter(|d| !d.is_empty()) {
        out.push_str(&format!("  description: {d}\n"));
    }
    out.push_str(&format!(
        "  database:    {}\n",
        place(&report.database, report.environment.as_deref())
    ));
    out.push_str(&format!(
        "  file:        {}\n",
        report
            .file
            .as_deref()
            .unwrap_or("(missing from the script directory)")
    ));
    out.push_str(&format!(
        "  checksum:    {} now",
        report.checksum.as_deref().unwrap_or("-")
    ));
    if let Some(row) = &report.ledger {
        let same = report.checksum.as_deref() == Some(row.checksum.as_str());
        out.push_str(&format!(
            ", {} as last run{}\n  status:      {} after {} attempt(s)\n",
            row.checksum,
            if same {
                " (same)"
            } else {
                " (the file changed since)"
            },
            row.status,
            row.attempts
        ));
    } else {
        out.push_str("\n  status:      pending (not in the ledger)\n");
    }
    match &report.last_dry_run {
        Some(d) => out.push_str(&format!(
            "  last dry run: {} at {} UTC, {} rows, checksum {}\n",
            d.status,
            when(d.started_at),
            thousands(d.rows_affected.unwrap_or(0)),
            d.checksum.as_deref().map_or("-", short)
        )),
        None => out.push_str("  last dry run: none\n"),
    }
    if let Some(c) = &report.changes {
        let ops: Vec<String> = c.by_op.iter().map(|(op, n)| format!("{n} {op}")).collect();
        out.push_str(&format!(
            "  change log:  {} change(s) ({}) by run {}; `oneoff changes {}` lists them\n",
            thousands(c.total),
            ops.join(", "),
            short(&c.run_id),
            report.id
        ));
    }
    out.push_str(&format!("Approvals ({}):\n", report.approvals.len()));
    for a in &report.approvals {
        let current = report.checksum.as_deref() == Some(a.checksum.as_str());
        out.push_str(&format!("  {}\n", approval_line(a, current)));
    }
    out.push_str(&format!(
        "History ({} events, oldest first):\n",
        report.attempts.len()
    ));
    for a in &report.attempts {
        out.push_str(&format!("  {}\n", event_line(&a.event)));
        for line in &a.output {
            match line.kind.as_str() {
                "statement" => out.push_str(&format!("      {}\n", line.message)),
                kind => out.push_str(&format!("      {kind}: {}\n", line.message)),
            }
        }
    }
    out
}

fn approval_line(a: &Approval, current: bool) -> String {
    format!(
        "{} by {} on {} at {} UTC, checksum {}{}: {}",
        a.script_id,
        a.approved_by,
        a.environment,
        when(a.approved_at),
        short(&a.checksum),
        if current {
            ""
        } else {
            " (an older version of the file)"
        },
        a.reason
    )
}

/// `oneoff approve`.
pub fn approved(report: &ApproveReport, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(report).expect("approve serialises");
    }
    let a = &report.approval;
    let others = report
        .approvals
        .iter()
        .filter(|x| x.checksum == a.checksum)
        .map(|x| x.approved_by.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    format!(
        "approved {} {} (checksum {}) for {} by {}; approvals of this version: {} ({})",
        a.script_id,
        report.name,
        short(&a.checksum),
        place(&report.database, Some(&report.environment)),
        a.approved_by,
        others.len(),
        others.into_iter().collect::<Vec<_>>().join(", ")
    )
}

/// What a protected `run` is about to do, before it asks (on stderr).
pub fn review(reviews: &[Review]) -> String {
    let mut out = String::from("About to run:\n");
    for r in reviews {
        let approvers: Vec<&str> = r
            .approvals
            .iter()
            .filter(|a| a.checksum == r.checksum)
            .map(|a| a.approved_by.as_str())
            .collect();
        out.push_str(&format!(
            "  {} {} checksum {}, approved by {}",
            r.id,
            r.name,
            short(&r.checksum),
            if approvers.is_empty() {
                "nobody".to_string()
            } else {
                approvers.join(", ")
            }
        ));
        match &r.last_dry_run {
            Some(d) => out.push_str(&format!(
                "; last dry run {} at {} UTC: {} rows{}\n",
                d.status,
                when(d.started_at),
                thousands(d.rows_affected.unwrap_or(0)),
                if d.checksum.as_deref() == Some(r.checksum.as_str()) {
                    ""
                } else {
                    " (an older version)"
                }
            )),
            None => out.push_str("; never dry-run here\n"),
        }
    }
    out
}

/// An approval in `status --json`.
#[derive(Serialize)]
pub struct ApprovalJson<'a> {
    by: &'a str,
    checksum: &'a str,
    current: bool,
    reason: &'a str,
    approved_at: String,
}

/// The approvals of one script in `status --json`.
pub fn approvals_json<'a>(
    e: &PlanEntry,
    approvals: Option<&'a Vec<Approval>>,
) -> Vec<ApprovalJson<'a>> {
    let checksum = e.script.as_ref().map(|s| s.checksum.as_str());
    approvals
        .into_iter()
        .flatten()
        .map(|a| ApprovalJson {
            by: &a.approved_by,
            checksum: &a.checksum,
            current: checksum == Some(a.checksum.as_str()),
            reason: &a.reason,
            approved_at: a
                .approved_at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
        .collect()
}

/// The approvals `status` lists under its table, with an environment.
pub fn status_approvals(report: &StatusReport) -> String {
    let Some(env) = &report.environment else {
        return String::new();
    };
    let mut out = String::new();
    for e in &report.plan.entries {
        let Some(approvals) = report.approvals.get(&e.id) else {
            continue;
        };
        let checksum = e.script.as_ref().map(|s| s.checksum.as_str());
        for a in approvals {
            out.push_str(&format!(
                "approval: {}\n",
                approval_line(a, checksum == Some(a.checksum.as_str()))
            ));
        }
    }
    if out.is_empty() {
        out = format!("approvals: none on {env}\n");
    }
    out
}
