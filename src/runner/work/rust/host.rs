//! The calls a Rust script makes on its [`Context`](crate::Context), as the
//! attempt sees them: statements checked by the rules SQL scripts follow,
//! progress events, checkpoints that commit with the ledger, effects held
//! until their work committed, and the output lines.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use super::super::{begin, commit, Abort, GUARD};
use crate::context::{Effect, ExternalChange, Host, ScriptError};
use crate::db::{AnyConnection, Backend, Db};
use crate::ledger::{self, changes::ChangeRow, Claim, Progress};
use crate::runner::attempt::{Ctx, Ended, Job, Record};
use crate::runner::outcome::{Outcome, OutputLine, StatementResults};
use crate::runner::statements::{describe, execute_one};
use crate::runner::watchdog::Stop;
use crate::runner::RunEvent;
use crate::script::{rules, split};

/// At most this many output lines are kept per attempt; a last line says
/// how many more there were.
const MAX_OUTPUT: usize = 1000;

/// Why a Rust script's attempt ends without success.
pub(crate) enum Halt {
    /// Its time limit, or a signal.
    Stop(Stop),
    /// The script's error or panic.
    Script(String),
    /// oneoff's guard found the transaction ended, the ledger written, or
    /// the connection gone.
    Abort(Abort),
    /// The ledger row changed under the runner, or the lock was lost.
    Conflict(crate::error::Error),
}

/// One attempt of a Rust script.
pub(crate) struct RustRun<'r, 'c, 'j> {
    pub(super) ctx: &'r mut Ctx<'c>,
    pub(super) job: &'r Job<'j>,
    /// `None` in a dry run.
    pub(super) claim: Option<&'r Claim>,
    pub(super) transactional: bool,
    pub(super) progress: Progress,
    /// The progress as the ledger has it (at the start, or the last checkpoint).
    pub(super) committed: Progress,
    pub(super) total: Option<i64>,
    cursor: Option<String>,
    done: StatementResults,
    rules: rules::Checker,
    /// The guard's reading of oneoff's tables when the savepoint opened.
    before: String,
    effects: Vec<Effect>,
    /// External changes not yet written: they go with the next commit, or
    /// with the record of a failed attempt.
    pub(super) external: Vec<ChangeRow>,
    /// External changes recorded in this attempt, written or not.
    external_count: i64,
    output: Vec<OutputLine>,
    dropped_lines: usize,
    effects_failed: usize,
    started: Instant,
    /// oneoff's side failed (a checkpoint could not commit): the script
    /// stops at its next call, and the attempt fails.
    pub(super) halt: Option<Halt>,
    /// A statement failed (its error went to the script).
    pub(super) statement_failed: bool,
    /// A no-transaction script executed something the ledger does not know of.
    pub(super) executed_since_checkpoint: bool,
}

impl<'r, 'c, 'j> RustRun<'r, 'c, 'j> {
    pub(super) fn new(
        ctx: &'r mut Ctx<'c>,
        job: &'r Job<'j>,
        claim: Option<&'r Claim>,
        cursor: Option<String>,
    ) -> Self {
        let previous = claim.and_then(|c| c.previous.as_ref());
        let transactional = !job.script.directives.no_transaction;
        let dialect = crate::runner::dialect(ctx.db.engine.backend());
        let progress = Progress {
            rows_done: previous.and_then(|r| r.rows_affected).unwrap_or(0),
            batches: previous.and_then(|r| r.batches).unwrap_or(0),
            ..Progress::default()
        };
        RustRun {
            progress,
            committed: progress,
            total: previous.and_then(|r| r.rows_total),
            ctx,
            job,
            claim,
            transactional,
            cursor,
            done: StatementResults::default(),
            rules: rules::Checker::new(dialect, transactional),
            before: String::new(),
            effects: Vec::new(),
            external: Vec::new(),
            external_count: 0,
            output: Vec::new(),
            dropped_lines: 0,
            effects_failed: 0,
            started: Instant::now(),
            halt: None,
            statement_failed: false,
            executed_since_checkpoint: false,
        }
    }

