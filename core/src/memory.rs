//! The in-memory connector: the reference implementation of the traits.
//!
//! It keeps entities in memory with a change log, so it supports cursors,
//! reported deletes and real transactions. Tests use it as either side of a
//! pair, and it can be told to fail after N applied records to exercise the
//! engine's failure paths.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::record::{Change, Cursor, EntitySchema, FieldSchema, FieldType, Key, Record};
use crate::source::{Batch, BatchStream, Capabilities, ReadRequest, ReadScope, Source};
use crate::target::{Applied, Target, Transaction};

/// The configuration of a [`MemoryConnector`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// The entities to create, each with its key fields.
    #[serde(default)]
    pub entities: BTreeMap<String, MemoryEntityConfig>,
}

/// One entity of a [`MemoryConfig`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryEntityConfig {
    /// The key field names; a record's key is made from their values.
    pub key: Vec<String>,
}

#[derive(Debug, Default)]
struct Entity {
    key_fields: Vec<String>,
    records: BTreeMap<Key, Record>,
    /// (sequence number, change), ascending.
    log: Vec<(u64, Change)>,
}

#[derive(Debug, Default)]
struct State {
    entities: BTreeMap<String, Entity>,
    seq: u64,
    /// Applied records left before `apply` fails; `None` never fails.
    fail_after: Option<usize>,
}

/// An in-memory source and target. Clones share the same data.
#[derive(Debug, Clone)]
pub struct MemoryConnector {
    name: String,
    state: Arc<Mutex<State>>,
}

impl MemoryConnector {
    /// An empty connector; entities are created on first write.
    pub fn new(name: impl Into<String>) -> Self {
        MemoryConnector {
            name: name.into(),
            state: Arc::default(),
        }
    }

    /// A connector built from its configuration.
    pub fn from_config(name: impl Into<String>, config: serde_json::Value) -> Result<Self> {
        let name = name.into();
        let config: MemoryConfig =
            serde_json::from_value(config).map_err(|e| Error::config(&name, e.to_string()))?;
        let connector = MemoryConnector::new(name.clone());
        for (entity, cfg) in config.entities {
            if cfg.key.is_empty() {
                return Err(Error::config(
                    &name,
                    format!("entities.{entity}.key: at least one key field is needed"),
                ));
            }
            connector
                .lock()
                .entities
                .entry(entity)
                .or_default()
                .key_fields = cfg.key;
        }
        Ok(connector)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `apply` fail once `n` more records have been applied.
    pub fn fail_after(&self, n: Option<usize>) {
        self.lock().fail_after = n;
    }

    /// Writes a record directly, as a user of the system would.
    pub fn put(&self, entity: &str, record: Record) {
        let mut state = self.lock();
        state.write(entity, Change::Upsert(record));
    }

    /// Deletes a record directly, as a user of the system would.
    pub fn remove(&self, entity: &str, key: &str) {
        let mut state = self.lock();
        state.write(entity, Change::delete(key));
    }

    /// The current records of an entity, in key order.
    pub fn records(&self, entity: &str) -> Vec<Record> {
        self.lock()
            .entities
            .get(entity)
            .map(|e| e.records.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One record.
    pub fn get(&self, entity: &str, key: &str) -> Option<Record> {
        self.lock()
            .entities
            .get(entity)?
            .records
            .get(&Key::from(key))
            .cloned()
    }

    fn not_found(&self, entity: &str) -> Error {
        Error::NotFound {
            connector: self.name.clone(),
            entity: entity.to_owned(),
        }
    }
}

impl State {
    fn write(&mut self, entity: &str, change: Change) {
        self.seq += 1;
        let seq = self.seq;
        let e = self.entities.entry(entity.to_owned()).or_default();
        match &change {
            Change::Upsert(r) => {
                e.records.insert(r.key.clone(), r.clone());
            }
            Change::Delete { key, .. } => {
                if e.records.remove(key).is_none() {
                    return;
                }
            }
        }
        e.log.push((seq, change));
    }
}

fn parse_cursor(connector: &str, entity: &str, c: &Cursor) -> Result<u64> {
    c.as_text()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| Error::CursorExpired {
            connector: connector.to_owned(),
            entity: entity.to_owned(),
            message: "cursor is not a sequence number".into(),
        })
}

fn subset(mut record: Record, fields: &Option<Vec<String>>, key_fields: &[String]) -> Record {
    if let Some(fields) = fields {
        record
            .fields
            .retain(|(n, _)| fields.iter().chain(key_fields).any(|f| f == n));
    }
    record
}

#[async_trait]
impl Source for MemoryConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            cursors: true,
            deletes: true,
            days: false,
            transactions: true,
            idempotent_upsert: true,
        }
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        let state = self.lock();
        Ok(state
            .entities
            .iter()
            .map(|(name, e)| {
                let mut fields: Vec<FieldSchema> = Vec::new();
                for r in e.records.values() {
                    for (n, _) in &r.fields {
                        if !fields.iter().any(|f| f.name == *n) {
                            fields.push(FieldSchema {
                                name: n.to_string(),
                                kind: FieldType::Unknown,
                                nullable: true,
                            });
                        }
                    }
                }
                EntitySchema {
                    name: name.clone(),
                    key: e.key_fields.clone(),
                    fields,
                }
            })
            .collect())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let state = self.lock();
        let entity = state
            .entities
            .get(&request.entity)
            .ok_or_else(|| self.not_found(&request.entity))?;
        let changes: Vec<Change> = match &request.scope {
            ReadScope::Full => entity
                .records
                .values()
                .map(|r| Change::Upsert(subset(r.clone(), &request.fields, &entity.key_fields)))
                .collect(),
            ReadScope::Since(cursor) => {
                let from = parse_cursor(&self.name, &request.entity, cursor)?;
                // The last change of each key wins.
                let mut latest: BTreeMap<&Key, (u64, &Change)> = BTreeMap::new();
                for (seq, change) in entity.log.iter().filter(|(s, _)| *s > from) {
                    latest.insert(change.key(), (*seq, change));
                }
                let mut ordered: Vec<(u64, &Change)> = latest.into_values().collect();
                ordered.sort_by_key(|(s, _)| *s);
                ordered
                    .into_iter()
                    .map(|(_, c)| match c {
                        Change::Upsert(r) => {
                            Change::Upsert(subset(r.clone(), &request.fields, &entity.key_fields))
                        }
                        other => other.clone(),
                    })
                    .collect()
            }
            ReadScope::Days { .. } => {
                return Err(Error::config(&self.name, "per-day reads are not supported"));
            }
        };
        let cursor = Cursor::from_text(&state.seq.to_string());
        let size = request.batch_size.max(1);
        let mut batches: Vec<Batch> = changes
            .chunks(size)
            .map(|c| Batch {
                changes: c.to_vec(),
                ..Default::default()
            })
            .collect();
        match batches.last_mut() {
            Some(last) => last.cursor = Some(cursor),
            None => batches.push(Batch {
                cursor: Some(cursor),
                ..Default::default()
            }),
        }
        Ok(Box::pin(futures::stream::iter(batches.into_iter().map(Ok))))
    }
}

