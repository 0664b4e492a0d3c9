//! oneoff runs one-off production data scripts exactly once.
//!
//! The flow, one module per step: [`script`] reads the script directory,
//! [`ledger`] reads the ledger table in the target database ([`db`] picks
//! the backend from the URL), [`plan`] joins the two purely, [`runner`]
//! executes the plan under a run lock with each script's work and ledger
//! update in one transaction (and its post-conditions checked before it
//! commits), and [`status`](mod@status) reports without writing. [`check`](mod@check) lists every
//! problem in the scripts found without running them, which `run` refuses
//! on before it connects.
//! Rendering and the command line live in [`cli`], which the `oneoff`
//! binary calls and an application's own binary can call too.

// The CLI modules name the library as `oneoff::…`, as an outside caller would.
extern crate self as oneoff;

pub mod approve;
mod capture;
pub mod changes;
pub mod check;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod history;
pub mod identity;
pub mod ledger;
pub mod plan;
mod progress;
pub mod protect;
pub mod recovery;
mod render;
mod render_check;
pub mod runner;
pub mod script;
pub mod status;

pub use check::{check, CheckOptions, CheckReport};
pub use db::{Backend, DatabaseUrl};
pub use error::{Error, Result};
pub use plan::{Plan, PlanEntry, Selection};
pub use runner::{run, RunEvent, RunOptions, RunReport};
pub use status::{status, StatusOptions, StatusReport};
