//! Database notices, for an attempt's output: PostgreSQL's `RAISE NOTICE`
//! (and warnings) and MySQL's warnings. diesel gives every PostgreSQL
//! connection a notice processor that drops them and exposes neither the
//! `PGconn` nor a hook, so oneoff takes the place of libpq's
//! `PQsetNoticeProcessor` (the call diesel makes for each connection) and
//! installs a receiver that keeps the messages of this thread; MySQL
//! statements run prepared, and MariaDB's `mysql_stmt_warning_count` after
//! `mysql_stmt_execute` tells when `SHOW WARNINGS` is worth a round trip.
//! Bounded per drain.

use std::cell::RefCell;
use std::ffi::{c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Whether oneoff's notice receiver was installed on a PostgreSQL connection
/// of this process (see [`warn_unless_postgres_capture_linked`]).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// libpq's notice receiver: it gets the notice as a `PGresult` and keeps
/// the text libpq's default receiver would hand to a processor.
unsafe extern "C" fn receive(_arg: *mut c_void, result: *const pq_sys::PGresult) {
    if result.is_null() {
        return;
    }
    // SAFETY: libpq passes a notice result valid for this call; its error
    // message is a NUL-terminated string owned by the result.
    let message = unsafe { pq_sys::PQresultErrorMessage(result) };
    if message.is_null() {
        return;
    }
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    keep(text.trim_end().to_string());
}

/// Stands in for libpq's `PQsetNoticeProcessor`, the call diesel makes once
/// per connection (with a processor that drops everything): whatever the
/// caller asks for, oneoff's receiver is installed instead, through
/// `PQsetNoticeReceiver`, a different libpq function, so the real
/// `PQsetNoticeProcessor` is never needed.
///
/// With libpq linked statically (the `bundled-libpq` feature) the binary
/// must be linked with `-Wl,--wrap=PQsetNoticeProcessor`, which sends
/// diesel's call here (oneoff's `build.rs` does it for its own targets; an
/// embedding application adds the line to its own). Without it, notices
/// are simply not captured.
///
/// # Safety
/// As libpq's: `conn` is a live `PGconn` (or null).
#[no_mangle]
pub unsafe extern "C" fn __wrap_PQsetNoticeProcessor(
    conn: *mut pq_sys::PGconn,
    _processor: pq_sys::PQnoticeProcessor,
    _arg: *mut c_void,
) -> pq_sys::PQnoticeProcessor {
    if !conn.is_null() {
        INSTALLED.store(true, Ordering::Relaxed);
        // SAFETY: `conn` is a live connection, as the caller promised.
        unsafe { pq_sys::PQsetNoticeReceiver(conn, Some(receive), std::ptr::null_mut()) };
    }
    None
}

/// With the system's shared libpq, this definition interposes libpq's own
/// (the executable's symbols come first), so no linker flag is needed.
///
/// # Safety
/// As libpq's: `conn` is a live `PGconn` (or null).
#[cfg(not(feature = "bundled-libpq"))]
#[no_mangle]
pub unsafe extern "C" fn PQsetNoticeProcessor(
    conn: *mut pq_sys::PGconn,
    processor: pq_sys::PQnoticeProcessor,
    arg: *mut c_void,
) -> pq_sys::PQnoticeProcessor {
    // SAFETY: forwarded as received.
    unsafe { __wrap_PQsetNoticeProcessor(conn, processor, arg) }
}

/// Says once, after a PostgreSQL connection was opened without going
/// through oneoff's receiver, that notices will be missing from the output:
/// a static libpq linked without the `--wrap` flag (an embedding
/// application whose `build.rs` lacks the line), or a linker without it.
pub fn warn_unless_postgres_capture_linked() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.load(Ordering::Relaxed) || WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::warn!(
        "PostgreSQL notices (RAISE NOTICE) are not kept in the output of attempts: \
         link with `cargo:rustc-link-arg=-Wl,--wrap=PQsetNoticeProcessor` in build.rs, \
         or build oneoff without its `bundled-libpq` feature \
         (oneoff's README, \"Embedding\")"
    );
}

/// The next definition of `name` after this executable's (the library's).
fn next_symbol(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no other
    // precondition; a null result is handled by the callers.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
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
