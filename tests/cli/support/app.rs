//! The example application (`examples/app`): its own binary with oneoff's
//! CLI and its scripts (two SQL, three Rust) compiled in, built once per
//! test process with the profile the tests were built with.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{Project, Run};

/// The script directory the example application embeds.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app/one_off")
}

/// The example application's binary, built on first use.
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let bin_dir = super::binary().parent().expect("bin dir").to_path_buf();
            let mut cargo = std::process::Command::new(option_env!("CARGO").unwrap_or("cargo"));
            cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
                "build",
                "--quiet",
                "-p",
                "oneoff-example-app",
            ]);
            if bin_dir.ends_with("release") {
                cargo.arg("--release");
            }
            let status = cargo.status().expect("run cargo build");
            assert!(status.success(), "cargo build -p oneoff-example-app failed");
            bin_dir.join(format!(
                "oneoff-example-app{}",
                std::env::consts::EXE_SUFFIX
            ))
        })
        .clone()
}

impl Project {
    /// The example application's binary, in the project directory, pointed
    /// at its database; its after-commit effect writes to [`Project::outbox`].
    pub fn app_cmd(&self) -> std::process::Command {
        let mut cmd = self.cmd();
        cmd.env("ONEOFF_EXAMPLE_OUTBOX", self.outbox())
            .env_remove("ONEOFF_EXAMPLE_HOOK")
            .env_remove("ONEOFF_EXAMPLE_STEP_MS")
            .env_remove("ONEOFF_EXAMPLE_EFFECT_FAIL");
        let program = binary();
        let mut app = std::process::Command::new(program);
        app.current_dir(self.dir.path());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => app.env(key, value),
                None => app.env_remove(key),
            };
        }
        app
    }

    /// Runs the example application with `args`, and `env` set.
    pub fn app(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = self
            .app_cmd()
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("run the example app");
        Run { output }
    }

    /// Where the example's after-commit effect writes its messages.
    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    /// The messages the after-commit effect sent.
    pub fn sent(&self) -> usize {
        std::fs::read_to_string(self.outbox()).map_or(0, |s| s.lines().count())
    }

    /// Copies the example application's scripts into this project's
    /// `one_off/`, for the standalone binary.
    pub fn with_app_scripts(self) -> Self {
        for entry in std::fs::read_dir(scripts_dir()).expect("example scripts") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, self.scripts().join(path.file_name().expect("name")))
                .expect("copy script");
        }
        self
    }
}
