//! The raw `sqlite3*` of an SQLite connection, so that another thread can
//! stop a statement in flight with `sqlite3_interrupt` (diesel does not
//! expose the handle). SQLite calls every registered auto-extension with the
//! handle of each connection it opens, on the opening thread; we register
//! one that remembers the handle in a thread-local for `connect` to pick up.

use std::cell::Cell;
use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Whether the connection is in autocommit mode (no transaction open).
    /// Only called on the thread that owns the connection.
    pub fn autocommit(&self) -> bool {
        // SAFETY: a read of the connection's flag while it is open.
        unsafe { ffi::sqlite3_get_autocommit(self.0) != 0 }
    }

    /// The raw handle, for oneoff's own calls on the connection's thread.
    pub(crate) fn raw(&self) -> *mut ffi::sqlite3 {
        self.0
    }

    /// Makes the statement in flight fail with "interrupted".
    pub fn interrupt(&self) {
        // SAFETY: see the Send/Sync note above.
        unsafe { ffi::sqlite3_interrupt(self.0) }
    }
}

/// Forbids statements compiled while armed to write, create or drop oneoff's
/// own tables (`oneoff_*`), triggers included: SQLite's authorizer sees every
/// table a statement (and each trigger it fires) touches when it is compiled.
#[derive(Debug)]
pub(crate) struct LedgerGuard {
    armed: Box<AtomicBool>,
}

impl LedgerGuard {
    /// Installs the authorizer on the connection behind `handle`.
    pub(crate) fn install(handle: &SqliteInterrupt) -> LedgerGuard {
        let armed = Box::new(AtomicBool::new(false));
        // SAFETY: the pointer to `armed` stays valid for as long as the
        // guard lives, and the runner drops the guard only after closing the
        // connection or replacing the authorizer (see Drop).
        unsafe {
            ffi::sqlite3_set_authorizer(
                handle.0,
                Some(authorize),
                &*armed as *const AtomicBool as *mut std::ffi::c_void,
            );
        }
        LedgerGuard { armed }
    }

    /// While armed, statements that touch oneoff's tables fail to compile
    /// with "not authorized".
    pub(crate) fn arm(&self, on: bool) {
        self.armed.store(on, Ordering::SeqCst);
    }
}

unsafe extern "C" fn authorize(
    data: *mut std::ffi::c_void,
    action: std::ffi::c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _db: *const c_char,
    _trigger: *const c_char,
) -> std::ffi::c_int {
    // SAFETY: `data` is the AtomicBool that `install` registered.
    let armed = unsafe { &*(data as *const AtomicBool) };
    if !armed.load(Ordering::SeqCst) {
        return ffi::SQLITE_OK;
    }
    let writes = matches!(
        action,
        ffi::SQLITE_INSERT
            | ffi::SQLITE_UPDATE
            | ffi::SQLITE_DELETE
            | ffi::SQLITE_DROP_TABLE
            | ffi::SQLITE_DROP_TEMP_TABLE
            | ffi::SQLITE_ALTER_TABLE
            | ffi::SQLITE_CREATE_TABLE
            | ffi::SQLITE_CREATE_TEMP_TABLE
            | ffi::SQLITE_CREATE_VIEW
            | ffi::SQLITE_CREATE_TEMP_VIEW
            | ffi::SQLITE_CREATE_TRIGGER
            | ffi::SQLITE_CREATE_TEMP_TRIGGER
            | ffi::SQLITE_CREATE_INDEX
            | ffi::SQLITE_DROP_INDEX
    );
    // The table is the first argument of most actions and the second of
    // ALTER TABLE and of the index and trigger actions: check both.
    let ours = |arg: *const c_char| {
        // SAFETY: SQLite passes a NUL-terminated string or NULL.
        !arg.is_null()
            && unsafe { std::ffi::CStr::from_ptr(arg) }
                .to_bytes()
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"oneoff_"))
    };
    if writes && (ours(arg1) || ours(arg2)) {
        ffi::SQLITE_DENY
    } else {
        ffi::SQLITE_OK
    }
}
