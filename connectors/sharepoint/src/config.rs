//! `SharePointConfig`: what the user writes, and its pure validation.

use serde::Deserialize;
use tandem_core::{Error, Result};
use tandem_http::{Auth, ClientCredentials, HttpSettings, Secret};

use crate::CONNECTOR;

/// The configuration of a SharePoint list endpoint: the app registration
/// that reads and writes it, and the list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SharePointConfig {
    /// The Microsoft Entra tenant (`contoso.onmicrosoft.com` or its id).
    pub tenant: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// The client secret (`client_secret_env = "VAR"` in the manifest).
    pub client_secret: Secret,
    /// The site id (`contoso.sharepoint.com,{site-guid},{web-guid}`).
    pub site: String,
    /// The list id or name.
    pub list: String,
    /// The entity name that pairs refer to. Default: the list.
    #[serde(default)]
    pub entity: Option<String>,
    /// The column whose value is the record key (a column with unique
    /// values, such as a code). Default `"id"`, the item id SharePoint
    /// assigns: then items can be read, updated and deleted, but not
    /// created from the other side.
    #[serde(default)]
    pub key: Option<String>,
    /// Only these columns are read and written (the key always is).
    /// Default: every column Graph returns.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Items per page (`$top`), 1 to 5000. Default 200.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// How many writes are sent at once on commit, 1 to 16. Default 4.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// The identity platform. Default `https://login.microsoftonline.com`.
    #[serde(default)]
    pub authority: Option<String>,
    /// Microsoft Graph. Default `https://graph.microsoft.com`.
    #[serde(default)]
    pub graph_url: Option<String>,
    /// Timeouts and retries.
    #[serde(default)]
    pub http: HttpSettings,
}

/// A checked configuration with its defaults filled in.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `{graph}/v1.0/sites/{site}/lists/{list}/items`.
    pub items: String,
    pub list: String,
    pub entity: String,
    pub key: String,
    pub fields: Option<Vec<String>>,
    pub page_size: u32,
    pub concurrency: usize,
}

impl Settings {
    /// Whether the key is the item id.
    pub fn key_is_id(&self) -> bool {
        self.key == "id"
    }
}

fn http_url(setting: &str, url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        Some(h) if !h.is_empty() => Ok(url.to_owned()),
        _ => Err(Error::config(
            CONNECTOR,
            format!("{setting}: {url:?} is not an http(s) URL"),
        )),
    }
}

/// A path segment, percent-encoded (list names may hold spaces).
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl SharePointConfig {
    /// Checks the configuration (pure: no I/O) and gives the settings and
    /// the authentication.
    pub(crate) fn resolve(&self) -> Result<(Settings, Auth)> {
        let err = |m: String| Err(Error::config(CONNECTOR, m));
        for (name, v) in [
            ("tenant", &self.tenant),
            ("client_id", &self.client_id),
            ("site", &self.site),
            ("list", &self.list),
        ] {
            if v.trim().is_empty() {
                return err(format!("{name}: must not be empty"));
            }
        }
        if self.client_secret.is_empty() {
            return err("client_secret: must not be empty (give it as client_secret_env)".into());
        }
        let authority = http_url(
            "authority",
            self.authority
                .as_deref()
                .unwrap_or("https://login.microsoftonline.com"),
        )?;
        let graph = http_url(
            "graph_url",
            self.graph_url
                .as_deref()
                .unwrap_or("https://graph.microsoft.com"),
        )?;
        let key = self.key.clone().unwrap_or_else(|| "id".into());
        if key.trim().is_empty() {
            return err("key: must not be empty".into());
        }
        if let Some(f) = self.fields.iter().flatten().find(|f| f.is_empty()) {
            return err(format!("fields: {f:?} is not a column name"));
        }
        let page_size = self.page_size.unwrap_or(200);
        if !(1..=5000).contains(&page_size) {
            return err(format!("page_size: {page_size} is not within 1..=5000"));
        }
        let concurrency = self.concurrency.unwrap_or(4);
        if !(1..=16).contains(&concurrency) {
            return err(format!("concurrency: {concurrency} is not within 1..=16"));
        }
        let entity = self.entity.clone().unwrap_or_else(|| self.list.clone());
        if entity.trim().is_empty() {
            return err("entity: must not be empty".into());
        }
        self.http.check().map_err(|m| Error::config(CONNECTOR, m))?;
        let auth = Auth::ClientCredentials(ClientCredentials::microsoft(
            &authority,
            self.tenant.trim(),
            self.client_id.trim(),
            self.client_secret.clone(),
            &graph,
        ));
        Ok((
            Settings {
                items: format!(
                    "{graph}/v1.0/sites/{}/lists/{}/items",
                    segment(self.site.trim()),
                    segment(self.list.trim())
                ),
                list: self.list.clone(),
                entity,
                key,
                fields: self.fields.clone(),
                page_size,
                concurrency,
            },
            auth,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_are_encoded() {
        assert_eq!(segment("My List"), "My%20List");
        assert_eq!(segment("a.sharepoint.com,1,2"), "a.sharepoint.com,1,2");
    }
}