    pub(super) fn db(&mut self) -> &mut Db {
        self.ctx.db
    }

    pub(super) fn claim_attempts(&self) -> i32 {
        self.claim.map_or(0, |c| c.attempts)
    }

    /// Opens the script's transaction (not in a dry run, which has its
    /// own) and the guard savepoint, with oneoff's tables watched.
    pub(super) fn open(&mut self) -> QueryResult<()> {
        if !self.transactional {
            return Ok(());
        }
        if self.claim.is_some() {
            begin(self.db())?;
        }
        let db = self.db();
        let before = db.engine.guard_ledger(&mut db.conn, true)?;
        db.conn.batch_execute(&format!("SAVEPOINT {GUARD}"))?;
        self.before = before;
        Ok(())
    }

    /// Closes the guard savepoint: the script must not have ended the
    /// transaction nor written oneoff's tables.
    pub(super) fn close_guard(&mut self) -> Result<(), Halt> {
        let after = self.last_statement();
        let db = self.db();
        let watched = db.engine.guard_ledger(&mut db.conn, false);
        if let Err(e) = db.conn.batch_execute(&format!("RELEASE SAVEPOINT {GUARD}")) {
            // PostgreSQL: a query failed (a typed one, through `conn()`)
            // and the script went on; the transaction is still oneoff's.
            if e.to_string().contains("current transaction is aborted") {
                return Err(Halt::Script(format!(
                    "a query failed and the script went on as if it had not ({e}); its work was rolled back: return the error (`?`)"
                )));
            }
            return Err(Halt::Abort(Abort::TxEnded { after }));
        }
        if db.engine.in_transaction(&mut db.conn) == Some(false) {
            return Err(Halt::Abort(Abort::TxEnded { after }));
        }
        let watched = watched.map_err(|e| Halt::Abort(Abort::Db(e)))?;
        if watched != self.before {
            return Err(Halt::Abort(Abort::LedgerTouched { after }));
        }
        Ok(())
    }

    /// Stops watching oneoff's tables (SQLite's authorizer would refuse
    /// oneoff's own ledger writes), on a path that does not close the guard.
    pub(super) fn disarm(&mut self) {
        let db = self.db();
        if let Err(e) = db.engine.guard_ledger(&mut db.conn, false) {
            tracing::debug!("disarming the ledger guard: {e}");
        }
    }

    fn last_statement(&self) -> usize {
        self.done.last().map_or(0, |r| r.number)
    }

    /// The rows the ledger records: the progress when the script counts
    /// it, else the rows its statements changed.
    /// What a failed attempt records: the progress its checkpoints
    /// committed, when the script counts progress.
    pub(super) fn committed_rows(&self) -> Option<i64> {
        let counts =
            self.progress.rows_done > 0 || self.total.is_some() || self.progress.batches > 0;
        counts.then_some(self.committed.rows_done)
    }

    pub(super) fn rows_for_ledger(&self) -> i64 {
        if self.progress.rows_done > 0 || self.total.is_some() {
            self.progress.rows_done
        } else {
            self.done.rows()
        }
    }

    fn report_progress(&mut self) {
        let event = RunEvent::Batch {
            id: &self.job.script.id,
            batches: self.progress.batches,
            rows_done: self.progress.rows_done,
            rows_total: self.total,
            elapsed: self.started.elapsed(),
        };
        (self.ctx.observe)(event);
    }

    fn line(&mut self, kind: &'static str, message: String) {
        if self.output.len() < MAX_OUTPUT {
            self.output.push(OutputLine { kind, message });
        } else {
            self.dropped_lines += 1;
        }
    }

