//! The wiring: manifest, state store, plugins (loaded once per library) and open endpoints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tandem_core::engine::{Endpoint, Engine, PairConfig};
use tandem_core::plugin::{OpenContext, Plugin};
use tandem_core::store::StateStore;
use tandem_core::{Capabilities, Source};
use tokio::sync::OnceCell;

use crate::manifest::{Manifest, ProcessEnv};

/// An endpoint opened through its plugin.
#[derive(Clone)]
pub struct OpenEndpoint {
    /// The engine's view of it.
    pub endpoint: Endpoint,
    /// What it can do.
    pub capabilities: Capabilities,
}

/// A pair ready to run: its configuration and both endpoints.
pub struct PairSetup {
    /// Core's configuration of the pair.
    pub config: PairConfig,
    /// Side A.
    pub a: Endpoint,
    /// Side B.
    pub b: Endpoint,
}

/// Everything a command needs, opened on first use.
pub struct Context {
    /// The manifest.
    pub manifest: Manifest,
    store: OnceCell<StateStore>,
    /// Loaded libraries by path, so a library is loaded once.
    libraries: Mutex<HashMap<PathBuf, Plugin>>,
    endpoints: Mutex<HashMap<String, OpenEndpoint>>,
}

impl Context {
    /// Loads and checks the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Context> {
        let manifest = Manifest::load(path)?;
        Ok(Context {
            manifest,
            store: OnceCell::new(),
            libraries: Mutex::new(HashMap::new()),
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    /// The state store, opened (and migrated) on first use.
    pub async fn store(&self) -> anyhow::Result<&StateStore> {
        self.store
            .get_or_try_init(|| async {
                StateStore::open(&self.manifest.store_url)
                    .await
                    .with_context(|| {
                        format!(
                            "opening the state store {}",
                            redact_url(&self.manifest.store_url)
                        )
                    })
            })
            .await
    }

    /// An engine recording into the state store.
    pub async fn engine(&self) -> anyhow::Result<Engine> {
        Ok(Engine::new(self.store().await?.clone()))
    }

    /// A plugin by its manifest name, loaded (and its descriptor checked)
    /// once per library file.
    pub fn plugin(&self, name: &str) -> anyhow::Result<Plugin> {
        let path = self.manifest.library(name)?;
        let mut libraries = self.libraries.lock().expect("plugin cache poisoned");
        if let Some(plugin) = libraries.get(&path) {
            return Ok(plugin.clone());
        }
        let plugin = Plugin::load(&path).with_context(|| format!("loading plugin {name}"))?;
        libraries.insert(path, plugin.clone());
        Ok(plugin)
    }

    /// An endpoint by name, opened through its plugin (once per command).
    pub async fn endpoint(&self, name: &str) -> anyhow::Result<OpenEndpoint> {
        if let Some(open) = self
            .endpoints
            .lock()
            .expect("endpoint cache poisoned")
            .get(name)
        {
            return Ok(open.clone());
        }
        let entry = self.manifest.endpoint(name)?;
        let plugin = self.plugin(&entry.plugin)?;
        let config = entry.config(&self.manifest.dir, &ProcessEnv)?;
        let connector = plugin
            .open(config, OpenContext::new(name, &self.manifest.dir))
            .await
            .with_context(|| format!("opening endpoint {name} (plugin {})", entry.plugin))?;
        let capabilities = Source::capabilities(&connector);
        let connector = Arc::new(connector);
        let target: Option<Arc<dyn tandem_core::Target>> = if connector.is_target() {
            Some(connector.clone())
        } else {
            None
        };
        let open = OpenEndpoint {
            endpoint: Endpoint {
                name: name.to_owned(),
                source: connector,
                target,
            },
            capabilities,
        };
        self.endpoints
            .lock()
            .expect("endpoint cache poisoned")
            .insert(name.to_owned(), open.clone());
        Ok(open)
    }

    /// A pair by name with both endpoints open.
    pub async fn pair(&self, name: &str) -> anyhow::Result<PairSetup> {
        let entry = self.manifest.pair(name)?;
        let a = self
            .endpoint(&entry.a)
            .await
            .with_context(|| format!("pair {name}, side a"))?;
        let b = self
            .endpoint(&entry.b)
            .await
            .with_context(|| format!("pair {name}, side b"))?;
        Ok(PairSetup {
            config: entry.config.clone(),
            a: a.endpoint,
            b: b.endpoint,
        })
    }
}

/// A URL with its password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///x/tandem.db"), "sqlite:///x/tandem.db");
    }
}
