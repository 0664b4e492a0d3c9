//! `oneoff check` as lines or JSON: every problem with its file and line,
//! then what `run` would do against the database, when one was given.

use oneoff::CheckReport;

/// The human report: a summary line, a line per problem, and the
/// database's findings.
pub fn check_text(report: &CheckReport, dir: &std::path::Path) -> String {
    let backend = serde_json::to_value(report.backend)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let found = match report.problems.len() {
        0 => "no problems".to_string(),
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    };
    let mut out = format!(
        "checked {} script(s) in {} as {backend} SQL: {found}\n",
        report.scripts,
        dir.display()
    );
    for problem in &report.problems {
        out.push_str(&format!("  {problem}\n"));
    }
    for file in &report.ignored {
        out.push_str(&format!(
            "  ignored, never run: {}: {}\n",
            file.path.display(),
            file.reason
        ));
    }
    let Some(database) = &report.database else {
        return out;
    };
    match &report.refused {
        Some(why) => out.push_str(&format!("against {database}: run would refuse: {why}\n")),
        None if report.would_run.is_empty() => {
            out.push_str(&format!("against {database}: run would run nothing\n"))
        }
        None => out.push_str(&format!(
            "against {database}: run would run {}: {}\n",
            report.would_run.len(),
            report.would_run.join(", ")
        )),
    }
    for late in &report.out_of_order {
        out.push_str(&format!(
            "  out of order: {} {} is older than {}, which already succeeded; run runs it now, after it (give it a new id with `oneoff new` if it must come later)\n",
            late.id, late.name, late.after
        ));
    }
    for m in &report.modified {
        out.push_str(&format!(
            "  modified: {} {} succeeded and its file changed since (see above)\n",
            m.id, m.name
        ));
    }
    out
}

/// The JSON report (fields may be added, never removed).
pub fn check_json(report: &CheckReport) -> String {
    let mut doc = serde_json::to_value(report).expect("json");
    doc["clean"] = serde_json::Value::Bool(report.clean());
    serde_json::to_string_pretty(&doc).expect("json")
}
