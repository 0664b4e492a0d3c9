//! Which database to talk to: parses the URL (picking the backend from its
//! scheme), redacts it for display, and opens a diesel connection.

mod engine;
pub mod fused;
mod mysql;
pub mod notices;
mod postgres;
mod rows;
mod sqlite;
pub(crate) mod sqlite_hook;
mod sqlite_raw;

pub(crate) use engine::{first_keyword, literal, SCRIPT};
pub use engine::{Canceller, Engine, LockError};
pub use rows::first_rows;

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::error::{Error, Result};

/// The URL used when neither `--database-url` nor `DATABASE_URL` is set.
pub const DEFAULT_URL: &str = "sqlite://oneoff.db";

/// The database backends oneoff supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite, embedded, a file on disk.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

/// A parsed database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL, as given.
    Postgres(String),
    /// A `mysql://` URL, as given.
    Mysql(String),
}

impl DatabaseUrl {
    /// Parses a URL: `sqlite://PATH`, a bare path ending in `.db`, `.sqlite`
    /// or `.sqlite3`, `postgres://`, `postgresql://` or `mysql://`.
    pub fn parse(raw: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadUrl {
            url: redact(raw),
            reason: reason.to_string(),
        };
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(bad("sqlite:// needs a file path, like sqlite://oneoff.db"));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        // Re-serialised through the URL parser, so that an unencoded `@` or
        // `:` in a password is percent-encoded instead of being read by the
        // driver as part of the host (and then shown in its error message).
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        if raw.starts_with("mysql://") || raw.starts_with("mariadb://") {
            let url = url::Url::parse(&raw.replacen("mariadb://", "mysql://", 1))
                .map_err(|e| bad(&e.to_string()))?;
            return Ok(DatabaseUrl::Mysql(url.to_string()));
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(bad(&format!("unknown scheme `{scheme}`")));
        }
        let is_sqlite_file = [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|ext| raw.to_ascii_lowercase().ends_with(ext));
        if is_sqlite_file {
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(raw)));
        }
        Err(bad(
            "it has no scheme and is not a path ending in .db, .sqlite or .sqlite3",
        ))
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Mysql(_) => Backend::Mysql,
        }
    }

    /// The URL for display: any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) | DatabaseUrl::Mysql(url) => redact(url),
        }
    }

    /// The passwords in the URL (user info and query parameters), so that
    /// they can be scrubbed from driver messages.
    fn passwords(&self) -> Vec<String> {
        match self {
            DatabaseUrl::Sqlite(_) => Vec::new(),
            DatabaseUrl::Postgres(url) | DatabaseUrl::Mysql(url) => url::Url::parse(url)
                .map(|u| {
                    let query = u
                        .query_pairs()
                        .filter(|(k, _)| is_secret_param(k))
                        .map(|(_, v)| v.into_owned());
                    u.password()
                        .map(str::to_string)
                        .into_iter()
                        .chain(query)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Removes the URL's passwords (raw and percent-decoded) from a message.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for pw in self.passwords().into_iter().filter(|p| !p.is_empty()) {
            out = out.replace(&pw, "***").replace(&percent_decode(&pw), "***");
        }
        out
    }

    /// The SQLite file, if this is an SQLite URL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseUrl::Sqlite(path) => Some(path),
            _ => None,
        }
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Query parameters that carry a secret (libpq's `password`, `sslpassword`).
fn is_secret_param(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "password" | "sslpassword" | "pass" | "pwd"
    )
}

/// Replaces the passwords of a URL (user info and query parameters) with
/// `***`; leaves text that is no URL as it is.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            if url.query_pairs().any(|(k, _)| is_secret_param(&k)) {
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if is_secret_param(&k) {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string().replace("%2A%2A%2A", "***")
        }
        // An unparsable URL may still carry `user:password@`: cut it out.
        Err(_) => match (raw.find("://"), raw.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                let userinfo = &raw[start + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &raw[..start + 3], &raw[at..]),
                    None => raw.to_string(),
                }
            }
            _ => raw.to_string(),
        },
    }
}

/// A connection to any supported backend; ledger queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// PostgreSQL.
    Postgresql(diesel::PgConnection),
    /// MySQL or MariaDB.
    Mysql(diesel::MysqlConnection),
    /// SQLite.
    Sqlite(diesel::SqliteConnection),
}

pub(crate) use postgres::stored_in_flight;
pub use sqlite::in_flight_at;
pub use sqlite_raw::SqliteInterrupt;

