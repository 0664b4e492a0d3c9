//! Applies the ledger's own schema: the diesel migrations under
//! `ledger_schema/<backend>/`, embedded at compile time. Applied versions are
//! recorded in `oneoff_schema_migrations`, not in diesel's default table, so a
//! target database that uses diesel for its own schema never sees them.

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::schema::oneoff_schema_migrations;
use crate::db::{AnyConnection, Backend};

const SQLITE: EmbeddedMigrations = embed_migrations!("ledger_schema/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("ledger_schema/postgres");
const MYSQL: EmbeddedMigrations = embed_migrations!("ledger_schema/mysql");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The backend of a connection.
pub fn backend_of(conn: &AnyConnection) -> Backend {
    match conn {
        AnyConnection::Sqlite(_) => Backend::Sqlite,
        AnyConnection::Postgresql(_) => Backend::Postgres,
        AnyConnection::Mysql(_) => Backend::Mysql,
    }
}

fn bootstrap_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite | Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS oneoff_schema_migrations (
                 version VARCHAR(50) PRIMARY KEY NOT NULL,
                 run_on  TIMESTAMP   NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        }
        Backend::Mysql => {
            "CREATE TABLE IF NOT EXISTS oneoff_schema_migrations (
                 version VARCHAR(50) PRIMARY KEY NOT NULL,
                 run_on  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB"
        }
    }
}

/// The ledger schema versions this build of oneoff knows, oldest first.
pub fn known_versions(backend: Backend) -> Vec<String> {
    fn versions<DB: diesel::backend::Backend>(source: &EmbeddedMigrations) -> Vec<String>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        MigrationSource::<DB>::migrations(source)
            .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
            .unwrap_or_default()
    }
    match backend {
        Backend::Sqlite => versions::<diesel::sqlite::Sqlite>(&SQLITE),
        Backend::Postgres => versions::<diesel::pg::Pg>(&POSTGRES),
        Backend::Mysql => versions::<diesel::mysql::Mysql>(&MYSQL),
    }
}

/// Versions recorded as applied; the table must exist.
pub fn applied_versions(conn: &mut AnyConnection) -> QueryResult<BTreeSet<String>> {
    let versions: Vec<String> = oneoff_schema_migrations::table
        .select(oneoff_schema_migrations::version)
        .load(conn)?;
    Ok(versions.into_iter().collect())
}

/// Versions applied to the database that this oneoff does not know: the
/// ledger was written by a newer oneoff.
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn unknown_versions(conn: &mut AnyConnection) -> QueryResult<Vec<String>> {
    let known: BTreeSet<String> = known_versions(backend_of(conn)).into_iter().collect();
    Ok(applied_versions(conn)?
        .difference(&known)
        .cloned()
        .collect())
}

/// Where the ledger's schema stands against this oneoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schema {
    /// No ledger yet (or not even its first version applied).
    Missing,
    /// Every version this oneoff knows, and no other.
    Current,
    /// Written by an older oneoff: these versions are applied.
    Older(BTreeSet<String>),
    /// Written by a newer oneoff: these versions are unknown here, oldest first.
    Newer(Vec<String>),
}

/// Reads where the ledger's schema stands: one query when the ledger
/// exists (what every run and `status` after the first one see), so that
/// a current ledger costs no catalog lookups and no migration machinery.
pub fn schema(conn: &mut AnyConnection) -> QueryResult<Schema> {
    let Some(applied) = applied_if_any(conn)? else {
        return Ok(Schema::Missing);
    };
    let known = known_versions(backend_of(conn));
    Ok(classify(&known, applied))
}

/// The pure part of [`schema`].
fn classify(known: &[String], applied: BTreeSet<String>) -> Schema {
    let unknown: Vec<String> = applied
        .iter()
        .filter(|v| !known.contains(v))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Schema::Newer(unknown);
    }
    if known.iter().all(|v| applied.contains(v)) {
        return Schema::Current;
    }
    match known.first() {
        // The ledger tables come with the first version.
        Some(first) if applied.contains(first) => Schema::Older(applied),
        _ => Schema::Missing,
    }
}

