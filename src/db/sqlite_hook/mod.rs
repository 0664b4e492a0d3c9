//! SQLite's pre-update hook, for a revertible script's change log: a Rust
//! callback sees the old and new values of every row this connection
//! inserts, updates or deletes, and copies those of the tracked tables into
//! memory; after each statement they go to `oneoff_changes` through one
//! prepared statement per table and operation, in the script's transaction.
//! Much cheaper than a trigger per row (see the README's cost table).
//!
//! The hook exists only in a library built with `SQLITE_ENABLE_PREUPDATE_HOOK`
//! (Debian's is): its functions are looked up when first needed, so that a
//! library without them loads all the same and the capture falls back to
//! triggers. A hook belongs to one connection: other connections' writes
//! never reach it.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

mod callback;
mod row;

use callback::on_change;

use row::{Form, Op, Row, Value};

type Callback = unsafe extern "C" fn(
    *mut c_void,
    *mut ffi::sqlite3,
    c_int,
    *const c_char,
    *const c_char,
    i64,
    i64,
);
type InstallFn =
    unsafe extern "C" fn(*mut ffi::sqlite3, Option<Callback>, *mut c_void) -> *mut c_void;
type ValueFn =
    unsafe extern "C" fn(*mut ffi::sqlite3, c_int, *mut *mut ffi::sqlite3_value) -> c_int;
type CountFn = unsafe extern "C" fn(*mut ffi::sqlite3) -> c_int;

/// The hook's functions, found in the loaded SQLite library.
struct Api {
    install: InstallFn,
    old: ValueFn,
    new: ValueFn,
    count: CountFn,
}

/// Forces the trigger capture (for tests of the fallback, and a way out
/// should the hook misbehave somewhere).
pub(crate) const FORCE_TRIGGERS: &str = "ONEOFF_SQLITE_CAPTURE";

fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(|| {
        if std::env::var(FORCE_TRIGGERS).is_ok_and(|v| v == "triggers") {
            return None;
        }
        let find = |name: &CStr| {
            // SAFETY: dlsym with a NUL-terminated name; NULL when absent.
            let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!f.is_null()).then_some(f)
        };
        let install = find(c"sqlite3_preupdate_hook")?;
        let old = find(c"sqlite3_preupdate_old")?;
        let new = find(c"sqlite3_preupdate_new")?;
        let count = find(c"sqlite3_preupdate_count")?;
        // SAFETY: these are SQLite's own functions, whose signatures are
        // those of sqlite3.h (and of libsqlite3-sys's bindings).
        unsafe {
            Some(Api {
                install: std::mem::transmute::<*mut c_void, InstallFn>(install),
                old: std::mem::transmute::<*mut c_void, ValueFn>(old),
                new: std::mem::transmute::<*mut c_void, ValueFn>(new),
                count: std::mem::transmute::<*mut c_void, CountFn>(count),
            })
        }
    })
    .as_ref()
}

/// Whether this process's SQLite has the pre-update hook.
pub(crate) fn available() -> bool {
    api().is_some()
}

/// A table whose changes the hook records.
#[derive(Debug, Clone)]
pub(crate) struct HookTable {
    /// The database it lives in (`main`, or an attached one's name).
    pub schema: String,
    /// Its name.
    pub name: String,
    /// The name stored in `table_name`.
    pub label: String,
    /// Every column, in table order (the hook's column numbers).
    pub columns: Vec<String>,
    /// The positions of the primary key's columns in `columns`.
    pub key: Vec<usize>,
}

/// What the hook writes to: the changes of the statement running.
struct State {
    api: &'static Api,
    tables: Vec<HookTable>,
    rows: Vec<Row>,
    /// The JSON of the rows kept as text ([`Form::Json`]).
    text: String,
    /// The values of the rows kept as values ([`Form::Values`]).
    values: Vec<Value>,
    /// The values of the row the hook is looking at.
    scratch: Vec<*mut ffi::sqlite3_value>,
    error: Option<String>,
}