    /// Runs the effects whose work committed, in order, each recorded.
    pub(super) fn run_effects(&mut self) {
        for effect in std::mem::take(&mut self.effects) {
            let result = catch_unwind(AssertUnwindSafe(effect));
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("panicked".to_string()),
            };
            let number = self.effects_run() + 1;
            match failure {
                None => self.line("effect", format!("after-commit effect {number} ran")),
                Some(e) => {
                    self.effects_failed += 1;
                    tracing::warn!(id = %self.job.script.id, "after-commit effect {number} failed: {e}");
                    self.line(
                        "effect",
                        format!("after-commit effect {number} failed: {e}; it is not run again, and the data change stays"),
                    );
                }
            }
        }
    }

    fn effects_run(&self) -> usize {
        self.output.iter().filter(|l| l.kind == "effect").count()
    }

    /// Effects whose work did not commit: recorded as not run.
    pub(super) fn drop_effects(&mut self, why: &str) {
        for _ in std::mem::take(&mut self.effects) {
            let number = self.effects_run() + 1;
            self.line(
                "effect",
                format!("after-commit effect {number} not run: {why}"),
            );
        }
    }

    /// The end of the attempt, with its statements, progress and output.
    pub(super) fn ended(
        &mut self,
        outcome: Outcome,
        error: Option<String>,
        record: Option<Record>,
    ) -> Ended {
        let mut ended = Ended::new(outcome, std::mem::take(&mut self.done), error);
        ended.record = record;
        if self.progress.batches > 0 || self.total.is_some() {
            let rows = if self.progress.attempt_rows > 0 || self.total.is_some() {
                self.progress.attempt_rows
            } else {
                ended.done.rows()
            };
            ended.batch = Some((rows, self.progress.attempt_batches, self.total));
        }
        if self.dropped_lines > 0 {
            let message = format!("{} more line(s) not kept", self.dropped_lines);
            self.output.push(OutputLine {
                kind: "truncated",
                message,
            });
        }
        ended.output = std::mem::take(&mut self.output);
        ended.effects_failed = self.effects_failed;
        ended
    }

    /// The end of a dry run: effects reported, never run.
    pub(super) fn dry_ended(&mut self, outcome: Outcome, error: Option<String>) -> Ended {
        self.drop_effects("dry run");
        let mut ended = self.ended(outcome, error, None);
        if ended.batch.is_some() {
            ended.reason = Some(format!(
                "checkpoints ({}) committed nothing: a dry run rolls everything back",
                self.progress.attempt_batches
            ));
        }
        ended
    }

    fn stop_error(&self) -> Option<ScriptError> {
        if let Some(halt) = &self.halt {
            let message = match halt {
                Halt::Stop(stop) => describe(*stop),
                _ => "oneoff could not commit a checkpoint; return this error".into(),
            };
            return Some(ScriptError::new(message));
        }
        self.ctx
            .watchdog
            .stopped()
            .map(|stop| ScriptError::new(describe(stop)))
    }

    /// Commits the work so far with the cursor and the progress, then opens
    /// the next transaction.
    fn commit_checkpoint(&mut self, cursor: &str) -> Result<(), Halt> {
        if self.transactional {
            self.close_guard()?;
        } else {
            begin(self.db()).map_err(|e| Halt::Abort(Abort::Db(e)))?;
        }
        let mut next = self.progress;
        next.batches += 1;
        next.attempt_batches += 1;
        next.duration_ms = self.started.elapsed().as_millis() as i64;
        self.record_progress(&next, false)?;
        let (id, run_id) = (&self.job.script.id, &self.ctx.attempt.run_id);
        ledger::script_state::save_cursor(&mut self.ctx.db.conn, id, run_id, cursor)
            .map_err(|e| Halt::Abort(Abort::Db(e)))?;
        commit(self.db()).map_err(|e| Halt::Abort(Abort::Db(e)))?;
        self.external.clear();
        self.progress = next;
        self.committed = next;
        self.executed_since_checkpoint = false;
        self.cursor = Some(cursor.to_string());
        self.run_effects();
        self.open().map_err(|e| Halt::Abort(Abort::Db(e)))?;
        Ok(())
    }
}

