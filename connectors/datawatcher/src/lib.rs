//! Tandem connector for the Data Watcher event feed, read day by day.
//!
//! Primeur Data Watcher publishes no public REST API; an installation puts
//! a small read-only adapter in front of it that serves the feed this
//! connector reads (see the crate's `README.md` for the feed, and
//! `PROTOCOLS.md`). The connector is a source only.
//!
//! - The entity (`events` by default) is the event feed; the key is `id`.
//! - A full read reads every day the feed still holds; a read of a range
//!   of days (`ReadScope::Days`, used by the day ledger) reads those days,
//!   computing each event's day from its `time` in the pair's time zone;
//!   an incremental read reads the entries after the cursor's sequence
//!   number, on the days whose `last_seq` is past it, and the entries
//!   that filled the cursor's holes: numbers a read passed without seeing
//!   them, waited for 10 minutes, since an adapter may make entries
//!   visible out of `seq` order (see the `cursor` module).
//! - An event updated later reappears with a higher `seq` and the same
//!   `id`; the last one wins. An incremental read therefore reports it as
//!   a change, which is what makes an already-synced day stale.
//! - `pending` counts the events per day not read yet after a cursor;
//!   `horizon` is the feed's `oldest_available` (the cleaner's horizon). A
//!   day run that starts before the horizon fails rather than syncing gone
//!   days as empty.
//!
//! Retries, throttling (`Retry-After`), timeouts and OAuth2 tokens are the
//! shared layer's ([`tandem_http`]).
//!
//! # Configuration
//!
//! ```toml
//! [endpoints.watcher]
//! type = "datawatcher"
//! url = "https://dw-adapter.example.com"   # the feed is at {url}/api/v1/
//! token_env = "DW_TOKEN"                   # the static bearer token
//! # oauth = { token_url = "...", client_id = "...", client_secret_env = "..." }
//! # entity = "events"
//! # page_size = 1000                       # events per request, at most 5000
//! # fields = ["id", "time", "status"]      # default: every field
//! # flatten_attributes = true              # attributes as fields of their own
//! # http = { timeout_seconds = 60, max_attempts = 8, max_wait_seconds = 300 }
//! ```
#![warn(missing_docs)]

mod client;
mod config;
mod cursor;
mod record;
mod source;

use std::sync::Arc;

use tandem_core::{Error, Result};
use tandem_http::HttpClient;

pub use config::{DataWatcherConfig, OAuthConfig};

use client::Feed;
use config::Settings;

/// The connector's name, as manifests' `type` and errors say it.
pub const CONNECTOR: &str = "datawatcher";

/// A Data Watcher feed, as a [`Source`](tandem_core::Source).
#[derive(Debug, Clone)]
pub struct DataWatcherConnector {
    settings: Arc<Settings>,
    feed: Feed,
}

impl DataWatcherConnector {
    /// A connector from a checked configuration. Pure: nothing is sent
    /// until the feed is read.
    pub fn new(config: DataWatcherConfig) -> Result<Self> {
        let (settings, auth) = config.resolve()?;
        let http = HttpClient::new(CONNECTOR, &config.http, auth)?;
        Ok(DataWatcherConnector {
            feed: Feed {
                http,
                base: settings.base.clone(),
                page_size: settings.page_size,
            },
            settings: Arc::new(settings),
        })
    }

    /// A connector from its configuration as the manifest gives it; a bad
    /// configuration is [`Error::Config`] naming the setting.
    pub fn from_config(config: serde_json::Value) -> Result<Self> {
        let config: DataWatcherConfig =
            serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))?;
        DataWatcherConnector::new(config)
    }

    /// The same connector with another retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: tandem_http::RetryPolicy) -> Self {
        self.feed.http = self.feed.http.with_retry(retry);
        self
    }

    /// The entity the feed is exposed as.
    pub fn entity(&self) -> &str {
        &self.settings.entity
    }

    fn check_entity(&self, entity: &str) -> Result<()> {
        if entity == self.settings.entity {
            Ok(())
        } else {
            Err(Error::NotFound {
                connector: CONNECTOR.into(),
                entity: entity.to_owned(),
            })
        }
    }
}

impl tandem_core::plugin::Connector for DataWatcherConnector {
    const NAME: &'static str = CONNECTOR;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(
        config: serde_json::Value,
        _context: &tandem_core::plugin::OpenContext,
    ) -> Result<Self> {
        DataWatcherConnector::from_config(config)
    }
}

tandem_core::export_connector!(DataWatcherConnector);
