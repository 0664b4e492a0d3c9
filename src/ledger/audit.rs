//! The audit trail's tables: `oneoff_invocations` (who ran a command, from
//! where, as which database user, with which oneoff, on which environment)
//! and `oneoff_approvals` (an approval of one checksum of a script for one
//! environment), and the reads `log`, `show` and the approval gate need.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::migrate::backend_of;
use super::models::RunRow;
use super::schema::{
    oneoff_approvals as approvals, oneoff_invocations as inv, oneoff_runs as runs,
};
use crate::db::{AnyConnection, Backend};

/// History status of an approval (its row in `oneoff_runs`).
pub const APPROVED: &str = "approved";

/// A row of `oneoff_invocations`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable, serde::Serialize)]
#[diesel(table_name = inv)]
pub struct Invocation {
    /// The run id that `oneoff_runs` rows of this command carry.
    pub run_id: String,
    /// `run`, `dry-run`, `approve`, `skip`, `mark`.
    pub command: String,
    /// The environment of oneoff.toml, if one was selected.
    pub environment: Option<String>,
    /// `ONEOFF_USER` or the OS user.
    pub os_user: String,
    /// The host.
    pub host: String,
    /// The database's `current_user` (none for SQLite).
    pub db_user: Option<String>,
    /// The oneoff version.
    pub tool_version: String,
    /// When the command started (UTC).
    pub started_at: NaiveDateTime,
}

impl Invocation {
    /// This process's invocation of `command`, as run id `run_id`.
    pub fn now(
        run_id: &str,
        command: &str,
        environment: Option<&str>,
        conn: &mut AnyConnection,
    ) -> QueryResult<Invocation> {
        let who = crate::identity::Identity::current();
        Ok(Invocation {
            run_id: run_id.to_string(),
            command: command.to_string(),
            environment: environment.map(str::to_string),
            os_user: who.user,
            host: who.host,
            db_user: database_user(conn)?,
            tool_version: super::TOOL_VERSION.to_string(),
            started_at: super::now(),
        })
    }

    /// Writes it.
    pub fn insert(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        diesel::insert_into(inv::table).values(self).execute(conn)?;
        Ok(())
    }
}

/// The database user the connection works as.
pub fn database_user(conn: &mut AnyConnection) -> QueryResult<Option<String>> {
    #[derive(QueryableByName)]
    struct User {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let query = match backend_of(conn) {
        Backend::Sqlite => return Ok(None),
        Backend::Postgres => "SELECT CAST(current_user AS TEXT) AS name",
        Backend::Mysql => "SELECT CURRENT_USER() AS name",
    };
    let user: User = diesel::sql_query(query).get_result(conn)?;
    Ok(Some(user.name))
}

/// A row of `oneoff_approvals`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable, serde::Serialize)]
#[diesel(table_name = approvals)]
pub struct Approval {
    /// The `approve` invocation.
    pub run_id: String,
    /// Script id.
    pub script_id: String,
    /// The environment it is for.
    pub environment: String,
    /// The checksum of the file approved.
    pub checksum: String,
    /// Who approved.
    pub approved_by: String,
    /// Why.
    pub reason: String,
    /// When (UTC).
    pub approved_at: NaiveDateTime,
}

/// Records an approval and its history row, in one transaction.
pub fn approve(conn: &mut AnyConnection, approval: &Approval, run_by: &str) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::insert_into(approvals::table)
            .values(approval)
            .execute(conn)?;
        let mut row = super::attempt::history_row(
            (&approval.script_id, Some(&approval.checksum)),
            &super::Attempt {
                run_id: approval.run_id.clone(),
                run_by: run_by.to_string(),
                started_at: approval.approved_at,
            },
            APPROVED,
            false,
            Some(&approval.reason),
        );
        row.finished_at = Some(approval.approved_at);
        diesel::insert_into(runs::table)
            .values(&row)
            .execute(conn)?;
        Ok(())
    })
}

/// The approvals of a script for an environment, oldest first.
pub fn approvals_of(
    conn: &mut AnyConnection,
    script_id: &str,
    environment: &str,
) -> QueryResult<Vec<Approval>> {
    approvals::table
        .filter(approvals::script_id.eq(script_id))
        .filter(approvals::environment.eq(environment))
        .order(approvals::approved_at.asc())
        .load(conn)
}

/// Every approval on an environment, oldest first.
pub fn approvals_in(conn: &mut AnyConnection, environment: &str) -> QueryResult<Vec<Approval>> {
    approvals::table
        .filter(approvals::environment.eq(environment))
        .order(approvals::approved_at.asc())
        .load(conn)
}

/// Every approval of a script, oldest first.
pub fn all_approvals_of(conn: &mut AnyConnection, script_id: &str) -> QueryResult<Vec<Approval>> {
    approvals::table
        .filter(approvals::script_id.eq(script_id))
        .order(approvals::approved_at.asc())
        .load(conn)
}

/// The latest dry run of a script on an environment (any checksum).
pub fn last_dry_run(
    conn: &mut AnyConnection,
    script_id: &str,
    environment: Option<&str>,
) -> QueryResult<Option<RunRow>> {
    let mut query = runs::table
        .filter(runs::script_id.eq(script_id))
        .filter(runs::dry_run.eq(true))
        .order(runs::started_at.desc())
        .into_boxed();
    if let Some(env) = environment {
        query = query.filter(
            runs::run_id.eq_any(
                inv::table
                    .filter(inv::environment.eq(env))
                    .select(inv::run_id),
            ),
        );
    }
    query.first(conn).optional()
}

/// Whether a dry run of this checksum of the script succeeded on the environment.
pub fn rehearsed(
    conn: &mut AnyConnection,
    script_id: &str,
    checksum: &str,
    environment: &str,
) -> QueryResult<bool> {
    let n: i64 = runs::table
        .filter(runs::script_id.eq(script_id))
        .filter(runs::dry_run.eq(true))
        .filter(runs::status.eq(super::Status::Succeeded.as_str()))
        .filter(runs::checksum.eq(checksum))
        .filter(
            runs::run_id.eq_any(
                inv::table
                    .filter(inv::environment.eq(environment))
                    .select(inv::run_id),
            ),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// One event of the history, with who and where.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// The history row.
    #[serde(flatten)]
    pub run: RunRow,
    /// Its invocation, when recorded (older ledgers have none).
    pub invocation: Option<Invocation>,
}

/// The history, newest first: of one script or all, of one environment or
/// all, at most `limit` events.
pub fn events(
    conn: &mut AnyConnection,
    script_id: Option<&str>,
    environment: Option<&str>,
    limit: Option<i64>,
) -> QueryResult<Vec<Event>> {
    let mut query = runs::table
        .order((
            runs::started_at.desc(),
            runs::run_id.desc(),
            runs::script_id.desc(),
        ))
        .into_boxed();
    if let Some(id) = script_id {
        query = query.filter(runs::script_id.eq(id));
    }
    if let Some(env) = environment {
        query = query.filter(
            runs::run_id.eq_any(
                inv::table
                    .filter(inv::environment.eq(env))
                    .select(inv::run_id),
            ),
        );
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    let rows: Vec<RunRow> = query.load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.run_id.as_str()).collect();
    let invocations: Vec<Invocation> = inv::table.filter(inv::run_id.eq_any(&ids)).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|run| {
            let invocation = invocations.iter().find(|i| i.run_id == run.run_id).cloned();
            Event { run, invocation }
        })
        .collect())
}
