//! PostgreSQL: a session advisory lock, `pg_cancel_backend` from a second
//! connection, `RESET ALL` and friends between scripts, and the ledger's
//! schema pinned with `SET LOCAL search_path` before oneoff writes it inside
//! a script's transaction. Writes to oneoff's tables are counted by the
//! server per transaction (`pg_stat_xact_user_tables`).

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use super::engine::{literal, Canceller, Engine, LockError, SCRIPT};
use super::fused::{lock_check, text, Fused, Prepared};
use super::{AnyConnection, Backend};
use std::collections::HashMap;

use crate::ledger::in_flight::{InFlight, InFlightList};
use crate::ledger::{Finish, LedgerRow, RunRow};

/// The advisory lock key: "oneoff" in ASCII. Advisory locks are scoped to
/// the current database, so one key serves every database.
const LOCK_KEY: i64 = 0x6f6e_656f_6666;
/// oneoff's tables, which a script must not write.
use crate::ledger::schema::TABLES as LEDGER_TABLES;
/// The settings, role and authorization a script may have changed.
const RESET_SETTINGS: &str = "RESET ALL; RESET SESSION AUTHORIZATION; RESET ROLE;";
/// Checks now what the script left for the commit to check (deferred
/// constraints and constraint triggers), then puts them back as they were:
/// in a group, the commit comes after later scripts, and its failure could
/// not tell which script was at fault. PostgreSQL undoes the mode change
/// and marks the checks pending again when it rolls back to the savepoint.
const DEFERRED_CHECKS: &str = "SAVEPOINT oneoff_probe; SET CONSTRAINTS ALL IMMEDIATE; \
     ROLLBACK TO SAVEPOINT oneoff_probe; RELEASE SAVEPOINT oneoff_probe;";
/// The sequence that holds the place of the script in flight.
const SEQUENCE: &str = "oneoff_in_flight";
/// How often a killed runner's backend notices that its client is gone.
const CHECK_INTERVAL: &str = "SET client_connection_check_interval = 1000";

/// The PostgreSQL engine of one connection.
pub struct Postgres {
    url: String,
    /// Quoted name of the schema the ledger lives in (the current schema at connect).
    schema: String,
    /// Whether the server knows `client_connection_check_interval` (14+).
    check_interval: bool,
    /// oneoff's statements for fused scripts, once prepared.
    prepared: Option<Prepared>,
    /// How many sets of them this session prepared.
    sets: u32,
    /// The run's scripts that may be marked in flight: their places in the
    /// list written to `oneoff_lock.in_flight`, and when it was written.
    listed: Option<(HashMap<String, usize>, std::time::Instant)>,
    /// The position to set in the next group request (see [`Fused::mark_in_open`]).
    pending: Option<i64>,
    /// Whether the sequence may name a script of this run.
    marked: bool,
    /// A revertible script's capture writes `oneoff_changes` while the
    /// script runs: its inserts there are left out of the guard's count
    /// and checked by the capture instead (`capture::postgres`).
    capturing: bool,
}

