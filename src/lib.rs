//! oneoff runs one-off production data scripts exactly once, with a ledger
//! table in the target database (SQLite, PostgreSQL, MySQL/MariaDB).
//!
//! The `oneoff` binary runs the SQL scripts of a directory. An application
//! embeds oneoff to run its scripts in Rust too, compiled into its own
//! binary, with the whole command line:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     oneoff::cli::main(oneoff::embed_scripts!("one_off"))
//! }
//! ```
//!
//! or without it, at start-up: [`Runner`]. A Rust script is a file
//! `one_off/<14-digit id>_<name>.rs` with `pub fn run(ctx: &mut Context) ->
//! ScriptResult`; [`Context`] is all it gets.
//!
//! Inside, one module per step: `script` reads the scripts, `ledger` the
//! ledger table (`db` picks the backend from the URL), `plan` joins the two
//! purely, `runner` executes the plan under a run lock with each script's
//! work and ledger update in one transaction (its post-conditions checked
//! before it commits), `status` reports without writing, and [`check()`]
//! lists every problem found in the scripts without running them, which
//! `run` refuses on before it connects; rendering and the command line live
//! in [`cli`].

#![warn(missing_docs)]

// The CLI modules name the library as `oneoff::…`, as an outside caller would.
extern crate self as oneoff;

pub(crate) mod approve;
mod capture;
pub(crate) mod changes;
pub(crate) mod check;
pub mod cli;
pub(crate) mod config;
mod context;
pub(crate) mod db;
mod embed;
pub(crate) mod error;
pub(crate) mod history;
pub(crate) mod identity;
pub(crate) mod ledger;
pub(crate) mod plan;
mod progress;
pub(crate) mod protect;
pub(crate) mod recovery;
mod render;
mod render_check;
pub(crate) mod runner;
pub(crate) mod script;
pub(crate) mod status;

pub use check::{check, CheckOptions, CheckReport};
pub use context::{Context, RunFn, ScriptError, ScriptResult};
pub use db::{AnyConnection, Backend, DatabaseUrl};
pub use embed::Scripts;
pub use oneoff_macros::embed_scripts;
pub use protect::Rules as ProtectRules;
pub use runner::CancelToken;

/// What `embed_scripts!` expands to; not a stable interface.
#[doc(hidden)]
pub mod __private {
    pub use crate::embed::{embedded, EmbeddedFile};
}
pub use error::{Error, Result};
pub use plan::{Plan, PlanEntry, Selection};
pub use runner::{run, Outcome, RunEvent, RunOptions, RunReport, Runner, ScriptOutcome};
pub use status::{status, StatusOptions, StatusReport};
