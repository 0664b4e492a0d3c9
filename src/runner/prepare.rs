//! Everything about the selected scripts that needs no database, checked
//! before any of them runs: each splits into statements, none contains a
//! statement that would break oneoff's guarantees (transaction control,
//! oneoff's own tables, its run lock), and a no-transaction script resumed
//! by `--retry` still has the statements that already committed.

use crate::error::{Error, Result};
use crate::ledger::{LedgerRow, Partial};
use crate::plan::PlanEntry;
use crate::script::{rules, Dialect, Script, Statement};

use super::work::no_tx::prefix_checksum;

/// A selected script, ready to run.
pub(crate) struct Prepared<'a> {
    pub script: &'a Script,
    pub statements: Vec<Statement>,
    pub row: Option<&'a LedgerRow>,
    /// Statements that committed in an earlier attempt (no-transaction).
    pub resume_after: usize,
}

/// Splits and checks every selected script; the first problem refuses the
/// whole run before anything runs.
pub(crate) fn prepare<'a>(
    selected: &[&'a PlanEntry],
    dialect: Dialect,
) -> Result<Vec<Prepared<'a>>> {
    selected
        .iter()
        .filter_map(|e| e.script.as_ref().map(|s| (s, e.row.as_ref())))
        .map(|(script, row)| {
            let statements = script.statements(dialect)?;
            let transactional = !script.directives.no_transaction;
            if let Some(v) = rules::check(&statements, dialect, transactional) {
                return Err(Error::script(&script.path, Some(v.line), v.to_string()));
            }
            let resume_after = match row.and_then(LedgerRow::partial) {
                None => 0,
                Some(partial) => resume_point(script, row.expect("partial"), &statements, partial)?,
            };
            Ok(Prepared {
                script,
                statements,
                row,
                resume_after,
            })
        })
        .collect()
}

/// Where `--retry` resumes a script that committed part of its work, or why
/// it must not run again without a person deciding.
fn resume_point(
    script: &Script,
    row: &LedgerRow,
    statements: &[Statement],
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
                || statements.len() < count
                || prefix_checksum(statements, count) != checksum
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
