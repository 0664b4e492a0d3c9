//! SQLite capture: a temporary staging table and temporary triggers, which
//! belong to this connection alone (no other connection can fire them),
//! made and dropped inside the script's transaction.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use super::{quoted, Tracked};
use crate::db::AnyConnection;
use crate::script::revertible::TableName;

/// The table's primary key and columns; both empty when it does not exist.
pub(super) fn describe(
    conn: &mut AnyConnection,
    table: &TableName,
) -> QueryResult<(Vec<String>, Vec<String>)> {
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Integer)]
        pk: i32,
    }
    let schema = table.schema.as_deref().unwrap_or("main");
    let mut columns: Vec<Column> =
        diesel::sql_query("SELECT name, pk FROM pragma_table_info(?1, ?2) ORDER BY cid")
            .bind::<Text, _>(&table.name)
            .bind::<Text, _>(schema)
            .load(conn)?;
    let all = columns.iter().map(|c| c.name.clone()).collect();
    columns.retain(|c| c.pk > 0);
    columns.sort_by_key(|c| c.pk);
    Ok((columns.into_iter().map(|c| c.name).collect(), all))
}

fn staging(nonce: &str) -> String {
    format!("temp.capture_{nonce}")
}

fn json_of(row: &str, columns: &[String]) -> String {
    let pairs: Vec<String> = columns
        .iter()
        .map(|c| format!("{}, {row}.{}", crate::db::literal(c), quoted(c)))
        .collect();
    format!("json_object({})", pairs.join(", "))
}

fn triggers(nonce: &str, i: usize) -> [String; 3] {
    ["i", "u", "d"].map(|op| format!("capture_{nonce}_{i}_{op}"))
}

pub(super) fn arm(conn: &mut AnyConnection, nonce: &str, tracked: &[Tracked]) -> QueryResult<()> {
    // Unqualified inside the triggers: SQLite refuses `temp.` there, and a
    // temporary trigger finds the temporary table first.
    let stage = format!("capture_{nonce}");
    let mut sql = format!(
        "CREATE TEMP TABLE capture_{nonce} (tbl TEXT NOT NULL, op TEXT NOT NULL, pk TEXT NOT NULL, old TEXT, new TEXT);"
    );
    for (i, t) in tracked.iter().enumerate() {
        let on = format!(
            "{}.{}",
            quoted(t.table.schema.as_deref().unwrap_or("main")),
            quoted(&t.table.name)
        );
        let name = crate::db::literal(&t.table.to_string());
        let [ins, upd, del] = triggers(nonce, i);
        let (new, old) = (json_of("NEW", &t.columns), json_of("OLD", &t.columns));
        let (new_key, old_key) = (json_of("NEW", &t.key), json_of("OLD", &t.key));
        sql.push_str(&format!(
            "CREATE TEMP TRIGGER {ins} AFTER INSERT ON {on} BEGIN INSERT INTO {stage} VALUES ({name}, 'insert', {new_key}, NULL, {new}); END;\
             CREATE TEMP TRIGGER {upd} AFTER UPDATE ON {on} BEGIN INSERT INTO {stage} VALUES ({name}, 'update', {new_key}, {old}, {new}); END;\
             CREATE TEMP TRIGGER {del} AFTER DELETE ON {on} BEGIN INSERT INTO {stage} VALUES ({name}, 'delete', {old_key}, {old}, NULL); END;"
        ));
    }
    conn.batch_execute(&sql)
}

pub(super) fn collect(
    conn: &mut AnyConnection,
    nonce: &str,
    tracked: &[Tracked],
    script_id: &str,
    run_id: &str,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let stage = staging(nonce);
    let mut drop = String::new();
    for i in 0..tracked.len() {
        for trigger in triggers(nonce, i) {
            drop.push_str(&format!("DROP TRIGGER temp.{trigger};"));
        }
    }
    // The triggers go first: nothing below may add to the staging table.
    conn.batch_execute(&drop)?;
    let n: Count =
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {stage}")).get_result(conn)?;
    diesel::sql_query(format!(
        "INSERT INTO main.oneoff_changes (script_id, run_id, seq, table_name, op, row_key, old_values, new_values) \
         SELECT ?1, ?2, rowid, tbl, op, pk, old, new FROM {stage} ORDER BY rowid"
    ))
    .bind::<Text, _>(script_id)
    .bind::<Text, _>(run_id)
    .execute(conn)?;
    conn.batch_execute(&format!("DROP TABLE {stage}"))?;
    Ok(n.n)
}
