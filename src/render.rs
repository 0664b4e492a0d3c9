//! Everything oneoff prints to stdout: human tables and lines, or JSON, from
//! the library's report types. Colour only on a terminal and never with
//! `NO_COLOR`.

use std::io::IsTerminal;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use oneoff::ledger::Status;
use oneoff::runner::{Outcome, RunReport, ScriptOutcome};
use oneoff::{PlanEntry, StatusReport};

#[path = "render_changes.rs"]
pub mod changes;
#[path = "render_table.rs"]
mod table;

#[path = "render_audit.rs"]
pub mod audit;

#[path = "render_status_json.rs"]
mod status_json;
use status_json::batched;
pub use status_json::status_json;
use table::Grid;

/// Whether stdout gets colour.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

fn rfc3339(t: Option<chrono::NaiveDateTime>) -> Option<String> {
    t.map(|t| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
}

fn status_colour(status: Status) -> Color {
    match status {
        Status::Succeeded => Color::Green,
        Status::Failed | Status::Interrupted => Color::Red,
        Status::Running => Color::Yellow,
        Status::Pending => Color::Cyan,
        Status::Skipped | Status::Reverted => Color::DarkGrey,
    }
}

/// `status` as a table and a summary line.
pub fn status_table(report: &StatusReport) -> String {
    if report.plan.entries.is_empty() {
        return format!(
            "Database: {}\nNo scripts yet; create one with `oneoff new \"what it does\"`.\n",
            place(&report.database, report.environment.as_deref())
        );
    }
    let mut out = format!(
        "Database: {}\n",
        place(&report.database, report.environment.as_deref())
    );
    // On a terminal comfy-table fits the table to its width and colours
    // the status; elsewhere the plain grid draws the same table, faster.
    let mut grid = Grid::new(&STATUS_HEADER);
    if !std::io::stdout().is_terminal() {
        for e in &report.plan.entries {
            status_row(e, &mut |cell| grid.cell(cell));
        }
    }
    if std::io::stdout().is_terminal() || grid.has_line_breaks() {
        out.push_str(&status_comfy_table(report).to_string());
    } else {
        grid.draw(&mut out);
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out.push('\n');
    for e in report.plan.modified() {
        out.push_str(&format!(
            "modified: {} {} ran with checksum {} but the file now has {}\n",
            e.id,
            e.name,
            e.row.as_ref().map_or("", |r| r.checksum.as_str()),
            e.script.as_ref().map_or("", |s| s.checksum.as_str()),
        ));
    }
    out.push_str(&audit::status_approvals(report));
    out
}

/// The database for people: the environment's name beside the redacted URL.
pub fn place(database: &str, environment: Option<&str>) -> String {
    match environment {
        Some(env) => format!("{database} (environment {env})"),
        None => database.to_string(),
    }
}

const STATUS_HEADER: [&str; 8] = [
    "ID",
    "NAME",
    "STATUS",
    "ATTEMPTS",
    "FINISHED (UTC)",
    "DURATION",
    "ROWS",
    "ERROR / NOTE",
];

/// The status table by comfy-table, for a terminal.
fn status_comfy_table(report: &StatusReport) -> Table {
    let colour = colour();
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(STATUS_HEADER);
    if colour {
        table.enforce_styling();
    }
    for e in &report.plan.entries {
        let mut cells = Vec::with_capacity(STATUS_HEADER.len());
        status_row(e, &mut |cell| cells.push(Cell::new(cell.to_string())));
        if colour {
            cells[2] = cells[2].clone().fg(status_colour(e.status));
        }
        table.add_row(cells);
    }
    table
}

/// The cells of one script's row, in the order of [`STATUS_HEADER`].
fn status_row(e: &PlanEntry, cell: &mut dyn FnMut(std::fmt::Arguments<'_>)) {
    let row = e.row.as_ref();
    let progress = row
        .filter(|_| batched(e) && e.status != Status::Succeeded)
        .and_then(progress_text)
        .map(|p| format!(" {p}"))
        .unwrap_or_default();
    cell(format_args!("{}", e.id));
    let rust = e
        .script
        .as_ref()
        .is_some_and(|s| s.kind == oneoff::script::ScriptKind::Rust);
    cell(format_args!(
        "{}{}",
        e.name,
        if rust { " (rust)" } else { "" }
    ));
    cell(format_args!(
        "{}{progress}{}{}",
        e.status,
        if e.modified { ", modified" } else { "" },
        if e.missing { ", file missing" } else { "" }
    ));
    cell(format_args!("{}", row.map_or(0, |r| r.attempts)));
    cell(format_args!(
        "{}",
        Dash(row.and_then(|r| r.finished_at).map(Seconds))
    ));
    cell(format_args!(
        "{}",
        Dash(row.and_then(|r| r.duration_ms).map(ms))
    ));
    cell(format_args!("{}", Dash(row.and_then(|r| r.rows_affected))));
    cell(format_args!("{}", short(error_or_note(row), 60)));
}

/// A value, or `-` without one.
struct Dash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for Dash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// `2026-01-31 12:00:00`: what `%Y-%m-%d %H:%M:%S` gives, without parsing
/// the format string for every row.
struct Seconds(chrono::NaiveDateTime);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        if !(0..=9999).contains(&t.year()) {
            return t.format("%Y-%m-%d %H:%M:%S").fmt(f);
        }
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// `37 % 370,000/1,000,000`, or `370,000 rows, 37 batches` without a total.
fn progress_text(row: &oneoff::ledger::LedgerRow) -> Option<String> {
    let done = row.rows_affected.unwrap_or(0);
    let batches = row.batches.unwrap_or(0);
    if batches == 0 && row.rows_total.is_none() {
        return None;
    }
    Some(match row.rows_total {
        Some(total) if total > 0 => format!(
            "{} % {}/{}",
            (done.min(total) * 100) / total,
            thousands(done),
            thousands(total)
        ),
        _ => format!("{} rows, {} batches", thousands(done), thousands(batches)),
    })
}

/// 1234567 -> `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

fn error_or_note(row: Option<&oneoff::ledger::LedgerRow>) -> String {
    match row {
        Some(r) if r.error.is_some() => r.error.clone().unwrap_or_default(),
        Some(r) => r
            .note
            .as_ref()
            .map(|n| format!("note: {n}"))
            .unwrap_or_default(),
        None => String::new(),
    }
}

fn summary_line(report: &StatusReport) -> String {
    let summary = report.plan.summary();
    let order = [
        "succeeded",
        "pending",
        "running",
        "failed",
        "interrupted",
        "skipped",
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|s| summary.by_status.get(*s).map(|n| format!("{n} {s}")))
        .collect();
    let noun = if summary.total == 1 {
        "script"
    } else {
        "scripts"
    };
    let mut line = format!("{} {noun}: {}", summary.total, parts.join(", "));
    if summary.modified + summary.missing > 0 {
        line.push_str(&format!(
            " ({} modified, {} missing)",
            summary.modified, summary.missing
        ));
    }
    line
}

fn ms(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn rows(n: i64) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

fn short(text: String, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() > max || text.lines().count() > 1 {
        format!("{}…", first.chars().take(max).collect::<String>())
    } else {
        first.to_string()
    }
}

/// The first line of a run.
pub fn run_start(database: &str, scripts: usize, dry_run: bool) -> String {
    let noun = if scripts == 1 { "script" } else { "scripts" };
    match (scripts, dry_run) {
        (0, _) => format!("Nothing to run on {database}: every script is done."),
        (_, false) => format!("Running {scripts} {noun} on {database}"),
        (_, true) => format!(
            "Dry run of {scripts} {noun} on {database}: each runs in a transaction that is rolled back; the ledger is not changed"
        ),
    }
}

/// The line printed when a script finishes.
pub fn run_line(outcome: &ScriptOutcome) -> String {
    let (word, count) = match outcome.outcome {
        Outcome::Succeeded => ("succeeded", rows(outcome.rows_affected)),
        Outcome::Failed if outcome.partial => ("FAILED, partly committed", String::new()),
        Outcome::Failed => ("FAILED, rolled back", String::new()),
        Outcome::Cancelled if outcome.partial => ("CANCELLED, partly committed", String::new()),
        Outcome::Cancelled => ("CANCELLED", String::new()),
        Outcome::RolledBack => (
            "ok, rolled back",
            format!("would change {}", rows(outcome.rows_affected)),
        ),
        Outcome::DryRunFailed => ("FAILED in dry run", String::new()),
        Outcome::NotExecuted => ("skipped in dry run", String::new()),
    };
    let mut line = format!(
        "  {} {:<32} {:<20} {:>20} {:>9}",
        outcome.id,
        outcome.name,
        word,
        count,
        ms(outcome.duration_ms)
    );
    if matches!(outcome.outcome, Outcome::RolledBack | Outcome::DryRunFailed) {
        line.push_str(&statement_lines(&outcome.statements));
    }
    if let Some(reason) = &outcome.reason {
        line.push_str(&format!("\n      {reason}"));
    }
    if let Some(passed) = &outcome.postconditions {
        line.push_str(&format!("\n      {passed}"));
    }
    if let Some(error) = &outcome.error {
        line.push_str(&format!("\n      {error}"));
    }
    for output in &outcome.output {
        line.push_str(&format!("\n      {}: {}", output.kind, output.message));
    }
    line
}

/// A dry run lists this many statements of a script; a dump of 200,000
/// statements gets a summary line for the rest (`--json` lists them all).
pub const STATEMENTS_LISTED: usize = 20;

/// The first statements' lines, and one line for the rest.
fn statement_lines(statements: &oneoff::runner::StatementResults) -> String {
    let mut text = String::new();
    let mut listed_rows = 0;
    for s in statements.iter().take(STATEMENTS_LISTED) {
        listed_rows += s.rows_affected;
        text.push_str(&format!(
            "\n      statement {} (line {}): {}",
            s.number,
            s.line,
            rows(s.rows_affected)
        ));
    }
    let rest = statements.len().saturating_sub(STATEMENTS_LISTED);
    if let (Some(last), true) = (statements.last(), rest > 0) {
        text.push_str(&format!(
            "\n      … {} more statements, to statement {} (line {}): {}",
            thousands(rest as i64),
            last.number,
            last.line,
            rows(statements.rows() - listed_rows)
        ));
    }
    text
}

/// The closing line of a run.
pub fn run_summary(report: &RunReport) -> Option<String> {
    if report.scripts.is_empty() {
        return None;
    }
    let ok = report
        .scripts
        .iter()
        .filter(|s| !s.failed() && !s.cancelled())
        .count();
    let failed = report.scripts.len() - ok;
    if report.cancelled {
        let mut line = format!("Cancelled by a signal: {ok} script(s) finished before it");
        if let Some(c) = report.scripts.iter().find(|s| s.cancelled()) {
            line.push_str(&format!(
                "; {} {} was stopped: {}",
                c.id,
                c.name,
                c.error.as_deref().unwrap_or("")
            ));
        }
        if !report.not_run.is_empty() {
            line.push_str(&format!("; not run: {}", report.not_run.join(", ")));
        }
        return Some(line + ".");
    }
    Some(match (report.failure(), report.dry_run) {
        (Some(f), false) if f.partial => format!(
            "Stopped at {} {}: part of its work is committed (see its error); {ok} script(s) succeeded before it, later ones were not run.",
            f.id, f.name
        ),
        (Some(f), false) => format!(
            "Stopped at {} {}: its transaction was rolled back; {ok} script(s) succeeded before it, later ones were not run.",
            f.id, f.name
        ),
        (Some(_), true) => format!("Dry run done: {failed} of {} scripts failed; nothing changed.", report.scripts.len()),
        (None, true) => format!("Dry run done: {ok} script(s) executed and rolled back; nothing changed."),
        (None, false) => format!("Done: {ok} succeeded."),
    })
}

/// The result of `skip` or `mark`.
pub fn manual(report: &oneoff::recovery::ManualReport, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(report).expect("manual report serialises");
    }
    format!(
        "{} {}: {} -> {} (by {}; reason: {}) on {}",
        report.id,
        report.name,
        report.from,
        report.to,
        report.by,
        report.reason,
        place(&report.database, report.environment.as_deref())
    )
}

/// `run --json`, written as it is serialised: a dump's report lists every
/// statement, and is not built as one string first.
pub fn write_run_json(report: &RunReport, out: &mut impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    out.flush()
}
