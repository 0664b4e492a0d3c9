//! An application's own `oneoff` binary: the whole CLI, with the scripts of
//! `one_off/` (SQL and Rust) compiled in.

mod schema;

fn main() -> std::process::ExitCode {
    oneoff::cli::main(oneoff::embed_scripts!("one_off"))
}
