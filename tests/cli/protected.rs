//! Protected environments: `run`, `skip` and `mark` ask for the
//! environment's name (`--confirm NAME` without a terminal, exit 3
//! otherwise); `run` also refuses, listing what is missing, a script
//! without enough approvals by others of its current checksum, or without
//! a successful dry run of that checksum there. Refusals change nothing.

use serde_json::Value;

use crate::on_all_backends;
use crate::support::{Backend, Project};

const A: &str = "20260101000000";

const CONFIRM_ONLY: &str = "[environments.prod]\nurl_env = \"TEST_DB_URL\"\nprotected = true\n";

const TWO_PERSON: &str = "[environments.prod]\nurl_env = \"TEST_DB_URL\"\nprotected = true\napprovals = 1\nrequire_dry_run = true\n";

on_all_backends!(
    a_protected_run_needs_the_environments_name_and_changes_nothing_without_it,
    a_protected_run_needs_an_approval_by_someone_else_of_this_version_and_a_rehearsal,
);

fn a_protected_run_needs_the_environments_name_and_changes_nothing_without_it(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    let before = p.ledger_snapshot();
    p.with_config(CONFIRM_ONLY, "bob", &["--env", "prod", "run"])
        .code(3)
        .stderr_has("is a protected environment: to run 1 script without a terminal to confirm on, pass --confirm prod");
    p.with_config(
        CONFIRM_ONLY,
        "bob",
        &["--env", "prod", "run", "--confirm", "production"],
    )
    .code(3)
    .stderr_has("--confirm production does not name the environment");
    assert_eq!(p.effects(A), 0);
    assert_eq!(p.ledger_snapshot(), before);
    p.with_config(
        CONFIRM_ONLY,
        "bob",
        &["--env", "prod", "run", "--confirm", "prod"],
    )
    .code(0)
    .stderr_has("About to run:")
    .stdout_has("(environment prod)");
    assert_eq!(p.effects(A), 1);
}

fn run_as(p: &Project, user: &str) -> crate::support::Run {
    p.with_config(
        TWO_PERSON,
        user,
        &["--env", "prod", "run", "--confirm", "prod"],
    )
}

fn approve_as(p: &Project, user: &str) {
    p.with_config(
        TWO_PERSON,
        user,
        &["--env", "prod", "approve", A, "--reason", "read it"],
    )
    .code(0)
    .stdout_has(&format!("by {user}"));
}

fn a_protected_run_needs_an_approval_by_someone_else_of_this_version_and_a_rehearsal(p: Project) {
    let p = p.with_effects();
    p.effect_script(A, "first");
    let refused = |p: &Project, user: &str, wants: &[&str], lacks: &[&str]| {
        let before = p.ledger_snapshot();
        let run = run_as(p, user);
        run.code(3)
            .stderr_has("nothing was run: prod is a protected environment");
        for want in wants {
            run.stderr_has(want);
        }
        for lack in lacks {
            assert!(
                !run.stderr().contains(lack),
                "{lack:?} in\n{}",
                run.stderr()
            );
        }
        assert_eq!(p.effects(A), 0);
        assert_eq!(
            p.ledger_snapshot(),
            before,
            "a refused run changed the ledger"
        );
    };
    refused(
        &p,
        "bob",
        &[
            "1 approval(s) of this version by someone other than bob (0 so far)",
            "a successful dry run of this version on prod",
        ],
        &[],
    );
    approve_as(&p, "bob");
    refused(&p, "bob", &["your own approval does not count"], &[]);
    approve_as(&p, "alice");
    std::fs::write(
        p.scripts().join(format!("{A}_first.sql")),
        format!("-- first, reviewed again\nINSERT INTO effects (script) VALUES ('{A}');\n"),
    )
    .unwrap();
    refused(
        &p,
        "bob",
        &["the approval by alice is of an older version of the file"],
        &[],
    );
    approve_as(&p, "alice");
    refused(
        &p,
        "bob",
        &["a successful dry run of this version on prod"],
        &["approval(s)"],
    );
    p.with_config(TWO_PERSON, "bob", &["--env", "prod", "run", "--dry-run"])
        .code(0);
    assert_eq!(p.effects(A), 0, "a dry run is rolled back");
    run_as(&p, "bob").code(0).stderr_has("approved by alice");
    assert_eq!(p.effects(A), 1);
    let status = p.with_config(TWO_PERSON, "bob", &["--env", "prod", "status", "--json"]);
    let doc: Value = serde_json::from_str(&status.stdout()).unwrap();
    let approvals = doc["scripts"][0]["approvals"].as_array().unwrap().clone();
    let current: Vec<(String, bool)> = approvals
        .iter()
        .map(|a| {
            (
                a["by"].as_str().unwrap().to_string(),
                a["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        current,
        [
            ("bob".into(), false),
            ("alice".into(), false),
            ("alice".into(), true)
        ],
        "{doc:#}"
    );
}

#[test]
fn a_dry_run_on_another_environment_is_no_rehearsal_here() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    let both = format!("{TWO_PERSON}\n[environments.stage]\nurl_env = \"TEST_DB_URL\"\n");
    p.with_config(&both, "bob", &["--env", "stage", "run", "--dry-run"])
        .code(0);
    p.with_config(
        &both,
        "alice",
        &["--env", "prod", "approve", A, "--reason", "ok"],
    )
    .code(0);
    p.with_config(&both, "bob", &["--env", "prod", "run", "--confirm", "prod"])
        .code(3)
        .stderr_has("a successful dry run of this version on prod");
    assert_eq!(p.effects(A), 0);
}

#[test]
fn skip_and_mark_on_a_protected_environment_need_its_name_too() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    let before = p.ledger_snapshot();
    p.with_config(
        CONFIRM_ONLY,
        "bob",
        &["--env", "prod", "skip", A, "--reason", "not needed"],
    )
    .code(3)
    .stderr_has("pass --confirm prod");
    p.with_config(
        CONFIRM_ONLY,
        "bob",
        &[
            "--env",
            "prod",
            "mark",
            A,
            "succeeded",
            "--force",
            "--reason",
            "by hand",
        ],
    )
    .code(3)
    .stderr_has("pass --confirm prod");
    assert_eq!(p.ledger_snapshot(), before);
    p.with_config(
        CONFIRM_ONLY,
        "bob",
        &[
            "--env",
            "prod",
            "skip",
            A,
            "--reason",
            "not needed",
            "--confirm",
            "prod",
        ],
    )
    .code(0)
    .stdout_has("(environment prod)");
    assert_eq!(p.status_of(A), "skipped");
}

#[test]
fn a_url_of_a_protected_environment_is_protected_without_env() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    std::fs::write(p.dir.path().join("oneoff.toml"), CONFIRM_ONLY).unwrap();
    let out = p
        .cmd()
        .env("TEST_DB_URL", &p.db.url)
        .stdin(std::process::Stdio::null())
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is the URL of protected environment prod")
    );
    assert_eq!(p.effects(A), 0);
}

