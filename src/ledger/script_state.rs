//! What a Rust script's attempt keeps beyond the ledger row: the cursor of
//! its last committed checkpoint (`oneoff_cursors`), and its output lines
//! (`oneoff_output`: log lines and after-commit effects).

use diesel::prelude::*;

use super::schema::oneoff_cursors as cursors;
use crate::db::AnyConnection;

/// The cursor of the script's last committed checkpoint, if any.
pub fn cursor(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<String>> {
    cursors::table
        .find(id)
        .select(cursors::cursor_json)
        .first(conn)
        .optional()
}

/// Saves the cursor, in the transaction of the checkpoint's work.
pub fn save_cursor(
    conn: &mut AnyConnection,
    id: &str,
    run_id: &str,
    json: &str,
) -> QueryResult<()> {
    clear_cursor(conn, id)?;
    diesel::insert_into(cursors::table)
        .values((
            cursors::script_id.eq(id),
            cursors::run_id.eq(run_id),
            cursors::cursor_json.eq(json),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets the cursor (the script succeeded, or starts afresh).
pub fn clear_cursor(conn: &mut AnyConnection, id: &str) -> QueryResult<()> {
    diesel::delete(cursors::table.find(id)).execute(conn)?;
    Ok(())
}
