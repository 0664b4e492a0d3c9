//! The audit trail: every attempt, dry run, approval and decision records
//! the environment, who and from where, the database user, the oneoff
//! version, the checksum and the output lines; `log` and `show` read it
//! back in text and JSON. Also the command-line polish of issue 11.

use serde_json::Value;

use crate::on_all_backends;
use crate::support::{Backend, Project};

const A: &str = "20260101000000";
const B: &str = "20260102000000";
const C: &str = "20260103000000";

const STAGING: &str = "[environments.staging]\nurl_env = \"TEST_DB_URL\"\n";

on_all_backends!(
    log_and_show_tell_the_story_of_attempts_approvals_a_skip_and_a_failure,
    a_run_leaves_no_holder_in_the_lock_table,
);

fn oneoff(p: &Project, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["--env", "staging"];
    all.extend_from_slice(args);
    p.with_config(STAGING, "tester", &all)
}

fn json(p: &Project, args: &[&str]) -> Value {
    let run = oneoff(p, args);
    run.code(0);
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
}

fn log_and_show_tell_the_story_of_attempts_approvals_a_skip_and_a_failure(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "works");
    p.script(
        B,
        "fails",
        "-- fails\nINSERT INTO no_such_table (x) VALUES (1);\n",
    );
    p.effect_script(C, "skipped");
    oneoff(&p, &["run", "--dry-run", A]).code(0);
    oneoff(&p, &["approve", A, "--reason", "looked at the dry run"]).code(0);
    oneoff(&p, &["run"]).code(1);
    oneoff(&p, &["skip", C, "--reason", "not needed"]).code(0);

    let log = json(&p, &["log", "--json"]);
    let events = log["events"].as_array().unwrap();
    let story: Vec<(String, String, bool)> = events
        .iter()
        .map(|e| {
            (
                e["script_id"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                e["dry_run"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected = [
        (C, "skipped", false),
        (B, "failed", false),
        (A, "succeeded", false),
        (A, "approved", false),
        (A, "succeeded", true),
    ]
    .map(|(id, s, d)| (id.to_string(), s.to_string(), d));
    assert_eq!(story, expected, "{log:#}");
    for e in events {
        let inv = &e["invocation"];
        assert_eq!(inv["environment"], "staging", "{e:#}");
        assert_eq!(inv["os_user"], "tester");
        assert!(!inv["host"].as_str().unwrap().is_empty());
        assert_eq!(inv["tool_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            inv["db_user"].is_null(),
            p.db.backend == Backend::Sqlite,
            "{e:#}"
        );
        assert_eq!(e["checksum"].as_str().map(str::len), Some(64), "{e:#}");
    }
    assert!(events[1]["error"]
        .as_str()
        .unwrap()
        .contains("no_such_table"));
    assert_eq!(events[0]["note"], "not needed");

    let text = oneoff(&p, &["log"]);
    text.code(0).stdout_has("(environment staging)");
    assert_eq!(text.stdout().lines().count(), 1 + 5, "{}", text.stdout());
    assert_eq!(
        json(&p, &["log", "--json", "--limit", "2"])["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let of_a = json(&p, &["log", "--json", A]);
    assert_eq!(of_a["events"].as_array().unwrap().len(), 3);

    let show = json(&p, &["show", A, "--json"]);
    assert_eq!(show["name"], "works");
    assert_eq!(show["checksum"], show["ledger"]["checksum"]);
    assert_eq!(show["approvals"][0]["approved_by"], "tester");
    assert_eq!(show["last_dry_run"]["status"], "succeeded");
    let attempts = show["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{show:#}");
    let ran = &attempts[2];
    assert_eq!(ran["status"], "succeeded");
    assert_eq!(ran["output"][0]["kind"], "statement");
    assert!(
        ran["output"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 row(s)"),
        "{ran:#}"
    );
    let failed = json(&p, &["show", B, "--json"]);
    let out = &failed["attempts"][0]["output"];
    assert!(
        out.as_array().unwrap().iter().any(|l| l["kind"] == "error"),
        "{failed:#}"
    );
    oneoff(&p, &["show", A])
        .code(0)
        .stdout_has("Approvals (1):")
        .stdout_has("statement 1 (line 2): 1 row(s)")
        .stdout_has("as last run (same)");
    oneoff(&p, &["show", "20990101000000"])
        .code(2)
        .stderr_has("no script with id 20990101000000");
}

fn a_run_leaves_no_holder_in_the_lock_table(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.oneoff(&["run"]).code(0);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_lock"), 0);
    p.oneoff(&["skip", B, "--reason", "x"]).code(2);
    p.effect_script(B, "second");
    p.oneoff(&["skip", B, "--reason", "not needed"]).code(0);
    assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_lock"), 0);
}

#[test]
fn log_of_a_database_without_a_ledger_is_empty_and_creates_nothing() {
    let p = Project::new(Backend::Sqlite).unwrap();
    p.oneoff(&["log"])
        .code(0)
        .stdout_has("nothing recorded yet");
    assert_eq!(p.ledger_snapshot(), "(no ledger)");
}

#[test]
fn the_user_comes_from_the_user_database_when_user_is_unset() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    let out = p
        .cmd()
        .env_remove("ONEOFF_USER")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["run", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let run_by = p.db.lines("SELECT run_by AS line FROM oneoff_ledger");
    assert!(!run_by[0].starts_with("unknown@"), "{run_by:?}");
    let user = p.db.lines("SELECT os_user AS line FROM oneoff_invocations");
    assert!(!user[0].is_empty() && user[0] != "unknown", "{user:?}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    let p = Project::new(Backend::Sqlite).unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = p.oneoff(&["completions", shell]);
        run.code(0);
        assert!(
            run.stdout().contains("approve"),
            "{shell}: {}",
            run.stdout()
        );
    }
    p.oneoff(&["completions", "tcsh"]).code(2);
}

#[test]
fn the_man_page_is_generated_from_the_same_definitions() {
    let p = Project::new(Backend::Sqlite).unwrap();
    let run = p.oneoff(&["man"]);
    run.code(0).stdout_has(".TH oneoff").stdout_has("approve");
}

#[test]
fn a_usage_error_with_json_is_json_on_stdout() {
    let p = Project::new(Backend::Sqlite).unwrap();
    let run = p.oneoff(&["status", "--json", "--no-such-flag"]);
    run.code(2);
    let doc: Value = serde_json::from_str(&run.stdout()).expect("JSON on stdout");
    assert_eq!(doc["error"]["kind"], "usage");
    assert_eq!(doc["error"]["exit_code"], 2);
    assert!(run.stderr().contains("--no-such-flag"));
    let plain = p.oneoff(&["status", "--no-such-flag"]);
    plain.code(2);
    assert!(plain.stdout().is_empty());
}

#[test]
fn quiet_prints_nothing_but_errors() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    let run = p.oneoff(&["run", "--quiet"]);
    run.code(0);
    assert_eq!(run.stdout(), "");
    assert_eq!(p.effects(A), 1);
    p.script(
        B,
        "fails",
        "-- fails\nINSERT INTO no_such_table (x) VALUES (1);\n",
    );
    let run = p.oneoff(&["run", "--quiet"]);
    run.code(1).stderr_has("no_such_table");
    assert_eq!(run.stdout(), "");
}

#[test]
fn run_help_shows_no_empty_env_values_and_keeps_directives_whole() {
    let p = Project::new(Backend::Sqlite).unwrap();
    let run = crate::support::Run {
        output: p
            .cmd()
            .env("COLUMNS", "100")
            .env("ONEOFF_DIR", "")
            .args(["run", "--help"])
            .output()
            .unwrap(),
    };
    run.code(0);
    let out = run.stdout();
    assert!(!out.contains("=]"), "an empty env value is shown:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    for pair in lines.windows(2) {
        assert!(
            !(pair[0].trim_end().ends_with("--") && pair[1].trim_start().starts_with("oneoff:")),
            "a directive is broken across lines:\n{out}"
        );
    }
    insta::assert_snapshot!("oneoff_run_help", out);
}

#[test]
fn postgres_notices_are_kept_in_the_output_of_the_attempt() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    p.script(
        A,
        "notice",
        "-- says hello\nDO $$ BEGIN RAISE NOTICE 'hello % rows', 42; END $$;\nSELECT 1;\n",
    );
    p.oneoff(&["run"]).code(0);
    let show = p.oneoff(&["show", A, "--json"]);
    let doc: Value = serde_json::from_str(&show.stdout()).unwrap();
    let output = doc["attempts"][0]["output"].as_array().unwrap().clone();
    let kinds: Vec<(&str, &str)> = output
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds[0],
        ("statement", "statement 1 (line 2): 0 row(s)"),
        "{doc:#}"
    );
    assert_eq!(kinds[1], ("notice", "NOTICE:  hello 42 rows"), "{doc:#}");
    assert_eq!(kinds[2].0, "statement");
}

/// The example application links libpq statically, as the oneoff binary
/// does: its `build.rs` line (`--wrap=PQsetNoticeProcessor`) is what lets
/// notices through, and without it they would be missing here.
#[test]
fn postgres_notices_are_kept_by_an_application_that_embeds_oneoff() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    let (create, fill) = ("20261201090000", "20261201100000");
    p.app(&["run", create], &[]).code(0);
    p.db.execute(
        "CREATE FUNCTION say_filled() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE NOTICE 'order % filled', NEW.id; RETURN NEW; END $$",
    );
    p.db.execute(
        "CREATE TRIGGER say AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION say_filled()",
    );
    let run = p.app(&["run", fill], &[]);
    run.code(0);
    assert!(!run.stderr().contains("not kept"), "{}", run.stderr());
    let notices = p.db.lines(&format!(
        "SELECT message AS line FROM oneoff_output WHERE script_id = '{fill}' \
         AND kind = 'notice' ORDER BY seq"
    ));
    assert_eq!(notices.len(), 24, "{notices:?}");
    assert_eq!(notices[0], "NOTICE:  order 1 filled");
}

#[test]
fn mysql_warnings_are_kept_in_the_output_of_the_attempt() {
    let Some(p) = Project::new(Backend::Mysql) else {
        return;
    };
    p.db.execute("CREATE TABLE tiny (x TINYINT)");
    p.script(
        A,
        "warns",
        "-- out of range\nINSERT IGNORE INTO tiny (x) VALUES (1000);\nINSERT INTO tiny (x) VALUES (1);\n",
    );
    let run = p.oneoff(&["run", "--json"]);
    run.code(0);
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    let notices = &doc["scripts"][0]["statements"][0]["notices"];
    assert!(
        notices[0].as_str().unwrap().contains("Out of range value"),
        "{doc:#}"
    );
    assert!(
        doc["scripts"][0]["statements"][1].get("notices").is_none(),
        "{doc:#}"
    );
    let show = p.oneoff(&["show", A]);
    show.code(0)
        .stdout_has("notice: Warning: Out of range value for column 'x'");
}

#[test]
fn the_output_of_an_attempt_is_bounded_and_says_what_it_dropped() {
    let p = Project::new(Backend::Sqlite).unwrap();
    p.script(
        A,
        "many",
        &format!("-- many\n{}", "SELECT 1;\n".repeat(510)),
    );
    p.oneoff(&["run"]).code(0);
    let show = p.oneoff(&["show", A, "--json"]);
    let doc: Value = serde_json::from_str(&show.stdout()).unwrap();
    let output = doc["attempts"][0]["output"].as_array().unwrap();
    assert_eq!(output.len(), 501);
    assert_eq!(output[500]["kind"], "truncated");
    assert!(output[500]["message"]
        .as_str()
        .unwrap()
        .starts_with("10 more line(s) not kept"));
}
