// `embed_scripts!` reads one_off/ when the crate compiles: this makes a new
// or deleted script rebuild it (edits to embedded files already do).
fn main() {
    println!("cargo:rerun-if-changed=one_off");
    // oneoff's libpq is linked statically: this sends diesel's notice set-up
    // to oneoff, which keeps PostgreSQL notices in an attempt's output.
    println!("cargo:rustc-link-arg=-Wl,--wrap=PQsetNoticeProcessor");
}
