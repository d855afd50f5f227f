//! Writing: upserts by external id and deletes by id, in composite
//! collections of at most 200 records with `allOrNone`; and fetching
//! records by key.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value as Json, json};
use tandem_core::{Change, Error, Key, Record, Result};

use super::{Salesforce, sf_error, soql};
use crate::CONNECTOR;
use crate::entity::{Entity, collapse};

/// The most records of one composite collection request.
const MAX_COLLECTION: usize = 200;

/// How often a delete is sent again without the records that were gone
/// already.
const RETRIES: usize = 3;

/// The item errors that say a record to delete is gone already.
const GONE: &[&str] = &["ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"];

/// The item error of records rolled back because another failed.
const ROLLED_BACK: &str = "ALL_OR_NONE_OPERATION_ROLLED_BACK";

#[derive(Debug, Deserialize)]
struct ItemResult {
    #[serde(default)]
    id: Option<String>,
    success: bool,
    #[serde(default)]
    errors: Vec<ItemError>,
}

#[derive(Debug, Deserialize)]
struct ItemError {
    #[serde(rename = "statusCode", alias = "errorCode", default)]
    status_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: Vec<String>,
}

impl ItemResult {
    /// The error that made the item fail (not the roll-back of the others).
    fn cause(&self) -> Option<&ItemError> {
        (!self.success)
            .then(|| self.errors.iter().find(|e| e.status_code != ROLLED_BACK))
            .flatten()
    }
}

/// The records with these keys (those that exist).
pub(super) async fn fetch(sf: &Salesforce, entity: &Entity, keys: &[Key]) -> Result<Vec<Record>> {
    let base = sf.base().await?;
    let wanted = sf.wanted(&base, entity, None).await?;
    let mut out = Vec::new();
    for chunk in keys.chunks(MAX_COLLECTION) {
        let q = format!(
            "{} WHERE {}",
            soql::select(entity, &wanted, &[]),
            soql::key_in(entity, chunk)
        );
        let what = format!("fetching {} records of object {}", chunk.len(), entity.name);
        for row in sf.query_rows(&base, false, &q, what).await? {
            if let Ok(r) = entity.record(row, Some(&wanted)) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Writes the changes of a committed transaction: the last change of each
/// key; upserts by external id and deletes by id (a key of no record is
/// a delete done already) in collections of 200, each all or none.
pub(super) async fn write(sf: &Salesforce, entity: &Entity, changes: Vec<Change>) -> Result<()> {
    let changes = collapse(changes);
    let base = sf.base().await?;
    let writable = match entity.fields {
        Some(_) => None,
        None => Some(sf.describe(&base, entity).await?),
    };
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for change in changes {
        match change {
            Change::Upsert(r) => upserts.push(r),
            Change::Delete { key, .. } => deletes.push(key),
        }
    }
    let ext = &entity.key[0];
    for chunk in upserts.chunks(MAX_COLLECTION) {
        let records: Vec<Json> = chunk
            .iter()
            .map(|r| {
                let mut body = entity.body(r, true);
                if let Some(d) = &writable {
                    body.retain(|k, _| d.writable.contains(k) || k == ext);
                }
                body.insert("attributes".into(), json!({ "type": entity.name }));
                Json::Object(body)
            })
            .collect();
        let response = sf
            .http
            .patch(format!("{base}/composite/sobjects/{}/{ext}", entity.name))
            .json(&json!({ "allOrNone": true, "records": records }))
            .idempotent(true)
            .what(format!(
                "upserting {} records of object {} by {ext}",
                chunk.len(),
                entity.name
            ))
            .send()
            .await
            .map_err(sf_error)?;
        let results: Vec<ItemResult> = response.json().map_err(sf_error)?;
        if results.len() != chunk.len() {
            return Err(sf_error(response.malformed(format!(
                "{} results for {} records",
                results.len(),
                chunk.len()
            ))));
        }
        let failed = chunk
            .iter()
            .zip(&results)
            .find_map(|(r, i)| Some((&r.key, i.cause()?)));
        if let Some((key, cause)) = failed {
            return Err(item_error(
                entity,
                key,
                "upsert",
                cause,
                response.request_id.clone(),
            ));
        }
    }
    if !deletes.is_empty() {
        let ids = ids(sf, &base, entity, &deletes).await?;
        let mut targets: Vec<(Key, String)> = deletes
            .into_iter()
            .filter_map(|k| ids.get(&k).map(|id| (k, id.clone())))
            .collect();
        while !targets.is_empty() {
            let rest = targets.split_off(targets.len().min(MAX_COLLECTION));
            delete(sf, &base, entity, targets).await?;
            targets = rest;
        }
    }
    Ok(())
}

/// The ids of the records with these keys.
async fn ids(
    sf: &Salesforce,
    base: &str,
    entity: &Entity,
    keys: &[Key],
) -> Result<HashMap<Key, String>> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(MAX_COLLECTION) {
        let q = format!(
            "SELECT Id,{} FROM {} WHERE {}",
            entity.key[0],
            entity.name,
            soql::key_in(entity, chunk)
        );
        let what = format!(
            "looking up {} records of object {}",
            chunk.len(),
            entity.name
        );
        for row in sf.query_rows(base, false, &q, what).await? {
            let id = row.get("Id").and_then(|v| v.as_str());
            if let (Ok(key), Some(id)) = (entity.key_of(&row), id) {
                out.insert(key, id.to_owned());
            }
        }
    }
    Ok(out)
}

/// Deletes up to 200 records, all or none; records gone meanwhile are
/// left out and the rest sent again.
async fn delete(
    sf: &Salesforce,
    base: &str,
    entity: &Entity,
    mut targets: Vec<(Key, String)>,
) -> Result<()> {
    for _ in 0..=RETRIES {
        if targets.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = targets.iter().map(|(_, id)| id.as_str()).collect();
        let response = sf
            .http
            .delete(format!(
                "{base}/composite/sobjects?ids={}&allOrNone=true",
                ids.join(",")
            ))
            .what(format!(
                "deleting {} records of object {}",
                ids.len(),
                entity.name
            ))
            .send()
            .await
            .map_err(sf_error)?;
        let results: Vec<ItemResult> = response.json().map_err(sf_error)?;
        let mut gone = Vec::new();
        for (i, result) in results.iter().enumerate() {
            let Some(cause) = result.cause() else {
                continue;
            };
            if GONE.contains(&cause.status_code.as_str()) {
                gone.push(
                    result
                        .id
                        .clone()
                        .or_else(|| targets.get(i).map(|t| t.1.clone())),
                );
            } else {
                let key = &targets
                    .get(i)
                    .map_or_else(|| Key::new("?"), |t| t.0.clone());
                return Err(item_error(
                    entity,
                    key,
                    "delete",
                    cause,
                    response.request_id.clone(),
                ));
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        targets.retain(|(_, id)| !gone.contains(&Some(id.clone())));
    }
    Err(Error::other(
        CONNECTOR,
        format!(
            "object {}: records kept disappearing while they were deleted",
            entity.name
        ),
    ))
}

fn item_error(
    entity: &Entity,
    key: &Key,
    action: &str,
    cause: &ItemError,
    request_id: Option<String>,
) -> Error {
    let fields = if cause.fields.is_empty() {
        String::new()
    } else {
        format!(" (fields {})", cause.fields.join(", "))
    };
    Error::Remote {
        connector: CONNECTOR.into(),
        status: None,
        message: format!(
            "object {}, key {key}: {action} failed, the collection was rolled back: {}: {}{fields}",
            entity.name, cause.status_code, cause.message
        ),
        request_id,
    }
}
