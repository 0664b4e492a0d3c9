//! Least privilege: an operator role with rights on existing ledger tables
//! (but none to create anything) can run scripts; a role that cannot write
//! the ledger, a read-only database and a file that is not an SQLite
//! database are bad input (exit 2) with a hint, and change nothing.

use crate::support::{Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";

/// A login role (PostgreSQL) or user (MySQL) on the server, dropped (with
/// what it owns and was granted) when the test ends.
struct Role<'a> {
    name: String,
    p: &'a Project,
}

impl<'a> Role<'a> {
    fn create(p: &'a Project) -> Role<'a> {
        let name = format!("oneoff_op_{}", uuid_suffix());
        match p.db.backend {
            Backend::Mysql => p.db.execute(&format!("CREATE USER '{name}'@'%'")),
            _ => p.db.execute(&format!("CREATE ROLE {name} LOGIN")),
        }
        Role { name, p }
    }

    /// The project's URL with this role as the user.
    fn url(&self) -> String {
        let mut url = url::Url::parse(&self.p.db.url).expect("URL");
        url.set_username(&self.name).expect("user");
        url.to_string()
    }
}

impl Drop for Role<'_> {
    fn drop(&mut self) {
        if self.p.db.backend == Backend::Mysql {
            self.p.db.execute(&format!("DROP USER '{}'@'%'", self.name));
            return;
        }
        self.p.db.execute(&format!("DROP OWNED BY {}", self.name));
        self.p.db.execute(&format!("DROP ROLE {}", self.name));
    }
}

fn uuid_suffix() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Script A run by the owner (which creates the ledger), then B by an
/// operator role granted the ledger's tables (and, with `sequence`, the
/// in-flight sequence) but no right to create anything: its output.
fn run_as_operator(p: &Project, sequence: bool) -> (std::process::Output, String) {
    p.effect_script(A, "by_owner");
    p.oneoff(&["run"]).code(0);
    let role = Role::create(p);
    // PostgreSQL 15 gives PUBLIC no CREATE on schema public; make sure.
    p.db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    p.db.execute(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON oneoff_ledger, oneoff_runs, oneoff_lock, oneoff_output, \
         oneoff_invocations, oneoff_approvals, oneoff_changes, oneoff_capture, effects TO {0}; \
         GRANT SELECT ON oneoff_schema_migrations TO {0}",
        role.name
    ));
    if sequence {
        p.db.execute(&format!(
            "GRANT SELECT, UPDATE ON SEQUENCE oneoff_in_flight TO {}",
            role.name
        ));
    }
    p.effect_script(B, "by_operator");
    let out = p
        .cmd()
        .args(["--database-url", &role.url(), "run"])
        .output()
        .expect("run oneoff");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

#[test]
fn an_operator_role_without_create_rights_runs_scripts_on_an_existing_ledger() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    let p = p.with_effects();
    let (out, stderr) = run_as_operator(&p, true);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!((p.effects(A), p.effects(B)), (1, 1));
    assert_eq!(p.status_of(B), "succeeded");
}

#[test]
fn a_mysql_user_without_create_rights_runs_scripts_on_an_existing_ledger() {
    let Some(p) = Project::new(Backend::Mysql) else {
        return;
    };
    let p = p.with_effects();
    p.effect_script(A, "by_owner");
    p.oneoff(&["run"]).code(0);
    let role = Role::create(&p);
    let database =
        p.db.url
            .rsplit('/')
            .next()
            .expect("database name")
            .to_string();
    p.db.execute(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{}'@'%'",
        role.name
    ));
    p.effect_script(B, "by_operator");
    let out = p
        .cmd()
        .args(["--database-url", &role.url(), "run"])
        .output()
        .expect("run oneoff");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!((p.effects(A), p.effects(B)), (1, 1));
    assert_eq!(p.status_of(B), "succeeded");
}

#[test]
fn a_role_that_cannot_write_the_ledger_is_refused_with_a_grant_hint() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    let p = p.with_effects();
    p.effect_script(A, "by_owner");
    p.oneoff(&["run"]).code(0);
    let role = Role::create(&p);
    p.db.execute(&format!("GRANT SELECT, INSERT ON effects TO {}", role.name));
    p.effect_script(B, "by_stranger");
    let before = p.ledger_snapshot();
    let out = p
        .cmd()
        .args(["--database-url", &role.url(), "run"])
        .output()
        .expect("run oneoff");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(
        stderr.contains("grant SELECT, INSERT, UPDATE, DELETE"),
        "{stderr}"
    );
    assert_eq!(p.effects(B), 0);
    assert_eq!(p.ledger_snapshot(), before, "the ledger is unchanged");
}

/// PostgreSQL names the script in flight in a sequence: a role with every
/// table right but not that one is told which grant is missing before any
/// script runs.
#[test]
fn a_role_without_the_in_flight_sequence_is_refused_with_a_grant_hint() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    let p = p.with_effects();
    let (out, stderr) = run_as_operator(&p, false);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("permission denied for sequence oneoff_in_flight"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SELECT, UPDATE on the sequence"),
        "{stderr}"
    );
    assert_eq!(p.effects(B), 0, "nothing ran");
    assert_eq!(p.status_of(B), "pending");
    assert_eq!(
        p.db.count(&format!(
            "SELECT COUNT(*) AS n FROM oneoff_runs WHERE script_id = '{B}'"
        )),
        0,
        "no attempt recorded"
    );
}

#[test]
fn a_read_only_database_is_refused_before_anything_runs() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    let p = p.with_effects();
    p.effect_script(A, "never");
    let name =
        p.db.url
            .rsplit('/')
            .next()
            .expect("database name")
            .to_string();
    p.db.execute(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
    ));
    let run = p.oneoff(&["run"]);
    run.code(2).stderr_has("read-only");
    assert_eq!(p.effects(A), 0);
    assert!(!p.db.has_table("oneoff_ledger"), "nothing was created");
}

#[test]
fn a_file_that_is_not_an_sqlite_database_is_refused_and_left_alone() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    p.effect_script(A, "never");
    let file = p.dir.path().join("notes.db");
    let text = "these are notes, not a database\n".repeat(200);
    std::fs::write(&file, &text).unwrap();
    let url = format!("sqlite://{}", file.display());
    let out = p
        .cmd()
        .args(["--database-url", &url, "run"])
        .output()
        .expect("run oneoff");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not an SQLite database"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        text,
        "the file is untouched"
    );
}
