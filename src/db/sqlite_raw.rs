//! The raw `sqlite3*` of an SQLite connection, so that another thread can
//! stop a statement in flight with `sqlite3_interrupt` (diesel does not
//! expose the handle). SQLite calls every registered auto-extension with the
//! handle of each connection it opens, on the opening thread; we register
//! one that remembers the handle in a thread-local for `connect` to pick up.

use std::cell::Cell;
use std::ffi::c_char;
use std::sync::Once;

use libsqlite3_sys as ffi;

thread_local! {
    static OPENED: Cell<*mut ffi::sqlite3> = const { Cell::new(std::ptr::null_mut()) };
}

unsafe extern "C" fn remember(
    db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> std::ffi::c_int {
    OPENED.with(|cell| cell.set(db));
    ffi::SQLITE_OK
}

/// Registers the auto-extension once per process.
pub(super) fn arm() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `remember` has the signature SQLite calls auto-extensions
        // with and only stores the pointer it is given.
        unsafe {
            ffi::sqlite3_auto_extension(Some(remember));
        }
        OPENED.with(|cell| cell.set(std::ptr::null_mut()));
    });
    OPENED.with(|cell| cell.set(std::ptr::null_mut()));
}

/// The handle of the connection this thread opened last, if any.
pub(super) fn take() -> Option<SqliteInterrupt> {
    let db = OPENED.with(|cell| cell.replace(std::ptr::null_mut()));
    (!db.is_null()).then_some(SqliteInterrupt(db))
}

/// Stops the statement running on one SQLite connection.
#[derive(Debug)]
pub struct SqliteInterrupt(*mut ffi::sqlite3);

// SAFETY: sqlite3_interrupt is documented as safe to call from any thread
// while the connection is open; the owner keeps the connection open for as
// long as it keeps this value (the runner drops it before the connection).
unsafe impl Send for SqliteInterrupt {}
unsafe impl Sync for SqliteInterrupt {}

impl SqliteInterrupt {
    /// Makes the statement in flight fail with "interrupted".
    pub fn interrupt(&self) {
        // SAFETY: see the Send/Sync note above.
        unsafe { ffi::sqlite3_interrupt(self.0) }
    }
}
