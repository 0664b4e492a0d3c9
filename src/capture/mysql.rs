//! MySQL capture. Triggers are DDL, which commits, so they are created
//! before the script's transaction and dropped after it; each fires only in
//! a session whose variable `@oneoff_capture_<random>` is 1, which only
//! oneoff's connection sets, and only while the script runs. They write
//! `oneoff_changes` directly, in the script's transaction, numbering the
//! rows with a second session variable (`oneoff_capture`, where they used to
//! stage rows, is no longer written). Triggers a killed runner left behind
//! fire for no session; the next revertible run drops them.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::Tracked;
use crate::db::{literal, AnyConnection};
use crate::script::revertible::TableName;

/// Every capture trigger's name starts so (the runner drops strays).
const PREFIX: &str = "oneoff_capture_";

fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The table's primary key and columns; both empty when it does not exist.
pub(super) fn describe(
    conn: &mut AnyConnection,
    table: &TableName,
) -> QueryResult<(Vec<String>, Vec<String>)> {
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let schema = table.schema.as_deref();
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT CAST(COLUMN_NAME AS CHAR) AS name FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind::<Nullable<Text>, _>(schema)
    .bind::<Text, _>(&table.name)
    .load(conn)?;
    let key: Vec<Column> = diesel::sql_query(
        "SELECT CAST(COLUMN_NAME AS CHAR) AS name FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
         ORDER BY ORDINAL_POSITION",
    )
    .bind::<Nullable<Text>, _>(schema)
    .bind::<Text, _>(&table.name)
    .load(conn)?;
    Ok((
        key.into_iter().map(|c| c.name).collect(),
        columns.into_iter().map(|c| c.name).collect(),
    ))
}

fn json_of(row: &str, columns: &[String]) -> String {
    let pairs: Vec<String> = columns
        .iter()
        .map(|c| format!("{}, {row}.{}", literal(c), quoted(c)))
        .collect();
    format!("JSON_OBJECT({})", pairs.join(", "))
}

fn table_sql(table: &TableName) -> String {
    match &table.schema {
        Some(schema) => format!("{}.{}", quoted(schema), quoted(&table.name)),
        None => quoted(&table.name),
    }
}

fn trigger_name(nonce: &str, i: usize, op: &str, table: &TableName) -> String {
    let name = format!("{PREFIX}{nonce}_{i}_{op}");
    match &table.schema {
        Some(schema) => format!("{}.{}", quoted(schema), quoted(&name)),
        None => quoted(&name),
    }
}

/// Drops capture triggers left by a runner that died, then creates this
/// capture's (each DDL statement commits on its own), writing into
/// `changes` (the ledger's table, database-qualified: a trigger's
/// unqualified names are its table's database) for the attempt.
pub(super) fn arm(
    conn: &mut AnyConnection,
    nonce: &str,
    tracked: &[Tracked],
    changes: &str,
    attempt: (&str, &str),
) -> QueryResult<()> {
    drop_strays(conn)?;
    let (on_var, seq) = (
        format!("@oneoff_capture_{nonce}"),
        format!("@oneoff_seq_{nonce}"),
    );
    let (script_id, run_id) = (literal(attempt.0), literal(attempt.1));
    for (i, t) in tracked.iter().enumerate() {
        let on = table_sql(&t.table);
        let name = literal(&t.table.to_string());
        let (new, old) = (json_of("NEW", &t.columns), json_of("OLD", &t.columns));
        let (new_key, old_key) = (json_of("NEW", &t.key), json_of("OLD", &t.key));
        for (op, event, key, old_values, new_values) in [
            ("i", "INSERT", &new_key, "NULL", new.as_str()),
            ("u", "UPDATE", &new_key, old.as_str(), new.as_str()),
            ("d", "DELETE", &old_key, old.as_str(), "NULL"),
        ] {
            let word = match op {
                "i" => "insert",
                "u" => "update",
                _ => "delete",
            };
            // SET, not `@v := @v + 1` inside the INSERT: MySQL 8 warns
            // about that on every row, and the warnings would be the script's.
            conn.batch_execute(&format!(
                "CREATE TRIGGER {} AFTER {event} ON {on} FOR EACH ROW \
                 BEGIN IF {on_var} = 1 THEN \
                   SET {seq} = {seq} + 1; \
                   INSERT INTO {changes} (script_id, run_id, seq, table_name, op, row_key, old_values, new_values) \
                   VALUES ({script_id}, {run_id}, {seq}, {name}, '{word}', {key}, {old_values}, {new_values}); \
                 END IF; END",
                trigger_name(nonce, i, op, &t.table)
            ))?;
        }
    }
    Ok(())
}

/// Capture triggers in the current database that no live capture owns: the
/// run lock is held, so any found now were left by a runner that died.
fn drop_strays(conn: &mut AnyConnection) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Trigger {
        #[diesel(sql_type = Text)]
        schema: String,
        #[diesel(sql_type = Text)]
        name: String,
    }
    let strays: Vec<Trigger> = diesel::sql_query(format!(
        "SELECT CAST(TRIGGER_SCHEMA AS CHAR) AS `schema`, CAST(TRIGGER_NAME AS CHAR) AS name \
         FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE '{}%'",
        PREFIX.replace('_', "\\_")
    ))
    .load(conn)?;
    for t in strays {
        tracing::warn!(
            "dropping change-log trigger {}.{} left by a runner that stopped",
            t.schema,
            t.name
        );
        conn.batch_execute(&format!(
            "DROP TRIGGER IF EXISTS {}.{}",
            quoted(&t.schema),
            quoted(&t.name)
        ))?;
    }
    Ok(())
}

/// Inside the script's transaction, before its statements: capture on,
/// numbering from 1.
pub(super) fn open(conn: &mut AnyConnection, nonce: &str) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "SET @oneoff_seq_{nonce} = 0, @oneoff_capture_{nonce} = 1"
    ))
}

/// Capture off; the rows the triggers recorded for the attempt.
pub(super) fn collect(
    conn: &mut AnyConnection,
    nonce: &str,
    changes: &str,
    attempt: (&str, &str),
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    conn.batch_execute(&format!("SET @oneoff_capture_{nonce} = NULL"))?;
    let n: Count = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM {changes} WHERE script_id = ? AND run_id = ?"
    ))
    .bind::<Text, _>(attempt.0)
    .bind::<Text, _>(attempt.1)
    .get_result(conn)?;
    Ok(n.n)
}

/// After the transaction: capture off and the triggers gone.
pub(super) fn disarm(
    conn: &mut AnyConnection,
    nonce: &str,
    tracked: &[Tracked],
) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "SET @oneoff_capture_{nonce} = NULL, @oneoff_seq_{nonce} = NULL"
    ))?;
    for (i, t) in tracked.iter().enumerate() {
        for op in ["i", "u", "d"] {
            conn.batch_execute(&format!(
                "DROP TRIGGER IF EXISTS {}",
                trigger_name(nonce, i, op, &t.table)
            ))?;
        }
    }
    Ok(())
}
