//! MySQL and MariaDB: `GET_LOCK` named after the database, `KILL QUERY`
//! from a second connection, and the session put back between scripts by
//! comparing every session variable with a snapshot taken at connect (a
//! connection reset would release the run lock). Writes to oneoff's tables
//! are found by a fingerprint of the ledger taken before and after a script.

use std::collections::BTreeMap;

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::engine::{literal, Canceller, Engine, LockError};
use super::{AnyConnection, Backend};

/// Session variables that change by themselves or cannot be set back.
const VOLATILE: &[&str] = &[
    "timestamp",
    "last_insert_id",
    "insert_id",
    "identity",
    "rand_seed1",
    "rand_seed2",
    "warning_count",
    "error_count",
    "in_transaction",
    "last_gtid",
    "gtid_seq_no",
    "pseudo_thread_id",
    "pseudo_slave_mode",
    "transaction_isolation",
    "tx_isolation",
    "transaction_read_only",
    "tx_read_only",
    "external_user",
    "proxy_user",
    "session_track_gtids",
    "wsrep_sync_wait",
];

#[derive(QueryableByName)]
struct Variable {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// The MySQL engine of one connection.
pub struct Mysql {
    url: String,
    /// The database the URL names, quoted with backticks.
    database: String,
    /// The lock name (lock names are server-wide, so it names the database).
    lock_name: String,
    /// Session variables as they were right after connecting.
    session: BTreeMap<String, Option<String>>,
}

impl Mysql {
    pub(crate) fn new(url: &str, conn: &mut AnyConnection) -> QueryResult<Mysql> {
        let database: Option<String> =
            diesel::select(sql::<Nullable<Text>>("DATABASE()")).get_result(conn)?;
        let database = database.unwrap_or_default();
        let lock: String = format!("oneoff:{database}").chars().take(64).collect();
        Ok(Mysql {
            url: url.to_string(),
            database: format!("`{}`", database.replace('`', "``")),
            lock_name: literal(&lock),
            session: variables(conn)?,
        })
    }
}

fn variables(conn: &mut AnyConnection) -> QueryResult<BTreeMap<String, Option<String>>> {
    let rows: Vec<Variable> = diesel::sql_query(
        "SELECT LOWER(VARIABLE_NAME) AS name, VARIABLE_VALUE AS value \
         FROM information_schema.SESSION_VARIABLES",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|v| !VOLATILE.contains(&v.name.as_str()))
        .map(|v| (v.name, v.value))
        .collect())
}

/// A value as MySQL wants it back: numbers bare, anything else quoted.
fn value_sql(value: &Option<String>) -> String {
    match value {
        None => "NULL".into(),
        Some(v) if !v.is_empty() && v.parse::<f64>().is_ok() => v.clone(),
        Some(v) => literal(v),
    }
}

impl Engine for Mysql {
    fn backend(&self) -> Backend {
        Backend::Mysql
    }

    fn try_lock(&mut self, conn: &mut AnyConnection) -> Result<bool, LockError> {
        let got: Option<i64> = diesel::select(sql::<Nullable<BigInt>>(&format!(
            "CAST(GET_LOCK({}, 0) AS SIGNED)",
            self.lock_name
        )))
        .get_result(conn)?;
        Ok(got == Some(1))
    }

    fn holds_lock(&mut self, conn: &mut AnyConnection) -> QueryResult<bool> {
        let holder: Option<i64> = diesel::select(sql::<Nullable<BigInt>>(&format!(
            "CAST(IS_USED_LOCK({}) AS SIGNED)",
            self.lock_name
        )))
        .get_result(conn)?;
        let me: i64 =
            diesel::select(sql::<BigInt>("CAST(CONNECTION_ID() AS SIGNED)")).get_result(conn)?;
        Ok(holder == Some(me))
    }

    fn unlock(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        diesel::select(sql::<Nullable<BigInt>>(&format!(
            "CAST(RELEASE_LOCK({}) AS SIGNED)",
            self.lock_name
        )))
        .get_result::<Option<i64>>(conn)?;
        Ok(())
    }

    fn canceller(&mut self, conn: &mut AnyConnection) -> QueryResult<Canceller> {
        let id: i64 =
            diesel::select(sql::<BigInt>("CAST(CONNECTION_ID() AS SIGNED)")).get_result(conn)?;
        let url = self.url.clone();
        Ok(Box::new(move || {
            let mut c = diesel::MysqlConnection::establish(&url).map_err(|e| e.to_string())?;
            c.batch_execute(&format!("KILL QUERY {id}"))
                .map_err(|e| e.to_string())
        }))
    }

    fn reset_session(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        // A role the script took: SET ROLE NONE is known to MariaDB 10.0.5+
        // and MySQL 8; older servers have no roles to leave.
        if let Err(e) = conn.batch_execute("SET ROLE NONE") {
            tracing::debug!("SET ROLE NONE: {e}");
        }
        conn.batch_execute(&format!("USE {}", self.database))?;
        let now = variables(conn)?;
        let changed: Vec<String> = self
            .session
            .iter()
            .filter(|(name, value)| now.get(*name) != Some(value))
            .map(|(name, value)| format!("SET SESSION {name} = {}", value_sql(value)))
            .collect();
        for set in changed {
            conn.batch_execute(&set)?;
        }
        Ok(())
    }

    fn pin_ledger(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        // Nothing here commits: USE and SET SESSION are allowed inside a
        // transaction.
        self.reset_session(conn)
    }

    fn guard_ledger(&mut self, conn: &mut AnyConnection, _armed: bool) -> QueryResult<String> {
        let query = format!(
            "(SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', id, status, attempts, checksum))), 0)) \
             FROM {}.oneoff_ledger)",
            self.database
        );
        diesel::select(sql::<Text>(&query)).get_result(conn)
    }

    fn in_transaction(&mut self, conn: &mut AnyConnection) -> Option<bool> {
        // MariaDB only; MySQL 8 has no such variable.
        diesel::select(sql::<BigInt>("CAST(@@in_transaction AS SIGNED)"))
            .get_result::<i64>(conn)
            .ok()
            .map(|n| n == 1)
    }
}
