//! Database notices, for an attempt's output: PostgreSQL's `RAISE NOTICE`
//! (and warnings) and MySQL's warnings. diesel gives every PostgreSQL
//! connection a notice processor that drops them and exposes neither the
//! `PGconn` nor a hook, so oneoff interposes libpq's `PQsetNoticeProcessor`
//! (the call diesel makes for each connection) and installs a processor
//! that keeps the messages of this thread; MySQL statements run prepared,
//! and MariaDB's `mysql_stmt_warning_count` after `mysql_stmt_execute`
//! tells when `SHOW WARNINGS` is worth a round trip. Bounded per drain.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::OnceLock;

/// Messages kept between two drains (per thread); the rest are counted.
const MAX_KEPT: usize = 200;

#[derive(Default)]
struct Kept {
    messages: Vec<String>,
    dropped: usize,
    mysql_warnings: u32,
}

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::new(Kept::default());
}

fn keep(message: String) {
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        if k.messages.len() < MAX_KEPT {
            k.messages.push(message);
        } else {
            k.dropped += 1;
        }
    });
}

/// The notices this thread's connections received since the last call,
/// and how many more were dropped.
pub fn take() -> (Vec<String>, usize) {
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        (
            std::mem::take(&mut k.messages),
            std::mem::take(&mut k.dropped),
        )
    })
}

/// How many warnings the last MySQL statement on this thread left (and
/// forgets it).
pub fn take_mysql_warnings() -> u32 {
    KEPT.with(|k| std::mem::take(&mut k.borrow_mut().mysql_warnings))
}

type NoticeProcessor = Option<unsafe extern "C" fn(*mut c_void, *const c_char)>;
type SetNoticeProcessor =
    unsafe extern "C" fn(*mut c_void, NoticeProcessor, *mut c_void) -> NoticeProcessor;

unsafe extern "C" fn collect(_arg: *mut c_void, message: *const c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: libpq passes a NUL-terminated message valid for this call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    keep(text.trim_end().to_string());
}

/// The next definition of `name` after this executable's (the library's).
fn next_symbol(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no other
    // precondition; a null result is handled by the callers.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}

/// libpq's `PQsetNoticeProcessor`, interposed: whatever processor the
/// caller (diesel) asks for, oneoff's collector is installed.
///
/// # Safety
/// As libpq's: `conn` is a live `PGconn`.
#[no_mangle]
pub unsafe extern "C" fn PQsetNoticeProcessor(
    conn: *mut c_void,
    _processor: NoticeProcessor,
    _arg: *mut c_void,
) -> NoticeProcessor {
    static REAL: OnceLock<usize> = OnceLock::new();
    let real = *REAL.get_or_init(|| next_symbol(c"PQsetNoticeProcessor") as usize);
    if real == 0 {
        return None;
    }
    // SAFETY: the symbol found is libpq's function of this signature.
    let real: SetNoticeProcessor = unsafe { std::mem::transmute(real) };
    unsafe { real(conn, Some(collect), std::ptr::null_mut()) }
}

type StmtExecute = unsafe extern "C" fn(*mut c_void) -> c_int;
type StmtWarningCount = unsafe extern "C" fn(*mut c_void) -> c_uint;

/// The MySQL client's `mysql_stmt_execute`, interposed to read the
/// statement's warning count (MariaDB Connector/C) right after it ran.
///
/// # Safety
/// As the client library's: `stmt` is a live, prepared `MYSQL_STMT`.
#[no_mangle]
pub unsafe extern "C" fn mysql_stmt_execute(stmt: *mut c_void) -> c_int {
    static REAL: OnceLock<(usize, usize)> = OnceLock::new();
    let (real, count) = *REAL.get_or_init(|| {
        (
            next_symbol(c"mysql_stmt_execute") as usize,
            next_symbol(c"mysql_stmt_warning_count") as usize,
        )
    });
    if real == 0 {
        return 1;
    }
    // SAFETY: the symbols found are the client library's functions of
    // these signatures.
    let real: StmtExecute = unsafe { std::mem::transmute(real) };
    let rc = unsafe { real(stmt) };
    if rc == 0 && count != 0 {
        let count: StmtWarningCount = unsafe { std::mem::transmute(count) };
        let warnings = unsafe { count(stmt) };
        KEPT.with(|k| k.borrow_mut().mysql_warnings = warnings);
    }
    rc
}
