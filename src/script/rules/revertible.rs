//! What a revertible script's statement writes, found from its tokens, or why
//! it cannot be tracked. Only statements that change rows through INSERT,
//! UPDATE, DELETE or MERGE on tables named in the statement are tracked; the
//! rest of what a script may say (DDL, TRUNCATE, procedures, dynamic SQL,
//! pragmas) would change rows the change log cannot see, so it is refused.

use super::lexed::Lexed;
use super::{Rule, Violation};
use crate::script::revertible::TableName;
use crate::script::split::lexer::{Kind, Token};
use crate::script::{Dialect, Statement};

/// Leading keywords a revertible script's statement may start with.
const ALLOWED: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "WITH",
    "VALUES",
    "TABLE",
    "SET",
    "SHOW",
    "SAVEPOINT",
    "RELEASE",
    "ROLLBACK",
];

/// Settings that switch triggers off for the session.
const DISABLES_TRIGGERS: &[&str] = &["session_replication_role"];

/// The tables a statement of a revertible script writes, or the violation
/// that makes it untrackable (a revertible script with one is refused).
pub fn targets(statement: &Statement, dialect: Dialect) -> Result<Vec<TableName>, Violation> {
    let lexed = Lexed::new(&statement.text, dialect);
    let refuse = |what: String, why: &str| {
        Violation {
        statement: statement.number,
        line: statement.line,
        rule: Rule::Untrackable,
        what,
        why: format!("{why}; a revertible script records every row it changes for `oneoff revert`: move it to a script without `-- oneoff:revertible`"),
    }
    };
    let first = lexed.word(0);
    if !ALLOWED.contains(&first) {
        let what = if first.is_empty() {
            "this statement".to_string()
        } else {
            lexed
                .words
                .iter()
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        };
        return Err(refuse(what, "cannot be tracked (only SELECT, INSERT, UPDATE, DELETE, MERGE and WITH change rows oneoff can record)"));
    }
    let words: Vec<(usize, &Token)> = lexed.tokens.iter().enumerate().collect();
    if let Some((_, t)) = words.iter().find(|(_, t)| {
        t.kind == Kind::Word
            && DISABLES_TRIGGERS
                .iter()
                .any(|w| lexed.text(t).eq_ignore_ascii_case(w))
    }) {
        return Err(refuse(
            lexed.text(t).to_string(),
            "switches triggers off, and with them the change log",
        ));
    }
    let mut found = Vec::new();
    for (i, token) in words {
        if token.kind != Kind::Word {
            continue;
        }
        let word = lexed.text(token).to_ascii_uppercase();
        let target = match word.as_str() {
            "INSERT" => insert_target(&lexed, i, dialect),
            "UPDATE" => update_target(&lexed, i, dialect),
            "DELETE" => delete_target(&lexed, i, dialect),
            "MERGE" if i == 0 => after(&lexed, i + 1, &["INTO"], dialect).map(|(t, _)| Some(t)),
            "REPLACE" if !is_symbol(&lexed, i + 1, '(') => Err(
                "REPLACE deletes the rows it replaces without naming them; write INSERT … ON CONFLICT / ON DUPLICATE KEY UPDATE instead".to_string(),
            ),
            _ => Ok(None),
        };
        match target {
            Ok(Some(table)) if !found.contains(&table) => found.push(table),
            Ok(_) => {}
            Err(why) => return Err(refuse(word, &why)),
        }
    }
    Ok(found)
}

type Target = Result<Option<TableName>, String>;

fn insert_target(s: &Lexed, i: usize, dialect: Dialect) -> Target {
    let mut j = i + 1;
    if word_at(s, j) == "OR" {
        if word_at(s, j + 1) == "REPLACE" {
            return Err("INSERT OR REPLACE deletes the rows it replaces without naming them; write INSERT … ON CONFLICT DO UPDATE instead".into());
        }
        j += 2;
    }
    let (table, _) = after(
        s,
        j,
        &["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"],
        dialect,
    )?;
    Ok(Some(table))
}

fn update_target(s: &Lexed, i: usize, dialect: Dialect) -> Target {
    // `DO UPDATE`, `FOR [NO KEY] UPDATE`, `ON DUPLICATE KEY UPDATE`: not a target.
    if i > 0 && matches!(word_at(s, i - 1).as_str(), "DO" | "FOR" | "KEY") {
        return Ok(None);
    }
    let mut j = i + 1;
    if word_at(s, j) == "OR" {
        if word_at(s, j + 1) == "REPLACE" {
            return Err(
                "UPDATE OR REPLACE deletes the rows it conflicts with without naming them".into(),
            );
        }
        j += 2;
    }
    let (table, mut next) = after(s, j, &["ONLY", "LOW_PRIORITY", "IGNORE"], dialect)?;
    let joins = |k: usize| {
        matches!(
            word_at(s, k).as_str(),
            "JOIN" | "INNER" | "LEFT" | "RIGHT" | "CROSS" | "STRAIGHT_JOIN" | "NATURAL"
        ) || is_symbol(s, k, ',')
    };
    if !joins(next) && word_at(s, next) == "AS" {
        next += 2;
    } else if !joins(next)
        && s.tokens.get(next).is_some_and(|t| t.kind == Kind::Word)
        && word_at(s, next) != "SET"
    {
        next += 1;
    }
    if joins(next) {
        return Err("a multi-table UPDATE may change rows in every table it joins; update one table per statement".into());
    }
    Ok(Some(table))
}

