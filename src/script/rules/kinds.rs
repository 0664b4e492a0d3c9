//! What a statement is, from its leading keywords: transaction control, a savepoint, a
//! MySQL statement that commits implicitly, or one that breaks oneoff's session.

use super::lexed::Lexed;
use crate::script::split::lexer::Kind;
use crate::script::Dialect;

/// A statement that controls transactions.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Control {
    /// Ends, opens or replaces a transaction; the statement's name.
    Transaction(String),
    /// `SAVEPOINT`, `RELEASE [SAVEPOINT]`, `ROLLBACK TO [SAVEPOINT]`; the statement's name.
    Savepoint(String),
}

/// Whether the statement controls transactions, and how.
pub(super) fn control(s: &Lexed, dialect: Dialect) -> Option<Control> {
    let ends = |what: &str| Some(Control::Transaction(what.to_string()));
    match s.word(0) {
        "BEGIN" if dialect == Dialect::Mysql && s.word(1) == "NOT" => None, // MariaDB block
        "COMMIT" if s.word(1) == "PREPARED" => ends("COMMIT PREPARED"),
        first @ ("BEGIN" | "COMMIT" | "END" | "ABORT") => ends(first),
        "START" if s.word(1) == "TRANSACTION" => ends("START TRANSACTION"),
        "XA" => ends(format!("XA {}", s.word(1)).trim_end()),
        "PREPARE" if s.word(1) == "TRANSACTION" => ends("PREPARE TRANSACTION"),
        "SAVEPOINT" => Some(Control::Savepoint("SAVEPOINT".into())),
        "RELEASE" => Some(Control::Savepoint("RELEASE SAVEPOINT".into())),
        "ROLLBACK" => {
            let skip = usize::from(matches!(s.word(1), "WORK" | "TRANSACTION"));
            match s.word(1 + skip) {
                "TO" => Some(Control::Savepoint("ROLLBACK TO SAVEPOINT".into())),
                "PREPARED" => ends("ROLLBACK PREPARED"),
                _ => ends("ROLLBACK"),
            }
        }
        "SET" if sets_autocommit(s) => ends("SET autocommit"),
        _ => None,
    }
}

/// `SET [SESSION|@@...] autocommit = ...`, not merely reading `@@autocommit`.
fn sets_autocommit(s: &Lexed) -> bool {
    s.tokens.windows(2).any(|pair| {
        pair[0].kind == Kind::Word
            && s.text(&pair[0]).eq_ignore_ascii_case("autocommit")
            && (matches!(s.text(&pair[1]), "=" | ":")
                || s.text(&pair[1]).eq_ignore_ascii_case("TO"))
    })
}

/// Object kinds of CREATE / ALTER / DROP, all of which commit implicitly on MySQL/MariaDB.
const OBJECT_KINDS: &[&str] = &[
    "DATABASE",
    "SCHEMA",
    "TABLE",
    "INDEX",
    "VIEW",
    "TRIGGER",
    "PROCEDURE",
    "FUNCTION",
    "EVENT",
    "SEQUENCE",
    "SERVER",
    "TABLESPACE",
    "ROLE",
    "USER",
    "PACKAGE",
    "LOGFILE",
    "PREPARE",
];

/// A MySQL statement that commits implicitly: its name and the tip for the message.
/// <https://dev.mysql.com/doc/refman/8.0/en/implicit-commit.html>, plus MariaDB's.
pub(super) fn implicit_commit(s: &Lexed) -> Option<(String, &'static str)> {
    const MOVE: &str = "move it to a `-- oneoff:no-transaction` script";
    let (first, second) = (s.word(0), s.word(1));
    let name = |n: usize| s.words[..n].join(" ");
    match first {
        "CREATE" | "ALTER" | "DROP" => return ddl(s),
        "LOCK" | "UNLOCK" if matches!(second, "TABLE" | "TABLES") => {
            let what = format!("{first} TABLES");
            let tip = "remove it (mysqldump: --skip-add-locks); oneoff's transaction already keeps the script's work together";
            return Some((what, tip));
        }
        "TRUNCATE" => {
            let tip = "use DELETE FROM to stay in the transaction, or move it to a `-- oneoff:no-transaction` script";
            return Some(("TRUNCATE TABLE".into(), tip));
        }
        _ => {}
    }
    let words = match (first, second) {
        ("RENAME" | "CACHE" | "INSTALL" | "UNINSTALL" | "CHANGE", _) => 2,
        ("GRANT" | "REVOKE" | "FLUSH", _) => 1,
        ("SET", "PASSWORD") => 2,
        ("RESET", "PERSIST") => return None,
        ("RESET", _) => 2,
        ("LOAD", "INDEX") => 4,
        ("START" | "STOP", "SLAVE" | "REPLICA" | "ALL" | "GROUP_REPLICATION") => 2,
        ("ANALYZE" | "CHECK" | "OPTIMIZE" | "REPAIR", _) => {
            let local = usize::from(matches!(second, "LOCAL" | "NO_WRITE_TO_BINLOG"));
            if s.word(1 + local) != "TABLE" {
                return None;
            }
            return Some((format!("{first} TABLE"), MOVE));
        }
        _ => return None,
    };
    Some((name(words.min(s.words.len())), MOVE))
}