#[test]
fn approve_needs_an_environment_a_reason_and_a_file() {
    let p = Project::new(Backend::Sqlite).unwrap();
    p.effect_script(A, "first");
    p.oneoff(&["approve", A, "--reason", "ok"])
        .code(2)
        .stderr_has("pass --env NAME");
    p.with_config(
        TWO_PERSON,
        "alice",
        &["--env", "prod", "approve", A, "--reason", "  "],
    )
    .code(2)
    .stderr_has("--reason is blank");
    p.with_config(
        TWO_PERSON,
        "alice",
        &[
            "--env",
            "prod",
            "approve",
            "20990101000000",
            "--reason",
            "ok",
        ],
    )
    .code(2)
    .stderr_has("no script file with id 20990101000000");
    assert_eq!(p.ledger_snapshot(), "(no ledger)");
}

/// The command line refuses before it asks; the runner checks again under
/// the run lock, on the files it is about to run, whoever calls it.
#[test]
fn the_runner_itself_refuses_a_script_its_gate_does_not_clear() {
    let p = Project::new(Backend::Sqlite).unwrap().with_effects();
    p.effect_script(A, "first");
    let opts = oneoff::RunOptions {
        database: oneoff::DatabaseUrl::parse(&p.db.url).unwrap(),
        dir: p.scripts(),
        ids: Vec::new(),
        retry: false,
        dry_run: false,
        lock_timeout: std::time::Duration::from_secs(5),
        timeout: None,
        cancel: oneoff::CancelToken::default(),
        pause: None,
        max_batches: None,
        environment: Some("prod".into()),
        gate: Some(oneoff::ProtectRules {
            environment: "prod".into(),
            approvals: 1,
            require_dry_run: false,
            runner: "bob".into(),
        }),
        again: None,
        scripts: oneoff::Scripts::from_disk(),
    };
    let e = oneoff::run(&opts, &mut |_| {}).expect_err("refused");
    assert_eq!(e.exit_code(), 3);
    assert!(
        e.to_string()
            .contains("1 approval(s) of this version by someone other than bob"),
        "{e}"
    );
    assert_eq!(p.effects(A), 0);
    assert_eq!(p.status_of(A), "pending");
    assert_eq!(
        p.db.count("SELECT COUNT(*) AS n FROM oneoff_lock"),
        0,
        "the holder is forgotten"
    );
    let dry = oneoff::RunOptions {
        dry_run: true,
        ..opts
    };
    oneoff::run(&dry, &mut |_| {}).expect("a dry run is the rehearsal, not gated");
}