impl State {
    fn clear(&mut self) {
        self.rows.clear();
        self.text.clear();
        self.values.clear();
    }
}

/// The hook installed on one connection, with its statements. Dropped
/// before the connection closes (see [`super::Db`]): it removes the hook
/// and finalizes its statements.
pub(crate) struct PreupdateLog {
    api: &'static Api,
    db: *mut ffi::sqlite3,
    state: *mut State,
    /// One INSERT into `oneoff_changes` of JSON text, for every table.
    text_insert: *mut ffi::sqlite3_stmt,
    /// The same for [`BATCH`] rows at once.
    batch_insert: *mut ffi::sqlite3_stmt,
    /// One INSERT into `oneoff_changes` of values per table and operation.
    statements: Vec<*mut ffi::sqlite3_stmt>,
    seq: i64,
    recorded: i64,
}

// SAFETY: used only on the thread that runs the connection's statements;
// the log moves with the connection it belongs to, like the connection.
unsafe impl Send for PreupdateLog {}

impl PreupdateLog {
    /// Prepares the statements (now: the ledger guard refuses them once the
    /// script runs) and installs the hook. `None` when this SQLite has no
    /// hook.
    pub(crate) fn install(
        handle: &super::SqliteInterrupt,
        tables: Vec<HookTable>,
        script_id: &str,
        run_id: &str,
    ) -> Option<Result<PreupdateLog, String>> {
        let api = api()?;
        let db = handle.raw();
        let state = Box::into_raw(Box::new(State {
            api,
            tables,
            rows: Vec::new(),
            text: String::new(),
            values: Vec::new(),
            scratch: Vec::new(),
            error: None,
        }));
        let mut log = PreupdateLog {
            api,
            db,
            state,
            text_insert: std::ptr::null_mut(),
            batch_insert: std::ptr::null_mut(),
            statements: Vec::new(),
            seq: 0,
            recorded: 0,
        };
        // SAFETY: `state` is ours until Drop; the statements are finalized there.
        let tables = unsafe { &(*state).tables };
        match log.prepare(&text_insert_sql(1), script_id, run_id) {
            Ok(stmt) => log.text_insert = stmt,
            Err(e) => return Some(Err(e)),
        }
        match log.prepare(&text_insert_sql(BATCH), script_id, run_id) {
            Ok(stmt) => log.batch_insert = stmt,
            Err(e) => return Some(Err(e)),
        }
        for table in tables {
            for op in [Op::Insert, Op::Update, Op::Delete] {
                let sql = insert_sql(table, op);
                match log.prepare(&sql, script_id, run_id) {
                    Ok(stmt) => log.statements.push(stmt),
                    Err(e) => return Some(Err(e)),
                }
            }
        }
        log.hook(true);
        Some(Ok(log))
    }

    fn hook(&self, on: bool) {
        // SAFETY: `state` outlives the hook, which Drop removes.
        unsafe {
            match on {
                true => (self.api.install)(self.db, Some(on_change), self.state.cast()),
                false => (self.api.install)(self.db, None, std::ptr::null_mut()),
            };
        }
    }

