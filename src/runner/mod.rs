//! Executes a plan: takes the run lock, brings the ledger schema up to date,
//! turns rows left `running` by a dead runner into `interrupted`, plans, and
//! runs each selected script with its ledger update in one transaction.
//! Progress goes to an observer; nothing here prints.

pub mod attempt;
mod before;
mod dry;
mod embedded;
mod group;
mod noop;
pub mod outcome;
pub mod postconditions;
mod prepare;
mod results;
pub mod session;
mod statements;
pub mod watchdog;
pub mod work;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::db::{Backend, DatabaseUrl, Db};
use crate::error::{Error, Result};
use crate::ledger::{self, Attempt};
use crate::plan::{Plan, Selection};
use crate::script::{Dialect, IgnoredFile, Script};
use attempt::{Ctx, Job};
pub use embedded::Runner;
pub use outcome::{Outcome, ScriptOutcome, StatementResults};
pub(crate) use session::refuse_newer_ledger;
pub use session::Session;
pub use watchdog::CancelToken;
use watchdog::Watchdog;

/// What `oneoff run` was asked to do, free of any command-line types.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The target database.
    pub database: DatabaseUrl,
    /// The script directory (when the scripts are not embedded).
    pub dir: PathBuf,
    /// Where the scripts come from: `dir`, or compiled into the binary.
    pub scripts: crate::Scripts,
    /// Only these ids (all when empty).
    pub ids: Vec<String>,
    /// Re-attempt failed and interrupted scripts first.
    pub retry: bool,
    /// Execute and always roll back; the ledger rows stay untouched.
    pub dry_run: bool,
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
    /// Time limit per script (a `-- oneoff:timeout` directive overrides it).
    pub timeout: Option<Duration>,
    /// Stops the run from another thread (a signal handler).
    pub cancel: CancelToken,
    /// Sleep between the batches of batched scripts (the longer of this and
    /// a script's `-- oneoff:pause` applies).
    pub pause: Option<Duration>,
    /// Stop a batched script after this many batches in one run.
    pub max_batches: Option<u64>,
    /// The environment of oneoff.toml, recorded with the run.
    pub environment: Option<String>,
    /// A protected environment's approval and rehearsal rules, checked
    /// under the run lock before anything runs (not for a dry run).
    pub gate: Option<crate::protect::Rules>,
    /// `run ID --again --reason TEXT`: run the named reverted scripts once
    /// more; the reason is kept in the history.
    pub again: Option<String>,
}

/// Progress of a run, for the caller to render as it happens.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The scripts to run are known.
    Start {
        /// Redacted database URL.
        database: &'a str,
        /// How many scripts will run.
        scripts: usize,
        /// Whether this is a dry run.
        dry_run: bool,
    },
    /// A script is about to run (1-based `index` of `of`).
    ScriptStarted {
        /// Position in the run.
        index: usize,
        /// Scripts in the run.
        of: usize,
        /// Script id.
        id: &'a str,
        /// Script name.
        name: &'a str,
    },
    /// A batched script committed a batch (also sent once before the first).
    Batch {
        /// Script id.
        id: &'a str,
        /// Batches committed so far, over all attempts.
        batches: i64,
        /// Rows changed so far, over all attempts.
        rows_done: i64,
        /// Rows to do, when `-- oneoff:total` counted them.
        rows_total: Option<i64>,
        /// Time since this run started the script.
        elapsed: Duration,
    },
    /// A script finished.
    ScriptFinished(&'a ScriptOutcome),
}

/// A succeeded script whose file changed after it ran.
#[derive(Debug, Clone, Serialize)]
pub struct ModifiedScript {
    /// Script id.
    pub id: String,
    /// Script name.
    pub name: String,
    /// Checksum recorded when it ran.
    pub recorded_checksum: String,
    /// Checksum of the file now.
    pub checksum: String,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Redacted database URL.
    pub database: String,
    /// The environment of oneoff.toml, if one was selected.
    pub environment: Option<String>,
    /// The run's id, also in `oneoff_runs.run_id`.
    pub run_id: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Per script, in the order run; stops at the first failure or cancellation.
    pub scripts: Vec<ScriptOutcome>,
    /// Scripts that were due but not run because the run stopped early.
    pub not_run: Vec<String>,
    /// A signal stopped the run.
    pub cancelled: bool,
    /// Scripts found `running` from a dead runner and marked `interrupted`.
    pub interrupted: Vec<String>,
    /// Succeeded scripts whose files changed (reported, never re-run).
    pub modified: Vec<ModifiedScript>,
    /// Files in the script directory that are not scripts.
    pub ignored: Vec<IgnoredFile>,
}