/// A connection and its backend's [`Engine`]. The connection is declared
/// before the engine so that it closes before the engine goes (SQLite's
/// authorizer points into the engine), and after the change hook, which
/// must finalize its statements while the connection is open.
pub struct Db {
    /// A revertible script's SQLite pre-update hook, while it runs: its
    /// rows are written after each statement ([`Db::flush_changes`]).
    pub(crate) preupdate: Option<sqlite_hook::PreupdateLog>,
    /// The connection.
    pub conn: AnyConnection,
    /// What differs between backends.
    pub engine: Box<dyn Engine>,
}

impl Db {
    /// Connects and sets up the backend's engine.
    pub fn open(url: &DatabaseUrl) -> Result<Db> {
        let (mut conn, interrupt) = connect_interruptible(url)?;
        let engine = engine::engine_for(url, &mut conn, interrupt).map_err(|e| match url {
            DatabaseUrl::Sqlite(_) => sqlite_error(url, &e.to_string()),
            _ => Error::Connect {
                url: url.redacted(),
                reason: url.scrub(&e.to_string()),
            },
        })?;
        Ok(Db {
            preupdate: None,
            conn,
            engine,
        })
    }

    /// After a script's statement: writes the rows it changed to the change
    /// log, where a pre-update hook captures them (a no-op otherwise); with
    /// `ok` false (the statement failed and was undone) forgets them.
    pub(crate) fn flush_changes(&mut self, ok: bool) -> std::result::Result<(), String> {
        match &mut self.preupdate {
            Some(log) if ok => log.flush(),
            Some(log) => {
                log.discard();
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// Opens a connection. SQLite files are created when missing (their directory must exist).
pub fn connect(url: &DatabaseUrl) -> Result<AnyConnection> {
    connect_interruptible(url).map(|(conn, _)| conn)
}

/// Opens a connection and, for SQLite, the handle that interrupts its
/// statements from another thread (servers are interrupted through a second
/// connection instead).
pub fn connect_interruptible(
    url: &DatabaseUrl,
) -> Result<(AnyConnection, Option<SqliteInterrupt>)> {
    let fail = |e: ConnectionError| Error::Connect {
        url: url.redacted(),
        reason: url.scrub(e.to_string().trim()),
    };
    match url {
        DatabaseUrl::Sqlite(path) => {
            check_sqlite_dir(url, path)?;
            sqlite_raw::arm();
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|e| sqlite_error(url, &e.to_string()))?;
            let interrupt = sqlite_raw::take();
            // Wait for a concurrent writer instead of failing with "database is locked".
            conn.batch_execute("PRAGMA busy_timeout = 30000;")
                .map_err(|e| sqlite_error(url, &e.to_string()))?;
            Ok((AnyConnection::Sqlite(conn), interrupt))
        }
        DatabaseUrl::Postgres(raw) => {
            let conn = diesel::PgConnection::establish(&with_pg_defaults(raw)).map_err(fail)?;
            notices::warn_unless_postgres_capture_linked();
            Ok((AnyConnection::Postgresql(conn), None))
        }
        DatabaseUrl::Mysql(raw) => {
            let conn = diesel::MysqlConnection::establish(raw).map_err(fail)?;
            Ok((AnyConnection::Mysql(conn), None))
        }
    }
}

/// Refuses an SQLite path whose directory does not exist (SQLite would say
/// only "unable to open database file").
pub fn check_sqlite_dir(url: &DatabaseUrl, path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(Error::SqliteFile {
            url: url.redacted(),
            reason: format!("directory {} does not exist", dir.display()),
            hint: "create the directory, or fix the path in --database-url / DATABASE_URL".into(),
        }),
        _ => Ok(()),
    }
}

/// An SQLite error at open time, with a hint that fits a file.
fn sqlite_error(url: &DatabaseUrl, reason: &str) -> Error {
    let hint = if reason.contains("not a database") {
        "the file is not an SQLite database: point --database-url / DATABASE_URL at the right file"
    } else if reason.contains("readonly") || reason.contains("read-only") {
        "the file (or its directory) is read-only for this user; oneoff writes its ledger there: fix the permissions"
    } else {
        "check the path and its permissions; the URL comes from --database-url, then DATABASE_URL"
    };
    Error::SqliteFile {
        url: url.redacted(),
        reason: reason.to_string(),
        hint: hint.into(),
    }
}

/// libpq waits forever for an unreachable host unless told otherwise.
/// Used for every PostgreSQL connection oneoff opens (the main one and the
/// one that cancels a statement).
pub(crate) fn with_pg_defaults(raw: &str) -> String {
    let mut out = raw.to_string();
    if let Some(dirs) = socket_dirs_for(raw, |name| std::env::var_os(name).is_some()) {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(&format!("host={dirs}"));
    }
    let mut add = |key: &str, value: &str| {
        if !out.contains(&format!("{key}=")) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{key}={value}"));
        }
    };
    add("connect_timeout", "10");
    // Notice a dead network path to the server instead of hanging on it.
    add("keepalives_idle", "30");
    add("application_name", "oneoff");
    out
}

/// The socket directories to try for a URL that names no host. The bundled
/// libpq's compiled-in default is upstream's `/tmp`, where Debian's and Red
/// Hat's libpq look in `/var/run/postgresql`: a host-less URL tries both,
/// in that order, unless the URL, a service or the environment says where to go.
fn socket_dirs_for(raw: &str, env_set: impl Fn(&str) -> bool) -> Option<&'static str> {
    const SAY_WHERE: [&str; 3] = ["host", "hostaddr", "service"];
    if !cfg!(all(unix, feature = "bundled-libpq"))
        || SAY_WHERE
            .iter()
            .any(|k| env_set(&format!("PG{}", k.to_uppercase())))
    {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    let names_host = url.host_str().is_some_and(|h| !h.is_empty())
        || url.query_pairs().any(|(k, _)| SAY_WHERE.contains(&&*k));
    (!names_host).then_some("/var/run/postgresql,/tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_and_bare_paths_select_sqlite() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://a/b.db").unwrap(),
            DatabaseUrl::Sqlite("a/b.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("data.sqlite3").unwrap().backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("x.SQLITE").unwrap().backend(),
            Backend::Sqlite
        );
    }

