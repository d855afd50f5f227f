//! Writing: upserts by alternate key and deletes by id, in `$batch`
//! change sets of at most 1000 requests; and looking rows up by key.

use std::collections::HashMap;

use futures::TryStreamExt;
use serde::Deserialize;
use tandem_core::{Change, Error, Key, Result};

use super::batch::{self, Answer, Request};
use super::{Dynamics, Row, bad_key, odata_headers};
use crate::CONNECTOR;
use crate::encode::{odata_string, pct};
use crate::entity::{Entity, collapse};

/// The most requests one `$batch` may hold.
pub(super) const MAX_BATCH: usize = 1000;

/// Keys per lookup query (the filter goes in the URL).
const LOOKUP_CHUNK: usize = 50;

/// How often a change set is sent again without the deletes of rows that
/// were gone already.
const RETRIES: usize = 3;

#[derive(Deserialize)]
struct Rows {
    value: Vec<Row>,
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
}

impl Dynamics {
    /// The rows with these keys (those that exist), with the fields of
    /// `select` (and the id, which Dataverse always returns).
    pub(super) async fn lookup(
        &self,
        entity: &Entity,
        keys: &[Key],
        select: Option<Vec<String>>,
    ) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let mut alternatives = Vec::with_capacity(chunk.len());
            for key in chunk {
                let parts = entity.key_parts(key).map_err(|m| bad_key(entity, key, m))?;
                let terms: Vec<String> = entity
                    .key
                    .iter()
                    .zip(parts)
                    .map(|(k, v)| format!("{k} eq {}", odata_string(v)))
                    .collect();
                alternatives.push(format!("({})", terms.join(" and ")));
            }
            let mut url = format!(
                "{}?$filter={}",
                self.set_url(entity),
                pct(&alternatives.join(" or "))
            );
            if let Some(select) = &select {
                url.push_str("&$select=");
                url.push_str(&select.join(","));
            }
            let what = format!(
                "looking up {} rows of entity set {}",
                chunk.len(),
                entity.name
            );
            let mut pages = self.http.pages(what, url, odata_headers(), |r| {
                let rows: Rows = r.json()?;
                Ok((rows.value, rows.next))
            });
            while let Some(rows) = pages.try_next().await? {
                out.extend(rows);
            }
        }
        Ok(out)
    }

    /// The ids of the rows with these keys; keys of no row are left out.
    async fn ids(&self, entity: &Entity, keys: &[Key]) -> Result<HashMap<Key, String>> {
        let select = entity.select(Some(&[]), &[&entity.id]);
        let mut ids = HashMap::new();
        for row in self.lookup(entity, keys, select).await? {
            let id = row.get(&entity.id).and_then(|v| v.as_str());
            if let (Ok(key), Some(id)) = (entity.key_of(&row), id) {
                ids.insert(key, id.to_owned());
            }
        }
        Ok(ids)
    }
}

/// Writes the changes of a committed transaction: the last change of each
/// key, upserts by alternate key (`PATCH`, without the key columns in the
/// body) and deletes by id (a key of no row is done already), in change
/// sets of at most [`MAX_BATCH`] requests, each atomic.
pub(super) async fn write(d: &Dynamics, entity: &Entity, changes: Vec<Change>) -> Result<()> {
    let changes = collapse(changes);
    let deleted: Vec<Key> = changes
        .iter()
        .filter(|c| matches!(c, Change::Delete { .. }))
        .map(|c| c.key().clone())
        .collect();
    let ids = if deleted.is_empty() {
        HashMap::new()
    } else {
        d.ids(entity, &deleted).await?
    };
    let mut requests = Vec::with_capacity(changes.len());
    for change in &changes {
        match change {
            Change::Upsert(record) => {
                let body = serde_json::Value::Object(entity.body(record, false));
                requests.push((
                    record.key.clone(),
                    Request {
                        method: "PATCH",
                        url: d.key_url(entity, &record.key)?,
                        body: Some(body.to_string()),
                    },
                ));
            }
            Change::Delete { key, .. } => {
                if let Some(id) = ids.get(key) {
                    requests.push((
                        key.clone(),
                        Request {
                            method: "DELETE",
                            url: d.id_url(entity, id),
                            body: None,
                        },
                    ));
                }
            }
        }
    }
    for chunk in requests.chunks(MAX_BATCH) {
        send(d, entity, chunk.to_vec()).await?;
    }
    Ok(())
}

/// Sends one change set; a delete answered 404 (the row went meanwhile)
/// is dropped and the change set sent again.
async fn send(d: &Dynamics, entity: &Entity, mut requests: Vec<(Key, Request)>) -> Result<()> {
    for _ in 0..=RETRIES {
        if requests.is_empty() {
            return Ok(());
        }
        let plain: Vec<Request> = requests.iter().map(|(_, r)| r.clone()).collect();
        let (content_type, body) = batch::change_set(&plain);
        let response = d
            .http
            .post(format!("{}/$batch", d.api))
            .headers(odata_headers())
            .body(content_type, body)
            .idempotent(true)
            .what(format!(
                "writing a change set of {} changes to entity set {}",
                requests.len(),
                entity.name
            ))
            .send()
            .await?;
        let text = String::from_utf8_lossy(&response.body);
        let answers = batch::answers(response.header("content-type").unwrap_or_default(), &text)
            .map_err(|m| Error::from(response.malformed(m)))?;
        let Some(failed) = answers.iter().find(|a| a.status >= 400) else {
            return Ok(());
        };
        let index = failed.content_id.and_then(|i| i.checked_sub(1));
        let request = index.and_then(|i| requests.get(i));
        match request {
            Some((_, r)) if r.method == "DELETE" && failed.status == 404 => {
                requests.remove(index.expect("found by index"));
            }
            _ => {
                return Err(failure(
                    entity,
                    request.map(|(k, _)| k),
                    failed,
                    response.request_id.clone(),
                ));
            }
        }
    }
    Err(Error::other(
        CONNECTOR,
        format!(
            "entity set {}: rows kept disappearing while a change set was written",
            entity.name
        ),
    ))
}

/// The error of a failed change set, naming the key of the request that
/// failed.
fn failure(
    entity: &Entity,
    key: Option<&Key>,
    answer: &Answer,
    request_id: Option<String>,
) -> Error {
    let (code, message, _) = tandem_http::error_details(answer.body.as_bytes());
    let at = key.map(|k| format!(", key {k}")).unwrap_or_default();
    Error::Remote {
        connector: CONNECTOR.into(),
        status: Some(answer.status),
        message: format!(
            "entity set {}{at}: the change set was rolled back: HTTP {}{}: {message}",
            entity.name,
            answer.status,
            code.map(|c| format!(" {c}")).unwrap_or_default()
        ),
        request_id,
    }
}