fn delete_target(s: &Lexed, i: usize, dialect: Dialect) -> Target {
    if i > 0 && word_at(s, i - 1) == "ON" {
        return Ok(None); // ON DELETE …
    }
    let mut j = i + 1;
    while matches!(word_at(s, j).as_str(), "LOW_PRIORITY" | "QUICK" | "IGNORE") {
        j += 1;
    }
    if word_at(s, j) != "FROM" {
        return Err("a multi-table DELETE may delete rows in every table it names; write DELETE FROM one table".into());
    }
    let (table, next) = after(s, j + 1, &["ONLY"], dialect)?;
    if is_symbol(s, next, ',') {
        return Err("a multi-table DELETE may delete rows in every table it names; write DELETE FROM one table".into());
    }
    Ok(Some(table))
}

/// The table named at token `j`, after any of the `skip` words; and the
/// index of the token after it.
fn after(
    s: &Lexed,
    mut j: usize,
    skip: &[&str],
    dialect: Dialect,
) -> Result<(TableName, usize), String> {
    while skip.contains(&word_at(s, j).as_str()) {
        j += 1;
    }
    let part = |k: usize| {
        s.tokens
            .get(k)
            .filter(|t| matches!(t.kind, Kind::Word | Kind::Ident))
            .and_then(|t| s.name(t, dialect))
            .map(str::to_string)
    };
    let unknown = || {
        "does not name its table where oneoff can read it; name it directly (not through a variable or a view)".to_string()
    };
    let first = part(j).ok_or_else(unknown)?;
    if is_symbol(s, j + 1, '.') {
        let name = part(j + 2).ok_or_else(unknown)?;
        return Ok((
            TableName {
                schema: Some(first),
                name,
            },
            j + 3,
        ));
    }
    Ok((
        TableName {
            schema: None,
            name: first,
        },
        j + 1,
    ))
}

fn word_at(s: &Lexed, j: usize) -> String {
    s.tokens
        .get(j)
        .filter(|t| t.kind == Kind::Word)
        .map(|t| s.text(t).to_ascii_uppercase())
        .unwrap_or_default()
}

fn is_symbol(s: &Lexed, j: usize, c: char) -> bool {
    s.tokens
        .get(j)
        .is_some_and(|t| t.kind == Kind::Symbol && s.text(t).starts_with(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::split::split;

    fn check(sql: &str, dialect: Dialect) -> Result<Vec<String>, String> {
        let statements = split(sql, dialect).unwrap();
        let mut all = Vec::new();
        for s in &statements {
            let found = targets(s, dialect).map_err(|v| v.to_string())?;
            all.extend(found.into_iter().map(|t| t.to_string()));
        }
        Ok(all)
    }

    #[test]
    fn the_tables_a_statement_writes_are_its_targets() {
        let sql = "INSERT INTO a (x) VALUES (1) ON CONFLICT (x) DO UPDATE SET x = 2;\n\
                   UPDATE b SET x = 1 FROM c WHERE b.id = c.id;\n\
                   DELETE FROM s.d WHERE id IN (SELECT id FROM e FOR UPDATE);\n\
                   WITH gone AS (DELETE FROM f RETURNING id) SELECT count(*) FROM gone;\n\
                   SELECT replace(x, 'a', 'b') FROM g;";
        assert_eq!(
            check(sql, Dialect::Postgres).unwrap(),
            ["a", "b", "s.d", "f"]
        );
        let sql = "INSERT IGNORE INTO `h` VALUES (1) ON DUPLICATE KEY UPDATE x = 1;\nUPDATE LOW_PRIORITY i t SET t.x = 1;";
        assert_eq!(check(sql, Dialect::Mysql).unwrap(), ["h", "i"]);
    }

    #[test]
    fn untrackable_statements_are_refused_naming_them() {
        for (sql, what) in [
            ("TRUNCATE t;", "TRUNCATE"),
            ("ALTER TABLE t ADD c int;", "ALTER TABLE"),
            ("CREATE TABLE t (a int);", "CREATE TABLE"),
            ("DO $$ BEGIN DELETE FROM t; END $$;", "DO"),
            (
                "SET session_replication_role = replica;",
                "session_replication_role",
            ),
            ("INSERT OR REPLACE INTO t VALUES (1);", "INSERT"),
            ("REPLACE INTO t VALUES (1);", "REPLACE"),
            ("UPDATE a JOIN b ON a.id = b.id SET a.x = 1;", "UPDATE"),
            ("DELETE a, b FROM a JOIN b ON a.id = b.id;", "DELETE"),
            ("CALL p();", "CALL"),
            ("PRAGMA foreign_keys = 0;", "PRAGMA"),
        ] {
            let err = check(sql, Dialect::Mysql)
                .or_else(|_| check(sql, Dialect::Sqlite))
                .expect_err(sql);
            assert!(err.contains(what), "{sql}: {err}");
            assert!(err.contains("statement 1 (line 1)"), "{err}");
        }
    }
}