/// CREATE / ALTER / DROP: every kind commits, except temporary tables and `DROP PREPARE`.
fn ddl(s: &Lexed) -> Option<(String, &'static str)> {
    let first = s.word(0);
    let at = s
        .words
        .iter()
        .position(|w| OBJECT_KINDS.contains(&w.as_str()));
    let kind = at.map_or(s.word(1), |n| s.word(n));
    let temporary = at.is_some_and(|n| s.words[..n].iter().any(|w| w == "TEMPORARY"));
    let or_replace = s.word(1) == "OR" && s.word(2) == "REPLACE";
    if kind == "PREPARE" || (temporary && first != "ALTER" && matches!(kind, "TABLE" | "SEQUENCE"))
    {
        return None;
    }
    let what = match (or_replace, kind) {
        (true, _) => format!("CREATE OR REPLACE {kind}"),
        (false, "") => first.to_string(),
        (false, _) => format!("{first} {kind}"),
    };
    let keys = s.tokens.windows(2).any(|pair| {
        matches!(
            s.text(&pair[0]).to_ascii_uppercase().as_str(),
            "DISABLE" | "ENABLE"
        ) && s.text(&pair[1]).eq_ignore_ascii_case("KEYS")
    });
    let tip = if first == "ALTER" && kind == "TABLE" && keys {
        "remove it (mysqldump: --skip-disable-keys), or move it to a `-- oneoff:no-transaction` script"
    } else {
        "move it to a `-- oneoff:no-transaction` script"
    };
    Some((what, tip))
}

/// A statement that would break oneoff's session: its name and what it would do.
pub(super) fn breaks_session(
    s: &Lexed,
    dialect: Dialect,
    _transactional: bool,
    prepared: &[String],
) -> Option<(String, &'static str)> {
    const RELEASES: &str = "would release oneoff's run lock; remove it";
    for token in s.all() {
        if token.kind != Kind::Word {
            continue;
        }
        let text = s.text(token);
        for function in ["pg_advisory_unlock_all", "RELEASE_ALL_LOCKS"] {
            if text.eq_ignore_ascii_case(function) {
                return Some((format!("{function}()"), RELEASES));
            }
        }
    }
    match (dialect, s.word(0), s.word(1)) {
        (Dialect::Postgres, "DISCARD", "ALL") => Some(("DISCARD ALL".into(), "would release oneoff's run lock and drop the connection's prepared statements; remove it")),
        (Dialect::Postgres, "DEALLOCATE", _) => {
            let name = if s.word(1) == "PREPARE" { s.word(2) } else { s.word(1) };
            let own = name != "ALL" && !name.is_empty() && prepared.iter().any(|p| p == name);
            let tip = "would drop prepared statements of oneoff's connection; deallocate only statements the script prepared itself, by name";
            (!own).then(|| (format!("DEALLOCATE {name}").trim_end().to_string(), tip))
        }
        _ => None,
    }
}

/// The statement's PostgreSQL `PREPARE name`, upper-cased like the leading words.
pub(super) fn prepares(s: &Lexed, dialect: Dialect) -> Option<String> {
    (dialect == Dialect::Postgres
        && s.word(0) == "PREPARE"
        && s.word(1) != "TRANSACTION"
        && !s.word(1).is_empty())
    .then(|| s.word(1).to_string())
}