impl RunReport {
    /// The first failed script, if any.
    pub fn failure(&self) -> Option<&ScriptOutcome> {
        self.scripts.iter().find(|s| s.failed())
    }
}

/// Runs the selected scripts. A failing script ends the run with `Ok` and a
/// report whose [`RunReport::failure`] is set, a signal with
/// [`RunReport::cancelled`]; `Err` is for everything that stops the run
/// before or outside a script (exit 2 or 3), including a script whose
/// ledger row changed under the runner or a lost run lock.
pub fn run(opts: &RunOptions, observe: &mut dyn FnMut(RunEvent<'_>)) -> Result<RunReport> {
    let dialect = dialect(opts.database.backend());
    let before::Checked {
        set,
        db,
        mut checked,
        nothing_to_do,
    } = before::check(opts, dialect)?;
    if let Some(modified) = nothing_to_do {
        return Ok(noop::report(modified, set.ignored, opts, observe));
    }
    let Session {
        mut db,
        database,
        run_by,
        interrupted,
    } = Session::lock(db, &opts.database, opts.lock_timeout)?;
    let ledger_err = |e: &dyn std::fmt::Display| Error::Ledger {
        database: database.clone(),
        message: opts.database.scrub(&e.to_string()),
    };
    let rows = ledger::rows(&mut db.conn).map_err(|e| ledger_err(&e))?;
    let plan = build_plan(set.scripts, rows, &database)?;
    let modified = modified_scripts(&plan);
    warn_out_of_order(&plan);
    let selected = plan.select(&Selection {
        ids: opts.ids.clone(),
        retry: opts.retry,
        again: opts.again.is_some(),
    })?;
    let prepared = prepare::prepare(&selected, dialect, &opts.scripts, &mut checked)?;
    let run_id = uuid::Uuid::new_v4().to_string();
    if let Err(e) = gate_and_record(&mut db, &prepared, opts, &run_id, &ledger_err) {
        let _ = ledger::clear_lock_holder(&mut db.conn);
        return Err(e);
    }
    if let (Some(reason), false) = (&opts.again, opts.dry_run) {
        record_again(&mut db, &selected, reason, &run_by).map_err(|e| ledger_err(&e))?;
    }
    let mut jobs = jobs(&prepared, opts);
    for job in jobs.iter_mut().filter(|j| j.script.directives.revertible) {
        job.tracked = Some(crate::capture::preflight(
            &mut db.conn,
            job.script,
            dialect,
        )?);
    }
    // Declared after the connection so that it stops before the connection closes.
    let watchdog = Watchdog::start(&opts.cancel, &mut db).map_err(|e| ledger_err(&e))?;
    let mut report = RunReport {
        database: database.clone(),
        environment: opts.environment.clone(),
        run_id,
        dry_run: opts.dry_run,
        scripts: Vec::new(),
        not_run: Vec::new(),
        cancelled: false,
        interrupted: interrupted.iter().map(|r| r.id.clone()).collect(),
        modified,
        ignored: set.ignored,
    };
    observe(RunEvent::Start {
        database: &database,
        scripts: jobs.len(),
        dry_run: opts.dry_run,
    });
    let attempt = Attempt {
        run_id: report.run_id.clone(),
        run_by,
        started_at: ledger::now(),
    };
    let mut ctx = Ctx {
        db: &mut db,
        watchdog: &watchdog,
        attempt,
        observe,
        url: &opts.database,
        database: &database,
        started: std::time::Instant::now(),
        group: None,
    };
    let result = if opts.dry_run {
        dry::dry_run_all(&mut ctx, &jobs, &mut report.scripts)
    } else {
        run_each(&mut ctx, &jobs, &mut report.scripts)
    };
    report.cancelled = watchdog.cancelled();
    // In order; a script rolled back with its group is not run either.
    let ran: std::collections::HashSet<&str> =
        report.scripts.iter().map(|s| s.id.as_str()).collect();
    report.not_run = jobs
        .iter()
        .filter(|j| !ran.contains(j.script.id.as_str()))
        .map(|j| j.script.id.clone())
        .collect();
    drop(watchdog);
    result?;
    if report.scripts.iter().any(|s| s.connection_lost) {
        return Ok(report);
    }
    record_output(&mut db, &report);
    ledger::clear_lock_holder(&mut db.conn).map_err(|e| ledger_err(&e))?;
    db.engine.unlock(&mut db.conn).map_err(|e| ledger_err(&e))?;
    Ok(report)
}

/// Keeps what each script's attempt printed in `oneoff_output` (after its
/// outcome is recorded: the output is the audit trail, not the ledger, and
/// a failure to keep it is a warning, not a failed run). One transaction for
/// the whole run, so that keeping the output costs one commit, not one per
/// script.
fn record_output(db: &mut Db, report: &RunReport) {
    use ledger::output::{Kind, OutputWriter};
    let writers: Vec<OutputWriter> = report
        .scripts
        .iter()
        .filter(|o| o.outcome != Outcome::NotExecuted)
        .map(|out| {
            let mut lines = OutputWriter::new(&report.run_id, &out.id);
            for s in out.statements.iter() {
                let message = format!(
                    "statement {} (line {}): {} row(s)",
                    s.number, s.line, s.rows_affected
                );
                lines.push(Kind::Statement, &message);
                for notice in &s.notices {
                    lines.push(Kind::Notice, notice);
                }
            }
            for line in &out.output {
                let kind = if line.kind == "effect" {
                    Kind::Effect
                } else {
                    Kind::Log
                };
                lines.push(kind, &line.message);
            }
            if let Some(error) = &out.error {
                lines.push(Kind::Error, error);
            }
            lines
        })
        .collect();
    if writers.is_empty() {
        return;
    }
    let written = work::in_tx(db, |db| {
        writers.iter().try_for_each(|w| w.write(&mut db.conn))
    });
    if let Err(e) = written {
        tracing::warn!("could not keep the output of the run's attempts: {e}");
    }
}

/// Under the run lock, before anything runs: refuses scripts a protected
/// environment's gate does not clear (not for a dry run, which is the
/// rehearsal), then records who runs, from where, as which database user.
fn gate_and_record(
    db: &mut Db,
    prepared: &[prepare::Prepared<'_>],
    opts: &RunOptions,
    run_id: &str,
    ledger_err: &dyn Fn(&dyn std::fmt::Display) -> Error,
) -> Result<()> {
    if let (Some(rules), false) = (&opts.gate, opts.dry_run) {
        let scripts: Vec<&Script> = prepared.iter().map(|p| p.script).collect();
        let reviews =
            crate::protect::review(&mut db.conn, &scripts, rules).map_err(|e| ledger_err(&e))?;
        crate::protect::refuse_missing(&reviews, &rules.environment)?;
    }
    let command = if opts.dry_run { "dry-run" } else { "run" };
    ledger::audit::Invocation::now(run_id, command, opts.environment.as_deref(), &mut db.conn)
        .and_then(|inv| inv.insert(&mut db.conn))
        .map_err(|e| ledger_err(&e))
}

/// The prepared scripts as jobs, with the run's limits.
fn jobs<'a>(prepared: &'a [prepare::Prepared<'a>], opts: &RunOptions) -> Vec<Job<'a>> {
    prepared
        .iter()
        .map(|p| Job {
            script: p.script,
            statements: statements::ScriptStatements {
                script: p.script,
                dialect: dialect(opts.database.backend()),
            },
            row: p.row,
            timeout: p.script.directives.timeout.or(opts.timeout),
            limits: work::batch::BatchLimits {
                pause: p.script.directives.pause.max(opts.pause),
                max_batches: opts.max_batches,
            },
            resume_after: p.resume_after,
            tracked: None,
            rust: opts.scripts.function(&p.script.id),
        })
        .collect()
}

/// Runs the jobs in order, stopping at the first failure, cancellation or
/// lost connection; `Err` (a conflict) stops the run at once. Scripts that
/// succeeded in a group are reported when it commits.
fn run_each(ctx: &mut Ctx<'_>, jobs: &[Job<'_>], outcomes: &mut Vec<ScriptOutcome>) -> Result<()> {
    let markers: Vec<_> = jobs
        .iter()
        .filter(|job| attempt::defers_claim(ctx, job))
        .map(|job| {
            let s = job.script;
            ledger::in_flight::InFlight::new((&s.id, &s.name, &s.checksum), job.row, &ctx.attempt)
        })
        .collect();
    ctx.db
        .engine
        .plan_in_flight(&mut ctx.db.conn, &markers)
        .map_err(|e| {
            let message = format!("cannot list the scripts that may run in flight: {e}");
            // No rights on the sequence: the grant hint, exit 2.
            session::access_error(ctx.url, ctx.database, &message)
        })?;
    let mut held = Vec::new();
    let result = each_job(ctx, jobs, outcomes, &mut held, |ctx, job| {
        ctx.attempt.started_at = ledger::now();
        attempt::run(ctx, job)
    });
    let ended = group::end(ctx, &mut held, outcomes);
    result.and(ended)
}

/// The loop a run and a dry run share: each job in order, announced and
/// reported, until one fails, is cancelled or loses its connection, or a
/// signal stops the run; `Err` from `step` stops it at once. An outcome
/// `step` holds (it succeeded in a group of scripts not yet committed) goes
/// to `held` and is reported when its group ends (see [`group`]).
fn each_job(
    ctx: &mut Ctx<'_>,
    jobs: &[Job<'_>],
    outcomes: &mut Vec<ScriptOutcome>,
    held: &mut Vec<ScriptOutcome>,
    mut step: impl FnMut(&mut Ctx<'_>, &Job<'_>) -> Result<ScriptOutcome>,
) -> Result<()> {
    for (index, job) in jobs.iter().enumerate() {
        if ctx.watchdog.cancelled() {
            break;
        }
        (ctx.observe)(RunEvent::ScriptStarted {
            index: index + 1,
            of: jobs.len(),
            id: &job.script.id,
            name: &job.script.name,
        });
        ctx.started = std::time::Instant::now();
        let outcome = step(ctx, job)?;
        if outcome.held {
            held.push(outcome);
            group::after_held(ctx, job, jobs.get(index + 1), held, outcomes)?;
            continue;
        }
        group::end(ctx, held, outcomes)?;
        (ctx.observe)(RunEvent::ScriptFinished(&outcome));
        let stop = outcome.failed() || outcome.cancelled() || outcome.connection_lost;
        outcomes.push(outcome);
        if stop {
            break;
        }
    }
    Ok(())
}

/// Pending scripts older than one that already succeeded (merged late from
/// a branch): they run, after scripts that were written later.
fn warn_out_of_order(plan: &Plan) {
    for late in plan.out_of_order() {
        tracing::warn!(
            id = %late.entry.id,
            name = %late.entry.name,
            "out of order: older than {} ({}), which already succeeded; it runs now, after it",
            late.after.id,
            late.after.name
        );
    }
}

/// Keeps who asked to run a reverted script again, when and why, in the
/// history (a row of its own, before the attempt).
fn record_again(
    db: &mut Db,
    selected: &[&crate::plan::PlanEntry],
    reason: &str,
    run_by: &str,
) -> diesel::QueryResult<()> {
    for entry in selected
        .iter()
        .filter(|e| e.status == ledger::Status::Reverted)
    {
        let attempt = Attempt {
            run_id: uuid::Uuid::new_v4().to_string(),
            run_by: run_by.to_string(),
            started_at: ledger::now(),
        };
        work::in_tx(db, |db| {
            ledger::insert_history(
                &mut db.conn,
                (
                    &entry.id,
                    entry.script.as_ref().map(|s| s.checksum.as_str()),
                ),
                &attempt,
                "run_again",
                false,
                Some(reason),
            )
        })?;
    }
    Ok(())
}

pub(crate) fn warn_ignored(ignored: &[IgnoredFile]) {
    for file in ignored {
        tracing::warn!(file = %file.path.display(), "ignored, never run: {}", file.reason);
    }
}

/// The statement-splitting dialect of a backend.
pub fn dialect(backend: Backend) -> Dialect {
    match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
        Backend::Mysql => Dialect::Mysql,
    }
}

/// Builds the plan, turning an unknown ledger status into a clear error.
pub fn build_plan(
    scripts: Vec<Script>,
    rows: Vec<ledger::LedgerRow>,
    database: &str,
) -> Result<Plan> {
    Plan::build(scripts, rows).map_err(|u| Error::BadLedger {
        database: database.to_string(),
        message: format!(
            "script {} has unknown status `{}` in oneoff_ledger; it was written by a newer oneoff or by hand: upgrade oneoff or correct the row",
            u.id, u.status
        ),
    })
}

fn modified_scripts(plan: &Plan) -> Vec<ModifiedScript> {
    plan.modified()
        .filter_map(|e| {
            let recorded = &e.row.as_ref()?.checksum;
            Some(ModifiedScript::noted(e.script.as_ref()?, recorded))
        })
        .collect()
}

impl ModifiedScript {
    /// A succeeded script whose file no longer has the checksum its row
    /// records, with a warning that it will not run again.
    fn noted(script: &Script, recorded: &str) -> ModifiedScript {
        let checksum = &script.checksum;
        tracing::warn!(id = %script.id, name = %script.name, %recorded, %checksum, "file changed after the script succeeded; it will not run again");
        ModifiedScript {
            id: script.id.clone(),
            name: script.name.clone(),
            recorded_checksum: recorded.to_string(),
            checksum: checksum.clone(),
        }
    }
}
