//! Integration tests: the real `oneoff` binary against real databases, a
//! module per subcommand. Each behaviour runs on SQLite, PostgreSQL and MySQL.

mod support;

mod bad_input;
mod batch;
mod commits;
mod concurrency;
mod dumps;
mod errors;
mod hostile;
mod large;
mod new;
mod noop;
mod privilege;
mod recovery;
mod run;
mod rust_scripts;
mod status;
mod stops;
mod torture;
