//! A script directory: the files with a script's name, in name order, the
//! files that are not scripts, and the scripts read on all cores. Nothing
//! here keeps more than one copy of a script, nor looks an id up in a map:
//! names sort by their fixed-width id first, so scripts come out in id
//! order and two files with one id are neighbours.

use std::path::Path;

use super::name::{self, ScriptKind};
use super::read::ReadError;
use super::{read_error, IgnoredFile, Script, ScriptSet, KEEP_TEXT_UP_TO};
use crate::error::{Error, Result};

/// A file with a script's name (checked when listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    /// `<id>_<name>.sql` or `.rs`.
    pub file_name: String,
    /// SQL or Rust, by the extension.
    pub kind: ScriptKind,
}

impl Named {
    /// The id and the name, borrowed from the file name.
    pub fn id_and_name(&self) -> (&str, &str) {
        let (id, name, _) = name::split_file_name(&self.file_name).expect("checked when listed");
        (id, name)
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.file_name[..name::ID_LEN]
    }

    /// Opens and reads the script (see [`Script::read_from`]), noting the
    /// problems of its header in `header` when given.
    pub fn read(&self, dir: &Path, header: Option<&mut Vec<Error>>) -> Result<Script> {
        let path = dir.join(&self.file_name);
        let file = std::fs::File::open(&path).map_err(|e| read_error(&path, ReadError::Io(e)))?;
        let (id, name) = self.id_and_name();
        let identity = (id.to_string(), name.to_string(), self.kind);
        Script::read_from(file, path, identity, KEEP_TEXT_UP_TO, header)
    }
}

/// Reads every script in `dir`. Bad names are collected as ignored files;
/// unreadable or malformed scripts and duplicate ids are errors, raised before
/// anything runs. Hidden files and subdirectories are skipped silently.
pub fn load_dir(dir: &Path) -> Result<ScriptSet> {
    let (named, ignored) = list_dir(dir)?;
    let mut read: Vec<Option<Script>> = std::iter::repeat_with(|| None).take(named.len()).collect();
    let outcomes = on_all_cores_into(&named, &mut read, |n, slot| -> Result<(), Box<Error>> {
        *slot = Some(n.read(dir, None).map_err(Box::new)?);
        Ok(())
    });
    // The first error in name order, whichever thread read it.
    for outcome in outcomes {
        outcome.map_err(|e| *e)?;
    }
    let scripts = into_scripts(read);
    if let Some(pair) = scripts.windows(2).find(|w| w[0].id == w[1].id) {
        let (a, b) = (&pair[0], &pair[1]);
        return Err(Error::script(
            &b.path,
            None,
            format!(
                "has the same id {} as {}; ids must be unique: rename one (`oneoff new` picks a free id)",
                b.id,
                a.path.display()
            ),
        ));
    }
    Ok(ScriptSet { scripts, ignored })
}

/// The scripts read, in their slots' order, in the slots' memory.
pub(crate) fn into_scripts(mut slots: Vec<Option<Script>>) -> Vec<Script> {
    slots.retain(Option::is_some);
    // `map` collects into the vector it consumes (an `Option<Script>` is
    // the size of a `Script`): no second vector of 10,000 scripts.
    slots
        .into_iter()
        .map(|s| s.expect("kept only the scripts"))
        .collect()
}

/// The files of a script directory with script names, sorted by name (so
/// by id), and those that are not scripts (sorted by path).
pub(crate) fn list_dir(dir: &Path) -> Result<(Vec<Named>, Vec<IgnoredFile>)> {
    let not_a_dir = |msg: String| Error::script(dir, None, msg);
    let meta = std::fs::metadata(dir).map_err(|e| {
        not_a_dir(format!(
            "script directory cannot be read ({e}); create it with `oneoff new`, or point --dir / ONEOFF_DIR at it"
        ))
    })?;
    if !meta.is_dir() {
        return Err(not_a_dir(
            "is not a directory; point --dir / ONEOFF_DIR at the script directory".into(),
        ));
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| not_a_dir(format!("cannot list the directory: {e}")))?;
    let mut named = Vec::new();
    let mut ignored = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| not_a_dir(format!("cannot list the directory: {e}")))?;
        let file_name = entry
            .file_name()
            .into_string()
            .unwrap_or_else(|raw| raw.to_string_lossy().into_owned());
        // The directory entry knows its type on most file systems: no stat.
        if file_name.starts_with('.') || is_dir(&entry) {
            continue;
        }
        match name::split_file_name(&file_name) {
            Ok((_, _, kind)) => named.push(Named { file_name, kind }),
            Err(reason) => ignored.push(IgnoredFile {
                path: entry.path(),
                reason,
            }),
        }
    }
    // Errors name the first file in name order, whichever thread read it.
    named.sort_unstable_by(|a, b| a.file_name.cmp(&b.file_name));
    ignored.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((named, ignored))
}

fn is_dir(entry: &std::fs::DirEntry) -> bool {
    match entry.file_type() {
        // A symlink is followed, as `Path::is_dir` would.
        Ok(t) if t.is_symlink() => entry.path().is_dir(),
        Ok(t) => t.is_dir(),
        Err(_) => entry.path().is_dir(),
    }
}

/// `f` of each item, on all cores, in order.
pub(crate) fn on_all_cores<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    on_all_cores_into(items, &mut vec![(); items.len()], |item, ()| f(item))
}

/// `f` of each item and its slot of `out` (as long as `items`), on all
/// cores; what each call returns, in order. Reading and hashing is most of
/// a no-op run's start-up with thousands of scripts.
pub(crate) fn on_all_cores_into<T: Sync, O: Send, R: Send>(
    items: &[T],
    out: &mut [O],
    f: impl Fn(&T, &mut O) -> R + Sync,
) -> Vec<R> {
    assert_eq!(items.len(), out.len(), "one slot per item");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(64);
    let run = |part: &[T], out: &mut [O]| -> Vec<R> {
        part.iter()
            .zip(out)
            .map(|(item, slot)| f(item, slot))
            .collect()
    };
    if items.len() <= per_thread {
        return run(items, out);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .zip(out.chunks_mut(per_thread))
            .map(|(part, out)| scope.spawn(|| run(part, out)))
            .collect();
        let mut all = Vec::with_capacity(items.len());
        for handle in handles {
            all.extend(handle.join().expect("reading a script panicked"));
        }
        all
    })
}
