//! Protected environments: before `run` changes one, every script it is to
//! run must have the environment's number of approvals of its current
//! checksum by people other than the runner, and, when `require_dry_run`
//! is set, a successful dry run of that checksum on that environment.
//! The runner checks this under the run lock, on the files it is about to
//! run; [`preview`] reads the same without writing, for the confirmation.

use std::collections::BTreeSet;

use crate::config::Environment;
use crate::db::{self, AnyConnection, DatabaseUrl};
use crate::error::{Error, Result};
use crate::ledger::audit::{self, Approval};
use crate::ledger::{self, RunRow};
use crate::plan::Selection;
use crate::script::Script;

/// The gate of a protected environment.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The environment's name.
    pub environment: String,
    /// Approvals by others required.
    pub approvals: u32,
    /// A successful dry run of the same checksum is required.
    pub require_dry_run: bool,
    /// Who runs (their own approvals do not count).
    pub runner: String,
}

impl Rules {
    /// The rules of `env` for `runner`, when it is protected.
    pub fn of(env: &Environment, runner: &str) -> Option<Rules> {
        env.protected.then(|| Rules {
            environment: env.name.clone(),
            approvals: env.approvals,
            require_dry_run: env.require_dry_run,
            runner: runner.to_string(),
        })
    }
}

/// Where one script stands against the gate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Review {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// Checksum of the file now.
    pub checksum: String,
    /// Its approvals on the environment, any checksum, oldest first.
    pub approvals: Vec<Approval>,
    /// Its latest dry run on the environment.
    pub last_dry_run: Option<RunRow>,
    /// What it still needs (empty: it may run).
    pub missing: Vec<String>,
}

/// Reviews the scripts about to run against the rules.
pub fn review(
    conn: &mut AnyConnection,
    scripts: &[&Script],
    rules: &Rules,
) -> diesel::QueryResult<Vec<Review>> {
    let tables = ledger::table_exists(conn, "oneoff_approvals")?;
    let mut out = Vec::new();
    for script in scripts {
        let (approvals, last, rehearsed) = if tables {
            (
                audit::approvals_of(conn, &script.id, &rules.environment)?,
                audit::last_dry_run(conn, &script.id, Some(&rules.environment))?,
                audit::rehearsed(conn, &script.id, &script.checksum, &rules.environment)?,
            )
        } else {
            (Vec::new(), None, false)
        };
        out.push(Review {
            id: script.id.clone(),
            name: script.name.clone(),
            checksum: script.checksum.clone(),
            missing: missing(script, &approvals, rehearsed, rules),
            approvals,
            last_dry_run: last,
        });
    }
    Ok(out)
}

