//! `CrmConfig`: what the user writes, and its pure validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use tandem_core::{Error, Result};
use tandem_http::{HttpSettings, Secret};

use crate::CONNECTOR;

/// Which CRM an endpoint talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum System {
    /// Dynamics 365 through the Dataverse Web API.
    Dynamics,
    /// Salesforce through its REST API.
    Salesforce,
}

/// The configuration of a CRM endpoint: where the CRM is, how to sign in,
/// and which entities (with which fields) take part.
///
/// ```toml
/// system = "dynamics"
/// url = "https://contoso.crm4.dynamics.com"
/// tenant = "contoso.onmicrosoft.com"
/// client_id = "00000000-0000-0000-0000-000000000000"
/// client_secret_env = "DYNAMICS_SECRET"
///
/// [entities.accounts]
/// key = ["accountnumber"]
/// fields = ["name", "telephone1", "revenue"]
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CrmConfig {
    /// `"dynamics"` (Dataverse Web API) or `"salesforce"` (REST API).
    pub system: System,
    /// Dynamics: the organization URL (`https://contoso.crm4.dynamics.com`);
    /// the Web API is under `api/data/v9.2/`. Salesforce: the My Domain URL
    /// tokens come from (`https://contoso.my.salesforce.com`); the data is
    /// read from the `instance_url` the token answer names.
    pub url: String,
    /// Dynamics: the Web API version (default `"9.2"`). Salesforce: the
    /// REST API version (default `"61.0"`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Dynamics: the Microsoft Entra tenant (its id or a domain such as
    /// `contoso.onmicrosoft.com`). Required for Dynamics.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Dynamics: the identity platform tokens come from (default
    /// `https://login.microsoftonline.com`).
    #[serde(default)]
    pub authority: Option<String>,
    /// The application (client) id of the app registration (Dynamics) or of
    /// the connected app (Salesforce).
    pub client_id: String,
    /// Its client secret. Keep it out of the manifest: write
    /// `client_secret_env = "VAR"` or `client_secret_file = "path"` and the
    /// host puts the value here.
    pub client_secret: Secret,
    /// The entities that take part, by name: Dataverse entity sets
    /// (`accounts`, `contacts`) or Salesforce objects (`Account`,
    /// `Contact__c`). Other entities are not seen (Resco's sync filter).
    pub entities: BTreeMap<String, EntityConfig>,
    /// Records per page asked of the CRM (Dataverse at most 5000, Salesforce
    /// 200 to 2000). Default: the read's batch size within those bounds.
    #[serde(default)]
    pub page_size: Option<usize>,
    /// Timeouts and retries of the HTTP layer (`[http]`: `timeout_seconds`,
    /// `max_attempts`, `max_wait_seconds`, ...).
    #[serde(default)]
    pub http: HttpSettings,
}

/// The settings of one entity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EntityConfig {
    /// The key a record is known by, which writes upsert by: Dynamics, the
    /// columns of an alternate key (`["accountnumber"]`; several for a
    /// composite key); Salesforce, one external id field (`"ExtId__c"`).
    #[serde(deserialize_with = "one_or_many")]
    pub key: Vec<String>,
    /// Only these fields are read and written, besides the key (Resco's
    /// field subset). Default: every field the CRM returns, except the
    /// system fields the connector uses itself (the record id, the
    /// modification time, annotations).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Dynamics: the primary id column (default: the entity set's singular
    /// with `id`: `accounts` -> `accountid`, `opportunities` ->
    /// `opportunityid`).
    #[serde(default)]
    pub id: Option<String>,
}

impl EntityConfig {
    /// An entity keyed by these fields, with every field.
    pub fn new<S: Into<String>>(key: impl IntoIterator<Item = S>) -> Self {
        EntityConfig {
            key: key.into_iter().map(Into::into).collect(),
            fields: None,
            id: None,
        }
    }