    #[test]
    fn server_schemes_select_their_backend() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/d").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/d").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("mysql://u@h/d").unwrap().backend(),
            Backend::Mysql
        );
    }

    #[test]
    fn unknown_scheme_is_an_error_that_names_it() {
        let err = DatabaseUrl::parse("oracle://u:secret@h/d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scheme `oracle`"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn redaction_hides_the_password() {
        let url = DatabaseUrl::parse("postgres://bob:s3cret@db.example/prod").unwrap();
        assert_eq!(url.redacted(), "postgres://bob:***@db.example/prod");
        assert_eq!(url.scrub("auth failed for s3cret"), "auth failed for ***");
        assert_eq!(redact("weird://bob:pw@host"), "weird://bob:***@host");
    }

    #[test]
    fn query_parameter_passwords_are_redacted_and_scrubbed() {
        let url = DatabaseUrl::parse("postgres://u@h/d?sslmode=disable&password=s3cret").unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://u@h/d?sslmode=disable&password=***"
        );
        assert_eq!(url.scrub("bad s3cret"), "bad ***");
    }

    #[test]
    fn an_unencoded_at_sign_in_a_password_is_encoded_for_the_driver() {
        let url = DatabaseUrl::parse("postgres://u:se@cret@h:5432/d").unwrap();
        assert_eq!(
            url,
            DatabaseUrl::Postgres("postgres://u:se%40cret@h:5432/d".into())
        );
        assert_eq!(url.redacted(), "postgres://u:***@h:5432/d");
    }

    #[test]
    #[cfg(all(unix, feature = "bundled-libpq"))]
    fn a_url_without_a_host_tries_the_distributions_socket_directory_then_tmp() {
        let unset = |_: &str| false;
        let dirs = Some("/var/run/postgresql,/tmp");
        assert_eq!(socket_dirs_for("postgres:///d", unset), dirs);
        assert_eq!(
            socket_dirs_for("postgresql:///d?user=bob&port=5433", unset),
            dirs
        );
        assert_eq!(socket_dirs_for("postgres://h/d", unset), None);
        assert_eq!(socket_dirs_for("postgres://%2Frun%2Fpg/d", unset), None);
        assert_eq!(socket_dirs_for("postgres:///d?host=/run/pg", unset), None);
        assert_eq!(socket_dirs_for("postgres:///d?hostaddr=::1", unset), None);
        assert_eq!(socket_dirs_for("postgres:///d?service=prod", unset), None);
        assert_eq!(socket_dirs_for("postgres:///d", |v| v == "PGHOST"), None);
        assert_eq!(socket_dirs_for("postgres:///d", |v| v == "PGSERVICE"), None);
        assert!(with_pg_defaults("postgres:///d").contains("?host=/var/run/postgresql,/tmp&"));
    }

    #[test]
    fn percent_encoded_passwords_are_scrubbed_in_both_forms() {
        let url = DatabaseUrl::parse("mysql://bob:p%40ss@h/d").unwrap();
        assert_eq!(url.scrub("x p@ss y p%40ss"), "x *** y ***");
    }
}
