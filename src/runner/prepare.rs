//! Everything about the selected scripts that needs no database, checked
//! before any of them runs: each splits into statements, none contains a
//! statement that would break oneoff's guarantees (transaction control,
//! oneoff's own tables, its run lock), and a no-transaction script resumed
//! by `--retry` still has the statements that already committed. Scripts
//! are read a statement at a time and none is kept: each is read again when
//! it runs (see [`super::load`]).

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::ledger::{LedgerRow, Partial};
use crate::plan::PlanEntry;
use crate::script::{Dialect, Script, ScriptKind};
use crate::Scripts;

use super::work::no_tx::Prefix;

/// A selected script, ready to run.
pub(crate) struct Prepared<'a> {
    pub script: &'a Script,
    pub row: Option<&'a LedgerRow>,
    /// Statements that committed in an earlier attempt (no-transaction).
    pub resume_after: usize,
}

/// Splits and checks every selected script; the first problem refuses the
/// whole run before anything runs. Scripts in `checked` (by id) passed
/// already, before the lock, and are not read again; those read now join it.
pub(crate) fn prepare<'a>(
    selected: &[&'a PlanEntry],
    dialect: Dialect,
    scripts: &Scripts,
    checked: &mut HashSet<String>,
) -> Result<Vec<Prepared<'a>>> {
    refuse_rust_not_compiled_in(selected, scripts)?;
    selected
        .iter()
        .filter_map(|e| e.script.as_ref().map(|s| (s, e.row.as_ref())))
        .map(|(script, row)| {
            if !checked.contains(&script.id) {
                script.check(dialect)?;
                checked.insert(script.id.clone());
            }
            let resume_after = match row.and_then(LedgerRow::partial) {
                None => 0,
                Some(partial) => resume_point(script, row.expect("partial"), dialect, partial)?,
            };
            Ok(Prepared {
                script,
                row,
                resume_after,
            })
        })
        .collect()
}

/// The checksum of the first `n` statements as the ledger keeps it, if the
/// script has that many; read a statement at a time.
fn prefix_of(script: &Script, dialect: Dialect, n: usize) -> Result<Option<String>> {
    let mut prefix = Prefix::default();
    let mut have = 0;
    for statement in script.stream(dialect)?.take(n) {
        prefix.add(&statement?);
        have += 1;
    }
    Ok((have == n).then(|| prefix.hex()))
}

/// Where `--retry` resumes a script that committed part of its work, or why
/// it must not run again without a person deciding.
fn resume_point(
    script: &Script,
    row: &LedgerRow,
    dialect: Dialect,
    partial: Partial,
) -> Result<usize> {
    let choices = format!(
        "check the data, then `oneoff mark {id} succeeded --reason …` (its work is complete) or `oneoff skip {id} --reason …` (it must not run); or write a new script for the rest",
        id = script.id
    );
    match partial {
        Partial::Unknown => Err(Error::Conflict {
            message: format!(
                "script {} ({}) is {} and part of its work may be committed ({}); `--retry` does not run it again, so no statement runs twice",
                script.id,
                script.name,
                row.status,
                row.error.as_deref().unwrap_or("a statement was in flight when the runner stopped")
            ),
            hint: choices,
        }),
        Partial::Statements { count, checksum } => {
            if !script.directives.no_transaction
                || prefix_of(script, dialect, count)?.as_deref() != Some(checksum.as_str())
            {
                return Err(Error::Conflict {
                    message: format!(
                        "script {} ({}) committed its first {count} statement(s) in an earlier attempt, and the file has changed before that point since; `--retry` would not know where to resume",
                        script.id, script.name
                    ),
                    hint: format!(
                        "restore statements 1-{count} as they were (and keep `-- oneoff:no-transaction`) to resume at statement {}, or {choices}",
                        count + 1
                    ),
                });
            }
            Ok(count)
        }
    }
}

/// The standalone `oneoff` binary lists Rust scripts but cannot run them:
/// a run that would reach one is refused before anything runs.
fn refuse_rust_not_compiled_in(selected: &[&PlanEntry], scripts: &Scripts) -> Result<()> {
    let missing = selected
        .iter()
        .filter_map(|e| e.script.as_ref())
        .find(|s| s.kind == ScriptKind::Rust && scripts.function(&s.id).is_none());
    let Some(script) = missing else {
        return Ok(());
    };
    let why = if scripts.is_embedded() {
        "is not compiled into this binary"
    } else {
        "is a Rust script, which the standalone `oneoff` binary does not run"
    };
    Err(Error::script(
        &script.path,
        None,
        format!(
            "{why}; nothing ran. Run it with your application's binary, built with `oneoff::cli::main(oneoff::embed_scripts!(\"one_off\"))` (README, \"Embedding\"); or run only the scripts before it: `oneoff run ID…`"
        ),
    ))
}