impl Postgres {
    pub(crate) fn new(url: &str, conn: &mut AnyConnection) -> QueryResult<Postgres> {
        let schema: Option<String> =
            diesel::select(sql::<diesel::sql_types::Nullable<Text>>("current_schema()"))
                .get_result(conn)?;
        let schema = schema.unwrap_or_else(|| "public".into());
        // A killed runner's backend would otherwise go on with a long
        // statement, holding its locks and the run lock, until the
        // statement ends. PostgreSQL 14+ checks the client every second
        // with this; older servers do not know it, which is harmless.
        let check_interval = match conn.batch_execute(CHECK_INTERVAL) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("client_connection_check_interval not set: {e}");
                false
            }
        };
        Ok(Postgres {
            url: url.to_string(),
            schema: format!("\"{}\"", schema.replace('"', "\"\"")),
            check_interval,
            prepared: None,
            sets: 0,
            listed: None,
            pending: None,
            marked: false,
            capturing: false,
        })
    }

    fn lock_call(function: &str) -> diesel::expression::SqlLiteral<Bool> {
        sql::<Bool>(&format!("pg_catalog.{function}({LOCK_KEY}::bigint)"))
    }

    /// True while this session holds the run lock. A bigint key is stored
    /// as classid (high half), objid (low half), objsubid 1.
    fn lock_held() -> String {
        format!(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' \
             AND pid = pg_catalog.pg_backend_pid() AND granted AND objsubid = 1 \
             AND classid::bigint = {} AND objid::bigint = {})",
            LOCK_KEY >> 32,
            LOCK_KEY & 0xffff_ffff
        )
    }

    /// Writes to oneoff's tables in the current transaction (and, until
    /// the backend flushes its statistics, earlier ones: only a difference
    /// tells). The counters of each table, not the view over all of them,
    /// which costs ten times as much to plan.
    fn ledger_writes(&self) -> String {
        let terms: Vec<String> = LEDGER_TABLES
            .iter()
            .flat_map(|table| {
                let rel = literal(&format!("{}.{table}", self.schema));
                ["inserted", "updated", "deleted"].map(move |what| (table, what, rel.clone()))
            })
            .filter(|(table, what, _)| {
                !(self.capturing && **table == "oneoff_changes" && *what == "inserted")
            })
            .map(|(_, what, rel)| {
                format!("pg_catalog.pg_stat_get_xact_tuples_{what}({rel}::pg_catalog.regclass)")
            })
            .collect();
        format!("({})", terms.join(" + "))
    }

    /// Puts the session back as oneoff set it up. Not DISCARD ALL: it
    /// cannot run in a transaction block and would drop the connection's
    /// prepared statements (diesel caches them). The run lock is an
    /// advisory lock, which none of these touch.
    fn reset_sql(&self) -> String {
        format!("{RESET_SETTINGS} {}", self.reset_rest_sql())
    }

    /// What [`RESET_SETTINGS`] leaves: temporary tables, cursors, channels,
    /// and oneoff's own setting (which `RESET ALL` just undid).
    fn reset_rest_sql(&self) -> String {
        let mut reset = String::from("DISCARD TEMP; CLOSE ALL; UNLISTEN *;");
        if self.check_interval {
            reset.push_str(CHECK_INTERVAL);
            reset.push(';');
        }
        reset
    }

    /// Undoes, inside a transaction, what a script may have changed that
    /// the ledger statements depend on. pg_temp last: a temporary table
    /// named like a ledger table, made by the script, can never stand in
    /// for it.
    fn pin_sql(&self) -> String {
        format!(
            "{RESET_SETTINGS} SET LOCAL search_path = {}, pg_catalog, pg_temp;",
            self.schema
        )
    }
}

impl Fused for Postgres {
    fn open_sql(
        &mut self,
        claim: &LedgerRow,
        expected: Option<&LedgerRow>,
        history: &RunRow,
    ) -> String {
        let mut sql = self.prepare_sql();
        let prepared = self.prepared.as_ref().expect("prepared above");
        sql.push_str(&format!(
            "BEGIN; SET LOCAL synchronous_commit = off; {} COMMIT; BEGIN; {} SAVEPOINT oneoff_guard",
            prepared.claim(claim, expected, history),
            prepared.mark(),
        ));
        sql
    }

    fn close_sql(&mut self, id: &str, run_id: &str, attempts: i32, finish: &Finish) -> String {
        // The commit checks deferred constraints itself.
        format!(
            "{} COMMIT",
            self.close_body("", id, run_id, attempts, finish)
        )
    }

    fn forget_prepared(&mut self) {
        self.prepared = None;
    }

    fn open_in_group_sql(
        &mut self,
        begin: bool,
        claim: &LedgerRow,
        expected: Option<&LedgerRow>,
        history: &RunRow,
    ) -> String {
        // PREPARE is not transactional: prepared inside a group that rolls
        // back, the statements are still there afterwards.
        let mut sql = self.prepare_sql();
        let prepared = self.prepared.as_ref().expect("prepared above");
        if begin {
            sql.push_str("BEGIN; ");
        }
        sql.push_str(&format!("SAVEPOINT {SCRIPT}; "));
        if let Some(position) = self.pending.take() {
            // Not undone by a rollback: it names the script whatever
            // becomes of the group.
            sql.push_str(&self.set_position_sql(position));
        }
        sql.push_str(&format!(
            "{} {} SAVEPOINT oneoff_guard",
            prepared.claim(claim, expected, history),
            prepared.mark(),
        ));
        sql
    }

    fn mark_in_open(&mut self, marker: &InFlight) -> bool {
        match self.position(marker) {
            Some(position) => {
                self.pending = Some(position);
                self.marked = true;
                true
            }
            None => false,
        }
    }

