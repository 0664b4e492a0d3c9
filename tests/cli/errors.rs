//! Bad input: broken script files, bad or unreachable database URLs, bad
//! options. Each is exit 2 with a message that says what and where, runs
//! nothing, and never shows a password.

use crate::on_all_backends;
use crate::support::{Backend, Project, Run};

const A: &str = "20260101000000";
const B: &str = "20260102000000";

/// The password the tests put in URLs; it must never be printed.
const SECRET: &str = "secretpw";

on_all_backends!(
    duplicate_ids_are_refused_naming_both_files_and_nothing_runs,
    an_unterminated_quote_stops_the_run_before_any_script_runs,
);

fn sqlite() -> Project {
    Project::new(Backend::Sqlite).expect("SQLite is always available")
}

/// Asserts that nothing was recorded: no ledger, or an empty one.
fn assert_nothing_recorded(p: &Project) {
    if p.db.has_table("oneoff_ledger") {
        assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_ledger"), 0);
        assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_runs"), 0);
    }
}

/// Asserts that the password appears in neither stdout nor stderr.
fn assert_no_secret(run: &Run) {
    let all = format!("{}\n{}", run.stdout(), run.stderr());
    assert!(!all.contains(SECRET), "password shown:\n{all}");
}

fn duplicate_ids_are_refused_naming_both_files_and_nothing_runs(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "one");
    p.effect_script(A, "two");
    p.effect_script(B, "later");
    for args in [&["run"][..], &["status"]] {
        p.oneoff(args)
            .code(2)
            .stderr_has(&format!("{A}_one.sql"))
            .stderr_has(&format!("{A}_two.sql"))
            .stderr_has(&format!("same id {A}"));
    }
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM effects"), 0);
    assert!(
        !p.db.has_table("oneoff_ledger"),
        "refused before connecting"
    );
}

fn an_unterminated_quote_stops_the_run_before_any_script_runs(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "valid");
    let broken = p.script(
        B,
        "broken",
        "-- broken\nINSERT INTO effects (script) VALUES ('oops);\n",
    );
    let run = p.oneoff(&["run"]);
    run.code(2)
        .stderr_has(&broken.file_name().unwrap().to_string_lossy())
        .stderr_has("unterminated single-quoted string starting at line 2");
    assert!(!run.stdout().contains("succeeded"), "{}", run.stdout());
    assert_eq!(p.effects(A), 0, "the valid script before it did not run");
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM effects"), 0);
    assert_nothing_recorded(&p);
    assert_eq!(p.status_of(A), "pending");
}

#[test]
fn an_unknown_directive_is_refused_naming_the_file_and_line() {
    let p = sqlite();
    p.script(A, "x", "-- x\n\n-- oneoff:frobnicate\nSELECT 1;\n");
    for cmd in ["run", "status"] {
        p.oneoff(&[cmd])
            .code(2)
            .stderr_has(&format!("{A}_x.sql:3:"))
            .stderr_has("unknown directive `oneoff:frobnicate` (known: no-transaction");
    }
    assert!(!p.db.has_table("oneoff_ledger"));
}

#[test]
fn a_directive_with_an_argument_is_refused_naming_the_file_and_line() {
    let p = sqlite();
    p.script(A, "x", "-- x\n-- oneoff:no-transaction now\nSELECT 1;\n");
    p.oneoff(&["run"])
        .code(2)
        .stderr_has(&format!("{A}_x.sql:2:"))
        .stderr_has("takes no argument, found `now`");
    assert!(!p.db.has_table("oneoff_ledger"));
}

#[test]
fn a_file_that_is_not_utf8_is_refused_by_run_and_status() {
    let p = sqlite().with_effects();
    p.effect_script(A, "fine");
    let path = p.scripts().join(format!("{B}_latin1.sql"));
    std::fs::write(&path, b"-- x\nSELECT '\xff';\n").unwrap();
    for cmd in ["run", "status"] {
        p.oneoff(&[cmd])
            .code(2)
            .stderr_has(&format!("{B}_latin1.sql"))
            .stderr_has("is not valid UTF-8 (first bad byte at offset 13)")
            .stderr_has("save the file as UTF-8");
    }
    assert_eq!(p.effects(A), 0);
    assert!(!p.db.has_table("oneoff_ledger"));
}

