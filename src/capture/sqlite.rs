//! SQLite capture. Where the library has the pre-update hook, a Rust
//! callback on this connection copies each changed row and oneoff writes
//! them to `oneoff_changes` after each statement ([`crate::db::sqlite_hook`]);
//! otherwise (or for a table with generated columns, whose values the hook
//! numbers differently) a temporary staging table and temporary triggers,
//! which belong to this connection alone, made and dropped inside the
//! script's transaction. Either way no other connection's writes are seen.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use super::{quoted, Tracked};
use crate::db::sqlite_hook::{HookTable, PreupdateLog};
use crate::db::{AnyConnection, Db};
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

/// Inside the script's transaction, before its statements (and before the
/// ledger guard, which would refuse the hook's prepared statements).
pub(super) fn arm(
    db: &mut Db,
    nonce: &str,
    tracked: &[Tracked],
    attempt: (&str, &str),
) -> QueryResult<()> {
    if let Some(tables) = hook_tables(&mut db.conn, tracked)? {
        if let Some(handle) = db.engine.sqlite_handle() {
            if let Some(log) = PreupdateLog::install(handle, tables, attempt.0, attempt.1) {
                let log = log.map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
                db.preupdate = Some(log);
                tracing::debug!("change log: SQLite pre-update hook");
                return Ok(());
            }
        }
    }
    tracing::debug!("change log: temporary triggers");
    arm_triggers(&mut db.conn, nonce, tracked)
}

/// The tables as the hook sees them, or `None` when the hook cannot be
/// used: the library lacks it, or a table has generated (hidden) columns,
/// which the hook counts and the trigger capture leaves out.
fn hook_tables(
    conn: &mut AnyConnection,
    tracked: &[Tracked],
) -> QueryResult<Option<Vec<HookTable>>> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    if !crate::db::sqlite_hook::available() {
        return Ok(None);
    }
    let mut tables = Vec::new();
    for t in tracked {
        let schema = t.table.schema.as_deref().unwrap_or("main");
        let hidden: Count = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pragma_table_xinfo(?1, ?2) WHERE hidden <> 0",
        )
        .bind::<Text, _>(&t.table.name)
        .bind::<Text, _>(schema)
        .get_result(conn)?;
        if hidden.n > 0 {
            return Ok(None);
        }
        let key = t
            .key
            .iter()
            .filter_map(|k| t.columns.iter().position(|c| c == k))
            .collect();
        tables.push(HookTable {
            schema: schema.to_string(),
            name: t.table.name.clone(),
            label: t.table.to_string(),
            columns: t.columns.clone(),
            key,
        });
    }
    Ok(Some(tables))
}

fn arm_triggers(conn: &mut AnyConnection, nonce: &str, tracked: &[Tracked]) -> QueryResult<()> {
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

/// After the statements: the hook's last rows written and the hook gone,
/// or the triggers' staging table moved to `oneoff_changes`.
pub(super) fn collect(
    db: &mut Db,
    nonce: &str,
    tracked: &[Tracked],
    script_id: &str,
    run_id: &str,
) -> QueryResult<i64> {
    if let Some(mut log) = db.preupdate.take() {
        log.flush()
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
        return Ok(log.recorded());
    }
    collect_triggers(&mut db.conn, nonce, tracked, script_id, run_id)
}

fn collect_triggers(
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