    fn close_in_group_sql(
        &mut self,
        id: &str,
        run_id: &str,
        attempts: i32,
        finish: &Finish,
    ) -> String {
        let body = self.close_body(DEFERRED_CHECKS, id, run_id, attempts, finish);
        format!("{body} RELEASE SAVEPOINT {SCRIPT}")
    }
}

/// The in-flight marker kept in the database (`prefix`: the ledger's
/// schema and a dot, or nothing for the current one): the run's list and
/// the place in it of the script in flight; `None` when there is none.
pub(crate) fn stored_in_flight(
    conn: &mut AnyConnection,
    prefix: &str,
) -> QueryResult<Option<InFlight>> {
    #[derive(QueryableByName)]
    struct Marker {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        in_flight: Option<String>,
        #[diesel(sql_type = BigInt)]
        position: i64,
    }
    let rows: Vec<Marker> = diesel::sql_query(format!(
        "SELECT in_flight, (SELECT last_value FROM {prefix}{SEQUENCE}) AS position \
         FROM {prefix}oneoff_lock WHERE id = 1"
    ))
    .load(conn)?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|m| InFlightList::decode(&m.in_flight?)?.marker(m.position)))
}

impl Postgres {
    /// What closing a script does before its commit or savepoint release:
    /// the guard savepoint released, the checks, `deferred_checks`, the
    /// session put back and the success recorded. All of it transactional:
    /// a rollback undoes the script's changes to the session as well. No
    /// search path to pin: the prepared statements name the ledger's schema.
    fn close_body(
        &self,
        deferred_checks: &str,
        id: &str,
        run_id: &str,
        attempts: i32,
        finish: &Finish,
    ) -> String {
        let prepared = self.prepared.as_ref().expect("opened first");
        format!(
            "RELEASE SAVEPOINT oneoff_guard; {} {deferred_checks} {} {}",
            prepared.checks(),
            self.reset_sql(),
            prepared.finish(id, run_id, attempts, finish),
        )
    }

    /// Where `marker`'s script stands in the run's list, now.
    fn position(&self, marker: &InFlight) -> Option<i64> {
        let (places, written) = self.listed.as_ref()?;
        let index = *places.get(&marker.id)?;
        Some(InFlightList::position(
            index,
            written.elapsed().as_millis() as u64,
        ))
    }

    fn set_position_sql(&self, position: i64) -> String {
        format!(
            "SELECT pg_catalog.setval('{}.{SEQUENCE}', {position}, true);",
            self.schema.replace('\'', "''")
        )
    }

    /// oneoff's statements for fused scripts, when this session has not
    /// prepared them yet (or has forgotten them).
    fn prepare_sql(&mut self) -> String {
        if self.prepared.is_some() {
            return String::new();
        }
        self.sets += 1;
        let (prepared, statements) = Prepared::prepare(
            self.sets,
            &self.schema,
            &self.ledger_writes(),
            &Self::lock_held(),
        );
        self.prepared = Some(prepared);
        statements
    }
}

impl Engine for Postgres {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn try_lock(&mut self, conn: &mut AnyConnection) -> Result<bool, LockError> {
        Ok(diesel::select(Self::lock_call("pg_try_advisory_lock")).get_result(conn)?)
    }

    fn holds_lock(&mut self, conn: &mut AnyConnection) -> QueryResult<bool> {
        diesel::select(sql::<Bool>(&Self::lock_held())).get_result(conn)
    }

    fn unlock(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        diesel::select(Self::lock_call("pg_advisory_unlock")).get_result::<bool>(conn)?;
        Ok(())
    }

    fn canceller(&mut self, conn: &mut AnyConnection) -> QueryResult<Canceller> {
        let pid: i64 = diesel::select(sql::<BigInt>("pg_catalog.pg_backend_pid()::bigint"))
            .get_result(conn)?;
        let url = self.url.clone();
        Ok(Box::new(move || {
            let mut c = diesel::PgConnection::establish(&url).map_err(|e| e.to_string())?;
            c.batch_execute(&format!("SELECT pg_catalog.pg_cancel_backend({pid})"))
                .map_err(|e| e.to_string())
        }))
    }

    fn defers_claim(&self) -> bool {
        true
    }

