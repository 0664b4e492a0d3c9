//! The rest of the bad-input catalogue (see the README's table): each input
//! gets its message and exit code checked, and the ledger and data shown to
//! be unchanged.

use std::os::unix::fs::PermissionsExt;

use crate::on_all_backends;
use crate::support::{self, Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";

on_all_backends!(
    an_empty_file_is_refused_before_anything_runs,
    a_file_of_only_comments_is_refused_before_anything_runs,
    a_binary_file_is_refused,
    an_unreadable_file_is_refused,
    a_directive_below_the_first_statement_is_refused,
    a_timeout_directive_without_a_duration_is_refused,
    a_ledger_written_by_a_newer_oneoff_is_refused,
    a_ledger_row_with_an_unknown_status_is_refused,
    retrying_a_failed_script_whose_file_is_gone_is_refused,
    an_unterminated_block_comment_is_refused,
);

/// Writes a good script A (to show nothing ran) and returns the project.
fn with_good_first(p: Project) -> Project {
    let p = p.with_effects();
    p.effect_script(A, "good");
    p
}

/// Asserts that nothing ran: no effect and no ledger row.
fn nothing_ran(p: &Project) {
    assert_eq!(p.effects(A), 0, "the good script did not run either");
    if p.db.has_table("oneoff_ledger") {
        assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_ledger"), 0);
    }
}

fn an_empty_file_is_refused_before_anything_runs(p: Project) {
    let p = with_good_first(p);
    p.script(B, "empty", "");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has(&format!("{B}_empty.sql"))
        .stderr_has("has no SQL statement");
    nothing_ran(&p);
}

fn a_file_of_only_comments_is_refused_before_anything_runs(p: Project) {
    let p = with_good_first(p);
    p.script(B, "comments", "-- just a thought\n/* and another; */\n");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("has no SQL statement");
    nothing_ran(&p);
}

fn a_binary_file_is_refused(p: Project) {
    let p = with_good_first(p);
    std::fs::write(
        p.scripts().join(format!("{B}_blob.sql")),
        b"SQLite format 3\0\0\x01",
    )
    .unwrap();
    for cmd in ["run", "status"] {
        p.oneoff(&[cmd]).code(2).stderr_has("binary file");
    }
    nothing_ran(&p);
}

fn an_unreadable_file_is_refused(p: Project) {
    let p = with_good_first(p);
    // A dangling link cannot be read by anyone, root included.
    std::os::unix::fs::symlink(
        "/nonexistent/target.sql",
        p.scripts().join(format!("{B}_gone.sql")),
    )
    .unwrap();
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("cannot read the file");
    nothing_ran(&p);
}

fn a_directive_below_the_first_statement_is_refused(p: Project) {
    let p = with_good_first(p);
    p.script(B, "late", "-- late\nSELECT 1;\n-- oneoff:no-transaction\n");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has(&format!("{B}_late.sql:3"))
        .stderr_has("leading comment block");
    nothing_ran(&p);
}

fn a_timeout_directive_without_a_duration_is_refused(p: Project) {
    let p = with_good_first(p);
    p.script(B, "t", "-- t\n-- oneoff:timeout soon\nSELECT 1;\n");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has(":2:")
        .stderr_has("not a duration");
    nothing_ran(&p);
}

fn a_ledger_written_by_a_newer_oneoff_is_refused(p: Project) {
    let p = p.with_effects();
    p.oneoff(&["run"]).code(0);
    p.db.execute("INSERT INTO oneoff_schema_migrations (version) VALUES ('29991231000000')");
    p.effect_script(A, "good");
    let before = p.ledger_snapshot();
    for cmd in ["run", "status"] {
        p.oneoff(&[cmd])
            .code(2)
            .stderr_has("newer than this oneoff")
            .stderr_has("upgrade oneoff");
    }
    assert_eq!(p.ledger_snapshot(), before);
    assert_eq!(p.effects(A), 0);
}

fn a_ledger_row_with_an_unknown_status_is_refused(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "good");
    p.oneoff(&["run"]).code(0);
    p.db.execute(&format!(
        "UPDATE oneoff_ledger SET status = 'exploded' WHERE id = '{A}'"
    ));
    p.effect_script(B, "next");
    let before = p.ledger_snapshot();
    for cmd in ["run", "status"] {
        p.oneoff(&[cmd])
            .code(2)
            .stderr_has(&format!("script {A} has unknown status `exploded`"));
    }
    assert_eq!(p.ledger_snapshot(), before);
    assert_eq!(p.effects(B), 0);
}

