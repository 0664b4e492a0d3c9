//! PostgreSQL capture: a statement trigger per table and operation, reading
//! the statement's transition tables, created and dropped inside the
//! script's transaction. DDL is transactional there, so no other session
//! ever sees the triggers; creating them takes a SHARE ROW EXCLUSIVE lock on
//! each table, so other sessions' writes to it wait for the script's commit.

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{quoted, quoted_table, Tracked};
use crate::db::{literal, AnyConnection};
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
        #[diesel(sql_type = diesel::sql_types::Bool)]
        pk: bool,
    }
    let name = quoted_table(table, quoted);
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT a.attname::text AS name, \
                COALESCE(a.attnum = ANY (i.indkey::int2[]), false) AS pk \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') \
         LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
         WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY COALESCE(pg_catalog.array_position(i.indkey::int2[], a.attnum), 0), a.attnum",
    )
    .bind::<Text, _>(&name)
    .load(conn)?;
    let key = columns
        .iter()
        .filter(|c| c.pk)
        .map(|c| c.name.clone())
        .collect();
    Ok((key, columns.into_iter().map(|c| c.name).collect()))
}

fn staging(nonce: &str) -> String {
    format!("pg_temp.capture_{nonce}")
}

fn key_of(row: &str, key: &[String]) -> String {
    let pairs: Vec<String> = key
        .iter()
        .map(|c| format!("{}, {row}.{}", literal(c), quoted(c)))
        .collect();
    format!("jsonb_build_object({})", pairs.join(", "))
}

/// The trigger function for one table: one INSERT … SELECT per statement.
fn function(nonce: &str, i: usize, t: &Tracked) -> String {
    let stage = staging(nonce);
    let name = literal(&t.table.to_string());
    // Key columns are NOT NULL: `=` lets the planner hash-join the two
    // sets (IS NOT DISTINCT FROM would nest-loop them: quadratic).
    let join = t
        .key
        .iter()
        .map(|c| format!("o.{0} = n.{0}", quoted(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let (new_key, old_key) = (key_of("n", &t.key), key_of("o", &t.key));
    let changed_key = literal(&format!(
        "oneoff: an UPDATE changed the primary key of {}, which a revertible script cannot track; change keys in a script without -- oneoff:revertible",
        t.table
    ));
    format!(
        "CREATE FUNCTION pg_temp.capture_{nonce}_{i}() RETURNS trigger LANGUAGE plpgsql AS $oneoff$ \
         DECLARE c bigint; \
         BEGIN \
           IF TG_OP = 'INSERT' THEN \
             INSERT INTO {stage} (tbl, op, pk, old, new) SELECT {name}, 'insert', {new_key}, NULL, to_jsonb(n) FROM oneoff_new n; \
           ELSIF TG_OP = 'DELETE' THEN \
             INSERT INTO {stage} (tbl, op, pk, old, new) SELECT {name}, 'delete', {old_key}, to_jsonb(o), NULL FROM oneoff_old o; \
           ELSE \
             INSERT INTO {stage} (tbl, op, pk, old, new) SELECT {name}, 'update', {new_key}, to_jsonb(o), to_jsonb(n) \
               FROM oneoff_old o JOIN oneoff_new n ON {join}; \
             GET DIAGNOSTICS c = ROW_COUNT; \
             IF c <> (SELECT count(*) FROM oneoff_old) THEN RAISE EXCEPTION {changed_key}; END IF; \
           END IF; \
           RETURN NULL; \
         END $oneoff$;"
    )
}

fn triggers(nonce: &str, i: usize) -> [(String, &'static str, &'static str); 3] {
    [
        ("i", "INSERT", "NEW TABLE AS oneoff_new"),
        (
            "u",
            "UPDATE",
            "OLD TABLE AS oneoff_old NEW TABLE AS oneoff_new",
        ),
        ("d", "DELETE", "OLD TABLE AS oneoff_old"),
    ]
    .map(|(op, event, referencing)| (format!("capture_{nonce}_{i}_{op}"), event, referencing))
}

pub(super) fn arm(conn: &mut AnyConnection, nonce: &str, tracked: &[Tracked]) -> QueryResult<()> {
    let mut sql = format!(
        "CREATE TEMP TABLE capture_{nonce} (seq bigserial, tbl text NOT NULL, op text NOT NULL, pk jsonb NOT NULL, old jsonb, new jsonb) ON COMMIT DROP;"
    );
    for (i, t) in tracked.iter().enumerate() {
        sql.push_str(&function(nonce, i, t));
        let on = quoted_table(&t.table, quoted);
        for (trigger, event, referencing) in triggers(nonce, i) {
            sql.push_str(&format!(
                "CREATE TRIGGER {trigger} AFTER {event} ON {on} REFERENCING {referencing} \
                 FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.capture_{nonce}_{i}();"
            ));
        }
    }
    conn.batch_execute(&sql)
}

/// A script that switched triggers off (a function's `set_config`, which
/// the static rules cannot see) may have changed rows unrecorded.
pub(super) fn check_untampered(conn: &mut AnyConnection) -> Result<(), String> {
    let role: String = diesel::select(sql::<Text>("current_setting('session_replication_role')"))
        .get_result(conn)
        .map_err(|e| e.to_string())?;
    if role != "origin" {
        return Err(format!(
            "the script set session_replication_role to `{role}`, which switches off the triggers that record its changes; its work was rolled back"
        ));
    }
    Ok(())
}

pub(super) fn collect(
    conn: &mut AnyConnection,
    nonce: &str,
    tracked: &[Tracked],
    script_id: &str,
    run_id: &str,
) -> QueryResult<i64> {
    let stage = staging(nonce);
    let mut drop = String::new();
    for (i, t) in tracked.iter().enumerate() {
        let on = quoted_table(&t.table, quoted);
        for (trigger, _, _) in triggers(nonce, i) {
            drop.push_str(&format!("DROP TRIGGER {trigger} ON {on};"));
        }
        drop.push_str(&format!("DROP FUNCTION pg_temp.capture_{nonce}_{i}();"));
    }
    conn.batch_execute(&drop)?;
    // The search path is pinned to the ledger's schema here.
    let n = diesel::sql_query(format!(
        "INSERT INTO oneoff_changes (script_id, run_id, seq, table_name, op, row_key, old_values, new_values) \
         SELECT $1, $2, seq, tbl, op, pk::text, old::text, new::text FROM {stage} ORDER BY seq"
    ))
    .bind::<Text, _>(script_id)
    .bind::<Text, _>(run_id)
    .execute(conn)?;
    conn.batch_execute(&format!("DROP TABLE {stage}"))?;
    Ok(n as i64)
}