#[test]
fn an_unknown_url_scheme_is_refused_naming_it_without_the_password() {
    let p = sqlite();
    for cmd in ["run", "status"] {
        let run = p.oneoff(&["--database-url", "oracle://u:secretpw@h/db", cmd]);
        run.code(2)
            .stderr_has("unknown scheme `oracle`")
            .stderr_has("oracle://u:***@h/db")
            .stderr_has("postgres://");
        assert_no_secret(&run);
    }
}

#[test]
fn an_unreachable_server_is_refused_without_showing_the_password() {
    let p = sqlite();
    p.script(A, "x", "-- x\nSELECT 1;\n");
    for url in [
        "postgres://u:secretpw@127.0.0.1:1/db",
        "mysql://u:secretpw@127.0.0.1:1/db",
    ] {
        for cmd in ["run", "status"] {
            for log in ["warn", "trace"] {
                let output = p
                    .cmd()
                    .env("ONEOFF_LOG", log)
                    .args(["--database-url", url, cmd])
                    .output()
                    .unwrap();
                let run = Run { output };
                run.code(2)
                    .stderr_has("cannot connect to ")
                    .stderr_has("u:***@127.0.0.1:1/db");
                assert_no_secret(&run);
            }
        }
    }
}

#[test]
fn a_password_given_as_a_url_query_parameter_is_not_shown() {
    let p = sqlite();
    p.script(A, "x", "-- x\nSELECT 1;\n");
    for cmd in ["run", "status"] {
        let url = "postgres://u@127.0.0.1:1/db?password=secretpw";
        let run = p.oneoff(&["--database-url", url, cmd]);
        run.code(2)
            .stderr_has("cannot connect to ")
            .stderr_has("?password=***");
        assert_no_secret(&run);
    }
}

#[test]
fn an_unencoded_at_sign_in_the_password_does_not_leak_part_of_it() {
    let p = sqlite();
    p.script(A, "x", "-- x\nSELECT 1;\n");
    let run = p.oneoff(&[
        "--database-url",
        "postgres://u:se@cretpw@127.0.0.1:1/db",
        "run",
    ]);
    run.code(2)
        .stderr_has("cannot connect to postgres://u:***@127.0.0.1:1/db");
    let all = format!("{}\n{}", run.stdout(), run.stderr());
    assert!(
        !all.contains("cretpw"),
        "part of the password shown:\n{all}"
    );
}

/// Bad credentials on a real server: refused, and the password never shown.
fn bad_credentials_are_refused_without_showing_the_password(backend: Backend, url: &str) {
    let Some(p) = Project::new(backend) else {
        return;
    };
    p.script(A, "x", "-- x\nSELECT 1;\n");
    for cmd in ["run", "status"] {
        let output = p
            .cmd()
            .env("ONEOFF_LOG", "trace")
            .args(["--database-url", url, cmd])
            .output()
            .unwrap();
        let run = Run { output };
        run.code(2)
            .stderr_has("cannot connect to ")
            .stderr_has("nosuchuser:***@127.0.0.1");
        assert_no_secret(&run);
    }
}

#[test]
fn bad_postgres_credentials_are_refused_without_showing_the_password() {
    bad_credentials_are_refused_without_showing_the_password(
        Backend::Postgres,
        "postgres://nosuchuser:secretpw@127.0.0.1:5432/test",
    );
}

#[test]
fn bad_mysql_credentials_are_refused_without_showing_the_password() {
    bad_credentials_are_refused_without_showing_the_password(
        Backend::Mysql,
        "mysql://nosuchuser:secretpw@127.0.0.1:3306/test",
    );
}

/// A database name that does not exist on the project's server.
fn a_missing_database_is_refused(backend: Backend) {
    let Some(p) = Project::new(backend) else {
        return;
    };
    p.script(A, "x", "-- x\nSELECT 1;\n");
    let missing = format!("oneoff_missing_{}", uuid::Uuid::new_v4().simple());
    let mut url = url::Url::parse(&p.db.url).unwrap();
    url.set_path(&format!("/{missing}"));
    for cmd in ["run", "status"] {
        p.oneoff(&["--database-url", url.as_str(), cmd])
            .code(2)
            .stderr_has("cannot connect to ")
            .stderr_has(&missing);
    }
    assert!(
        !p.db.has_table("oneoff_ledger"),
        "the project's database is untouched"
    );
}

