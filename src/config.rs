//! `oneoff.toml`: the script directory and the named environments (their
//! database URLs, whether they are protected, their approval and rehearsal
//! rules, their time limits), and how a command picks its target from the
//! file, `--env`, `--database-url` and the environment variables. Plain
//! structs: the command line fills [`Inputs`], the library never sees clap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::db::DatabaseUrl;
use crate::error::{Error, Result};

/// The file looked for in the working directory.
pub const FILE_NAME: &str = "oneoff.toml";

/// The script directory when neither `--dir`, `ONEOFF_DIR` nor the file says.
pub const DEFAULT_DIR: &str = "one_off";

/// A parsed `oneoff.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// `dir`, relative to the file's directory.
    pub dir: Option<PathBuf>,
    /// `[environments.NAME]`, by name.
    pub environments: BTreeMap<String, Environment>,
}

/// One `[environments.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// Where its URL comes from.
    pub url: UrlFrom,
    /// Confirmation, approvals and a rehearsal are required.
    pub protected: bool,
    /// Approvals by people other than the runner that `run` requires.
    pub approvals: u32,
    /// `run` requires a successful dry run of the same checksum here first.
    pub require_dry_run: bool,
    /// Default `--lock-timeout`.
    pub lock_timeout: Option<Duration>,
    /// Default `--timeout`.
    pub timeout: Option<Duration>,
}

/// Where an environment's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlFrom {
    /// `url = "…"`, written in the file (never with a password).
    Literal(String),
    /// `url_env = "VAR"`: read from this environment variable.
    Variable(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    dir: Option<PathBuf>,
    #[serde(default)]
    environments: BTreeMap<String, EnvToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvToml {
    url: Option<toml::Spanned<String>>,
    url_env: Option<String>,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    approvals: u32,
    #[serde(default)]
    require_dry_run: bool,
    lock_timeout: Option<String>,
    timeout: Option<String>,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            config_error(
                path,
                format!("cannot read it: {e}\nhint: check --config / ONEOFF_CONFIG"),
            )
        })?;
        Config::parse(path, &text)
    }

    /// Parses and checks `text`, read from `path` (for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let file: FileToml = toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            let at = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            config_error(
                path,
                format!("{at}{message}\nhint: the keys are dir and [environments.NAME] with url or url_env, protected, approvals, require_dry_run, lock_timeout, timeout"),
            )
        })?;
        let mut environments = BTreeMap::new();
        for (name, env) in file.environments {
            let env = environment(path, text, &name, env)?;
            environments.insert(name, env);
        }
        let base = path.parent().unwrap_or(Path::new(""));
        Ok(Config {
            path: path.to_path_buf(),
            dir: file.dir.map(|d| base.join(d)),
            environments,
        })
    }
}

/// Checks one `[environments.NAME]` table.
fn environment(path: &Path, text: &str, name: &str, env: EnvToml) -> Result<Environment> {
    let key = |k: &str| format!("environments.{name}.{k}");
    let bad = |message: String| Err(config_error(path, message));
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        return bad(format!(
            "environment name `{name}`: use letters, digits, `_` and `-`"
        ));
    }
    let url = match (env.url, env.url_env) {
        (Some(_), Some(_)) => {
            return bad(format!(
                "{} and {} are both set; keep one (url_env for anything with a password)",
                key("url"),
                key("url_env")
            ))
        }
        (None, None) => {
            return bad(format!(
                "{} is missing: set url_env = \"VARIABLE\" (the URL comes from that variable) or url = \"sqlite://…\"",
                key("url_env")
            ))
        }
        (None, Some(var)) if var.trim().is_empty() => {
            return bad(format!("{} is empty: name the variable that holds the URL", key("url_env")))
        }
        (None, Some(var)) => UrlFrom::Variable(var),
        (Some(url), None) => {
            let line = line_of(text, url.span().start);
            let url = url.into_inner();
            if has_password(&url) {
                return bad(format!(
                    "line {line}: {} holds a password, which must never be written in a file\nhint: put the URL in an environment variable and name it with url_env = \"VARIABLE\"",
                    key("url")
                ));
            }
            DatabaseUrl::parse(&url).map_err(|e| config_error(path, format!("line {line}: {}: {e}", key("url"))))?;
            UrlFrom::Literal(url)
        }
    };
    if !env.protected && (env.approvals > 0 || env.require_dry_run) {
        return bad(format!(
            "{} and {} take effect only on a protected environment: add {} = true",
            key("approvals"),
            key("require_dry_run"),
            key("protected")
        ));
    }
    let duration = |k: &str, v: Option<String>| -> Result<Option<Duration>> {
        v.map(|v| {
            parse_duration(&v).map_err(|e| config_error(path, format!("{} = \"{v}\": {e}", key(k))))
        })
        .transpose()
    };
    Ok(Environment {
        name: name.to_string(),
        url,
        protected: env.protected,
        approvals: env.approvals,
        require_dry_run: env.require_dry_run,
        lock_timeout: duration("lock_timeout", env.lock_timeout)?,
        timeout: duration("timeout", env.timeout)?,
    })
}

/// Parses `30s`, `2m`, `1h30m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e}; write a duration like 30s, 2m or 1h"))
}

fn has_password(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| u.password().is_some_and(|p| !p.is_empty()))
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn config_error(path: &Path, message: String) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        message,
    }
}

