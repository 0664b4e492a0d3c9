//! Integration tests: the real `oneoff` binary against real databases, a
//! module per subcommand. Each behaviour runs on SQLite, PostgreSQL and MySQL.

mod support;

mod audit;
mod bad_input;
mod batch;
mod check;
mod commits;
mod concurrency;
mod dumps;
mod environments;
mod errors;
mod hostile;
mod large;
mod new;
mod noop;
mod postconditions;
mod privilege;
mod protected;
mod recovery;
mod revert;
mod revert_capture;
mod run;
mod rust_record_change;
mod rust_scripts;
mod status;
mod stops;
mod torture;
