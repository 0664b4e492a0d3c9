//! Stops a script in flight, for a timeout or for a signal. A watchdog
//! thread waits for the script's deadline; a [`CancelToken`] (held by the
//! CLI's signal handler) asks for a stop at once. Either way the statement
//! in flight is stopped by the database: PostgreSQL `pg_cancel_backend`,
//! MySQL `KILL QUERY` (both from a second connection), SQLite
//! `sqlite3_interrupt`.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::QueryResult;

use crate::db::{Canceller, Db};

/// Why a script was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Its time limit ran out.
    Timeout(Duration),
    /// A signal (Ctrl-C, SIGTERM) asked the run to stop.
    Cancelled,
}

#[derive(Debug, Default)]
struct State {
    /// The running script's deadline and limit.
    armed: Option<(Instant, Duration)>,
    /// A script is executing (a stop must interrupt it).
    executing: bool,
    /// Why the current script was stopped.
    stopped: Option<Stop>,
    /// A signal asked the whole run to stop.
    cancelled: bool,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    target: Mutex<Option<Canceller>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("state", &self.state)
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fire(&self) {
        if let Some(target) = self
            .target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            // Failures are logged, not raised: the statement then simply
            // runs to its end.
            if let Err(e) = target() {
                tracing::warn!("could not stop the statement in flight: {e}");
            }
        }
    }
}

/// Asks a run to stop, from any thread (the CLI's signal handler).
#[derive(Debug, Clone)]
pub struct CancelToken(Arc<Shared>);

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken(Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            target: Mutex::new(None),
        }))
    }
}

impl CancelToken {
    /// Stops the script in flight (rolled back) and the run after it.
    pub fn cancel(&self) {
        let executing = {
            let mut state = self.0.lock();
            state.cancelled = true;
            if state.executing && state.stopped.is_none() {
                state.stopped = Some(Stop::Cancelled);
                true
            } else {
                false
            }
        };
        self.0.wake.notify_all();
        if executing {
            self.0.fire();
        }
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.lock().cancelled
    }
}

/// The running side: arms a deadline per script and stops it when due.
#[derive(Debug)]
pub struct Watchdog {
    token: CancelToken,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching the runner's connection.
    pub fn start(token: &CancelToken, db: &mut Db) -> QueryResult<Watchdog> {
        *token.0.target.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(db.engine.canceller(&mut db.conn)?);
        token.0.lock().shutdown = false;
        let shared = Arc::clone(&token.0);
        let thread = std::thread::spawn(move || watch(&shared));
        Ok(Watchdog {
            token: token.clone(),
            thread: Some(thread),
        })
    }

    /// A script starts; `limit` bounds its time.
    pub fn begin(&self, limit: Option<Duration>) {
        let mut state = self.token.0.lock();
        state.armed = limit.map(|l| (Instant::now() + l, l));
        state.executing = true;
        state.stopped = state.cancelled.then_some(Stop::Cancelled);
        drop(state);
        self.token.0.wake.notify_all();
    }

    /// Why the current script was stopped, if it was.
    pub fn stopped(&self) -> Option<Stop> {
        self.token.0.lock().stopped
    }

    /// The script is over.
    pub fn end(&self) {
        let mut state = self.token.0.lock();
        state.armed = None;
        state.executing = false;
    }

    /// Whether the run was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.token.0.lock().shutdown = true;
        self.token.0.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // The canceller may hold the SQLite handle: never use it past the connection.
        *self
            .token
            .0
            .target
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn watch(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.shutdown {
            return;
        }
        match state.armed {
            Some((deadline, limit)) if state.executing && state.stopped.is_none() => {
                let now = Instant::now();
                if now >= deadline {
                    state.stopped = Some(Stop::Timeout(limit));
                    drop(state);
                    shared.fire();
                    state = shared.lock();
                } else {
                    state = shared
                        .wake
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
            _ => state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
        }
    }
}
