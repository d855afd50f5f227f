//! `DataWatcherConfig`: what the user writes, and its pure validation.

use jiff::civil::Date;
use serde::Deserialize;
use tandem_core::{Error, Result};
use tandem_http::{Auth, ClientCredentials, HttpSettings, Secret};

use crate::CONNECTOR;

/// The largest page the feed serves (`limit`).
pub const MAX_PAGE: u64 = 5000;

/// The configuration of a Data Watcher endpoint: the feed adapter's
/// address and credentials, and how events become records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DataWatcherConfig {
    /// The feed adapter's base URL; the feed is at `{url}/api/v1/`.
    pub url: String,
    /// The static bearer token the adapter expects (give it as
    /// `token_env = "VAR"` or `token_file = "path"` in the manifest).
    #[serde(default)]
    pub token: Option<Secret>,
    /// OAuth2 client credentials instead of a static token, for adapters
    /// behind an OAuth2 gateway.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// The entity name that pairs refer to. Default `"events"`.
    #[serde(default)]
    pub entity: Option<String>,
    /// Events per page (`limit`), 1 to 5000. Default 1000.
    #[serde(default)]
    pub page_size: Option<u64>,
    /// Only these fields are exposed (`id` always is). Default: every
    /// field of the feed.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Expose each entry of `attributes` as a field of its own (named as
    /// the attribute; `attributes.NAME` when that clashes with a feed
    /// field) instead of one `attributes` map. Default `false`.
    #[serde(default)]
    pub flatten_attributes: bool,
    /// The first day a full read asks the feed for when it does not say
    /// `oldest_available`. Default `2000-01-01`.
    #[serde(default)]
    pub first_day: Option<Date>,
    /// Timeouts and retries.
    #[serde(default)]
    pub http: HttpSettings,
}

/// OAuth2 client credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (`client_secret_env = "VAR"` in the manifest).
    pub client_secret: Secret,
    /// The `scope` parameter, if the gateway wants one.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A checked configuration with its defaults filled in.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub base: String,
    pub entity: String,
    pub page_size: u64,
    pub fields: Option<Vec<String>>,
    pub flatten: bool,
    pub first_day: Date,
}

impl DataWatcherConfig {
    /// Checks the configuration (pure: no I/O) and gives the settings and
    /// the authentication.
    pub(crate) fn resolve(&self) -> Result<(Settings, Auth)> {
        let err = |m: String| Err(Error::config(CONNECTOR, m));
        let url = self.url.trim().trim_end_matches('/');
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if host.is_none_or(str::is_empty) {
            return err(format!("url: {:?} is not an http(s) URL", self.url));
        }
        let auth = match (&self.token, &self.oauth) {
            (Some(t), None) if !t.is_empty() => Auth::Bearer(t.clone()),
            (Some(_), None) => return err("token: must not be empty".into()),
            (None, Some(o)) => {
                if o.client_id.is_empty() || o.client_secret.is_empty() {
                    return err("oauth: client_id and client_secret must not be empty".into());
                }
                Auth::ClientCredentials(ClientCredentials::new(
                    o.token_url.clone(),
                    o.client_id.clone(),
                    o.client_secret.clone(),
                    o.scope.clone(),
                ))
            }
            (None, None) => {
                return err("token: required (or oauth); give it as token_env = \"VAR\"".into());
            }
            (Some(_), Some(_)) => return err("token and oauth: give one, not both".into()),
        };
        let page_size = self.page_size.unwrap_or(1000);
        if !(1..=MAX_PAGE).contains(&page_size) {
            return err(format!(
                "page_size: {page_size} is not within 1..={MAX_PAGE}"
            ));
        }
        let entity = self.entity.clone().unwrap_or_else(|| "events".into());
        if entity.trim().is_empty() {
            return err("entity: must not be empty".into());
        }
        if let Some(f) = self.fields.iter().flatten().find(|f| f.is_empty()) {
            return err(format!("fields: {f:?} is not a field name"));
        }
        self.http.check().map_err(|m| Error::config(CONNECTOR, m))?;
        Ok((
            Settings {
                base: format!("{url}/api/v1"),
                entity,
                page_size,
                fields: self.fields.clone(),
                flatten: self.flatten_attributes,
                first_day: self.first_day.unwrap_or(jiff::civil::date(2000, 1, 1)),
            },
            auth,
        ))
    }
}