    fn error(&self) -> String {
        // SAFETY: the connection is open; the message is NUL-terminated.
        unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) }
            .to_string_lossy()
            .into_owned()
    }

    fn prepare(
        &self,
        sql: &str,
        script_id: &str,
        run_id: &str,
    ) -> Result<*mut ffi::sqlite3_stmt, String> {
        let sql = CString::new(sql).map_err(|e| e.to_string())?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: a prepare on an open connection; bound texts are copied.
        unsafe {
            if ffi::sqlite3_prepare_v2(self.db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
                != ffi::SQLITE_OK
            {
                return Err(self.error());
            }
            for (i, text) in [(1, script_id), (2, run_id)] {
                let len = text.len() as c_int;
                let ptr = text.as_ptr().cast();
                ffi::sqlite3_bind_text(stmt, i, ptr, len, ffi::SQLITE_TRANSIENT());
            }
        }
        Ok(stmt)
    }

    /// The changes recorded so far.
    pub(crate) fn recorded(&self) -> i64 {
        self.recorded
    }

    /// Forgets the changes of a statement that failed (it was rolled back).
    pub(crate) fn discard(&mut self) {
        // SAFETY: the hook does not run while the caller holds the connection.
        unsafe { &mut *self.state }.clear();
    }

    /// Writes the changes of the statement that just ran to `oneoff_changes`.
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        // SAFETY: between statements: the hook is not running.
        let state = unsafe { &mut *self.state };
        let result = match state.error.take() {
            Some(e) => Err(e),
            None if state.rows.is_empty() => Ok(()),
            None => {
                // Off while oneoff writes: its own rows are not the script's.
                self.hook(false);
                let written = self.write(state);
                self.hook(true);
                written
            }
        };
        state.clear();
        result
    }

    /// Writes the rows in order: runs of [`BATCH`] rows kept as text with
    /// one multi-row INSERT each, the others one by one.
    fn write(&mut self, state: &State) -> Result<(), String> {
        let rows = &state.rows;
        let mut i = 0;
        while i < rows.len() {
            let full = rows.len() - i >= BATCH;
            if full && rows[i..i + BATCH].iter().all(Row::is_text) {
                let stmt = self.batch_insert;
                for (j, row) in rows[i..i + BATCH].iter().enumerate() {
                    self.seq += 1;
                    // SAFETY: see `step`.
                    unsafe { bind_text_row(stmt, (6 * j) as c_int, row, state, self.seq) };
                }
                self.step(stmt)?;
                self.recorded += BATCH as i64;
                i += BATCH;
                continue;
            }
            let row = &rows[i];
            self.seq += 1;
            // SAFETY: see `step`.
            let stmt = unsafe {
                match row.form {
                    Form::Json { .. } => {
                        bind_text_row(self.text_insert, 0, row, state, self.seq);
                        self.text_insert
                    }
                    Form::Values { start } => self.bind_values(row, start, state),
                }
            };
            self.step(stmt)?;
            self.recorded += 1;
            i += 1;
        }
        Ok(())
    }

    /// Binds a row kept as values to its table's statement for its operation.
    ///
    /// # Safety
    /// See [`PreupdateLog::step`].
    unsafe fn bind_values(&self, row: &Row, start: usize, state: &State) -> *mut ffi::sqlite3_stmt {
        let table = &state.tables[row.table as usize];
        let stmt = self.statements[row.table as usize * 3 + row.op as usize];
        let n = table.columns.len();
        let sides = match row.op {
            Op::Insert => [None, Some(4 + n)],
            Op::Update => [Some(4), Some(4 + n)],
            Op::Delete => [Some(4), None],
        };
        let mut at = start;
        // SAFETY (caller): a live statement; values are copied by SQLite.
        unsafe {
            ffi::sqlite3_bind_int64(stmt, 3, self.seq);
            for base in sides.into_iter().flatten() {
                for i in 0..n {
                    row::bind(stmt, (base + i) as c_int, &state.values[at]);
                    at += 1;
                }
            }
        }
        stmt
    }

    /// Runs a bound INSERT once.
    ///
    /// Safety of the binds before it: the statements are this open
    /// connection's; text bound STATIC lives in the hook's state, which is
    /// not cleared before the step and is bound again before the next one.
    fn step(&self, stmt: *mut ffi::sqlite3_stmt) -> Result<(), String> {
        // SAFETY: a prepared statement of this open connection.
        let rc = unsafe {
            let rc = ffi::sqlite3_step(stmt);
            ffi::sqlite3_reset(stmt);
            rc
        };
        match rc {
            ffi::SQLITE_DONE => Ok(()),
            _ => Err(self.error()),
        }
    }
}

