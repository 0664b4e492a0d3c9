//! oneoff runs one-off production data scripts exactly once.
//!
//! The flow, one module per step: [`script`] reads the script directory,
//! [`ledger`] reads the ledger table in the target database ([`db`] picks
//! the backend from the URL), [`plan`] joins the two purely, [`runner`]
//! executes the plan under a run lock with each script's work and ledger
//! update in one transaction, and [`status`] reports without writing.
//! Rendering and the command line live in [`cli`], which the `oneoff`
//! binary calls and an application's own binary can call too.

// The CLI modules name the library as `oneoff::…`, as an outside caller would.
extern crate self as oneoff;

pub mod cli;
mod context;
pub mod db;
mod embed;
pub mod error;
pub mod ledger;
pub mod plan;
mod progress;
pub mod recovery;
mod render;
pub mod runner;
pub mod script;
pub mod status;

pub use context::{Context, RunFn, ScriptError, ScriptResult};
pub use db::{AnyConnection, Backend, DatabaseUrl};
pub use embed::Scripts;
pub use oneoff_macros::embed_scripts;

/// What `embed_scripts!` expands to; not a stable interface.
#[doc(hidden)]
pub mod __private {
    pub use crate::embed::{embedded, EmbeddedFile};
}
pub use error::{Error, Result};
pub use plan::{Plan, PlanEntry, Selection};
pub use runner::{run, RunEvent, RunOptions, RunReport};
pub use status::{status, StatusOptions, StatusReport};