#[test]
fn a_postgres_database_that_does_not_exist_is_refused() {
    a_missing_database_is_refused(Backend::Postgres);
}

#[test]
fn a_mysql_database_that_does_not_exist_is_refused() {
    a_missing_database_is_refused(Backend::Mysql);
}

#[test]
fn an_sqlite_path_in_a_missing_directory_is_refused_naming_the_directory() {
    let p = sqlite();
    p.script(A, "x", "-- x\nSELECT 1;\n");
    for cmd in ["run", "status"] {
        p.oneoff(&["--database-url", "sqlite:///nonexistent-dir-xyz/x.db", cmd])
            .code(2)
            .stderr_has("cannot use the SQLite database sqlite:///nonexistent-dir-xyz/x.db")
            .stderr_has("directory /nonexistent-dir-xyz does not exist")
            .stderr_has("hint: create the directory");
    }
    assert!(!std::path::Path::new("/nonexistent-dir-xyz").exists());
}

#[test]
fn a_missing_script_directory_is_refused_with_a_hint() {
    let p = sqlite();
    for cmd in ["run", "status"] {
        p.oneoff(&["--dir", "nope", cmd])
            .code(2)
            .stderr_has("nope: script directory cannot be read")
            .stderr_has("create it with `oneoff new`");
    }
    assert!(
        !p.dir.path().join("nope").exists(),
        "run and status create no directory"
    );
    assert!(
        !p.dir.path().join("test.db").exists(),
        "refused before connecting"
    );
}

#[test]
fn a_script_directory_that_is_a_file_is_refused() {
    let p = sqlite();
    let file = p.script(A, "x", "-- x\nSELECT 1;\n");
    let file = file.to_str().unwrap();
    for cmd in ["run", "status"] {
        p.oneoff(&["--dir", file, cmd])
            .code(2)
            .stderr_has(&format!("{file}: is not a directory"));
    }
    assert!(!p.db.has_table("oneoff_ledger"));
}

#[test]
fn a_lock_timeout_that_is_not_a_duration_is_a_usage_error_with_a_hint() {
    let p = sqlite().with_effects();
    p.effect_script(A, "x");
    let run = p.oneoff(&["run", "--lock-timeout", "banana"]);
    run.code(2)
        .stderr_has("invalid value 'banana' for '--lock-timeout <DURATION>'")
        .stderr_has("write a duration like 30s, 2m or 1h");
    assert!(run.stdout().is_empty());
    assert_eq!(p.effects(A), 0);
    assert!(!p.db.has_table("oneoff_ledger"));
}

#[test]
fn json_errors_are_a_json_object_on_stdout() {
    let p = sqlite().with_effects();
    p.effect_script(A, "x");
    let run = p.oneoff(&["run", "--json", "20991231235959"]);
    run.code(2)
        .stderr_has("error: no script with id 20991231235959");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON on stdout");
    assert_eq!(doc["error"]["kind"], "unknown_ids");
    assert_eq!(doc["error"]["exit_code"], 2);
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("no script with id 20991231235959"));
    assert_eq!(p.effects(A), 0);
    assert_nothing_recorded(&p);

    let run = p.oneoff(&[
        "--database-url",
        "oracle://u:secretpw@h/db",
        "status",
        "--json",
    ]);
    run.code(2);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON on stdout");
    assert_eq!(doc["error"]["kind"], "bad_url");
    assert_eq!(doc["error"]["exit_code"], 2);
    assert_no_secret(&run);
}

#[test]
fn help_lists_every_exit_code() {
    let p = sqlite();
    let run = Run {
        output: p
            .cmd()
            .env("COLUMNS", "100")
            .arg("--help")
            .output()
            .unwrap(),
    };
    run.code(0).stdout_has("Exit codes:");
    let out = run.stdout();
    for code in [
        "0  success",
        "1  a script failed",
        "2  bad input",
        "3  refused by a guard",
        "130  stopped by Ctrl-C or SIGTERM",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("  {code}"))),
            "{code}:\n{out}"
        );
    }
    insta::assert_snapshot!("oneoff_help", out);
}

#[test]
fn version_prints_the_version_from_cargo_toml() {
    let p = sqlite();
    let expected = format!("oneoff {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(p.oneoff(&["--version"]).code(0).stdout(), expected);
    assert_eq!(p.oneoff(&["-V"]).code(0).stdout(), expected);
}
