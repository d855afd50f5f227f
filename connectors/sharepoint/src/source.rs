//! The list as a source: full reads of the items (with a delta link taken
//! first, so nothing changed during the read is lost), and incremental
//! reads through Graph's delta query.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use serde_json::Value as J;
use tandem_core::{
    Batch, BatchStream, Capabilities, Change, Cursor, EntitySchema, Error, FieldSchema, FieldType,
    Key, ReadRequest, ReadScope, Result, Source,
};
use tandem_http::HttpError;

use crate::client::{Page, delta_error};
use crate::config::Settings;
use crate::item::{State, is_deleted};
use crate::{CONNECTOR, SharePointConnector};

#[async_trait]
impl Source for SharePointConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            cursors: true,
            deletes: true,
            days: false,
            transactions: false,
            idempotent_upsert: true,
        }
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        let s = &self.settings;
        let mut names = vec![s.key.clone()];
        match &s.fields {
            Some(f) => names.extend(f.iter().filter(|c| **c != s.key).cloned()),
            None => {
                // The columns of the first item.
                let mut pages = self.list.items(s, None, 1);
                if let Some(page) = pages.try_next().await? {
                    let fields = page.value.first().and_then(|i| i.get("fields")).cloned();
                    if let Some(J::Object(fields)) = fields {
                        names.extend(
                            fields
                                .keys()
                                .filter(|k| !k.starts_with('@') && **k != s.key)
                                .cloned(),
                        );
                    }
                }
            }
        }
        let fields = names
            .into_iter()
            .map(|name| FieldSchema {
                nullable: name != s.key,
                name,
                kind: FieldType::Unknown,
            })
            .collect();
        Ok(vec![EntitySchema {
            name: s.entity.clone(),
            key: vec![s.key.clone()],
            fields,
        }])
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        self.check_entity(&request.entity)?;
        let s = Arc::clone(&self.settings);
        let select = s.select(request.fields.as_deref());
        let size = request.batch_size.max(1);
        match &request.scope {
            ReadScope::Full => {
                // Taken before reading: a change made during the read is
                // read again next time, never lost.
                let delta = self.list.latest(&s).await?;
                let top = (s.page_size as usize).min(size);
                let pages = self.list.items(&s, select.as_deref(), top);
                let full = Full {
                    pages,
                    settings: s,
                    select,
                    state: State {
                        delta,
                        keys: HashMap::new(),
                    },
                    done: false,
                };
                Ok(Box::pin(futures::stream::try_unfold(
                    full,
                    |mut f| async move { Ok(f.next_batch().await?.map(|b| (b, f))) },
                )))
            }
            ReadScope::Since(cursor) => {
                let batches = self.since(&s, cursor, select.as_deref(), size).await?;
                Ok(Box::pin(futures::stream::iter(batches.into_iter().map(Ok))))
            }
            other => Err(Error::config(
                CONNECTOR,
                format!("read scope {other:?} is not supported by SharePoint lists"),
            )),
        }
    }
}

/// A full read in progress.
struct Full {
    pages: BoxStream<'static, Result<Page, HttpError>>,
    settings: Arc<Settings>,
    select: Option<Vec<String>>,
    state: State,
    done: bool,
}

impl Full {
    /// The items of the next page, or the closing batch with the cursor.
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        if self.done {
            return Ok(None);
        }
        let Some(page) = self.pages.try_next().await? else {
            self.done = true;
            return Ok(Some(Batch {
                cursor: Some(self.state.to_cursor()),
                ..Default::default()
            }));
        };
        let s = &self.settings;
        let mut changes = Vec::with_capacity(page.value.len());
        for item in &page.value {
            let (id, record) = s
                .record(item, self.select.as_deref())
                .map_err(|m| bad_item(s, item, m))?;
            if !s.key_is_id() {
                self.state.keys.insert(id, record.key.as_str().to_owned());
            }
            changes.push(Change::Upsert(record));
        }
        Ok(Some(Batch {
            changes,
            ..Default::default()
        }))
    }
}

fn bad_item(s: &Settings, item: &J, message: String) -> Error {
    let id = item.get("id").and_then(J::as_str).unwrap_or("?");
    Error::BadRecord {
        connector: CONNECTOR.into(),
        location: format!("entity {}, item {id}", s.entity),
        message,
    }
}

impl SharePointConnector {
    /// An incremental read: the whole delta round (the last occurrence of
    /// an item wins), in batches, the last with the next cursor.
    async fn since(
        &self,
        s: &Settings,
        cursor: &Cursor,
        select: Option<&[String]>,
        size: usize,
    ) -> Result<Vec<Batch>> {
        let mut state = State::from_cursor(cursor).ok_or_else(|| Error::CursorExpired {
            connector: CONNECTOR.into(),
            entity: s.entity.clone(),
            message: "the cursor is not a SharePoint delta link".into(),
        })?;
        let mut pages = self.list.delta(s, state.delta.clone());
        let mut entries = Vec::new();
        let mut delta = None;
        while let Some(page) = pages.try_next().await.map_err(|e| delta_error(s, e))? {
            entries.extend(page.value);
            delta = page.delta_link.or(delta);
        }
        let delta = delta.ok_or_else(|| Error::Remote {
            connector: CONNECTOR.into(),
            status: None,
            message: format!(
                "reading the changes of list {}: the last page gave no @odata.deltaLink",
                s.list
            ),
            request_id: None,
        })?;
        let mut changes = Vec::new();
        for entry in last_wins(entries) {
            let Some(id) = entry.get("id").and_then(J::as_str).map(str::to_owned) else {
                return Err(bad_item(s, &entry, "a change without an item id".into()));
            };
            if is_deleted(&entry) {
                let key = if s.key_is_id() {
                    Some(id.clone())
                } else {
                    state.keys.remove(&id)
                };
                match key {
                    Some(k) => changes.push(Change::delete(Key::new(k))),
                    // Created and deleted since the cursor: never seen.
                    None => tracing::debug!(item = %id, "deleted item not seen before; skipped"),
                }
                continue;
            }
            let (_, record) = s
                .record(&entry, select)
                .map_err(|m| bad_item(s, &entry, m))?;
            if !s.key_is_id() {
                let new = record.key.as_str().to_owned();
                if let Some(old) = state.keys.insert(id, new.clone()).filter(|o| *o != new) {
                    changes.push(Change::delete(Key::new(old)));
                }
            }
            changes.push(Change::Upsert(record));
        }
        state.delta = delta;
        let mut batches: Vec<Batch> = changes
            .chunks(size)
            .map(|c| Batch {
                changes: c.to_vec(),
                ..Default::default()
            })
            .collect();
        if batches.is_empty() {
            batches.push(Batch::default());
        }
        if let Some(last) = batches.last_mut() {
            last.cursor = Some(state.to_cursor());
        }
        Ok(batches)
    }
}

/// The last occurrence of each item, in the order of those occurrences.
fn last_wins(entries: Vec<J>) -> Vec<J> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<J> = entries
        .into_iter()
        .rev()
        .filter(|e| {
            e.get("id")
                .and_then(J::as_str)
                .is_none_or(|id| seen.insert(id.to_owned()))
        })
        .collect();
    out.reverse();
    out
}
