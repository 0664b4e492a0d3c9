//! The `oneoff` binary: everything is in the library's command line.

fn main() -> std::process::ExitCode {
    oneoff::cli::main(oneoff::Scripts::from_disk())
}
