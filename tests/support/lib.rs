//! Helpers for end-to-end tests: find the built `tandem` binary and plugin
//! libraries, and run commands in a scratch folder as a user would.

pub mod api;
pub mod daemon;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The folder cargo builds into (`target/debug`).
pub fn build_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

fn built(name: &str) -> PathBuf {
    let path = build_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` before the end-to-end tests (the README's test command does)",
        path.display()
    );
    path
}

/// The `tandem` binary.
pub fn tandem_bin() -> PathBuf {
    built("tandem")
}

/// A plugin library by crate name (`tandem_connector_file`).
pub fn plugin(crate_name: &str) -> PathBuf {
    built(&format!("lib{crate_name}.so"))
}

/// A scratch folder holding a manifest and data, where commands run.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

/// What a command did.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// An empty scratch folder.
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (relative to the folder), creating folders.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Reads a file (relative to the folder).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    /// Runs `tandem ARGS` in the folder, with no `TANDEM_` variables but `env`.
    pub fn tandem(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(tandem_bin());
        cmd.args(args).current_dir(self.dir.path());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TANDEM_") || k == "RUST_LOG")
        {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("tandem runs");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// The endpoints most end-to-end manifests share: the file plugin, and
/// `src` (`events.csv`) and `dst` (`out.csv`), both keyed by `id`.
pub fn events_endpoints() -> String {
    format!(
        r#"[plugins]
file = "{}"

[endpoints.src]
type = "file"
path = "events.csv"
key = ["id"]

[endpoints.dst]
type = "file"
path = "out.csv"
key = ["id"]
"#,
        plugin("tandem_connector_file").display()
    )
}

/// The pair `events`: `src` sent to `dst` day by day in Rome's time zone.
pub const EVENTS_PAIR: &str = r#"[pairs.events]
a = "src"
b = "dst"
a_entity = "events"
b_entity = "out"
mode = "send"
max_delete = 100
ledger = { field = "time", time_zone = "Europe/Rome" }
"#;
