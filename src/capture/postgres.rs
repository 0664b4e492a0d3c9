//! PostgreSQL capture: a statement trigger per table and operation, reading
//! the statement's transition tables and writing `oneoff_changes` directly,
//! created and dropped inside the script's transaction. DDL is
//! transactional there, so no other session ever sees the triggers;
//! creating them takes a SHARE ROW EXCLUSIVE lock on each table, so other
//! sessions' writes to it wait for the script's commit. The ledger guard
//! leaves the inserts into `oneoff_changes` out of its count while they run;
//! [`collect`] proves they are the capture's.

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

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

fn sequence(nonce: &str) -> String {
    format!("pg_temp.capture_{nonce}_seq")
}

fn key_of(row: &str, key: &[String]) -> String {
    let pairs: Vec<String> = key
        .iter()
        .map(|c| format!("{}, {row}.{}", literal(c), quoted(c)))
        .collect();
    format!("json_build_object({})::text", pairs.join(", "))
}

/// The trigger function for one table: one INSERT … SELECT into
/// `oneoff_changes` per statement. Its search path is pinned, so that a
/// script's own `search_path` cannot put other functions or operators in
/// place of these.
fn function(nonce: &str, i: usize, t: &Tracked, changes: &str, attempt: (&str, &str)) -> String {
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
    // row_to_json, not to_jsonb: the same values, read back the same way
    // (revert casts them to jsonb), for half the cost of building and
    // printing a jsonb.
    let insert = format!(
        "INSERT INTO {changes} (script_id, run_id, seq, table_name, op, row_key, old_values, new_values) SELECT {}, {}, nextval({}), {name}",
        literal(attempt.0),
        literal(attempt.1),
        literal(&sequence(nonce)),
    );
    format!(
        "CREATE FUNCTION pg_temp.capture_{nonce}_{i}() RETURNS trigger LANGUAGE plpgsql \
         SET search_path = pg_catalog, pg_temp AS $oneoff$ \
         DECLARE c bigint; \
         BEGIN \
           IF TG_OP = 'INSERT' THEN \
             {insert}, 'insert', {new_key}, NULL, row_to_json(n)::text FROM oneoff_new n; \
           ELSIF TG_OP = 'DELETE' THEN \
             {insert}, 'delete', {old_key}, row_to_json(o)::text, NULL FROM oneoff_old o; \
           ELSE \
             {insert}, 'update', {new_key}, row_to_json(o)::text, row_to_json(n)::text \
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

/// Rows inserted into `oneoff_changes` in this transaction so far, by the
/// server's count (which no statement can change).
fn inserted(conn: &mut AnyConnection, changes: &str) -> QueryResult<i64> {
    diesel::select(sql::<BigInt>(&format!(
        "pg_catalog.pg_stat_get_xact_tuples_inserted({}::pg_catalog.regclass)",
        literal(changes)
    )))
    .get_result(conn)
}

/// Creates the triggers, writing into `changes` (the ledger's table,
/// schema-qualified) for the attempt; returns the server's count of rows
/// inserted there so far, for [`collect`].
pub(super) fn arm(
    conn: &mut AnyConnection,
    nonce: &str,
    tracked: &[Tracked],
    changes: &str,
    attempt: (&str, &str),
) -> QueryResult<i64> {
    let mut sql = format!("CREATE TEMP SEQUENCE capture_{nonce}_seq;");
    for (i, t) in tracked.iter().enumerate() {
        sql.push_str(&function(nonce, i, t, changes, attempt));
        let on = quoted_table(&t.table, quoted);
        for (trigger, event, referencing) in triggers(nonce, i) {
            sql.push_str(&format!(
                "CREATE TRIGGER {trigger} AFTER {event} ON {on} REFERENCING {referencing} \
                 FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.capture_{nonce}_{i}();"
            ));
        }
    }
    conn.batch_execute(&sql)?;
    inserted(conn, changes)
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

/// After the statements: the triggers go, and the rows inserted into
/// `oneoff_changes` since [`arm`] are checked to be the capture's own. The
/// guard left those inserts out of its count; here the server's count must
/// equal the rows recorded for this attempt, or (a savepoint the script
/// rolled back takes rows with it, which the server still counts) no row
/// inserted in this transaction may belong to anything else.
pub(super) fn collect(
    conn: &mut AnyConnection,
    nonce: &str,
    tracked: &[Tracked],
    changes: &str,
    attempt: (&str, &str),
    inserted_before: i64,
) -> Result<i64, String> {
    let mut drop = String::new();
    for (i, t) in tracked.iter().enumerate() {
        let on = quoted_table(&t.table, quoted);
        for (trigger, _, _) in triggers(nonce, i) {
            drop.push_str(&format!("DROP TRIGGER {trigger} ON {on};"));
        }
        drop.push_str(&format!("DROP FUNCTION pg_temp.capture_{nonce}_{i}();"));
    }
    drop.push_str(&format!("DROP SEQUENCE {};", sequence(nonce)));
    let db = |e: diesel::result::Error| {
        format!("oneoff could not record the script's changes, so its work was rolled back: {e}")
    };
    conn.batch_execute(&drop).map_err(db)?;
    let count = |conn: &mut AnyConnection, condition: &str| {
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM {changes} WHERE {condition}"
        ))
        .bind::<Text, _>(attempt.0)
        .bind::<Text, _>(attempt.1)
        .get_result::<Count>(conn)
        .map(|c| c.n)
        .map_err(db)
    };
    let recorded = count(conn, "script_id = $1 AND run_id = $2")?;
    let written = inserted(conn, changes).map_err(db)? - inserted_before;
    if written != recorded {
        // age(xmin) <= 0: inserted by this transaction or one of its
        // savepoints (the run lock keeps other writers of the ledger out).
        let foreign = count(
            conn,
            "pg_catalog.age(xmin) <= 0 AND NOT (script_id = $1 AND run_id = $2)",
        )?;
        if foreign > 0 {
            return Err(format!(
                "the script wrote to oneoff's own tables ({foreign} row(s) in oneoff_changes that are not its changes); its work was rolled back"
            ));
        }
    }
    Ok(recorded)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
