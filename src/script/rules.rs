//! Static rules: statements a script must not contain because they would break oneoff's
//! guarantees (the script's work commits with its ledger row, under oneoff's run lock, and the
//! ledger is oneoff's alone). Checked on the text before anything connects; no database needed.

mod kinds;
mod lexed;
mod revertible;

pub use revertible::targets as revertible_targets;

use std::fmt;

use kinds::Control;
use lexed::Lexed;

use super::{Dialect, Statement};

use crate::ledger::schema::{SEQUENCES, TABLES};

/// oneoff's own savepoints: a script must not name them (nor its tables).
const SAVEPOINTS: &[&str] = &["oneoff_guard", "oneoff_script", "oneoff_post"];

/// Which guarantee a statement would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Ends or replaces oneoff's transaction (BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK,
    /// ABORT, SET autocommit, XA ..., PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED); in a
    /// no-transaction script also SAVEPOINT, RELEASE and ROLLBACK TO.
    EndsTransaction,
    /// MySQL commits implicitly before or after it (DDL, LOCK TABLES, TRUNCATE, GRANT, ...).
    ImplicitCommit,
    /// Names one of oneoff's own tables or its savepoint `oneoff_guard`.
    OneoffTable,
    /// Releases oneoff's run lock or breaks its connection: `pg_advisory_unlock_all()`,
    /// `RELEASE_ALL_LOCKS()`, `DISCARD ALL`, `DEALLOCATE`, MySQL `LOCK`/`UNLOCK TABLES` in a
    /// no-transaction script.
    BreaksSession,
    /// In a revertible script: a statement whose changes oneoff cannot record
    /// (DDL, TRUNCATE, REPLACE, procedures, a multi-table write).
    Untrackable,
}

/// A statement that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The statement's number in the script.
    pub statement: usize,
    /// The line the statement starts on.
    pub line: usize,
    /// The rule it breaks.
    pub rule: Rule,
    /// What in it breaks the rule: `COMMIT`, `ALTER TABLE`, `oneoff_ledger`, ...
    pub what: String,
    /// Why that is refused and what to do instead; follows `what` in the message.
    pub why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Violation {
            statement,
            line,
            what,
            why,
            ..
        } = self;
        write!(f, "statement {statement} (line {line}): {what} {why}")
    }
}

/// Checks a script's statements and returns the first violation. `transactional` is false for
/// `-- oneoff:no-transaction` scripts. Only a statement's leading keywords decide transaction
/// control, so statements inside a routine, trigger or `BEGIN ATOMIC` body are not refused
/// when it is created; names and lock functions count anywhere outside strings and comments.
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn check(statements: &[Statement], dialect: Dialect, transactional: bool) -> Option<Violation> {
    let mut checker = Checker::new(dialect, transactional);
    statements.iter().find_map(|s| checker.check(s))
}

/// [`check`] a statement at a time, for a script read as it is split.
#[derive(Debug)]
pub struct Checker {
    dialect: Dialect,
    transactional: bool,
    /// Names of the statements `PREPARE`d so far.
    prepared: Vec<String>,
}

impl Checker {
    /// A checker at the start of a script.
    pub fn new(dialect: Dialect, transactional: bool) -> Self {
        Checker {
            dialect,
            transactional,
            prepared: Vec::new(),
        }
    }

    /// The next statement's violation, if it has one.
    pub fn check(&mut self, statement: &Statement) -> Option<Violation> {
        let (dialect, transactional) = (self.dialect, self.transactional);
        let lexed = Lexed::new(&statement.text, dialect);
        let found = transaction_rule(&lexed, dialect, transactional)
            .or_else(|| session_rule(&lexed, dialect, transactional, &self.prepared))
            .or_else(|| oneoff_name(&lexed, dialect));
        if let Some((rule, what, why)) = found {
            return Some(Violation {
                statement: statement.number,
                line: statement.line,
                rule,
                what,
                why,
            });
        }
        self.prepared.extend(kinds::prepares(&lexed, dialect));
        None
    }
}

/// Why a statement cannot be rolled back on this dialect (MySQL implicit commits), for the
/// dry run: `None` when rolling back undoes it.
pub fn cannot_roll_back(statement: &Statement, dialect: Dialect) -> Option<String> {
    if dialect != Dialect::Mysql {
        return None;
    }
    let (what, _) = kinds::implicit_commit(&Lexed::new(&statement.text, dialect))?;
    Some(format!(
        "{what} commits implicitly on MySQL, so a dry run cannot roll it back"
    ))
}

/// Whether a query stores its result somewhere (`SELECT … INTO`, a MySQL
/// `@variable :=` assignment): what a post-condition's query must not do.
pub fn stores_result(statement: &Statement, dialect: Dialect) -> Option<String> {
    let lexed = Lexed::new(&statement.text, dialect);
    let tokens: Vec<_> = lexed.tokens.iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        let text = lexed.text(token);
        if token.kind == crate::script::split::lexer::Kind::Word
            && text.eq_ignore_ascii_case("into")
        {
            return Some("INTO".into());
        }
        let next = tokens.get(i + 1).map(|t| lexed.text(t));
        if text == ":" && next == Some("=") {
            return Some(":=".into());
        }
    }
    None
}

type Found = (Rule, String, String);

fn transaction_rule(s: &Lexed, dialect: Dialect, transactional: bool) -> Option<Found> {
    const ON_ITS_OWN: &str = "controls transactions, but each statement of a no-transaction script commits on its own; remove it, or drop `-- oneoff:no-transaction` to run the script in one transaction";
    match (kinds::control(s, dialect), transactional) {
        (Some(Control::Transaction(what)), true) => Some((
            Rule::EndsTransaction,
            what,
            "ends oneoff's transaction: oneoff commits the script's work together with its ledger row; remove it, or make the script `-- oneoff:no-transaction`".into(),
        )),
        (Some(Control::Transaction(what) | Control::Savepoint(what)), false) => {
            Some((Rule::EndsTransaction, what, ON_ITS_OWN.into()))
        }
        (Some(Control::Savepoint(_)), true) => None,
        (None, true) if dialect == Dialect::Mysql => {
            let (what, tip) = kinds::implicit_commit(s)?;
            let why = format!("commits implicitly on MySQL, which would end oneoff's transaction; {tip}");
            Some((Rule::ImplicitCommit, what, why))
        }
        (None, _) => None,
    }
}

fn session_rule(
    s: &Lexed,
    dialect: Dialect,
    transactional: bool,
    prepared: &[String],
) -> Option<Found> {
    let (what, why) = kinds::breaks_session(s, dialect, transactional, prepared)?;
    Some((Rule::BreaksSession, what, why.into()))
}

fn oneoff_name(s: &Lexed, dialect: Dialect) -> Option<Found> {
    let name = s.all().find_map(|token| {
        let name = s.name(token, dialect)?;
        TABLES
            .iter()
            .chain(SEQUENCES)
            .chain(SAVEPOINTS)
            .find(|n| name.eq_ignore_ascii_case(n))
    })?;
    let why = if SAVEPOINTS.contains(name) {
        "is oneoff's own savepoint; a script must not release or roll back to it: name its savepoints otherwise"
    } else if SEQUENCES.contains(name) {
        "is oneoff's own sequence (it names the script in flight); a script must not use it"
    } else {
        "is oneoff's own table; a script must not read or change the ledger: use `oneoff skip` or `oneoff mark`"
    };
    Some((Rule::OneoffTable, name.to_string(), why.into()))
}

#[cfg(test)]
mod tests;