fn retrying_a_failed_script_whose_file_is_gone_is_refused(p: Project) {
    let path = p.script(A, "fails", "-- f\nINSERT INTO nowhere VALUES (1);\n");
    p.oneoff(&["run"]).code(1);
    std::fs::remove_file(path).unwrap();
    let before = p.ledger_snapshot();
    p.oneoff(&["run", "--retry"])
        .code(2)
        .stderr_has("its file is gone");
    assert_eq!(p.ledger_snapshot(), before);
}

fn an_unterminated_block_comment_is_refused(p: Project) {
    let p = with_good_first(p);
    p.script(B, "open", "-- open\nSELECT 1; /* never closed\nSELECT 2;\n");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has("unterminated block comment starting at line 2");
    nothing_ran(&p);
}

/// Runs `oneoff run` on an SQLite file with the given modes for the file
/// and its directory, as `nobody` when the tests run as root (root may write
/// any file). Returns the exit code and stderr.
fn run_with_modes(
    file_mode: u32,
    dir_mode: u32,
) -> Option<(Option<i32>, String, std::path::PathBuf)> {
    let p = Project::new(Backend::Sqlite)?;
    p.effect_script(A, "good");
    let dir = p.dir.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let db = dir.join("ro.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(file_mode)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
    std::fs::set_permissions(p.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let url = format!("sqlite://{}", db.display());
    let mut cmd = p.cmd();
    // Root may write any file: drop to `nobody` so the permission bites.
    if std::process::Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        .starts_with(b"0")
    {
        let program = cmd.get_program().to_owned();
        let mut wrapped = std::process::Command::new("setpriv");
        wrapped
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(program)
            .current_dir(p.dir.path())
            .env("NO_COLOR", "1");
        cmd = wrapped;
    }
    let out = cmd.args(["--database-url", &url, "run"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // Keep the project alive until the command ran.
    drop(p);
    Some((out.status.code(), stderr, db))
}

#[test]
fn a_read_only_sqlite_file_is_refused_with_a_permissions_hint() {
    let Some((code, stderr, db)) = run_with_modes(0o444, 0o777) else {
        return;
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("read-only for this user"), "{stderr}");
    let _ = db;
}

#[test]
fn an_sqlite_file_in_a_read_only_directory_is_refused_with_a_permissions_hint() {
    let Some((code, stderr, _)) = run_with_modes(0o666, 0o755) else {
        return;
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot create the lock file"), "{stderr}");
    assert!(stderr.contains("make the directory writable"), "{stderr}");
}

#[test]
fn unknown_flags_and_subcommands_are_usage_errors() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    p.oneoff(&["run", "--frobnicate"])
        .code(2)
        .stderr_has("unexpected argument '--frobnicate'");
    p.oneoff(&["launch"])
        .code(2)
        .stderr_has("unrecognized subcommand 'launch'");
    p.oneoff(&["run", "--timeout", "banana"])
        .code(2)
        .stderr_has("write a duration like 30s");
    p.oneoff(&[]).code(2).stderr_has("Usage:");
}

#[test]
fn malformed_database_urls_are_refused() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    for (url, message) in [
        ("", "it is empty"),
        ("sqlite://", "needs a file path"),
        ("postgres://u:pw@host:notaport/db", "invalid port number"),
        ("just-a-name", "not a path ending in .db"),
    ] {
        let run = p.oneoff(&["--database-url", url, "status"]);
        run.code(2).stderr_has(message);
        assert!(!run.stderr().contains(":pw@"), "{}", run.stderr());
    }
}

on_all_backends!(older_ledger_is_read_by_status_and_upgraded_by_run);

fn older_ledger_is_read_by_status_and_upgraded_by_run(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "old");
    p.oneoff(&["run"]).code(0);
    p.ledger_as_first_version();
    p.effect_script(B, "new");
    assert_eq!(p.status_of(A), "succeeded", "status reads the older ledger");
    assert_eq!(p.status_of(B), "pending");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_schema_migrations"),
        1,
        "status migrated nothing"
    );
    p.oneoff(&["run"]).code(0);
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_schema_migrations"),
        support::ledger_versions(),
        "run upgraded it"
    );
    assert_eq!((p.effects(A), p.effects(B)), (1, 1));
}
