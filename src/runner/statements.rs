//! Executing a script's statements one by one, as they are read, and what
//! counts as rows changed. A stop (timeout, signal) asked for between
//! statements is honoured before the next one starts, and wins over the error
//! of a stopped statement. The text is hashed as it is read: statements of a
//! file that changed since it was checked fail the script after they ran,
//! so that its transaction is rolled back.

use diesel::prelude::*;

use super::outcome::{StatementResult, StatementResults};
use super::watchdog::{Stop, Watchdog};
use crate::db::{Backend, Db};
use crate::script::{rules, Dialect, Script, Statement, Statements};

/// A script's statements, read when they run (only one is held at a time).
#[derive(Debug, Clone, Copy)]
pub struct ScriptStatements<'a> {
    /// The script; its checksum is the text the statements must come from.
    pub script: &'a Script,
    /// How to split it.
    pub dialect: Dialect,
}

impl<'a> ScriptStatements<'a> {
    /// The statements from the start, as read now.
    pub(crate) fn stream(&self) -> Result<Statements<'a>, String> {
        self.script
            .stream(self.dialect)
            .map_err(|e| self.changed(&format!("unreadable: {e}")))
    }

    /// The statements to run, each checked against the static rules again
    /// just before it runs: the file was checked whole before the run, so a
    /// statement refused now was written since, and must not run at all.
    pub(crate) fn for_run(&self) -> Result<ToRun<'a>, String> {
        Ok(ToRun {
            of: *self,
            stream: self.stream()?,
            rules: rules::Checker::new(self.dialect, !self.script.directives.no_transaction),
        })
    }

    /// The message for a script whose text is not the one checked any more.
    pub(crate) fn changed(&self, now: &str) -> String {
        format!(
            "{}: the file changed while it ran (checksum {} when the run started and its statements were checked; {now}); run `oneoff run --retry` to check and run the file as it is now",
            self.script.path.display(),
            self.script.checksum
        )
    }

    /// Whether any statement matches `pred`, for a script whose text is in
    /// memory; a large script (read from disk each time) is assumed to.
    pub(crate) fn any_kept(&self, pred: impl Fn(&Statement) -> bool) -> bool {
        if self.script.text.is_none() {
            return true;
        }
        match self.stream() {
            Ok(mut stream) => stream.any(|s| s.map_or(true, |s| pred(&s))),
            Err(_) => true,
        }
    }

    /// On MySQL, the statements that may create a temporary table (few), read
    /// again for the engine to drop those tables after the script; none
    /// elsewhere, where nothing needs them.
    pub(crate) fn temporaries(&self) -> Vec<Statement> {
        if self.dialect != Dialect::Mysql || self.script.kind == crate::script::ScriptKind::Rust {
            return Vec::new();
        }
        let Ok(stream) = self.stream() else {
            return Vec::new();
        };
        stream
            .filter_map(Result::ok)
            .filter(creates_temporary)
            .collect()
    }
}

/// A statement that failed (or was stopped), with the results of those before it.
#[derive(Debug)]
pub(crate) struct StatementFailure {
    pub done: StatementResults,
    pub message: String,
    pub stop: Option<Stop>,
}

/// Runs the statements in order as they are read; stops at the first error
/// or stop, and fails after the last if the file changed while they ran.
pub(crate) fn execute_all(
    db: &mut Db,
    statements: ScriptStatements<'_>,
    watchdog: &Watchdog,
) -> Result<StatementResults, StatementFailure> {
    let mut done = StatementResults::default();
    let fail = |done, message| StatementFailure {
        done,
        message,
        stop: None,
    };
    let mut stream = match statements.for_run() {
        Ok(stream) => stream,
        Err(message) => return Err(fail(done, message)),
    };
    for statement in stream.by_ref() {
        let statement = match statement {
            Ok(statement) => statement,
            Err(message) => return Err(fail(done, message)),
        };
        match execute_one(db, &statement, watchdog) {
            Ok(result) => done.push(result),
            Err(StatementError { message, stop, .. }) => {
                return Err(StatementFailure {
                    done,
                    message,
                    stop,
                })
            }
        }
    }
    match stream.verify() {
        Some(message) => Err(fail(done, message)),
        None => Ok(done),
    }
}

/// The statements of a script as they run; see [`ScriptStatements::for_run`].
pub(crate) struct ToRun<'a> {
    of: ScriptStatements<'a>,
    stream: Statements<'a>,
    rules: rules::Checker,
}

impl ToRun<'_> {
    /// After the last statement: the error if the text read is not the text
    /// that was checked.
    pub(crate) fn verify(self) -> Option<String> {
        let now = self.stream.checksum();
        (now != self.of.script.checksum).then(|| self.of.changed(&format!("{now} now")))
    }
}

impl Iterator for ToRun<'_> {
    /// A statement, or why the file is not the one checked any more.
    type Item = Result<Statement, String>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.stream.next()? {
            Err(e) => Err(self.of.changed(&format!("now unreadable: {e}"))),
            Ok(s) => match self.rules.check(&s) {
                Some(v) => Err(self.of.changed(&format!("now refused: {v}"))),
                None => Ok(s),
            },
        })
    }
}

