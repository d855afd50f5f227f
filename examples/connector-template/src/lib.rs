//! A minimal read-write Tandem connector: each entity is one JSON document,
//! `<dir>/<entity>.json`, an object mapping keys to records.
//!
//! Copy this crate to write a connector for a system Tandem does not ship.
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;
use tandem_core::plugin::{Connector, OpenContext};
use tandem_core::{
    Applied, Batch, BatchStream, Capabilities, Change, EntitySchema, Error, Key, ReadRequest,
    ReadScope, Record, Result, Source, Target, Transaction, Value,
};

const NAME: &str = "template";

/// The configuration: `[endpoints.NAME]` with `type = "template"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The folder holding one `<entity>.json` per entity (relative to the manifest).
    pub dir: PathBuf,
    /// The field that holds each record's key.
    pub key: String,
}

/// The connector.
#[derive(Debug, Clone)]
pub struct TemplateConnector {
    config: TemplateConfig,
}

type Document = BTreeMap<String, serde_json::Map<String, serde_json::Value>>;

impl TemplateConnector {
    fn path(&self, entity: &str) -> PathBuf {
        self.config.dir.join(format!("{entity}.json"))
    }

    fn load(&self, entity: &str) -> Result<Document> {
        let path = self.path(entity);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::BadRecord {
                connector: NAME.into(),
                location: format!("{}:{}", path.display(), e.line()),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Document::new()),
            Err(e) => Err(Error::io(NAME, format!("reading {}", path.display()), e)),
        }
    }

    fn store(&self, entity: &str, doc: &Document) -> Result<()> {
        let path = self.path(entity);
        let io = |e| Error::io(NAME, format!("writing {}", path.display()), e);
        std::fs::create_dir_all(&self.config.dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.config.dir).map_err(io)?;
        serde_json::to_writer_pretty(&mut tmp, doc).map_err(|e| io(e.into()))?;
        tmp.flush().map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    fn record(&self, key: &str, fields: &serde_json::Map<String, serde_json::Value>) -> Record {
        let mut r = Record::new(key);
        for (name, value) in fields {
            r.fields
                .push((name.into(), Value::from_json(value.clone())));
        }
        r
    }
}

impl Connector for TemplateConnector {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: serde_json::Value, context: &OpenContext) -> Result<Self> {
        let mut config: TemplateConfig =
            serde_json::from_value(config).map_err(|e| Error::config(NAME, e.to_string()))?;
        if config.key.is_empty() {
            return Err(Error::config(
                NAME,
                "key: name the field that holds the key",
            ));
        }
        config.dir = context.resolve(&config.dir);
        Ok(TemplateConnector { config })
    }

    fn as_target(&self) -> Option<&dyn Target> {
        Some(self)
    }
}

#[async_trait]
impl Source for TemplateConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactions: true,
            idempotent_upsert: true,
            ..Default::default()
        }
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.config.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(Error::io(
                    NAME,
                    format!("listing {}", self.config.dir.display()),
                    e,
                ));
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(entity) = name.strip_suffix(".json") {
                out.push(EntitySchema {
                    name: entity.to_owned(),
                    key: vec![self.config.key.clone()],
                    fields: Vec::new(),
                });
            }
        }
        Ok(out)
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        if !matches!(request.scope, ReadScope::Full) {
            return Err(Error::config(NAME, "only full reads are supported"));
        }
        let doc = self.load(&request.entity)?;
        let mut batches = Vec::new();
        let mut batch = Batch::default();
        for (key, fields) in &doc {
            let mut record = self.record(key, fields);
            if let Some(keep) = &request.fields {
                record
                    .fields
                    .retain(|(n, _)| keep.iter().any(|k| k == n) || *n == self.config.key);
            }
            batch.changes.push(Change::Upsert(record));
            if batch.changes.len() >= request.batch_size {
                batches.push(Ok(std::mem::take(&mut batch)));
            }
        }
        if !batch.changes.is_empty() {
            batches.push(Ok(batch));
        }
        Ok(Box::pin(futures::stream::iter(batches)))
    }
}

#[async_trait]
impl Target for TemplateConnector {
    fn capabilities(&self) -> Capabilities {
        Source::capabilities(self)
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(TemplateTransaction {
            connector: self.clone(),
            entity: entity.to_owned(),
            staged: Vec::new(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        let doc = self.load(entity)?;
        Ok(keys
            .iter()
            .filter_map(|k| doc.get(k.as_str()).map(|f| self.record(k.as_str(), f)))
            .collect())
    }
}

/// Stages changes; `commit` writes the document atomically.
struct TemplateTransaction {
    connector: TemplateConnector,
    entity: String,
    staged: Vec<Change>,
}

#[async_trait]
impl Transaction for TemplateTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let applied = changes
            .iter()
            .map(|c| Applied {
                key: c.key().clone(),
                version: None,
            })
            .collect();
        self.staged.extend(changes);
        Ok(applied)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let mut doc = self.connector.load(&self.entity)?;
        for change in self.staged {
            match change {
                Change::Upsert(r) => {
                    let fields = r
                        .fields
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_json()))
                        .collect();
                    doc.insert(r.key.0.into_string(), fields);
                }
                Change::Delete { key, .. } => {
                    doc.remove(key.as_str());
                }
            }
        }
        self.connector.store(&self.entity, &doc)
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

tandem_core::export_connector!(TemplateConnector);
