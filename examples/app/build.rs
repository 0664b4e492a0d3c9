// `embed_scripts!` reads one_off/ when the crate compiles: this makes a new
// or deleted script rebuild it (edits to embedded files already do).
fn main() {
    println!("cargo:rerun-if-changed=one_off");
}