/// Whether a statement may create a temporary table (`CREATE` then, within
/// its next two words, `TEMPORARY`): what the engine looks at after a
/// script, so that a large script is not held to find the few.
fn creates_temporary(statement: &Statement) -> bool {
    let mut words = statement.text.split_whitespace();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("CREATE"))
        && words.take(3).any(|w| w.eq_ignore_ascii_case("TEMPORARY"))
}

/// Why one statement did not simply run.
#[derive(Debug)]
pub(crate) struct StatementError {
    pub message: String,
    pub stop: Option<Stop>,
    /// The statement ran to its end although a stop came during it (outside
    /// a transaction it is then committed).
    pub completed: Option<StatementResult>,
}

/// Runs one statement: its result, or why it did not run to a result.
/// What the database said about the statement just run: the notices its
/// connection received, and on MySQL its warnings (one `SHOW WARNINGS`,
/// only when there are any).
fn notices(db: &mut Db) -> Vec<String> {
    let (mut notices, dropped) = crate::db::notices::take();
    let warnings = crate::db::notices::take_mysql_warnings();
    if warnings > 0 {
        if let crate::db::AnyConnection::Mysql(conn) = &mut db.conn {
            notices.extend(mysql_warnings(conn, warnings));
        }
    }
    if dropped > 0 {
        notices.push(format!("{dropped} more notice(s) not kept"));
    }
    notices
}

/// The first warnings of the statement just run. Not `SHOW WARNINGS`:
/// diesel prepares every query, and preparing one clears the warnings; the
/// text protocol's `GET DIAGNOSTICS` keeps them, into user variables that
/// are read and cleared at once.
fn mysql_warnings(conn: &mut diesel::MysqlConnection, count: u32) -> Vec<String> {
    use diesel::connection::SimpleConnection;
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Warning {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        w: Option<String>,
    }
    let n = count.min(10);
    let gets: Vec<String> = (1..=n)
        .map(|i| format!("GET DIAGNOSTICS CONDITION {i} @oneoff_w{i} = MESSAGE_TEXT"))
        .collect();
    let read: Vec<String> = (1..=n)
        .map(|i| format!("SELECT CAST(@oneoff_w{i} AS CHAR) AS w"))
        .collect();
    let clear: Vec<String> = (1..=n).map(|i| format!("@oneoff_w{i} = NULL")).collect();
    let mut out = Vec::new();
    if let Err(e) = conn.batch_execute(&gets.join("; ")) {
        tracing::debug!("GET DIAGNOSTICS: {e}");
        return out;
    }
    for query in &read {
        if let Ok(Warning { w: Some(w) }) = diesel::sql_query(query).get_result::<Warning>(conn) {
            out.push(format!("Warning: {w}"));
        }
    }
    let _ = conn.batch_execute(&format!("SET {}", clear.join(", ")));
    if count > n {
        out.push(format!("{} more warning(s) not kept", count - n));
    }
    out
}

pub(crate) fn execute_one(
    db: &mut Db,
    statement: &Statement,
    watchdog: &Watchdog,
) -> Result<StatementResult, StatementError> {
    let at = format!("statement {} (line {})", statement.number, statement.line);
    if let Some(stop) = watchdog.stopped() {
        return Err(StatementError {
            message: format!("{} before {at}", describe(stop)),
            stop: Some(stop),
            completed: None,
        });
    }
    // Only this statement's: not those of oneoff's own queries before it.
    crate::db::notices::take();
    crate::db::notices::take_mysql_warnings();
    let mut result = diesel::sql_query(&statement.text).execute(&mut db.conn);
    // A revertible script's rows go to the change log before the next
    // statement (in its transaction and savepoints, memory bounded by one
    // statement's rows); failing that, the statement fails.
    if let Err(e) = db.flush_changes(result.is_ok()) {
        result = Err(diesel::result::Error::QueryBuilderError(
            format!("{e} (while recording its changes for -- oneoff:revertible)").into(),
        ));
    }
    let notices = notices(db);
    let result = result.map(|rows| StatementResult {
        number: statement.number,
        line: statement.line,
        rows_affected: if db.engine.counts_rows(&statement.text) {
            rows as i64
        } else {
            0
        },
        notices,
    });
    // A stopped statement may still return normally (MySQL's SLEEP does):
    // the stop wins, so that a timeout or signal always stops the script.
    if let Some(stop) = watchdog.stopped() {
        return Err(StatementError {
            message: format!("{} during {at}", describe(stop)),
            stop: Some(stop),
            completed: result.ok(),
        });
    }
    match result {
        Ok(done) => Ok(done),
        Err(e) => {
            let mut message = format!("{at}: {e}");
            if db.engine.backend() == Backend::Sqlite && e.to_string().contains("not authorized") {
                message.push_str(
                    " (it would change oneoff's own tables, which a script must not touch)",
                );
            }
            Err(StatementError {
                message,
                stop: None,
                completed: None,
            })
        }
    }
}

/// The words for a stop, as recorded in the ledger.
pub(crate) fn describe(stop: Stop) -> String {
    match stop {
        Stop::Timeout(limit) => format!("timeout after {}", humantime::format_duration(limit)),
        Stop::Cancelled => "cancelled by a signal".into(),
    }
}