/// The applied versions, or `None` when the versions table does not exist.
/// SQLite and MySQL just try the query (a missing table is an error only
/// the client sees); PostgreSQL looks in the catalog first, since a failed
/// query would leave an `ERROR` in the server's log on every `status` of a
/// database without a ledger.
fn applied_if_any(conn: &mut AnyConnection) -> QueryResult<Option<BTreeSet<String>>> {
    if backend_of(conn) == Backend::Postgres
        && !super::table_exists(conn, "oneoff_schema_migrations")?
    {
        return Ok(None);
    }
    match applied_versions(conn) {
        Ok(applied) => Ok(Some(applied)),
        Err(e) => match super::table_exists(conn, "oneoff_schema_migrations") {
            Ok(false) => Ok(None),
            // A runner created it between the two queries (a `status`
            // during the first run): read it now.
            Ok(true) => applied_versions(conn).map(Some),
            Err(_) => Err(e),
        },
    }
}

/// Creates or upgrades the ledger tables; a no-op when they are current.
/// The caller holds the run lock, so two runners never migrate at once.
///
/// Creates only what is missing, checking first: PostgreSQL checks the right
/// to create even for `CREATE TABLE IF NOT EXISTS`, and an operator role
/// with rights on existing ledger tables only must still be able to run.
pub fn migrate(conn: &mut AnyConnection) -> Result<(), BoxError> {
    let backend = backend_of(conn);
    let applied = match applied_if_any(conn)? {
        Some(applied) => applied,
        None => {
            conn.batch_execute(bootstrap_sql(backend))?;
            BTreeSet::new()
        }
    };
    if known_versions(backend).iter().all(|v| applied.contains(v)) {
        return Ok(());
    }
    match conn {
        AnyConnection::Sqlite(c) => apply(c, &SQLITE, &applied),
        AnyConnection::Postgresql(c) => apply(c, &POSTGRES, &applied),
        AnyConnection::Mysql(c) => apply(c, &MYSQL, &applied),
    }
}

fn apply<C>(
    conn: &mut C,
    source: &EmbeddedMigrations,
    applied: &BTreeSet<String>,
) -> Result<(), BoxError>
where
    C: Connection + 'static,
    EmbeddedMigrations: MigrationSource<C::Backend>,
{
    for migration in MigrationSource::<C::Backend>::migrations(source)? {
        let version = migration.name().version().to_string();
        if applied.contains(&version) {
            continue;
        }
        tracing::info!(%version, "applying ledger schema migration");
        conn.transaction::<_, BoxError, _>(|c| {
            migration.run(c)?;
            // The version is a compile-time constant of our own (digits and
            // dashes), never user input, so it is safe as a literal here.
            c.batch_execute(&format!(
                "INSERT INTO oneoff_schema_migrations (version) VALUES ('{version}')"
            ))?;
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(versions: &[&str]) -> BTreeSet<String> {
        versions.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_ledger_is_current_older_newer_or_missing_by_its_versions() {
        let known: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
        assert_eq!(classify(&known, set(&["1", "2", "3"])), Schema::Current);
        assert_eq!(
            classify(&known, set(&["1", "2"])),
            Schema::Older(set(&["1", "2"]))
        );
        assert_eq!(
            classify(&known, set(&["1", "2", "3", "4"])),
            Schema::Newer(vec!["4".into()])
        );
        assert_eq!(classify(&known, set(&[])), Schema::Missing);
    }

    #[test]
    fn every_backend_knows_its_versions_in_order() {
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
            let known = known_versions(backend);
            assert!(!known.is_empty());
            assert!(known.windows(2).all(|w| w[0] < w[1]), "{known:?}");
        }
    }
}