/// Where the URL given on the command line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource {
    /// `--database-url`.
    Flag,
    /// `DATABASE_URL`.
    Variable,
}

impl UrlSource {
    fn name(self) -> &'static str {
        match self {
            UrlSource::Flag => "--database-url",
            UrlSource::Variable => "DATABASE_URL",
        }
    }
}

/// What a command was given to pick its target with.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--config` / `ONEOFF_CONFIG`: the file must exist.
    pub config: Option<PathBuf>,
    /// `--env` / `ONEOFF_ENV`.
    pub env: Option<String>,
    /// `--database-url` / `DATABASE_URL`, and which of the two.
    pub url: Option<(String, UrlSource)>,
    /// `--dir` / `ONEOFF_DIR`.
    pub dir: Option<PathBuf>,
}

/// What a command works on.
#[derive(Debug, Clone)]
pub struct Target {
    /// The database.
    pub url: DatabaseUrl,
    /// The script directory.
    pub dir: PathBuf,
    /// The environment, when one was selected.
    pub environment: Option<Environment>,
    /// Things to tell the user about how the target was picked (e.g. that
    /// `DATABASE_URL` overrides the environment's URL).
    pub notes: Vec<String>,
}

impl Target {
    /// The environment's name, if any.
    pub fn environment_name(&self) -> Option<&str> {
        self.environment.as_ref().map(|e| e.name.as_str())
    }

    /// Whether the environment requires confirmation and approvals.
    pub fn protected(&self) -> bool {
        self.environment.as_ref().is_some_and(|e| e.protected)
    }
}

/// Picks the target: `--database-url`/`DATABASE_URL` win over the
/// environment's URL (said in [`Target::notes`]), `--dir`/`ONEOFF_DIR` over
/// the file's `dir`. `var` reads an environment variable (injected, so that
/// tests need not set the process's). Without `--env`, a URL that is a protected
/// environment's URL selects that environment, so that its rules still hold.
pub fn resolve(inputs: &Inputs, var: &dyn Fn(&str) -> Option<String>) -> Result<Target> {
    let config = match &inputs.config {
        Some(path) => Some(Config::load(path)?),
        None if Path::new(FILE_NAME).is_file() => Some(Config::load(Path::new(FILE_NAME))?),
        None => None,
    };
    let dir = inputs
        .dir
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.dir.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let mut notes = Vec::new();
    let environment = match (&inputs.env, &config) {
        (Some(name), Some(config)) => Some(select(config, name)?),
        (Some(name), None) => {
            return Err(Error::Usage(format!(
                "--env {name}: there is no {FILE_NAME} here to define it\nhint: create {FILE_NAME} with [environments.{name}], or point --config / ONEOFF_CONFIG at one"
            )))
        }
        (None, _) => None,
    };
    let env_url = match &environment {
        Some(env) if inputs.url.is_none() => Some(url_of(env, config.as_ref(), var)?),
        _ => None,
    };
    let url = match (&inputs.url, env_url, &environment) {
        (Some((url, source)), _, Some(env)) => {
            notes.push(format!(
                "{} overrides the URL of environment {} in {FILE_NAME}; its rules still apply",
                source.name(),
                env.name
            ));
            url.clone()
        }
        (Some((url, _)), _, None) => url.clone(),
        (None, Some(url), _) => url,
        (None, None, _) => crate::db::DEFAULT_URL.to_string(),
    };
    let url = DatabaseUrl::parse(&url)?;
    let environment = match environment {
        Some(env) => Some(env),
        None => config
            .as_ref()
            .and_then(|c| protected_with_url(c, &url, var)),
    };
    if let (None, Some(env)) = (&inputs.env, &environment) {
        notes.push(format!(
            "{} is the URL of protected environment {} in {FILE_NAME}: its rules apply",
            url.redacted(),
            env.name
        ));
    }
    Ok(Target {
        url,
        dir,
        environment,
        notes,
    })
}

fn select(config: &Config, name: &str) -> Result<Environment> {
    config.environments.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        Error::Config {
            path: config.path.clone(),
            message: format!(
                "no environment `{name}` (environments.{name})\nhint: the environments defined are: {}",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ),
        }
    })
}

fn url_of(
    env: &Environment,
    config: Option<&Config>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<String> {
    match &env.url {
        UrlFrom::Literal(url) => Ok(url.clone()),
        UrlFrom::Variable(name) => var(name).filter(|v| !v.is_empty()).ok_or_else(|| Error::Config {
            path: config.map(|c| c.path.clone()).unwrap_or_default(),
            message: format!(
                "environments.{}.url_env names the variable {name}, which is not set\nhint: export {name}=postgres://USER@HOST/DB (or pass --database-url)",
                env.name
            ),
        }),
    }
}

/// The protected environment whose URL is `url`, if any (only those whose
/// URL can be read).
fn protected_with_url(
    config: &Config,
    url: &DatabaseUrl,
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<Environment> {
    config
        .environments
        .values()
        .filter(|env| env.protected)
        .find(|env| {
            url_of(env, Some(config), var)
                .ok()
                .and_then(|u| DatabaseUrl::parse(&u).ok())
                .is_some_and(|u| same_database(&u, url))
        })
        .cloned()
}

/// Whether two URLs name the same database, whatever their passwords.
fn same_database(a: &DatabaseUrl, b: &DatabaseUrl) -> bool {
    let key = |u: &DatabaseUrl| u.redacted().replace(":***@", "@");
    key(a) == key(b)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
