//! `embed_scripts!(DIR)`: oneoff's scripts compiled into an application.
//! Use it through `oneoff::embed_scripts!`, which documents it.

use std::path::Path;

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, LitStr};

/// Lists `DIR` (relative to the calling crate's `Cargo.toml`) and expands to
/// an `oneoff::Scripts`: every `.sql` file's text (`include_str!`, so that an
/// edit rebuilds), every `<14-digit id>_<name>.rs` compiled as a module whose
/// `run` the runner calls, with its source text for the checksum, and the
/// names of the other files (reported as ignored, as on disk).
///
/// ```ignore
/// fn main() -> std::process::ExitCode {
///     oneoff::cli::main(oneoff::embed_scripts!("one_off"))
/// }
/// ```
///
/// Editing an embedded file rebuilds the crate; for a new or deleted file
/// to rebuild it too, the crate's `build.rs` says
/// `println!("cargo:rerun-if-changed=one_off");` (a proc macro cannot watch
/// a directory on stable Rust).
#[proc_macro]
pub fn embed_scripts(input: TokenStream) -> TokenStream {
    let dir = parse_macro_input!(input as LitStr);
    match expand(&dir) {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(dir.span(), message)
            .to_compile_error()
            .into(),
    }
}

fn expand(dir: &LitStr) -> Result<proc_macro2::TokenStream, String> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| "CARGO_MANIFEST_DIR is not set: build with cargo".to_string())?;
    let relative = dir.value();
    let root = Path::new(&manifest).join(&relative);
    let mut names = list(&root)?;
    names.sort();
    let mut modules = Vec::new();
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    for name in names {
        let path = root.join(&name);
        let full = path_str(&path)?;
        if name.ends_with(".sql") {
            files.push(quote! {
                ::oneoff::__private::EmbeddedFile { file: #name, text: include_str!(#full), run: None }
            });
        } else if let Some(stem) = name.strip_suffix(".rs").filter(|s| is_script_stem(s)) {
            let module = format_ident!("__oneoff_script_{}", stem);
            modules.push(quote! {
                #[path = #full]
                mod #module;
            });
            files.push(quote! {
                ::oneoff::__private::EmbeddedFile { file: #name, text: include_str!(#full), run: Some(#module::run) }
            });
        } else {
            ignored.push(name);
        }
    }
    Ok(quote! {
        {
            #(#modules)*
            static FILES: &[::oneoff::__private::EmbeddedFile] = &[#(#files),*];
            static IGNORED: &[&str] = &[#(#ignored),*];
            ::oneoff::__private::embedded(#relative, FILES, IGNORED)
        }
    })
}

/// The visible file names of `root` (hidden files and directories are
/// skipped, as the runner skips them on disk).
fn list(root: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        format!(
            "cannot read the script directory {}: {e}; the path is relative to the crate's Cargo.toml (create it with `oneoff new`)",
            root.display()
        )
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", root.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || entry.path().is_dir() {
            continue;
        }
        names.push(name);
    }
    Ok(names)
}

/// `<14 digits>_<a-z, 0-9, _>`: a Rust script's file stem, also a valid
/// module name once prefixed.
fn is_script_stem(stem: &str) -> bool {
    let Some((id, name)) = stem.split_once('_') else {
        return false;
    };
    id.len() == 14
        && id.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn path_str(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))
}
