//! The manifest `plugins.toml`: plugins, endpoints, pairs and the store, with `TANDEM_` overrides.
//!
//! ```toml
//! [plugins]
//! file = "libtandem_connector_file.so"   # beside the manifest, or beside `tandem`
//!
//! [endpoints.customers_csv]
//! type = "file"                          # a plugin; the rest is the connector's config
//! path = "examples/data/customers.csv"
//! key = ["id"]
//!
//! [pairs.customers]
//! a = "customers_csv"
//! b = "customers_jsonl"
//! entity = "customers"
//! mode = "send"
//!
//! [pairs.events]                         # synced day by day (tandem calendar)
//! a = "watcher"
//! b = "panorama"
//! entity = "events"
//! ledger = { field = "time", time_zone = "Europe/Rome" }
//! on_crash = "resume"                    # or "rollback": restore from the journal
//!
//! [store]
//! url = "sqlite://tandem.db"
//! ```
//!
//! Any value can be overridden from the environment: `TANDEM_` then the
//! keys joined by `__`, e.g. `TANDEM_PAIRS__CUSTOMERS__MAX_DELETE=10`.
//! Secrets are given by reference (`password_env = "VAR"`,
//! `token_file = "path"`) and resolved only when an endpoint is opened.

mod daemon;
mod errors;
mod paths;
#[cfg(test)]
mod prop_tests;
mod raw;
mod schedule;
mod secrets;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use tandem_core::engine::PairConfig;

pub use daemon::{DEFAULT_LISTEN, DaemonConfig, Role, TokenConfig, TokenSecret};
pub use paths::{exe_dir, find_library};
pub use schedule::{DAYS, Grid, Schedule, Triggers, duration_text, parse_duration};
pub use secrets::{Lookup, ProcessEnv};

use crate::error::config_error;

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "TANDEM_";

/// A loaded, checked manifest. Its `Debug` shows no endpoint settings.
#[derive(Debug)]
pub struct Manifest {
    /// The manifest file as the user named it, for messages.
    pub file: String,
    /// The manifest's folder (absolute); relative paths are relative to it.
    pub dir: PathBuf,
    /// Plugin name to library path, as written.
    pub plugins: BTreeMap<String, String>,
    /// The endpoints, by name.
    pub endpoints: BTreeMap<String, EndpointEntry>,
    /// The pairs, by name.
    pub pairs: BTreeMap<String, PairEntry>,
    /// The store URL, a relative SQLite path made absolute.
    pub store_url: String,
    /// `[daemon]`: listen address, polling interval, API tokens.
    pub daemon: DaemonConfig,
}

/// `[endpoints.NAME]`: a plugin and the connector's configuration. The
/// configuration may name secrets, so it is never printed.
pub struct EndpointEntry {
    /// The endpoint's name.
    pub name: String,
    /// The plugin (`type`).
    pub plugin: String,
    config: serde_json::Value,
}

impl fmt::Debug for EndpointEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointEntry")
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl EndpointEntry {
    /// The connector's configuration with secrets resolved, for
    /// `Plugin::open` only: never print it.
    pub fn config(&self, base_dir: &Path, env: &dyn Lookup) -> anyhow::Result<serde_json::Value> {
        let mut config = self.config.clone();
        secrets::resolve(&self.name, &mut config, base_dir, env).map_err(config_error)?;
        Ok(config)
    }
}

/// `[pairs.NAME]`: the two endpoints and core's pair configuration.
#[derive(Debug, Clone)]
pub struct PairEntry {
    /// The endpoint on side A.
    pub a: String,
    /// The endpoint on side B.
    pub b: String,
    /// Entities, mapping, filters, mode, resolver, guards.
    pub config: PairConfig,
    /// `[pairs.NAME.schedule]`: when the daemon syncs it (what a reset
    /// returns to).
    pub schedule: Schedule,
}