impl Host for RustRun<'_, '_, '_> {
    fn stopped(&self) -> bool {
        self.halt.is_some() || self.ctx.watchdog.stopped().is_some()
    }

    fn execute(&mut self, sql: &str) -> Result<usize, ScriptError> {
        if let Some(e) = self.stop_error() {
            return Err(e);
        }
        let dialect = crate::runner::dialect(self.backend());
        let statements = split::split(sql, dialect).map_err(|e| {
            ScriptError::new(format!("the SQL does not split into statements: {e}"))
        })?;
        if statements.is_empty() {
            return Err(ScriptError::new("no SQL statement to execute"));
        }
        let mut rows = 0;
        for mut statement in statements {
            statement.number = self.done.len() + 1;
            if let Some(v) = self.rules.check(&statement) {
                self.statement_failed = true;
                return Err(ScriptError::new(format!("refused, not executed: {v}")));
            }
            self.executed_since_checkpoint = true;
            match execute_one(self.ctx.db, &statement, self.ctx.watchdog) {
                Ok(result) => {
                    rows += result.rows_affected.max(0) as usize;
                    self.done.push(result);
                }
                Err(e) => {
                    self.statement_failed = true;
                    return Err(ScriptError::new(e.message));
                }
            }
        }
        Ok(rows)
    }

    fn verify(&mut self, query: &str) -> Result<(), ScriptError> {
        if let Some(e) = self.stop_error() {
            return Err(e);
        }
        if !self.transactional {
            return Err(ScriptError::new(
                "ctx.verify needs the script's transaction to roll back when it fails, and a `oneoff:no-transaction` script has none: check without it, or drop `// oneoff:no-transaction`",
            ));
        }
        let dialect = crate::runner::dialect(self.backend());
        crate::runner::postconditions::verify(self.ctx.db, dialect, query, None).map_err(|f| {
            if !matches!(f, crate::runner::postconditions::Failed::Violated(_)) {
                self.statement_failed = true;
            }
            ScriptError::new(crate::context::failed_message(f))
        })
    }

    fn rows_changed(&self) -> i64 {
        self.done.iter().map(|r| r.rows_affected.max(0)).sum()
    }

    fn conn(&mut self) -> &mut AnyConnection {
        self.executed_since_checkpoint = true;
        &mut self.ctx.db.conn
    }

    fn backend(&self) -> Backend {
        self.ctx.db.engine.backend()
    }

    fn is_dry_run(&self) -> bool {
        self.claim.is_none()
    }

    fn set_total(&mut self, total: u64) {
        self.total = Some(total as i64);
        self.report_progress();
    }

    fn advance(&mut self, n: u64) {
        self.progress.rows_done += n as i64;
        self.progress.attempt_rows += n as i64;
        self.report_progress();
    }

    fn checkpoint(&mut self, cursor: String) -> Result<(), ScriptError> {
        if let Some(e) = self.stop_error() {
            return Err(e);
        }
        if self.claim.is_none() {
            self.progress.batches += 1;
            self.progress.attempt_batches += 1;
            self.cursor = Some(cursor);
            self.report_progress();
            return Ok(());
        }
        if let Err(halt) = self.commit_checkpoint(&cursor) {
            if self.transactional {
                super::super::rollback(self.db());
            }
            self.halt = Some(halt);
            return Err(self.stop_error().expect("halted"));
        }
        self.report_progress();
        Ok(())
    }

    fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    fn after_commit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    fn log(&mut self, line: String) {
        tracing::info!(id = %self.job.script.id, "{line}");
        self.line("log", line);
    }

    fn record_change(&mut self, change: ExternalChange) {
        if self.claim.is_none() {
            let line = format!(
                "external change to {} {} (a dry run keeps none)",
                change.target, change.key
            );
            self.line("log", line);
            return;
        }
        self.external_count += 1;
        self.external.push(ChangeRow {
            script_id: self.job.script.id.clone(),
            run_id: self.ctx.attempt.run_id.clone(),
            seq: self.external_count,
            table_name: change.target,
            op: ledger::changes::EXTERNAL.to_string(),
            row_key: change.key,
            old_values: change.old,
            new_values: change.new,
        });
    }
}
