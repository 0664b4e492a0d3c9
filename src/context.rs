//! What a Rust script gets: a [`Context`] over the attempt's connection,
//! inside the script's transaction. Everything it does goes through the
//! runner's attempt lifecycle (`runner::work::rust`), which owns the
//! transaction, the ledger and the after-commit effects.

use crate::db::{AnyConnection, Backend};

/// What a Rust script returns: `?` works on any error.
pub type ScriptResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A Rust script's entry point, `pub fn run(ctx: &mut Context) -> ScriptResult`.
pub type RunFn = for<'a, 'b> fn(&'a mut Context<'b>) -> ScriptResult;

/// An after-commit side effect.
pub(crate) type Effect = Box<dyn FnOnce() -> ScriptResult + Send + 'static>;

/// Why a [`Context`] call did not do what it was asked: a statement failed
/// or was refused, the script was stopped (timeout, Ctrl-C), or oneoff could
/// not commit a checkpoint. Return it (`?`): the attempt fails either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    message: String,
}

impl ScriptError {
    pub(crate) fn new(message: impl Into<String>) -> ScriptError {
        ScriptError {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScriptError {}

/// The unwinding payload of a Context call made after the script was
/// stopped (timeout, signal): the runner catches it and records the stop.
pub(crate) struct Stopped;

/// What the runner gives a Context; implemented by the Rust kind of work.
pub(crate) trait Host {
    /// Whether the script was stopped (timeout, signal) or its attempt
    /// already failed on oneoff's side.
    fn stopped(&self) -> bool;
    fn execute(&mut self, sql: &str) -> Result<usize, ScriptError>;
    fn conn(&mut self) -> &mut AnyConnection;
    fn backend(&self) -> Backend;
    fn is_dry_run(&self) -> bool;
    fn set_total(&mut self, total: u64);
    fn advance(&mut self, n: u64);
    fn checkpoint(&mut self, cursor: String) -> Result<(), ScriptError>;
    fn cursor(&self) -> Option<&str>;
    fn after_commit(&mut self, effect: Effect);
    fn log(&mut self, line: String);
    fn verify(&mut self, query: &str) -> Result<(), ScriptError>;
    /// Rows changed by `execute` in this attempt.
    fn rows_changed(&self) -> i64;
    fn record_change(&mut self, change: ExternalChange);
}

/// A change a Rust script made where oneoff cannot see it, as
/// [`Context::record_change`] recorded it (values as JSON text).
pub(crate) struct ExternalChange {
    pub target: String,
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What a Rust script gets: the attempt's connection inside the script's
/// transaction, progress, checkpoints and after-commit effects. A script
/// gets nothing else; oneoff commits (or, in a dry run, rolls back) when
/// it returns.
///
/// A timeout or Ctrl-C stops the statement in flight, and the script at
/// its next call on the Context (`execute` and `checkpoint` return an
/// error; the other calls unwind): computation between calls cannot be
/// interrupted.
///
/// # Example
///
/// ```no_run
/// // Give every customer a code, a thousand at a time
/// use oneoff::Context;
///
/// pub fn run(ctx: &mut Context) -> oneoff::ScriptResult {
///     let mut after: i64 = ctx.cursor().unwrap_or(0);
///     loop {
///         let sql = format!(
///             "UPDATE customers SET code = 'C' || id WHERE id > {after} AND id <= {}",
///             after + 1000
///         );
///         if ctx.execute(&sql)? == 0 {
///             break;
///         }
///         after += 1000;
///         ctx.advance(1000);
///         ctx.checkpoint(&after)?; // commits this batch with the cursor
///     }
///     ctx.log(format!("codes given up to id {after}"));
///     ctx.after_commit(|| {
///         println!("tell the team: customer codes are done");
///         Ok(())
///     });
///     Ok(())
/// }
/// ```
pub struct Context<'a> {
    host: &'a mut (dyn Host + 'a),
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("backend", &self.host.backend())
            .field("dry_run", &self.host.is_dry_run())
            .finish_non_exhaustive()
    }
}

/// The message of a post-condition that did not pass.
pub(crate) fn failed_message(failed: crate::runner::postconditions::Failed) -> String {
    use crate::runner::postconditions::Failed;
    match failed {
        Failed::Violated(message) => message,
        Failed::TxEnded => "the script's transaction ended while its post-condition ran".into(),
        Failed::Db(e) => format!("the post-condition could not run: {e}"),
    }
}

impl<'a> Context<'a> {
    pub(crate) fn new(host: &'a mut (dyn Host + 'a)) -> Context<'a> {
        Context { host }
    }

    /// Unwinds out of the script when it was stopped: the runner records
    /// the stop and rolls back.
    fn stop_point(&self) {
        if self.host.stopped() {
            std::panic::resume_unwind(Box::new(Stopped));
        }
    }

    /// Executes SQL (one statement or several, split as in an SQL script)
    /// in the script's transaction and returns the rows changed. The rules
    /// of SQL scripts apply: no transaction control, nothing on oneoff's
    /// own tables, no lock release.
    pub fn execute(&mut self, sql: &str) -> Result<usize, ScriptError> {
        self.host.execute(sql)
    }

    /// The connection, for typed diesel queries inside the script's
    /// transaction. Do not commit, roll back or open a transaction on it
    /// (no `conn.transaction(…)`): oneoff owns the transaction, and a
    /// script that ends it fails and is never retried on its own.
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.stop_point();
        self.host.conn()
    }

    /// The database's backend.
    pub fn backend(&self) -> Backend {
        self.host.backend()
    }

    /// Whether this is a dry run: the work is rolled back, checkpoints
    /// commit nothing and after-commit effects do not run.
    pub fn is_dry_run(&self) -> bool {
        self.host.is_dry_run()
    }

    /// How many units of work there are, for the progress bar, the ETA and
    /// `status` (kept with the next checkpoint).
    pub fn set_total(&mut self, total: u64) {
        self.stop_point();
        self.host.set_total(total);
    }

    /// `n` more units done.
    pub fn advance(&mut self, n: u64) {
        self.stop_point();
        self.host.advance(n);
    }

    /// Commits the work so far together with `cursor` and the progress in
    /// the ledger, and starts a new transaction: a killed or failed script
    /// resumes with `oneoff run --retry`, where [`Context::cursor`] returns
    /// this cursor. After-commit effects added so far run now.
    pub fn checkpoint<T: serde::Serialize + ?Sized>(
        &mut self,
        cursor: &T,
    ) -> Result<(), ScriptError> {
        let json = serde_json::to_string(cursor)
            .map_err(|e| ScriptError::new(format!("the cursor cannot be saved as JSON: {e}")))?;
        self.host.checkpoint(json)
    }

    /// The cursor of the last committed checkpoint (of an earlier attempt,
    /// or of this one), `None` on a first attempt. A cursor that does not
    /// read as `T` (the script changed its type) stops the script.
    pub fn cursor<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        self.stop_point();
        let json = self.host.cursor()?;
        match serde_json::from_str(json) {
            Ok(cursor) => Some(cursor),
            Err(e) => panic!(
                "the saved cursor {json} does not read as {}: {e}; keep the cursor's type, or `oneoff skip` this script and write a new one",
                std::any::type_name::<T>()
            ),
        }
    }

    /// Runs `effect` once the work before it committed (with the next
    /// checkpoint, or the script's end), in order, each recorded in the
    /// history. Never in a dry run, never for work rolled back; one that
    /// fails is recorded and reported, never run again, and the data
    /// change stays.
    pub fn after_commit<F>(&mut self, effect: F)
    where
        F: FnOnce() -> ScriptResult + Send + 'static,
    {
        self.stop_point();
        self.host.after_commit(Box::new(effect));
    }

    /// A line kept with the attempt in the history and shown in the output.
    pub fn log(&mut self, message: impl Into<String>) {
        self.stop_point();
        self.host.log(message.into());
    }

    /// A post-condition, as `-- oneoff:verify QUERY` is for an SQL script:
    /// `query` returns the rows that break a business rule, and runs in the
    /// script's transaction in a savepoint that is always rolled back (the
    /// rules of a verify query apply: one SELECT, WITH or VALUES, nothing on
    /// oneoff's tables). An error, showing the first rows returned, when it
    /// returns any: return it with `?` and the script's work rolls back.
    pub fn verify(&mut self, query: &str) -> Result<(), ScriptError> {
        self.stop_point();
        self.host.verify(query)
    }

    /// Records a change the script made outside the database, where
    /// oneoff cannot see it (a provider's API, a file, another service):
    /// `target` names what changed (`"stripe.customers"`), `key` which one,
    /// `old` and `new` its values before and after (`None` for a creation
    /// or a removal). Kept in the change log (`oneoff changes ID` lists it
    /// as operation `external`) with the work it belongs to: at the next
    /// checkpoint or the script's end, and with the ledger's record of a
    /// failed attempt too, since a rollback cannot undo it. Never kept in
    /// a dry run. `oneoff revert` cannot undo such a change and refuses the
    /// script, naming them: undo them yourself.
    ///
    /// ```no_run
    /// # fn demo(ctx: &mut oneoff::Context) -> oneoff::ScriptResult {
    /// ctx.record_change("crm.contacts", &42, Some(&"old@example.com"), Some(&"new@example.com"))?;
    /// # Ok(()) }
    /// ```
    pub fn record_change<K, V>(
        &mut self,
        target: &str,
        key: &K,
        old: Option<&V>,
        new: Option<&V>,
    ) -> Result<(), ScriptError>
    where
        K: serde::Serialize + ?Sized,
        V: serde::Serialize + ?Sized,
    {
        self.stop_point();
        let target = target.trim();
        if target.is_empty() {
            return Err(ScriptError::new(
                "ctx.record_change needs the name of what changed, like \"crm.contacts\"",
            ));
        }
        let change = ExternalChange {
            target: target.to_string(),
            key: change_json(target, "key", key)?,
            old: old
                .map(|v| change_json(target, "old value", v))
                .transpose()?,
            new: new
                .map(|v| change_json(target, "new value", v))
                .transpose()?,
        };
        self.host.record_change(change);
        Ok(())
    }

    /// A post-condition, as `-- oneoff:expect-rows RANGE` is for an SQL
    /// script: the rows changed by [`Context::execute`] in this attempt so
    /// far must be in `range` (`N`, `A..B`, `<=N` or `>=N`). An error
    /// otherwise: return it with `?` and the script's work rolls back.
    pub fn expect_rows(&mut self, range: &str) -> Result<(), ScriptError> {
        self.stop_point();
        let range =
            crate::script::postconditions::RowRange::parse(range).map_err(ScriptError::new)?;
        let rows = self.host.rows_changed();
        crate::runner::postconditions::expect_rows(range, rows, None)
            .map_err(|f| ScriptError::new(failed_message(f)))
    }
}

fn change_json<T: serde::Serialize + ?Sized>(
    target: &str,
    what: &str,
    value: &T,
) -> Result<String, ScriptError> {
    serde_json::to_string(value).map_err(|e| {
        ScriptError::new(format!(
            "ctx.record_change: the {what} of the change to {target} cannot be saved as JSON: {e}"
        ))
    })
}
