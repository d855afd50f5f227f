//! Tandem connector for SharePoint lists through Microsoft Graph, as a
//! source and a target (manifest `type = "sharepoint"`).
//!
//! - Reading: a full read pages through `items?expand=fields(select=...)`
//!   after taking a delta link (`items/delta?token=latest`), which is the
//!   cursor; an incremental read follows the delta link through its
//!   `@odata.nextLink` pages to the next `@odata.deltaLink`. An item may
//!   appear more than once in a round: the last occurrence wins. An item
//!   with the `deleted` facet is a delete. A 410 (`resyncRequired`) is
//!   [`Error::CursorExpired`](tandem_core::Error::CursorExpired): the engine
//!   then reads in full and reconciles.
//! - The cursor's guarantee is Graph's own: a delta link stands for the
//!   list's state when it was taken, which is before a full read pages
//!   (so an item changed while it pages is read again next time) and at
//!   the start of a delta round; the connector keeps no window of its own
//!   (the token is opaque, used unmodified).
//! - The key: a column with unique values (`key = "Code"`), or the item id
//!   (`key = "id"`, the default, which cannot create items). The cursor
//!   remembers the key of each item id, since a deleted item comes back as
//!   its id alone.
//! - Writing: changes are staged and sent on commit (so a rollback sends
//!   nothing): `POST items` to create, `PATCH items/{id}/fields` with
//!   `If-Match: <eTag>` to update (a 412 fails the run with an error naming
//!   the item: someone changed it meanwhile), `DELETE items/{id}`.
//!   SharePoint has no transactions: a commit that fails halfway leaves
//!   the changes before the failure, and the engine compensates from its
//!   journal.
//! - Tokens come from the Microsoft identity platform (client credentials)
//!   through the shared layer ([`tandem_http`]), which also retries 429 and
//!   503 after their `Retry-After`.
//!
//! # Configuration
//!
//! ```toml
//! [endpoints.customers_list]
//! type = "sharepoint"
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret_env = "SHAREPOINT_SECRET"
//! site = "contoso.sharepoint.com,{site-guid},{web-guid}"
//! list = "Customers"
//! key = "Code"
//! fields = ["Code", "Title", "Country", "Status"]
//! # page_size = 200
//! # concurrency = 4
//! # authority = "https://login.microsoftonline.com"
//! # graph_url = "https://graph.microsoft.com"
//! # http = { timeout_seconds = 60, max_attempts = 8, max_wait_seconds = 300 }
//! ```
#![warn(missing_docs)]

mod client;
mod config;
mod item;
mod source;
mod target;

use std::sync::Arc;

use tandem_core::{Error, Result};
use tandem_http::HttpClient;

pub use config::SharePointConfig;

use client::ListClient;
use config::Settings;

/// The connector's name, as manifests' `type` and errors say it.
pub const CONNECTOR: &str = "sharepoint";

/// A SharePoint list, as a [`Source`](tandem_core::Source) and a
/// [`Target`](tandem_core::Target).
#[derive(Debug, Clone)]
pub struct SharePointConnector {
    settings: Arc<Settings>,
    list: ListClient,
}

impl SharePointConnector {
    /// A connector from a checked configuration. Pure: nothing is sent
    /// until the list is read or written.
    pub fn new(config: SharePointConfig) -> Result<Self> {
        let (settings, auth) = config.resolve()?;
        let http = HttpClient::new(CONNECTOR, &config.http, auth)?;
        Ok(SharePointConnector {
            settings: Arc::new(settings),
            list: ListClient { http },
        })
    }

    /// A connector from its configuration as the manifest gives it; a bad
    /// configuration is [`Error::Config`] naming the setting.
    pub fn from_config(config: serde_json::Value) -> Result<Self> {
        let config: SharePointConfig =
            serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))?;
        SharePointConnector::new(config)
    }

    /// The same connector with another retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: tandem_http::RetryPolicy) -> Self {
        self.list.http = self.list.http.with_retry(retry);
        self
    }

    /// The entity the list is exposed as.
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

impl tandem_core::plugin::Connector for SharePointConnector {
    const NAME: &'static str = CONNECTOR;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(
        config: serde_json::Value,
        _context: &tandem_core::plugin::OpenContext,
    ) -> Result<Self> {
        SharePointConnector::from_config(config)
    }

    fn as_target(&self) -> Option<&dyn tandem_core::Target> {
        Some(self)
    }
}

tandem_core::export_connector!(SharePointConnector);
