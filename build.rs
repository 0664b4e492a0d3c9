//! Links oneoff's own binary and tests so that
//! PostgreSQL notices reach an attempt's output (`src/db/notices.rs`).
//!
//! diesel's call to libpq's `PQsetNoticeProcessor` is sent to oneoff's
//! `__wrap_PQsetNoticeProcessor`. A static libpq (the default
//! `bundled-libpq` feature) defines the function in the same link, so it
//! cannot be interposed the way a shared library's can. Link arguments do
//! not reach the crates that depend on oneoff: an application embedding it
//! adds the same line to its own `build.rs` (README, "Embedding").

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // Apple's and Microsoft's linkers have no --wrap; notices are then not
    // captured with a static libpq.
    if !matches!(os.as_str(), "macos" | "ios") && env != "msvc" {
        // Binaries and tests only: a target linked with the flag must link
        // oneoff's library too (the benches' bare diesel loop does not).
        println!("cargo:rustc-link-arg-bins=-Wl,--wrap=PQsetNoticeProcessor");
        println!("cargo:rustc-link-arg-tests=-Wl,--wrap=PQsetNoticeProcessor");
    }
}
