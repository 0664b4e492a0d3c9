//! `oneoff.toml` and `--env`: an environment picks the database (its URL
//! from a variable), is named beside the URL in every output, and yields to
//! `--database-url`/`DATABASE_URL`, saying so. Every configuration error is
//! bad input (exit 2) naming the file and the key, and changes nothing.

use serde_json::Value;

use crate::on_all_backends;
use crate::support::{Backend, Project};

const A: &str = "20260101000000";

const STAGING: &str = "[environments.staging]\nurl_env = \"TEST_DB_URL\"\ntimeout = \"5m\"\n";

on_all_backends!(an_environment_picks_the_database_and_is_named_in_every_output);

fn an_environment_picks_the_database_and_is_named_in_every_output(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    p.with_config(STAGING, "tester", &["--env", "staging", "run"])
        .code(0)
        .stdout_has("(environment staging)");
    assert_eq!(p.effects(A), 1);
    let status = p.with_config(STAGING, "tester", &["--env", "staging", "status", "--json"]);
    status.code(0);
    let doc: Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(doc["environment"], "staging");
    assert_eq!(doc["scripts"][0]["status"], "succeeded");
    p.with_config(STAGING, "tester", &["--env", "staging", "status"])
        .code(0)
        .stdout_has("(environment staging)");
}

#[test]
fn oneoff_env_selects_the_environment_like_the_flag() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    std::fs::write(p.dir.path().join("oneoff.toml"), STAGING).unwrap();
    let out = p
        .cmd()
        .env_remove("DATABASE_URL")
        .env("TEST_DB_URL", &p.db.url)
        .env("ONEOFF_ENV", "staging")
        .args(["run", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["environment"], "staging");
    assert_eq!(p.effects(A), 1);
}

#[test]
fn database_url_wins_over_the_environment_and_says_so() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    let other = p.dir.path().join("other.db");
    std::fs::write(
        p.dir.path().join("oneoff.toml"),
        format!(
            "[environments.dev]\nurl = \"sqlite://{}\"\n",
            other.display()
        ),
    )
    .unwrap();
    p.oneoff(&["--env", "dev", "run"])
        .code(0)
        .stderr_has("note: DATABASE_URL overrides the URL of environment dev in oneoff.toml");
    assert_eq!(p.effects(A), 1);
    assert!(!other.exists(), "the environment's database was used");
    p.oneoff(&["--env", "dev", "--database-url", &p.db.url, "status"])
        .code(0)
        .stderr_has("note: --database-url overrides");
}

#[test]
fn the_dir_of_the_file_is_relative_to_it_and_dir_wins_over_it() {
    let p = Project::new(Backend::Sqlite).unwrap();
    let config = p.dir.path().join("conf");
    std::fs::create_dir_all(config.join("scripts")).unwrap();
    std::fs::write(config.join("oneoff.toml"), "dir = \"scripts\"\n").unwrap();
    let cfg = config.join("oneoff.toml");
    let cfg = cfg.to_str().unwrap();
    p.oneoff(&["--config", cfg, "new", "from the file"])
        .code(0)
        .stdout_has("scripts");
    assert_eq!(
        std::fs::read_dir(config.join("scripts")).unwrap().count(),
        1
    );
    p.oneoff(&["--config", cfg, "--dir", "one_off", "new", "from the flag"])
        .code(0);
    assert_eq!(std::fs::read_dir(p.scripts()).unwrap().count(), 1);
}

/// Each bad configuration: exit 2, the message, and no ledger created.
fn refused(p: &Project, toml: &str, args: &[&str], wants: &[&str]) {
    let run = p.with_config(toml, "tester", args);
    run.code(2);
    for want in wants {
        run.stderr_has(want);
    }
    assert_eq!(p.ledger_snapshot(), "(no ledger)", "{toml}");
    assert_eq!(p.effects(A), 0);
}

#[test]
fn every_configuration_error_is_bad_input_naming_the_file_and_the_key() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    let run = &["--env", "staging", "run"];
    refused(
        &p,
        "[environments.staging]\nurl_env = \"TEST_DB_URL\"\nprotect = true\n",
        run,
        &["oneoff.toml: line 3", "unknown field `protect`"],
    );
    refused(
        &p,
        "[environments.staging]\nurl = \"postgres://app:hunter2@db/prod\"\n",
        run,
        &[
            "oneoff.toml: line 2",
            "environments.staging.url holds a password",
            "url_env",
        ],
    );
    refused(
        &p,
        STAGING,
        &["--env", "prod", "run"],
        &[
            "oneoff.toml: no environment `prod`",
            "the environments defined are: staging",
        ],
    );
    refused(
        &p,
        "[environments.staging]\nurl_env = \"NOT_SET_ANYWHERE\"\n",
        run,
        &["environments.staging.url_env names the variable NOT_SET_ANYWHERE, which is not set"],
    );
    refused(
        &p,
        "[environments.staging]\nurl_env = \"TEST_DB_URL\"\ntimeout = \"soon\"\n",
        run,
        &["environments.staging.timeout = \"soon\""],
    );
    refused(
        &p,
        "[environments.staging]\nurl_env = \"TEST_DB_URL\"\napprovals = 2\n",
        run,
        &["environments.staging.protected = true"],
    );
    refused(&p, "dir = [1]\n", &["run"], &["oneoff.toml: line 1"]);
    let run = p
        .cmd()
        .args(["--config", "missing.toml", "status"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("missing.toml: cannot read it"));
    std::fs::remove_file(p.dir.path().join("oneoff.toml")).unwrap();
    let run = p.oneoff(&["--env", "staging", "run"]);
    run.code(2).stderr_has("there is no oneoff.toml here");
    assert_eq!(p.effects(A), 0);
}

#[test]
fn a_password_refused_in_the_file_is_never_printed() {
    let p = Project::new(Backend::Sqlite).unwrap();
    let run = p.with_config(
        "[environments.staging]\nurl = \"mysql://app:hunter2@db/prod\"\n",
        "tester",
        &["--env", "staging", "status"],
    );
    run.code(2);
    assert!(!run.stderr().contains("hunter2") && !run.stdout().contains("hunter2"));
}