    /// The marker lives in the database: the run's list of scripts that may
    /// be in flight in `oneoff_lock.in_flight` (written once, before they
    /// run, committed without waiting for the disk), and the place of the
    /// one in flight in the sequence `oneoff_in_flight`, which no rollback
    /// undoes: a runner killed mid-script leaves both behind, and the next
    /// runner reads them under the run lock. A server crash can lose them
    /// with the uncommitted group they were for (the script is then
    /// pending, not interrupted).
    fn plan_in_flight(
        &mut self,
        conn: &mut AnyConnection,
        markers: &[InFlight],
    ) -> std::io::Result<()> {
        self.listed = None;
        if markers.is_empty() {
            return Ok(());
        }
        let list = InFlightList::new(markers, crate::ledger::now());
        let sql = format!(
            "BEGIN; SET LOCAL synchronous_commit = off; \
             UPDATE {}.oneoff_lock SET in_flight = {} WHERE id = 1; {} COMMIT",
            self.schema,
            text(&list.encode()),
            self.set_position_sql(0),
        );
        conn.batch_execute(&sql).map_err(std::io::Error::other)?;
        let places = markers
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        self.listed = Some((places, std::time::Instant::now()));
        Ok(())
    }

    fn set_in_flight(
        &mut self,
        conn: &mut AnyConnection,
        marker: Option<&InFlight>,
    ) -> std::io::Result<()> {
        self.pending = None;
        let position = match marker {
            Some(marker) => self.position(marker).ok_or_else(|| {
                std::io::Error::other(format!(
                    "script {} is not in the run's list of scripts that may run",
                    marker.id
                ))
            })?,
            // A position this run never set names nothing of it.
            None if !self.marked => return Ok(()),
            None => 0,
        };
        conn.batch_execute(&self.set_position_sql(position))
            .map_err(std::io::Error::other)?;
        self.marked = position != 0;
        Ok(())
    }

    fn in_flight(&mut self, conn: &mut AnyConnection) -> Option<InFlight> {
        stored_in_flight(conn, &format!("{}.", self.schema))
            .inspect_err(|e| tracing::warn!("cannot read the in-flight marker: {e}"))
            .ok()
            .flatten()
    }

    fn group_window(&self) -> std::time::Duration {
        // Row locks a script took are held until its group commits: keep
        // that short; a commit per 50 ms is already a small share of a run.
        std::time::Duration::from_millis(50)
    }

    fn end_of_group(&mut self, _conn: &mut AnyConnection) -> QueryResult<()> {
        // Every script of the group put the session back inside it (its
        // close request, or the reset after an unfused script), which
        // commits with it; resetting again would only drop the prepared
        // statements the next group needs.
        Ok(())
    }

    fn group_checks_sql(&self) -> &'static str {
        DEFERRED_CHECKS
    }

    fn commit_group_sql(&self) -> String {
        // PostgreSQL answers the COMMIT of a failed transaction with a
        // rollback, not an error: the check before it fails instead.
        format!("{}; COMMIT", lock_check(&Self::lock_held()))
    }

    fn begin_claim_sql(&self) -> &'static str {
        // Not waiting for the disk is safe here: the work's commit comes
        // later in the same log and waits for it, flushing the claim too.
        // A crash before that loses the claim with the work it was for.
        "BEGIN; SET LOCAL synchronous_commit = off"
    }

    fn reset_session(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        // After a script that ran unfused, oneoff's prepared statements may
        // be gone (DEALLOCATE): prepare them again when next needed.
        self.prepared = None;
        conn.batch_execute(&self.reset_sql())
    }

    fn pin_ledger(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        conn.batch_execute(&self.pin_sql())
    }

    fn fuses(&self) -> bool {
        true
    }

    fn fused(&mut self) -> Option<&mut dyn Fused> {
        Some(self)
    }

    fn guard_ledger(&mut self, conn: &mut AnyConnection, _armed: bool) -> QueryResult<String> {
        let query = format!("({})::text", self.ledger_writes());
        diesel::select(sql::<Text>(&query)).get_result(conn)
    }

    fn capture_writes_changes(&mut self, on: bool) {
        self.capturing = on;
    }

    fn ledger_table(&self, table: &str) -> String {
        format!("{}.{table}", self.schema)
    }

    fn ledger_fingerprint(&mut self, conn: &mut AnyConnection) -> QueryResult<String> {
        // The per-transaction counters above end with each autocommitted
        // statement: compare the rows themselves instead.
        let query = format!(
            "(SELECT count(*)::text || ':' || COALESCE(SUM(hashtext(concat_ws('|', id, status, attempts, checksum))::bigint), 0)::text \
             FROM {}.oneoff_ledger)",
            self.schema
        );
        diesel::select(sql::<Text>(&query)).get_result(conn)
    }
}
