//! `oneoff changes` and `oneoff revert` output: a line per change (for an
//! update, only the columns it changed), or JSON.

use oneoff::changes::{Change, ChangesReport, Conflict, RevertReport};
use serde_json::Value;

/// One change as a line: `update accounts {"id":1}: balance 10 -> 20`.
fn change_line(c: &Change) -> String {
    let body = match (&c.old, &c.new) {
        (Some(Value::Object(old)), Some(Value::Object(new))) => {
            let diffs: Vec<String> = new
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k} {} -> {v}", old.get(k).unwrap_or(&Value::Null)))
                .collect();
            if diffs.is_empty() {
                "no column changed".to_string()
            } else {
                diffs.join(", ")
            }
        }
        (Some(old), Some(new)) => format!("{old} -> {new}"),
        (None, Some(new)) => new.to_string(),
        (Some(old), None) => old.to_string(),
        (None, None) => String::new(),
    };
    format!("{:<6} {} {}: {body}", c.op, c.table, c.key)
}

/// `oneoff changes`.
pub fn changes(report: &ChangesReport, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(report).expect("changes serialise");
    }
    if report.total == 0 {
        return format!(
            "script {} recorded no changes (it changed no rows, or did not run with `-- oneoff:revertible`, or, in Rust, called no `ctx.record_change`)",
            report.script
        );
    }
    let mut out = format!(
        "script {}: {} change(s){}, in the order it made them\n",
        report.script,
        report.total,
        if (report.changes.len() as i64) < report.total {
            format!(" (the first {} shown; --limit)", report.changes.len())
        } else {
            String::new()
        }
    );
    for c in &report.changes {
        out.push_str(&format!("  {}\n", change_line(c)));
    }
    out.trim_end().to_string()
}

fn conflict_line(c: &Conflict) -> String {
    let expected = c
        .change
        .new
        .as_ref()
        .map_or("no row".to_string(), Value::to_string);
    let now = c
        .now
        .as_ref()
        .map_or("no row".to_string(), Value::to_string);
    format!(
        "  {} {} (after {}): the script left {expected}, now {now}",
        c.change.table, c.change.key, c.change.op
    )
}

/// `oneoff revert`.
pub fn revert(report: &RevertReport, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(report).expect("revert report serialises");
    }
    let mut out = String::new();
    let conflicts = report.conflicts.len();
    if conflicts > 0 {
        out.push_str(&format!(
            "{conflicts} row(s) changed since script {} ran:\n",
            report.id
        ));
        for c in &report.conflicts {
            out.push_str(&conflict_line(c));
            out.push('\n');
        }
    }
    let line = if report.reverted {
        format!(
            "{} {}: reverted {} change(s){} (by {}; reason: {})",
            report.id,
            report.name,
            report.rows,
            if report.forced {
                ", overwriting the rows above (--force)"
            } else {
                ""
            },
            report.by,
            report.reason
        )
    } else if report.dry_run {
        format!(
            "dry run: reverting {} {} would undo {} change(s){}; nothing was changed",
            report.id,
            report.name,
            report.rows,
            if conflicts > 0 {
                " and needs --force for the rows above"
            } else {
                ""
            }
        )
    } else {
        format!(
            "nothing was changed: {} {} stays succeeded; look at the rows above, then `oneoff revert {} --force --reason …` to overwrite them",
            report.id, report.name, report.id
        )
    };
    out.push_str(&line);
    out
}