/// What a script lacks: the pure part of [`review`].
pub fn missing(
    script: &Script,
    approvals: &[Approval],
    rehearsed: bool,
    rules: &Rules,
) -> Vec<String> {
    let mut missing = Vec::new();
    let env = &rules.environment;
    let counted: BTreeSet<&str> = approvals
        .iter()
        .filter(|a| a.checksum == script.checksum && a.approved_by != rules.runner)
        .map(|a| a.approved_by.as_str())
        .collect();
    let needed = rules.approvals as usize;
    if counted.len() < needed {
        let mut why = format!(
            "{} approval(s) of this version by someone other than {} ({} so far)",
            needed,
            rules.runner,
            counted.len()
        );
        let stale: BTreeSet<&str> = approvals
            .iter()
            .filter(|a| a.checksum != script.checksum && a.approved_by != rules.runner)
            .map(|a| a.approved_by.as_str())
            .filter(|by| !counted.contains(by))
            .collect();
        if !stale.is_empty() {
            why.push_str(&format!(
                "; the approval by {} is of an older version of the file: the file changed since",
                stale.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if approvals.iter().any(|a| a.approved_by == rules.runner) {
            why.push_str("; your own approval does not count");
        }
        why.push_str(&format!(
            " — someone else runs `oneoff approve {} --env {env} --reason \"…\"`",
            script.id
        ));
        missing.push(why);
    }
    if rules.require_dry_run && !rehearsed {
        missing.push(format!(
            "a successful dry run of this version on {env}: `oneoff run --env {env} --dry-run {}`",
            script.id
        ));
    }
    missing
}

/// Refuses (exit 3) when a reviewed script lacks anything, listing what.
pub fn refuse_missing(reviews: &[Review], environment: &str) -> Result<()> {
    let lacking: Vec<&Review> = reviews.iter().filter(|r| !r.missing.is_empty()).collect();
    if lacking.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "nothing was run: {environment} is a protected environment and these scripts are not cleared to run there:\n"
    );
    for r in lacking {
        msg.push_str(&format!(
            "  {} {} (checksum {}) needs:\n",
            r.id,
            r.name,
            short(&r.checksum)
        ));
        for m in &r.missing {
            msg.push_str(&format!("    - {m}\n"));
        }
    }
    msg.push_str("hint: `oneoff status --env ");
    msg.push_str(environment);
    msg.push_str("` shows the approvals; `oneoff show ID` the history");
    Err(Error::Refused(msg))
}

/// The first 12 characters of a checksum.
pub fn short(checksum: &str) -> &str {
    &checksum[..checksum.len().min(12)]
}

/// What [`preview`] looks at.
#[derive(Debug, Clone)]
pub struct PreviewOptions {
    /// The database.
    pub database: DatabaseUrl,
    /// The script directory.
    pub dir: std::path::PathBuf,
    /// The scripts `run` would pick.
    pub selection: Selection,
    /// The gate.
    pub rules: Rules,
    /// Where the scripts come from: `dir`, or compiled into the binary.
    pub scripts: crate::Scripts,
}

/// The scripts a `run` would run and where they stand against the gate,
/// read without writing anything (for the confirmation prompt).
pub fn preview(opts: &PreviewOptions) -> Result<Vec<Review>> {
    let report = crate::status::status(&crate::status::StatusOptions {
        database: opts.database.clone(),
        dir: opts.dir.clone(),
        environment: None,
        scripts: opts.scripts,
    })?;
    let selected = match report.plan.select(&opts.selection) {
        Ok(selected) => selected,
        // The run reports these itself (blocked scripts, nothing to do).
        Err(Error::UnknownIds(ids)) => return Err(Error::UnknownIds(ids)),
        Err(_) => return Ok(Vec::new()),
    };
    let scripts: Vec<&Script> = selected.iter().filter_map(|e| e.script.as_ref()).collect();
    if scripts.is_empty() {
        return Ok(Vec::new());
    }
    let no_ledger = opts.database.sqlite_path().is_some_and(|p| !p.exists());
    let ledger_err = |e: diesel::result::Error| Error::Ledger {
        database: report.database.clone(),
        message: opts.database.scrub(&e.to_string()),
    };
    let mut conn = if no_ledger {
        None
    } else {
        Some(db::connect(&opts.database)?)
    };
    let has_ledger = match conn.as_mut() {
        Some(conn) => ledger::exists(conn).map_err(ledger_err)?,
        None => false,
    };
    match conn.as_mut() {
        Some(conn) if has_ledger => review(conn, &scripts, &opts.rules).map_err(ledger_err),
        _ => Ok(scripts
            .iter()
            .map(|s| Review {
                id: s.id.clone(),
                name: s.name.clone(),
                checksum: s.checksum.clone(),
                approvals: Vec::new(),
                last_dry_run: None,
                missing: missing(s, &[], false, &opts.rules),
            })
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(checksum: &str) -> Script {
        Script {
            id: "20260101000000".into(),
            name: "fix".into(),
            kind: crate::script::ScriptKind::Sql,
            path: "one_off/20260101000000_fix.sql".into(),
            checksum: checksum.into(),
            description: String::new(),
            directives: Default::default(),
            text: None,
        }
    }

    fn approval(by: &str, checksum: &str) -> Approval {
        Approval {
            run_id: uuid::Uuid::new_v4().to_string(),
            script_id: "20260101000000".into(),
            environment: "production".into(),
            checksum: checksum.into(),
            approved_by: by.into(),
            reason: "reviewed".into(),
            approved_at: ledger::now(),
        }
    }

    fn rules(approvals: u32, require_dry_run: bool) -> Rules {
        Rules {
            environment: "production".into(),
            approvals,
            require_dry_run,
            runner: "bob".into(),
        }
    }

    #[test]
    fn an_approval_by_someone_else_of_this_checksum_and_a_rehearsal_clear_a_script() {
        let s = script("new");
        assert!(missing(&s, &[approval("alice", "new")], true, &rules(1, true)).is_empty());
    }

    #[test]
    fn the_runners_own_approval_does_not_count() {
        let m = missing(
            &script("new"),
            &[approval("bob", "new")],
            true,
            &rules(1, false),
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("your own approval does not count"), "{m:?}");
    }

    #[test]
    fn an_approval_of_an_older_checksum_does_not_count_and_says_so() {
        let m = missing(
            &script("new"),
            &[approval("alice", "old")],
            true,
            &rules(1, false),
        );
        assert!(
            m[0].contains("approval by alice is of an older version"),
            "{m:?}"
        );
    }

    #[test]
    fn two_approvals_by_one_person_count_once() {
        let both = [approval("alice", "new"), approval("alice", "new")];
        let m = missing(&script("new"), &both, true, &rules(2, false));
        assert!(m[0].contains("(1 so far)"), "{m:?}");
    }

    #[test]
    fn without_a_rehearsal_the_dry_run_is_missing() {
        let m = missing(&script("new"), &[], false, &rules(0, true));
        assert_eq!(m.len(), 1);
        assert!(m[0].contains("--dry-run 20260101000000"), "{m:?}");
    }
}
