//! The list as a target: changes are staged and sent on commit (creates,
//! updates with `If-Match` on the eTag read when the transaction began,
//! deletes), a few at a time.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value as J;
use tandem_core::{
    Applied, Capabilities, Change, Error, Key, Record, Result, Source, Target, Transaction,
};

use crate::client::ListClient;
use crate::config::Settings;
use crate::{CONNECTOR, SharePointConnector};

/// Key -> (item id, eTag), as the list holds them.
type Index = HashMap<String, (String, Option<String>)>;

impl SharePointConnector {
    /// Every item's key, id and eTag.
    async fn index(&self) -> Result<Index> {
        let s = &self.settings;
        let key = [s.key.clone()];
        let mut pages = self.list.items(s, Some(&key), s.page_size as usize);
        let mut index = Index::new();
        while let Some(page) = pages.try_next().await? {
            for item in &page.value {
                let Ok((id, record)) = s.record(item, Some(&key)) else {
                    tracing::warn!(list = %s.list, "an item without a key value is left alone");
                    continue;
                };
                let etag = item.get("eTag").and_then(J::as_str).map(str::to_owned);
                if index
                    .insert(record.key.as_str().to_owned(), (id.clone(), etag))
                    .is_some()
                {
                    tracing::warn!(list = %s.list, key = %record.key, item = %id, "several items have this key");
                }
            }
        }
        Ok(index)
    }
}

#[async_trait]
impl Target for SharePointConnector {
    fn capabilities(&self) -> Capabilities {
        Source::capabilities(self)
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        self.check_entity(entity)?;
        Ok(Box::new(ListTransaction {
            list: self.list.clone(),
            settings: Arc::clone(&self.settings),
            index: self.index().await?,
            staged: Vec::new(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        self.check_entity(entity)?;
        let s = &self.settings;
        let index = self.index().await?;
        let select = s.select(None);
        let mut out = Vec::new();
        for key in keys {
            let Some((id, _)) = index.get(key.as_str()) else {
                continue;
            };
            if let Some(item) = self.list.item(s, id, select.as_deref()).await? {
                let (_, record) = s
                    .record(&item, select.as_deref())
                    .map_err(|m| Error::other(CONNECTOR, m))?;
                out.push(record);
            }
        }
        Ok(out)
    }
}

/// Changes waiting for commit.
struct ListTransaction {
    list: ListClient,
    settings: Arc<Settings>,
    index: Index,
    staged: Vec<Change>,
}

#[async_trait]
impl Transaction for ListTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let s = &self.settings;
        let mut applied = Vec::with_capacity(changes.len());
        for change in &changes {
            if let Change::Upsert(r) = change
                && s.key_is_id()
                && !self.index.contains_key(r.key.as_str())
            {
                return Err(Error::BadRecord {
                    connector: CONNECTOR.into(),
                    location: format!("entity {}, key {}", s.entity, r.key),
                    message: "no item has this id, and items cannot be created with an id of \
                              their own: set key to a column with unique values"
                        .into(),
                });
            }
            applied.push(Applied {
                key: change.key().clone(),
                version: None,
            });
        }
        self.staged.extend(changes);
        Ok(applied)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let ListTransaction {
            list,
            settings,
            index,
            staged,
        } = *self;
        // The last change of each key, in the order keys first appeared.
        let mut order: Vec<Key> = Vec::new();
        let mut last: HashMap<Key, Change> = HashMap::new();
        for change in staged {
            let key = change.key().clone();
            if last.insert(key.clone(), change).is_none() {
                order.push(key);
            }
        }
        let ops = order.into_iter().filter_map(|k| {
            let found = index.get(k.as_str()).cloned();
            last.remove(&k).map(|c| (c, found))
        });
        let (list, settings) = (&list, &settings);
        futures::stream::iter(ops)
            .map(|(change, found)| async move { write(list, settings, change, found).await })
            .buffer_unordered(settings.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Sends one change.
async fn write(
    list: &ListClient,
    s: &Settings,
    change: Change,
    found: Option<(String, Option<String>)>,
) -> Result<()> {
    match (change, found) {
        (Change::Upsert(r), Some((id, etag))) => {
            let fields = J::Object(s.write_fields(&r, true));
            list.update(s, &id, r.key.as_str(), etag.as_deref(), fields)
                .await
                .map(drop)
        }
        (Change::Upsert(r), None) => {
            let fields = J::Object(s.write_fields(&r, false));
            list.create(s, r.key.as_str(), fields).await.map(drop)
        }
        (Change::Delete { key, .. }, Some((id, _))) => list.delete(s, &id, key.as_str()).await,
        (Change::Delete { .. }, None) => Ok(()),
    }
}