impl Manifest {
    /// Reads `path` plus the `TANDEM_` environment overrides and checks
    /// it: unknown keys, types, references between sections, pair settings.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let file = path.display().to_string();
        if !path.is_file() {
            return Err(config_error(format!(
                "manifest {file} not found (give another with --manifest or TANDEM_MANIFEST)"
            )));
        }
        let figment = Figment::from(Toml::file_exact(path)).merge(
            Env::prefixed(ENV_PREFIX)
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let raw: raw::RawManifest = figment
            .extract()
            .map_err(|e| config_error(errors::describe(e, &file)))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Self::check(raw, file, dir).map_err(config_error)
    }

    fn check(mut raw: raw::RawManifest, file: String, dir: PathBuf) -> Result<Manifest, String> {
        let daemon = std::mem::take(&mut raw.daemon)
            .into_config()
            .map_err(|e| format!("{file}: {e}"))?;
        let mut endpoints = BTreeMap::new();
        for (name, mut table) in raw.endpoints {
            let plugin = match table.remove("type") {
                Some(figment::value::Value::String(_, t)) => t,
                Some(_) => {
                    return Err(format!(
                        "{file}: endpoints.{name}.type: invalid type, expected a plugin name"
                    ));
                }
                None => {
                    return Err(format!(
                        "{file}: endpoints.{name}: missing field \"type\" (the plugin)"
                    ));
                }
            };
            if !raw.plugins.contains_key(&plugin) {
                let known: Vec<&str> = raw.plugins.keys().map(String::as_str).collect();
                return Err(format!(
                    "{file}: endpoints.{name}.type: unknown plugin {plugin:?}; [plugins] declares {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            let config = serde_json::to_value(&table).map_err(|e| {
                format!("{file}: endpoints.{name}: cannot convert the settings: {e}")
            })?;
            endpoints.insert(
                name.clone(),
                EndpointEntry {
                    name,
                    plugin,
                    config,
                },
            );
        }
        let mut pairs = BTreeMap::new();
        for (name, mut section) in raw.pairs {
            for (key, endpoint) in [("a", &section.a), ("b", &section.b)] {
                if !endpoints.contains_key(endpoint) {
                    return Err(format!(
                        "{file}: pairs.{name}.{key}: unknown endpoint {endpoint:?}"
                    ));
                }
            }
            let (a, b) = (section.a.clone(), section.b.clone());
            let schedule = section
                .schedule
                .take()
                .unwrap_or_default()
                .into_schedule()
                .map_err(|m| format!("{file}: pairs.{name}.{m}"))?;
            let config = section
                .into_config(&name)
                .map_err(|m| format!("{file}: pairs.{name}.{m}"))?;
            config.validate().map_err(|e| format!("{file}: {e}"))?;
            pairs.insert(
                name,
                PairEntry {
                    a,
                    b,
                    config,
                    schedule,
                },
            );
        }
        let store_url = paths::store_url(&raw.store.url, &dir);
        Ok(Manifest {
            file,
            dir,
            plugins: raw.plugins,
            endpoints,
            pairs,
            store_url,
            daemon,
        })
    }

    /// A pair by name, or a configuration error listing the pairs.
    pub fn pair(&self, name: &str) -> anyhow::Result<&PairEntry> {
        self.pairs.get(name).ok_or_else(|| {
            config_error(format!(
                "unknown pair {name:?} in {}; pairs: {}",
                self.file,
                list(self.pairs.keys())
            ))
        })
    }

    /// An endpoint by name, or a configuration error listing the endpoints.
    pub fn endpoint(&self, name: &str) -> anyhow::Result<&EndpointEntry> {
        self.endpoints.get(name).ok_or_else(|| {
            config_error(format!(
                "unknown endpoint {name:?} in {}; endpoints: {}",
                self.file,
                list(self.endpoints.keys())
            ))
        })
    }

    /// The library file of a plugin, or an error naming every path searched.
    pub fn library(&self, plugin: &str) -> anyhow::Result<PathBuf> {
        let library = self
            .plugins
            .get(plugin)
            .ok_or_else(|| config_error(format!("unknown plugin {plugin:?} in {}", self.file)))?;
        find_library(plugin, library, &self.dir, exe_dir().as_deref()).map_err(config_error)
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
