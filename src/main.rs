//! The `oneoff` binary: everything is in the library's command line.

fn main() {
    std::process::exit(oneoff::cli::main());
}
