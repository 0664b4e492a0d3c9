//! The pre-update callback itself: called by SQLite inside each row change
//! of the connection, it only copies what the log needs into the hook's
//! state (it must not use the connection).

use std::ffi::{c_char, c_int, c_void, CStr};

use libsqlite3_sys as ffi;

use super::row::{self, Form, Op, Row};
use super::{State, ValueFn};

/// The hook: SQLite calls it before each row this connection changes. It
/// must not use the connection; it only copies values.
pub(super) unsafe extern "C" fn on_change(
    ctx: *mut c_void,
    db: *mut ffi::sqlite3,
    op: c_int,
    z_db: *const c_char,
    z_name: *const c_char,
    _old_rowid: i64,
    _new_rowid: i64,
) {
    // SAFETY: `ctx` is the State installed with the hook; SQLite passes
    // NUL-terminated names and calls the hook on the connection's thread.
    let state = unsafe { &mut *ctx.cast::<State>() };
    let (schema, name) = unsafe { (CStr::from_ptr(z_db), CStr::from_ptr(z_name)) };
    let (schema, name) = (schema.to_bytes(), name.to_bytes());
    let Some(t) = state.tables.iter().position(|t| {
        t.name.as_bytes().eq_ignore_ascii_case(name)
            && t.schema.as_bytes().eq_ignore_ascii_case(schema)
    }) else {
        return;
    };
    let op = match op {
        ffi::SQLITE_INSERT => Op::Insert,
        ffi::SQLITE_UPDATE => Op::Update,
        ffi::SQLITE_DELETE => Op::Delete,
        _ => return,
    };
    let n = state.tables[t].columns.len();
    // SAFETY: inside the hook, as the pre-update functions require.
    if unsafe { (state.api.count)(db) } as usize != n {
        state.error.get_or_insert_with(|| {
            format!(
                "the columns of `{}` changed while the script ran",
                state.tables[t].label
            )
        });
        return;
    }
    let reads: &[ValueFn] = match op {
        Op::Insert => &[state.api.new],
        Op::Update => &[state.api.old, state.api.new],
        Op::Delete => &[state.api.old],
    };
    state.scratch.clear();
    for read in reads {
        for i in 0..n {
            let mut value = std::ptr::null_mut();
            // SAFETY: inside the hook, column `i` < the count checked above.
            if unsafe { read(db, i as c_int, &mut value) } != ffi::SQLITE_OK {
                state
                    .error
                    .get_or_insert_with(|| "SQLite did not hand over a changed row".into());
                return;
            }
            state.scratch.push(value);
        }
    }
    // SAFETY: the values SQLite just handed over, live during this call.
    let form = unsafe { keep(state, t, op) };
    state.rows.push(Row {
        table: t as u32,
        op,
        form,
    });
}

/// Keeps the row in `state.scratch` (old values, then new ones) as JSON
/// text when oneoff can write it as SQLite would, else as copied values.
///
/// # Safety
/// Inside the hook: the scratch values are live.
unsafe fn keep(state: &mut State, t: usize, op: Op) -> Form {
    let table = &state.tables[t];
    let scratch = &state.scratch;
    // SAFETY (caller): live values.
    if !scratch.iter().all(|&v| unsafe { row::plain(v) }) {
        let start = state.values.len();
        state
            .values
            .extend(scratch.iter().map(|&v| unsafe { row::copy(v) }));
        return Form::Values { start };
    }
    let n = table.columns.len();
    let (old, new) = match op {
        Op::Insert => (None, Some(&scratch[..n])),
        Op::Update => (Some(&scratch[..n]), Some(&scratch[n..])),
        Op::Delete => (Some(&scratch[..n]), None),
    };
    let text = &mut state.text;
    let cols = &table.columns;
    // SAFETY (caller): live and plain values.
    unsafe {
        let old_json = old.map(|v| row::append_object(text, cols, 0..n, v));
        let new_json = new.map(|v| row::append_object(text, cols, 0..n, v));
        let key_values = new.or(old).expect("a row has old or new values");
        let key = row::append_object(text, cols, table.key.iter().copied(), key_values);
        Form::Json {
            key,
            old: old_json,
            new: new_json,
        }
    }
}
