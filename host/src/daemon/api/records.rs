//! The sync window: records by category, resolving a conflict, pairing,
//! unpairing, and turning a record's sync off and on.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;
use tandem_core::Key;
use tandem_core::engine::{Category, Choice};
use tandem_core::store::Side;

use super::{ApiError, ApiResult, Body, pair_entry};
use crate::daemon::Daemon;
use crate::views::conflicts::{self as views, Window};

/// The six categories with their counts and records.
pub async fn window(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
) -> ApiResult<Json<Window>> {
    pair_entry(&d, &pair)?;
    Ok(Json(views::window(&d.ctx, &pair).await?))
}

/// `?category=conflict`.
#[derive(Debug, Deserialize)]
pub struct CategoryQuery {
    category: Option<String>,
}

/// The records of one category, as `tandem conflicts --category C --json`
/// prints them (pending conflicts by default).
pub async fn conflicts(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Query(q): Query<CategoryQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    pair_entry(&d, &pair)?;
    let name = q.category.as_deref().unwrap_or("conflict");
    let category = Category::parse(name).ok_or_else(|| {
        let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        ApiError::bad_request(format!(
            "category: unknown {name:?}; one of {}",
            all.join(", ")
        ))
    })?;
    let value = match category {
        Category::Conflict => {
            let rows = views::pending(&d.ctx, &pair).await?;
            let out: Vec<_> = rows.iter().map(views::conflict_out).collect();
            serde_json::to_value(out)
        }
        Category::Disabled => serde_json::to_value(views::disabled(&d.ctx, &pair).await?),
        other => {
            let report = views::dry_run(&d.ctx, &pair).await?;
            serde_json::to_value(views::planned(&report, other))
        }
    };
    Ok(Json(value.map_err(anyhow::Error::from)?))
}

/// `POST /api/v1/pairs/{pair}/resolve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// The conflict's key on side A or B.
    key: Option<String>,
    /// Or the conflict's id.
    id: Option<i64>,
    /// `a` or `b`: keep that side's version on both sides.
    take: Option<Side>,
    /// Or write this record (field to value, side A's names) to both sides.
    merged: Option<serde_json::Value>,
}

/// Resolves a pending conflict by taking a side or a merged record.
pub async fn resolve(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Body(body): Body<ResolveBody>,
) -> ApiResult<Json<serde_json::Value>> {
    pair_entry(&d, &pair)?;
    if d.live.contains(&pair) {
        return Err(ApiError::conflict(format!(
            "pair {pair} is running; resolve when the run has ended"
        )));
    }
    let rows = views::pending(&d.ctx, &pair).await?;
    let row = match (&body.key, body.id) {
        (Some(key), None) => views::find_by_key(&rows, &pair, key)?,
        (None, Some(id)) => rows
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| ApiError::not_found(format!("pair {pair}: no pending conflict {id}")))?,
        _ => return Err(ApiError::bad_request("give the conflict's key or its id")),
    };
    let choice = match (body.take, body.merged) {
        (Some(Side::A), None) => Choice::TakeA,
        (Some(Side::B), None) => Choice::TakeB,
        (None, Some(value)) => {
            let key = row
                .conflict
                .a_key
                .clone()
                .or_else(|| row.conflict.b_key.clone())
                .expect("a conflict has a key");
            Choice::Merged(views::merged_record(value, key, "merged")?)
        }
        _ => {
            return Err(ApiError::bad_request(
                "give take (\"a\" or \"b\") or merged",
            ));
        }
    };
    let setup = d.ctx.pair(&pair).await?;
    d.ctx
        .engine()
        .await?
        .resolve(&setup.config, &setup.a, &setup.b, row.id, choice)
        .await?;
    d.request_poll(Some(&pair));
    Ok(Json(json!({ "resolved": row.id, "pair": pair })))
}

/// `POST /api/v1/pairs/{pair}/link`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The key on side A.
    a_key: String,
    /// The key on side B.
    b_key: String,
}

/// Pairs two records by hand.
pub async fn link(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Body(body): Body<LinkBody>,
) -> ApiResult<Json<serde_json::Value>> {
    pair_entry(&d, &pair)?;
    if body.a_key.is_empty() || body.b_key.is_empty() {
        return Err(ApiError::bad_request("give a_key and b_key"));
    }
    let id = d
        .ctx
        .store()
        .await?
        .link(&pair, &Key::new(&body.a_key), &Key::new(&body.b_key))
        .await?;
    d.request_poll(Some(&pair));
    Ok(Json(
        json!({ "link": id, "a_key": body.a_key, "b_key": body.b_key }),
    ))
}

/// `POST /api/v1/pairs/{pair}/unlink`, `disable`, `enable`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// The record's key.
    key: String,
    /// The side the key is on (`a` by default; unlink tries a, then b).
    side: Option<Side>,
}

/// Unpairs a record (by its A key, or its B key when no link has that A key).
pub async fn unlink(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Body(body): Body<KeyBody>,
) -> ApiResult<Json<serde_json::Value>> {
    pair_entry(&d, &pair)?;
    let store = d.ctx.store().await?;
    let sides = match body.side {
        Some(s) => vec![s],
        None => vec![Side::A, Side::B],
    };
    for side in sides {
        if store.unlink(&pair, side, &Key::new(&body.key)).await? {
            d.request_poll(Some(&pair));
            return Ok(Json(json!({ "unlinked": body.key, "side": side })));
        }
    }
    Err(ApiError::not_found(format!(
        "pair {pair}: no link has key {:?}",
        body.key
    )))
}

async fn set_disabled(
    d: Arc<Daemon>,
    pair: String,
    body: KeyBody,
    disabled: bool,
) -> ApiResult<Json<serde_json::Value>> {
    pair_entry(&d, &pair)?;
    if body.key.is_empty() {
        return Err(ApiError::bad_request("give the record's key"));
    }
    let side = body.side.unwrap_or(Side::A);
    d.ctx
        .store()
        .await?
        .set_disabled(&pair, side, &Key::new(&body.key), disabled)
        .await?;
    d.request_poll(Some(&pair));
    Ok(Json(
        json!({ "key": body.key, "side": side, "disabled": disabled }),
    ))
}

/// Turns a record's sync off.
pub async fn disable(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Body(body): Body<KeyBody>,
) -> ApiResult<Json<serde_json::Value>> {
    set_disabled(d, pair, body, true).await
}

/// Turns a record's sync back on.
pub async fn enable(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Body(body): Body<KeyBody>,
) -> ApiResult<Json<serde_json::Value>> {
    set_disabled(d, pair, body, false).await
}