    /// Sets the field subset.
    pub fn with_fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl CrmConfig {
    /// Parses the endpoint's table of the manifest; a bad configuration is
    /// [`Error::Config`] naming the setting.
    pub fn from_json(config: serde_json::Value) -> Result<Self> {
        let config: CrmConfig =
            serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks the configuration without any I/O; the message names the key.
    pub fn check(&self) -> Result<()> {
        let err = |m: String| Err(Error::config(CONNECTOR, m));
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return err(format!("url: {:?} is not an http(s) URL", self.url));
        }
        if self.client_id.trim().is_empty() {
            return err("client_id: must not be empty".into());
        }
        if self.client_secret.is_empty() {
            return err(
                "client_secret: missing; set client_secret_env = \"VAR\" or client_secret_file = \"path\""
                    .into(),
            );
        }
        if self.system == System::Dynamics && self.tenant.as_deref().is_none_or(str::is_empty) {
            return err("tenant: Dynamics needs the Microsoft Entra tenant (id or domain)".into());
        }
        if self.entities.is_empty() {
            return err("entities: name at least one entity, with its key".into());
        }
        for (name, e) in &self.entities {
            if e.key.is_empty() || e.key.iter().any(|k| k.trim().is_empty()) {
                return err(format!("entities.{name}.key: name the key field(s)"));
            }
            if self.system == System::Salesforce && e.key.len() != 1 {
                return err(format!(
                    "entities.{name}.key: Salesforce upserts by one external id field, not {}",
                    e.key.len()
                ));
            }
            if self.system == System::Salesforce && e.id.is_some() {
                return err(format!(
                    "entities.{name}.id: only Dynamics entities name their id column"
                ));
            }
        }
        if let Some(n) = self.page_size {
            let (lo, hi) = match self.system {
                System::Dynamics => (1, 5000),
                System::Salesforce => (200, 2000),
            };
            if !(lo..=hi).contains(&n) {
                return err(format!("page_size: {n} is not within {lo}..={hi}"));
            }
        }
        self.http.check().map_err(|m| Error::config(CONNECTOR, m))
    }
}

/// The primary id column of a Dataverse entity set: its singular with `id`.
pub(crate) fn default_id(entity_set: &str) -> String {
    let singular = if let Some(stem) = entity_set.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = entity_set
        .strip_suffix("sses")
        .or_else(|| entity_set.strip_suffix("xes"))
    {
        let tail = if entity_set.ends_with("sses") {
            "ss"
        } else {
            "x"
        };
        format!("{stem}{tail}")
    } else {
        entity_set
            .strip_suffix('s')
            .unwrap_or(entity_set)
            .to_owned()
    };
    format!("{singular}id")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamics() -> serde_json::Value {
        serde_json::json!({
            "system": "dynamics",
            "url": "https://contoso.crm4.dynamics.com",
            "tenant": "contoso",
            "client_id": "app",
            "client_secret": "s",
            "entities": { "accounts": { "key": "accountnumber", "fields": ["name"] } },
        })
    }

    #[test]
    fn parses_and_checks() {
        let c = CrmConfig::from_json(dynamics()).unwrap();
        assert_eq!(c.entities["accounts"].key, ["accountnumber"]);
        let mut bad = dynamics();
        bad["tenant"] = serde_json::Value::Null;
        let e = CrmConfig::from_json(bad).unwrap_err().to_string();
        assert!(e.contains("tenant"), "{e}");
        let mut bad = dynamics();
        bad["client_secret"] = "".into();
        let e = CrmConfig::from_json(bad).unwrap_err().to_string();
        assert!(e.contains("client_secret_env"), "{e}");
        let mut bad = dynamics();
        bad["system"] = "salesforce".into();
        bad["entities"]["accounts"]["key"] = serde_json::json!(["a", "b"]);
        let e = CrmConfig::from_json(bad).unwrap_err().to_string();
        assert!(e.contains("one external id field"), "{e}");
        let mut bad = dynamics();
        bad["colour"] = "blue".into();
        assert!(CrmConfig::from_json(bad).is_err());
    }

    #[test]
    fn id_columns_from_entity_sets() {
        assert_eq!(default_id("accounts"), "accountid");
        assert_eq!(default_id("opportunities"), "opportunityid");
        assert_eq!(default_id("addresses"), "addressid");
        assert_eq!(default_id("new_boxes"), "new_boxid");
        assert_eq!(default_id("contact"), "contactid");
    }
}
