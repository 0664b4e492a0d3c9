//! [`Runner`]: running the pending scripts from an application, without the
//! command line (at start-up, say): the same lock, ledger and rules as
//! `oneoff run`, and a report instead of output.

use std::path::PathBuf;
use std::time::Duration;

use super::{run, CancelToken, RunOptions, RunReport};
use crate::db::DatabaseUrl;
use crate::error::Result;
use crate::Scripts;

/// Runs scripts from an application.
///
/// ```no_run
/// # fn demo(scripts: oneoff::Scripts) -> Result<(), oneoff::Error> {
/// // let scripts = oneoff::embed_scripts!("one_off");
/// let report = oneoff::Runner::new("postgres://app@db/prod").run_pending(&scripts)?;
/// if let Some(failed) = report.failure() {
///     eprintln!("one-off script {} failed: {:?}", failed.id, failed.error);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runner {
    url: String,
    lock_timeout: Duration,
    timeout: Option<Duration>,
    dry_run: bool,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Runner")
            .field("url", &crate::db::redact(&self.url))
            .field("lock_timeout", &self.lock_timeout)
            .field("timeout", &self.timeout)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl Runner {
    /// A runner for the database at `url` (as `--database-url` takes it;
    /// a bad URL is the error of [`Runner::run_pending`]).
    pub fn new(url: impl Into<String>) -> Runner {
        Runner {
            url: url.into(),
            lock_timeout: Duration::from_secs(60),
            timeout: None,
            dry_run: false,
        }
    }

    /// How long to wait for another runner's lock (default 60 s).
    pub fn lock_timeout(mut self, wait: Duration) -> Runner {
        self.lock_timeout = wait;
        self
    }

    /// Time limit per script (a script's `oneoff:timeout` overrides it).
    pub fn timeout(mut self, limit: Duration) -> Runner {
        self.timeout = Some(limit);
        self
    }

    /// Rehearse: every script's work is rolled back, as `run --dry-run`.
    pub fn dry_run(mut self, dry_run: bool) -> Runner {
        self.dry_run = dry_run;
        self
    }

    /// Runs the pending scripts in id order, each exactly once, stopping at
    /// the first failure (see [`RunReport::failure`]). `Err` is for what
    /// stops the run before or outside a script: bad scripts, no
    /// connection, the lock not obtained, a ledger row changed under it.
    pub fn run_pending(&self, scripts: &Scripts) -> Result<RunReport> {
        let opts = RunOptions {
            database: DatabaseUrl::parse(&self.url)?,
            dir: PathBuf::from(scripts.embedded_dir().unwrap_or("one_off")),
            scripts: *scripts,
            ids: Vec::new(),
            retry: false,
            dry_run: self.dry_run,
            lock_timeout: self.lock_timeout,
            timeout: self.timeout,
            cancel: CancelToken::default(),
            pause: None,
            max_batches: None,
            environment: None,
            gate: None,
            again: None,
        };
        run(&opts, &mut |_| {})
    }
}
