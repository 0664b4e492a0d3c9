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

mod capture;
pub mod changes;
pub mod cli;
pub mod db;
pub mod error;
pub mod ledger;
pub mod plan;
mod progress;
pub mod recovery;
mod render;
pub mod runner;
pub mod script;
pub mod status;

pub use db::{Backend, DatabaseUrl};
pub use error::{Error, Result};
pub use plan::{Plan, PlanEntry, Selection};
pub use runner::{run, RunEvent, RunOptions, RunReport};
pub use status::{status, StatusOptions, StatusReport};
