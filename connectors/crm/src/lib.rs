//! Tandem connector for CRMs: Dynamics 365 (Dataverse Web API) and
//! Salesforce (REST API), as a source and a target.
//!
//! Each configured entity (a Dataverse entity set, a Salesforce object) is
//! an entity of the endpoint, keyed by an alternate key (Dynamics) or an
//! external id field (Salesforce), optionally with a field subset: the
//! CRM's own ids never leave the connector. Every request goes through
//! the shared HTTP layer (`tandem-http`): OAuth2 client credentials with
//! a token cache, retries honouring `Retry-After`, request ids in errors.
//!
//! # Configuration
//!
//! The endpoint's settings in the manifest (`type = "crm"`):
//!
//! ```toml
//! [endpoints.dynamics]
//! type = "crm"
//! system = "dynamics"                        # or "salesforce"
//! url = "https://contoso.crm4.dynamics.com"  # Salesforce: the My Domain URL
//! tenant = "contoso.onmicrosoft.com"         # Dynamics only
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret_env = "DYNAMICS_SECRET"      # or client_secret_file = "path"
//!
//! [endpoints.dynamics.entities.accounts]
//! key = ["accountnumber"]                    # an alternate key / external id
//! fields = ["name", "telephone1"]            # optional subset
//! ```
//!
//! See [`CrmConfig`] and [`EntityConfig`] for every setting.
//!
//! # Dynamics 365
//!
//! Reads use change tracking (`Prefer: odata.track-changes`): a full read
//! pages through the entity set and ends with a delta link, which is the
//! cursor; an incremental read follows the delta link. The cursor's
//! guarantee is Dataverse's own: a delta link stands for the row version
//! of the read's first request, so a change committed while the read pages
//! is read by the next one, and the connector keeps no window of its own
//! (the token is opaque, used unmodified). An expired delta
//! token is [`Error::CursorExpired`](tandem_core::Error::CursorExpired),
//! and so is an incremental read that meets a deleted row, because the
//! change feed names deleted rows by id only: the engine then reads in
//! full and finds the deleted keys against its base. Writes are buffered
//! until commit and sent as `$batch` change sets of at most 1000 requests:
//! upserts `PATCH entityset(altkey='value')` without the key columns in
//! the body, deletes `DELETE entityset(id)` after looking the id up (a key
//! of no row, or a 404, is a delete already done). Each change set is
//! atomic; a transaction of more than 1000 changes commits in several.
//!
//! # Salesforce
//!
//! A full read is a SOQL query ordered by `SystemModstamp, Id`. An
//! incremental read queries `queryAll` (rows with `IsDeleted` are
//! deletes) for the rows stamped from a lookback window of 15 minutes
//! before the newest `SystemModstamp` read, and reports a row of that
//! window only when its content differs from what was reported for its id
//! before: Salesforce sets `SystemModstamp` before a transaction commits,
//! so a change can become visible with a stamp older than a cursor handed
//! out, and changes of one millisecond share a stamp. The window covers
//! the 10-minute limit of an Apex transaction, and reaches back further
//! while `getDeleted`'s `latestDateCovered` is held back by a long-running
//! transaction; a change that becomes visible later than that after its
//! stamp may be missed until a full read. The cursor remembers the rows of
//! its window (at most 10,000; rows beyond are reported again, which the
//! engine finds unchanged). Before the query, `getDeleted` is asked for
//! the deletes since the last read: when Salesforce no longer has them all
//! (`earliestDateAvailable` after the cursor, or deleted ids no longer in
//! the recycle bin), the read is
//! [`Error::CursorExpired`](tandem_core::Error::CursorExpired) and the
//! engine reconciles in full. Writes are buffered until commit and sent as
//! composite collections of 200 with `allOrNone`: upserts by external id,
//! deletes by id. `REQUEST_LIMIT_EXCEEDED` (the daily API limit) fails the
//! run with Salesforce's message; it is not retried.
#![warn(missing_docs)]

mod config;
mod cursor;
mod dynamics;
mod encode;
mod entity;
mod salesforce;

use std::sync::Arc;

use async_trait::async_trait;
use tandem_core::{
    Applied, Batch, BatchStream, Capabilities, Change, Cursor, DayCount, EntitySchema, Error, Key,
    ReadRequest, Record, RecordError, Result, Source, Target, Transaction,
};

pub use config::{CrmConfig, EntityConfig, System};

use entity::Entity;

/// The connector's name, as manifests' `type` and errors say it.
pub const CONNECTOR: &str = "crm";

/// What each CRM does; the connector dispatches to one.
#[async_trait]
trait Crm: Send + Sync {
    fn capabilities(&self) -> Capabilities;
    fn entity(&self, name: &str) -> Option<Arc<Entity>>;
    fn entity_list(&self) -> Vec<Arc<Entity>>;
    async fn read(&self, entity: Arc<Entity>, request: ReadRequest) -> Result<BatchStream>;
    async fn pending(&self, entity: &Entity, cursor: Option<&Cursor>) -> Result<Vec<DayCount>> {
        let _ = (entity, cursor);
        Ok(Vec::new())
    }
    async fn fetch(&self, entity: &Entity, keys: &[Key]) -> Result<Vec<Record>>;
    async fn write(&self, entity: &Entity, changes: Vec<Change>) -> Result<()>;
}

