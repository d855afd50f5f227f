//! Salesforce through its REST API: SOQL reads with a `SystemModstamp`
//! cursor, deletes checked against `getDeleted`, and composite collection
//! writes by external id.

mod read;
mod soql;
mod window;
mod write;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use tandem_core::{
    BatchStream, Capabilities, Change, DayCount, Error, Key, ReadRequest, Record, Result,
};
use tandem_http::{Auth, ClientCredentials, HttpClient, HttpError};

use crate::config::CrmConfig;
use crate::entity::Entity;
use crate::{CONNECTOR, Crm};

/// The error code of a spent daily API limit.
const LIMIT_CODE: &str = "REQUEST_LIMIT_EXCEEDED";

/// Fields Salesforce adds that are never record fields.
const SYSTEM: &[&str] = &["attributes", "IsDeleted"];

/// A row of a query.
type Row = Map<String, Json>;

/// A Salesforce org.
pub(crate) struct Salesforce {
    http: HttpClient,
    version: String,
    page_size: Option<usize>,
    entities: BTreeMap<String, Arc<Entity>>,
    /// What `describe` said of each object, once asked.
    described: Mutex<HashMap<String, Arc<Described>>>,
}

/// The fields of an object that the connector reads and writes when the
/// entity names no subset: those Salesforce lets us create or update.
#[derive(Debug)]
struct Described {
    readable: Vec<String>,
    writable: HashSet<String>,
}

impl Salesforce {
    /// A client for the org of a checked configuration. Nothing is sent
    /// until it is used.
    pub(crate) fn new(config: &CrmConfig) -> Result<Self> {
        let url = config.url.trim_end_matches('/');
        let grant = ClientCredentials::new(
            format!("{url}/services/oauth2/token"),
            config.client_id.clone(),
            config.client_secret.clone(),
            None,
        );
        let http = HttpClient::new(CONNECTOR, &config.http, Auth::ClientCredentials(grant))?;
        let version = config.api_version.as_deref().unwrap_or("61.0");
        let entities = config
            .entities
            .iter()
            .map(|(name, e)| {
                let entity = Entity {
                    name: name.clone(),
                    key: e.key.clone(),
                    fields: e.fields.clone(),
                    id: "Id".into(),
                    modified: "SystemModstamp",
                    system: SYSTEM,
                };
                (name.clone(), Arc::new(entity))
            })
            .collect();
        Ok(Salesforce {
            http,
            version: version.trim_start_matches('v').to_owned(),
            page_size: config.page_size,
            entities,
            described: Mutex::default(),
        })
    }

    /// `{instance_url}/services/data/vNN.0`, the instance named by the
    /// token answer.
    async fn base(&self) -> Result<String> {
        let token = self.http.token().await.map_err(sf_error)?;
        let instance = token
            .as_ref()
            .and_then(|t| t.field("instance_url"))
            .ok_or_else(|| Error::Remote {
                connector: CONNECTOR.into(),
                status: None,
                message: "the token answer names no instance_url".into(),
                request_id: None,
            })?;
        Ok(format!(
            "{}/services/data/v{}",
            instance.trim_end_matches('/'),
            self.version
        ))
    }

    /// The fields of an object Salesforce lets us write, from `describe`
    /// (asked once).
    async fn describe(&self, base: &str, entity: &Entity) -> Result<Arc<Described>> {
        if let Some(d) = self.cached(&entity.name) {
            return Ok(d);
        }
        #[derive(Deserialize)]
        struct Field {
            name: String,
            #[serde(default)]
            createable: bool,
            #[serde(default)]
            updateable: bool,
        }
        #[derive(Deserialize)]
        struct Describe {
            fields: Vec<Field>,
        }
        let response = self
            .http
            .get(format!("{base}/sobjects/{}/describe", entity.name))
            .what(format!("describing object {}", entity.name))
            .send()
            .await
            .map_err(sf_error)?;
        let describe: Describe = response.json().map_err(sf_error)?;
        let writable: HashSet<String> = describe
            .fields
            .iter()
            .filter(|f| f.createable || f.updateable)
            .map(|f| f.name.clone())
            .collect();
        let readable = describe
            .fields
            .into_iter()
            .filter(|f| writable.contains(&f.name) && !entity.key.contains(&f.name))
            .map(|f| f.name)
            .collect();
        let described = Arc::new(Described { readable, writable });
        self.described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entity.name.clone(), described.clone());
        Ok(described)
    }

    fn cached(&self, name: &str) -> Option<Arc<Described>> {
        self.described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The fields a read returns besides the key: as asked and configured,
    /// else every writable field.
    async fn wanted(
        &self,
        base: &str,
        entity: &Entity,
        requested: Option<&[String]>,
    ) -> Result<Vec<String>> {
        match entity.wanted(requested) {
            Some(w) => Ok(w),
            None => Ok(self.describe(base, entity).await?.readable.clone()),
        }
    }
}

/// A Salesforce error: a spent daily limit says so plainly; the rest
/// convert as the HTTP layer does.
fn sf_error(e: HttpError) -> Error {
    if e.code() == Some(LIMIT_CODE) {
        let request_id = e.request_id().map(str::to_owned);
        return Error::Remote {
            connector: CONNECTOR.into(),
            status: e.status(),
            message: format!(
                "{LIMIT_CODE}: {} (the org's daily API request limit is spent; \
                 Salesforce refuses requests until it resets)",
                e.message()
            ),
            request_id,
        };
    }
    e.into()
}

#[async_trait]
impl Crm for Salesforce {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            cursors: true,
            deletes: true,
            days: false,
            transactions: true,
            idempotent_upsert: true,
        }
    }

    fn entity(&self, name: &str) -> Option<Arc<Entity>> {
        self.entities.get(name).cloned()
    }

    fn entity_list(&self) -> Vec<Arc<Entity>> {
        self.entities.values().cloned().collect()
    }

    async fn read(&self, entity: Arc<Entity>, request: ReadRequest) -> Result<BatchStream> {
        read::read(self, entity, request).await
    }

    async fn pending(
        &self,
        entity: &Entity,
        cursor: Option<&tandem_core::Cursor>,
    ) -> Result<Vec<DayCount>> {
        read::pending(self, entity, cursor).await
    }

    async fn fetch(&self, entity: &Entity, keys: &[Key]) -> Result<Vec<Record>> {
        write::fetch(self, entity, keys).await
    }

    async fn write(&self, entity: &Entity, changes: Vec<Change>) -> Result<()> {
        write::write(self, entity, changes).await
    }
}
