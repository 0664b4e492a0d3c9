//! One changed row as the hook keeps it until the statement ends: as JSON
//! text written here, byte for byte what SQLite's `json_object` writes, when
//! every value is an integer, NULL or UTF-8 text; otherwise as copied values
//! that SQLite itself makes JSON when the row is written (a REAL's digits,
//! a BLOB's error), so that every value reads back as the trigger capture
//! recorded it.

use std::ffi::c_int;
use std::ops::Range;

use libsqlite3_sys as ffi;

/// One value, copied out of the hook (its `sqlite3_value`s live only
/// during the call).
pub(super) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(Box<[u8]>),
    Blob(Box<[u8]>),
}

/// The operation, and the statement's index among a table's three.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Insert = 0,
    Update = 1,
    Delete = 2,
}

impl Op {
    pub(super) fn word(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// How a row's values are kept.
pub(super) enum Form {
    /// JSON text in the log's buffer: the key, the old and the new row.
    Json {
        key: Range<usize>,
        old: Option<Range<usize>>,
        new: Option<Range<usize>>,
    },
    /// Copied values from `start`: every old value, then every new one.
    Values { start: usize },
}

/// A change: its table (index), operation and values.
pub(super) struct Row {
    pub table: u32,
    pub op: Op,
    pub form: Form,
}

impl Row {
    pub(super) fn is_text(&self) -> bool {
        matches!(self.form, Form::Json { .. })
    }
}

/// The bytes of a text or blob value.
///
/// # Safety
/// `value` is a live `sqlite3_value` (during the hook).
unsafe fn bytes<'a>(value: *mut ffi::sqlite3_value, blob: bool) -> &'a [u8] {
    // SAFETY (caller): the pointer returned stays valid until the value
    // changes; the length is asked after the pointer, as SQLite advises.
    unsafe {
        let ptr = match blob {
            true => ffi::sqlite3_value_blob(value).cast::<u8>(),
            false => ffi::sqlite3_value_text(value),
        };
        let len = ffi::sqlite3_value_bytes(value) as usize;
        match ptr.is_null() {
            true => &[],
            false => std::slice::from_raw_parts(ptr, len),
        }
    }
}

/// Whether oneoff writes this value's JSON the way SQLite would.
///
/// # Safety
/// `value` is a live `sqlite3_value` (during the hook).
pub(super) unsafe fn plain(value: *mut ffi::sqlite3_value) -> bool {
    // SAFETY (caller).
    unsafe {
        match ffi::sqlite3_value_type(value) {
            ffi::SQLITE_INTEGER | ffi::SQLITE_NULL => true,
            ffi::SQLITE_TEXT => std::str::from_utf8(bytes(value, false)).is_ok(),
            _ => false,
        }
    }
}

/// Copies one value.
///
/// # Safety
/// `value` is a live `sqlite3_value` (during the hook).
pub(super) unsafe fn copy(value: *mut ffi::sqlite3_value) -> Value {
    // SAFETY (caller).
    unsafe {
        match ffi::sqlite3_value_type(value) {
            ffi::SQLITE_INTEGER => Value::Int(ffi::sqlite3_value_int64(value)),
            ffi::SQLITE_FLOAT => Value::Real(ffi::sqlite3_value_double(value)),
            ffi::SQLITE_TEXT => Value::Text(bytes(value, false).into()),
            ffi::SQLITE_BLOB => Value::Blob(bytes(value, true).into()),
            _ => Value::Null,
        }
    }
}

/// Appends `{"name":value,...}` for the columns at `positions`, as
/// `json_object` writes it; returns where it is in `out`.
///
/// # Safety
/// Every value is live and [`plain`].
pub(super) unsafe fn append_object(
    out: &mut String,
    names: &[String],
    positions: impl Iterator<Item = usize>,
    values: &[*mut ffi::sqlite3_value],
) -> Range<usize> {
    let start = out.len();
    out.push('{');
    for (n, i) in positions.enumerate() {
        if n > 0 {
            out.push(',');
        }
        append_string(out, &names[i]);
        out.push(':');
        let value = values[i];
        // SAFETY (caller): live and plain (UTF-8 checked there).
        unsafe {
            match ffi::sqlite3_value_type(value) {
                ffi::SQLITE_INTEGER => append_integer(out, ffi::sqlite3_value_int64(value)),
                ffi::SQLITE_TEXT => {
                    append_string(out, std::str::from_utf8_unchecked(bytes(value, false)))
                }
                _ => out.push_str("null"),
            }
        }
    }
    out.push('}');
    start..out.len()
}

/// An integer in decimal (what `format!` writes, without its machinery:
/// this runs for every value of every recorded row).
fn append_integer(out: &mut String, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    // ASCII digits.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// A JSON string as SQLite's `json_object` escapes it: `"` and `\` with a
/// backslash, \b \t \n \f \r by name, other control characters as \u00xx.
pub(super) fn append_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Binds one copied value.
///
/// # Safety
/// `stmt` is a live statement; SQLite copies the bytes.
pub(super) unsafe fn bind(stmt: *mut ffi::sqlite3_stmt, i: c_int, value: &Value) {
    // SAFETY (caller).
    unsafe {
        match value {
            Value::Null => ffi::sqlite3_bind_null(stmt, i),
            Value::Int(v) => ffi::sqlite3_bind_int64(stmt, i, *v),
            Value::Real(v) => ffi::sqlite3_bind_double(stmt, i, *v),
            Value::Text(b) => ffi::sqlite3_bind_text(
                stmt,
                i,
                b.as_ptr().cast(),
                b.len() as c_int,
                ffi::SQLITE_TRANSIENT(),
            ),
            Value::Blob(b) => ffi::sqlite3_bind_blob(
                stmt,
                i,
                b.as_ptr().cast(),
                b.len() as c_int,
                ffi::SQLITE_TRANSIENT(),
            ),
        };
    }
}

/// Binds text that stays put until the statement is stepped and reset
/// (or NULL).
///
/// # Safety
/// `stmt` is a live statement, bound again before any later step.
pub(super) unsafe fn bind_text(stmt: *mut ffi::sqlite3_stmt, i: c_int, text: Option<&str>) {
    // SAFETY (caller): SQLITE_STATIC: the text outlives the step.
    unsafe {
        match text {
            Some(t) => ffi::sqlite3_bind_text(
                stmt,
                i,
                t.as_ptr().cast(),
                t.len() as c_int,
                ffi::SQLITE_STATIC(),
            ),
            None => ffi::sqlite3_bind_null(stmt, i),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{append_integer, append_string};

    #[test]
    fn integers_are_written_as_format_writes_them() {
        for n in [0, 7, -7, 10, 1234567890, i64::MAX, i64::MIN] {
            let mut out = String::new();
            append_integer(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn strings_are_escaped_as_sqlite_json_object_escapes_them() {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Json {
            #[diesel(sql_type = diesel::sql_types::Text)]
            j: String,
        }
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        for text in [
            "plain",
            "",
            "a\"b\\c",
            all_controls.as_str(),
            "é ü 日本 \u{7f} \u{2028} 😀",
        ] {
            let sqlite: Json = diesel::sql_query("SELECT json_object('k', ?1) AS j")
                .bind::<diesel::sql_types::Text, _>(text)
                .get_result(&mut conn)
                .unwrap();
            let mut ours = String::from("{");
            append_string(&mut ours, "k");
            ours.push(':');
            append_string(&mut ours, text);
            ours.push('}');
            assert_eq!(ours, sqlite.j, "{text:?}");
        }
    }
}