#[async_trait]
impl Target for MemoryConnector {
    fn capabilities(&self) -> Capabilities {
        Source::capabilities(self)
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(MemoryTransaction {
            connector: self.clone(),
            entity: entity.to_owned(),
            staged: Vec::new(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        let state = self.lock();
        let Some(e) = state.entities.get(entity) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| e.records.get(k).cloned())
            .collect())
    }
}

struct MemoryTransaction {
    connector: MemoryConnector,
    entity: String,
    staged: Vec<Change>,
}

#[async_trait]
impl Transaction for MemoryTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let mut state = self.connector.lock();
        let key_fields = state
            .entities
            .get(&self.entity)
            .map(|e| e.key_fields.clone())
            .unwrap_or_default();
        let mut applied = Vec::with_capacity(changes.len());
        for change in changes {
            if let Some(left) = state.fail_after.as_mut() {
                if *left == 0 {
                    return Err(Error::other(
                        &self.connector.name,
                        format!(
                            "entity {}: injected failure at key {}",
                            self.entity,
                            change.key()
                        ),
                    ));
                }
                *left -= 1;
            }
            let change = match change {
                Change::Upsert(mut r) if !key_fields.is_empty() => {
                    let parts: Vec<String> = key_fields
                        .iter()
                        .map(|k| r.get(k).map(|v| v.canonical()).unwrap_or_default())
                        .collect();
                    if parts.iter().any(|p| !p.is_empty()) {
                        r.key = Key::composite(&parts);
                    }
                    Change::Upsert(r)
                }
                other => other,
            };
            applied.push(Applied {
                key: change.key().clone(),
                version: None,
            });
            self.staged.push(change);
        }
        Ok(applied)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let mut state = self.connector.lock();
        for change in self.staged {
            state.write(&self.entity, change);
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl crate::plugin::Connector for MemoryConnector {
    const NAME: &'static str = "memory";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: serde_json::Value, context: &crate::plugin::OpenContext) -> Result<Self> {
        let name = if context.endpoint.is_empty() {
            "memory"
        } else {
            context.endpoint.as_str()
        };
        MemoryConnector::from_config(name, config)
    }

    fn as_target(&self) -> Option<&dyn Target> {
        Some(self)
    }
}
