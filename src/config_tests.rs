use super::*;

fn parse(text: &str) -> Result<Config> {
    Config::parse(Path::new("oneoff.toml"), text)
}

fn message(text: &str) -> String {
    let e = parse(text).expect_err("refused");
    assert_eq!(e.exit_code(), crate::error::EXIT_BAD_INPUT);
    e.to_string()
}

const EXAMPLE: &str = r#"
dir = "one_off"

[environments.dev]
url = "sqlite://dev.db"

[environments.production]
url_env = "PROD_DATABASE_URL"
protected = true
approvals = 1
require_dry_run = true
lock_timeout = "2m"
timeout = "30m"
"#;

#[test]
fn the_example_of_the_readme_parses_into_its_environments() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.dir, Some(PathBuf::from("one_off")));
    let prod = &config.environments["production"];
    assert_eq!(prod.url, UrlFrom::Variable("PROD_DATABASE_URL".into()));
    assert!(prod.protected && prod.require_dry_run);
    assert_eq!(prod.approvals, 1);
    assert_eq!(prod.lock_timeout, Some(Duration::from_secs(120)));
    assert_eq!(prod.timeout, Some(Duration::from_secs(1800)));
    let dev = &config.environments["dev"];
    assert_eq!(dev.url, UrlFrom::Literal("sqlite://dev.db".into()));
    assert!(!dev.protected);
}

#[test]
fn an_unknown_key_is_refused_with_its_name_and_line() {
    let msg = message("[environments.dev]\nurl = \"sqlite://a.db\"\nprotect = true\n");
    assert!(msg.contains("oneoff.toml: line 3"), "{msg}");
    assert!(msg.contains("protect"), "{msg}");
}

#[test]
fn a_password_in_the_file_is_refused_naming_the_line_and_url_env() {
    let msg = message("\n[environments.prod]\nurl = \"postgres://app:s3cret@db/prod\"\n");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("environments.prod.url"), "{msg}");
    assert!(msg.contains("url_env"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[test]
fn an_environment_without_a_url_or_with_both_is_refused() {
    assert!(message("[environments.dev]\nprotected = false\n")
        .contains("environments.dev.url_env is missing"));
    let msg = message("[environments.dev]\nurl = \"sqlite://a.db\"\nurl_env = \"X\"\n");
    assert!(msg.contains("both"), "{msg}");
}

#[test]
fn approvals_without_protected_and_bad_durations_are_refused_by_key() {
    let msg = message("[environments.p]\nurl_env = \"X\"\napprovals = 1\n");
    assert!(msg.contains("environments.p.protected = true"), "{msg}");
    let msg = message("[environments.p]\nurl_env = \"X\"\ntimeout = \"soon\"\n");
    assert!(msg.contains("environments.p.timeout = \"soon\""), "{msg}");
}

#[test]
fn a_wrongly_typed_value_is_refused_with_its_line() {
    let msg = message("[environments.p]\nurl_env = \"X\"\nprotected = \"yes\"\n");
    assert!(msg.contains("line 3"), "{msg}");
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("oneoff.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn an_environment_takes_its_url_from_its_variable_and_the_dir_from_the_file() {
    let tmp = tempdir();
    let path = write_config(tmp.path(), EXAMPLE);
    let inputs = Inputs {
        config: Some(path),
        env: Some("production".into()),
        ..Inputs::default()
    };
    let target = resolve(
        &inputs,
        &vars(&[("PROD_DATABASE_URL", "postgres://app@db/prod")]),
    )
    .unwrap();
    assert_eq!(target.url.redacted(), "postgres://app@db/prod");
    assert_eq!(target.environment_name(), Some("production"));
    assert!(target.protected());
    assert_eq!(target.dir, tmp.path().join("one_off"));
    assert!(target.notes.is_empty());
}

#[test]
fn database_url_wins_over_the_environment_and_says_so() {
    let tmp = tempdir();
    let inputs = Inputs {
        config: Some(write_config(tmp.path(), EXAMPLE)),
        env: Some("production".into()),
        url: Some(("sqlite://other.db".into(), UrlSource::Variable)),
        dir: Some("scripts".into()),
    };
    let target = resolve(&inputs, &vars(&[])).unwrap();
    assert_eq!(target.url.redacted(), "sqlite://other.db");
    assert!(
        target.protected(),
        "the rules of the environment still apply"
    );
    assert_eq!(target.dir, PathBuf::from("scripts"));
    assert!(
        target.notes[0].contains("DATABASE_URL overrides the URL of environment production"),
        "{:?}",
        target.notes
    );
}

#[test]
fn a_url_that_is_a_protected_environments_selects_it() {
    let tmp = tempdir();
    let inputs = Inputs {
        config: Some(write_config(tmp.path(), EXAMPLE)),
        url: Some(("postgres://app@db/prod".into(), UrlSource::Flag)),
        ..Inputs::default()
    };
    let target = resolve(
        &inputs,
        &vars(&[("PROD_DATABASE_URL", "postgres://app:pw@db/prod")]),
    )
    .unwrap();
    assert_eq!(target.environment_name(), Some("production"));
}

#[test]
fn an_unknown_environment_a_missing_variable_and_a_missing_file_are_bad_input() {
    let tmp = tempdir();
    let config = Some(write_config(tmp.path(), EXAMPLE));
    let pick = |env: &str| Inputs {
        config: config.clone(),
        env: Some(env.into()),
        ..Inputs::default()
    };
    let e = resolve(&pick("staging"), &vars(&[])).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("no environment `staging`"), "{e}");
    assert!(e.to_string().contains("dev, production"), "{e}");
    let e = resolve(&pick("production"), &vars(&[])).unwrap_err();
    assert!(
        e.to_string()
            .contains("PROD_DATABASE_URL, which is not set"),
        "{e}"
    );
    let missing = Inputs {
        config: Some(tmp.path().join("nope.toml")),
        ..Inputs::default()
    };
    let e = resolve(&missing, &vars(&[])).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("nope.toml: cannot read it"), "{e}");
}

fn tempdir() -> TempDir {
    TempDir::new()
}

/// A directory removed when dropped (no dev-dependency needed in the library's unit tests).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("oneoff-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
