//! MySQL and MariaDB: `GET_LOCK` named after the database, `KILL QUERY`
//! from a second connection, and the session put back between scripts by
//! comparing every session variable with a snapshot taken at connect (a
//! connection reset would release the run lock). Writes to oneoff's tables
//! are found by a fingerprint of the ledger (and the approvals) taken
//! before and after a script.

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
    /// Temporary tables the last script created (MySQL cannot list them).
    temporary: Vec<String>,
}

/// The table a `CREATE TEMPORARY TABLE` statement creates, as written.
fn temporary_table(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let lead: Vec<String> = words
        .by_ref()
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    let is_temp = lead.len() == 3
        && lead[0] == "CREATE"
        && (lead[1] == "TEMPORARY" && lead[2] == "TABLE"
            || lead[1] == "OR" && lead[2] == "REPLACE");
    if !is_temp {
        return None;
    }
    let mut rest: Vec<&str> = words.collect();
    if lead[1] == "OR" {
        if rest.len() < 3 || !rest[0].eq_ignore_ascii_case("TEMPORARY") {
            return None;
        }
        rest.drain(..2);
    }
    if rest.len() >= 3 && rest[0].eq_ignore_ascii_case("IF") {
        rest.drain(..3);
    }
    let name = rest.first()?;
    let name: String = name
        .chars()
        .take_while(|c| *c != '(' && *c != ';')
        .collect();
    (!name.is_empty()).then_some(name)
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
            temporary: Vec::new(),
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
        for table in std::mem::take(&mut self.temporary) {
            conn.batch_execute(&format!("DROP TEMPORARY TABLE IF EXISTS {table}"))?;
        }
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
        // transaction (and a temporary table dropped there is not DDL).
        self.reset_session(conn)
    }

    fn end_of_script(
        &mut self,
        conn: &mut AnyConnection,
        statements: &[crate::script::Statement],
    ) -> QueryResult<()> {
        // Tables a no-transaction script locked; nothing when none are.
        conn.batch_execute("UNLOCK TABLES")?;
        self.temporary = statements
            .iter()
            .filter_map(|s| temporary_table(&s.text))
            .collect();
        self.reset_session(conn)
    }

    fn guard_ledger(&mut self, conn: &mut AnyConnection, _armed: bool) -> QueryResult<String> {
        // The ledger, and the approvals a script must not forge (issue 11).
        let query = format!(
            "CONCAT((SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', id, status, attempts, checksum))), 0)) \
             FROM {db}.oneoff_ledger), '/', \
             (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', run_id, script_id, environment, checksum, approved_by))), 0)) \
             FROM {db}.oneoff_approvals))",
            db = self.database
        );
        diesel::select(sql::<Text>(&query)).get_result(conn)
    }

    fn ledger_table(&self, table: &str) -> String {
        format!("{}.{table}", self.database)
    }

    fn in_transaction(&mut self, conn: &mut AnyConnection) -> Option<bool> {
        // MariaDB only; MySQL 8 has no such variable.
        diesel::select(sql::<BigInt>("CAST(@@in_transaction AS SIGNED)"))
            .get_result::<i64>(conn)
            .ok()
            .map(|n| n == 1)
    }
}