/// A CRM endpoint as a [`Source`] and a [`Target`]. Clones share the
/// HTTP client and its token.
#[derive(Clone)]
pub struct CrmConnector {
    crm: Arc<dyn Crm>,
    system: System,
}

impl std::fmt::Debug for CrmConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmConnector")
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl CrmConnector {
    /// A connector from a configuration; a bad one is [`Error::Config`].
    /// Nothing is sent until the connector is used.
    pub fn new(config: CrmConfig) -> Result<Self> {
        config.check()?;
        let crm: Arc<dyn Crm> = match config.system {
            System::Dynamics => Arc::new(dynamics::Dynamics::new(&config)?),
            System::Salesforce => Arc::new(salesforce::Salesforce::new(&config)?),
        };
        Ok(CrmConnector {
            crm,
            system: config.system,
        })
    }

    /// A connector from its configuration as the manifest gives it.
    pub fn from_config(config: serde_json::Value) -> Result<Self> {
        CrmConnector::new(CrmConfig::from_json(config)?)
    }

    /// Which CRM it talks to.
    pub fn system(&self) -> System {
        self.system
    }

    fn entity(&self, name: &str) -> Result<Arc<Entity>> {
        self.crm.entity(name).ok_or_else(|| Error::NotFound {
            connector: CONNECTOR.into(),
            entity: name.to_owned(),
        })
    }
}

#[async_trait]
impl Source for CrmConnector {
    fn capabilities(&self) -> Capabilities {
        self.crm.capabilities()
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        Ok(self.crm.entity_list().iter().map(|e| e.schema()).collect())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let entity = self.entity(&request.entity)?;
        self.crm.read(entity, request).await
    }

    /// Salesforce: about how many records changed or were deleted since
    /// the cursor (`getUpdated`, `getDeleted`), on the day Salesforce
    /// covered up to. Dynamics: nothing (it cannot tell without reading).
    async fn pending(&self, entity: &str, cursor: Option<&Cursor>) -> Result<Vec<DayCount>> {
        let entity = self.entity(entity)?;
        self.crm.pending(&entity, cursor).await
    }
}

#[async_trait]
impl Target for CrmConnector {
    fn capabilities(&self) -> Capabilities {
        self.crm.capabilities()
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(CrmTransaction {
            crm: self.crm.clone(),
            entity: self.entity(entity)?,
            changes: Vec::new(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        let entity = self.entity(entity)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.crm.fetch(&entity, keys).await
    }
}

/// Changes held until commit, then written in the CRM's batches.
struct CrmTransaction {
    crm: Arc<dyn Crm>,
    entity: Arc<Entity>,
    changes: Vec<Change>,
}

#[async_trait]
impl Transaction for CrmTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let mut applied = Vec::with_capacity(changes.len());
        for change in &changes {
            if let Change::Upsert(r) = change {
                self.entity
                    .key_parts(&r.key)
                    .map_err(|message| Error::BadRecord {
                        connector: CONNECTOR.into(),
                        location: format!("entity {}, key {}", self.entity.name, r.key),
                        message,
                    })?;
            }
            applied.push(Applied {
                key: change.key().clone(),
                version: None,
            });
        }
        self.changes.extend(changes);
        Ok(applied)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        if self.changes.is_empty() {
            return Ok(());
        }
        self.crm.write(&self.entity, self.changes).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The batches of one page of a read: changes in batches of at most
/// `batch_size`, the rows that could not be read in the first batch, and
/// on the last page of the read the cursor on the last batch (an empty
/// batch when the page has no rows).
fn batches(
    changes: impl Iterator<Item = std::result::Result<Change, RecordError>>,
    batch_size: usize,
    last: bool,
    cursor: Option<Cursor>,
) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    let mut rejected = Vec::new();
    let mut current = Vec::new();
    for c in changes {
        match c {
            Ok(change) => {
                current.push(change);
                if current.len() == batch_size {
                    out.push(Batch {
                        changes: std::mem::take(&mut current),
                        ..Batch::default()
                    });
                }
            }
            Err(e) => rejected.push(e),
        }
    }
    if !current.is_empty() || out.is_empty() && (last || !rejected.is_empty()) {
        out.push(Batch {
            changes: current,
            ..Batch::default()
        });
    }
    if let Some(first) = out.first_mut() {
        first.rejected = rejected;
    }
    if last && let Some(b) = out.last_mut() {
        b.cursor = cursor;
    }
    out
}

impl tandem_core::plugin::Connector for CrmConnector {
    const NAME: &'static str = CONNECTOR;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(
        config: serde_json::Value,
        _context: &tandem_core::plugin::OpenContext,
    ) -> Result<Self> {
        CrmConnector::from_config(config)
    }

    fn as_target(&self) -> Option<&dyn Target> {
        Some(self)
    }
}

tandem_core::export_connector!(CrmConnector);