/// Rows per multi-row INSERT: few enough parameters (2 + 6 per row) for
/// any SQLite's limit (999 before 3.32).
const BATCH: usize = 64;

/// Binds a row kept as JSON text as the row whose parameters start after
/// `offset` (0 for the first row of a statement): sequence, table,
/// operation, key, old and new values.
///
/// # Safety
/// See [`PreupdateLog::step`].
unsafe fn bind_text_row(
    stmt: *mut ffi::sqlite3_stmt,
    offset: c_int,
    row: &Row,
    state: &State,
    seq: i64,
) {
    let Form::Json { key, old, new } = &row.form else {
        return;
    };
    let table = &state.tables[row.table as usize];
    let text = |r: &Option<std::ops::Range<usize>>| r.clone().map(|r| &state.text[r]);
    // SAFETY (caller).
    unsafe {
        ffi::sqlite3_bind_int64(stmt, offset + 3, seq);
        row::bind_text(stmt, offset + 4, Some(&table.label));
        row::bind_text(stmt, offset + 5, Some(row.op.word()));
        row::bind_text(stmt, offset + 6, Some(&state.text[key.clone()]));
        row::bind_text(stmt, offset + 7, text(old));
        row::bind_text(stmt, offset + 8, text(new));
    }
}

impl Drop for PreupdateLog {
    fn drop(&mut self) {
        self.hook(false);
        let text = [self.text_insert, self.batch_insert];
        for stmt in self.statements.drain(..).chain(text) {
            // SAFETY: our statements, finalized once, connection still open.
            unsafe { ffi::sqlite3_finalize(stmt) };
        }
        // SAFETY: allocated in `install`, the hook removed above.
        drop(unsafe { Box::from_raw(self.state) });
    }
}

/// `INSERT INTO oneoff_changes` of `rows` rows kept as JSON text:
/// parameters 1 and 2 the script and attempt, then six per row (see
/// [`bind_text_row`]).
fn text_insert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|j| {
            let p: Vec<String> = (3..=8).map(|k| format!("?{}", 6 * j + k)).collect();
            format!("(?1, ?2, {})", p.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO main.oneoff_changes \
         (script_id, run_id, seq, table_name, op, row_key, old_values, new_values) VALUES {}",
        values.join(", ")
    )
}

/// `INSERT INTO oneoff_changes` of a row kept as values, for one table and operation: parameters 1
/// and 2 the script and attempt, 3 the sequence, then the old values of
/// every column, then the new ones, made JSON by SQLite's `json_object` as
/// the trigger capture does (so that every value reads back the same).
fn insert_sql(table: &HookTable, op: Op) -> String {
    let n = table.columns.len();
    let json = |columns: &mut dyn Iterator<Item = (usize, &String)>, base: usize| {
        let pairs: Vec<String> = columns
            .map(|(i, c)| format!("{}, ?{}", super::literal(c), base + i))
            .collect();
        format!("json_object({})", pairs.join(", "))
    };
    let all = |base| json(&mut table.columns.iter().enumerate(), base);
    let key = |base| json(&mut table.key.iter().map(|&i| (i, &table.columns[i])), base);
    let (old, new) = (4, 4 + n);
    let (word, row_key, old_values, new_values) = match op {
        Op::Insert => ("insert", key(new), "NULL".into(), all(new)),
        Op::Update => ("update", key(new), all(old), all(new)),
        Op::Delete => ("delete", key(old), all(old), "NULL".into()),
    };
    format!(
        "INSERT INTO main.oneoff_changes (script_id, run_id, seq, table_name, op, row_key, old_values, new_values) \
         VALUES (?1, ?2, ?3, {}, '{word}', {row_key}, {old_values}, {new_values})",
        super::literal(&table.label)
    )
}
