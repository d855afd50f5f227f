//! The Graph routes of list items: read, delta, create, update, delete.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::{Graph, Logged, READ_ONLY, Shared, create, delete, lock, update};

pub(super) fn router(g: Shared) -> Router {
    let base = "/v1.0/sites/{site}/lists/{list}/items";
    Router::new()
        .route(base, get(list_items).post(create_item))
        .route(&format!("{base}/delta"), get(delta))
        .route(&format!("{base}/{{id}}"), get(get_item).delete(delete_item))
        .route(&format!("{base}/{{id}}/fields"), patch(patch_fields))
        .with_state(g)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": jiff::Timestamp::now().to_string(),
    }}});
    (status, Json(body)).into_response()
}

fn no_list() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "The specified list was not found",
    )
}

fn no_item() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "The resource could not be found.",
    )
}

type Q = Query<HashMap<String, String>>;

/// `expand=fields(select=A,B)`: whether fields are expanded, and which.
fn expand(q: &HashMap<String, String>) -> (bool, Option<Vec<String>>) {
    let Some(e) = q.get("expand").or_else(|| q.get("$expand")) else {
        return (false, None);
    };
    let e = e.trim();
    if e == "fields" {
        return (true, None);
    }
    match e
        .strip_prefix("fields(select=")
        .or_else(|| e.strip_prefix("fields($select="))
        .and_then(|s| s.strip_suffix(')'))
    {
        Some(list) => (
            true,
            Some(list.split(',').map(|f| f.trim().to_owned()).collect()),
        ),
        None => (false, None),
    }
}

/// The URL of this request with `$skiptoken` (and `token`, if given)
/// replaced.
fn link(headers: &HeaderMap, uri: &Uri, set: &[(&str, String)]) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut pairs: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split('=').next().unwrap_or("").replace("%24", "$");
            !set.iter().any(|(n, _)| *n == name)
        })
        .map(str::to_owned)
        .collect();
    pairs.extend(set.iter().map(|(n, v)| format!("{n}={v}")));
    format!("http://{host}{}?{}", uri.path(), pairs.join("&"))
}

fn with_select(mut item: Value, expanded: bool, select: Option<&[String]>) -> Value {
    if let Some(obj) = item.as_object_mut() {
        if !expanded {
            obj.remove("fields");
        } else if let (Some(Value::Object(fields)), Some(select)) = (obj.get_mut("fields"), select)
        {
            fields.retain(|k, _| k == "@odata.etag" || select.contains(k));
        }
    }
    item
}

fn page_size(g: &Graph, q: &HashMap<String, String>) -> usize {
    let top = q
        .get("$top")
        .or_else(|| q.get("top"))
        .and_then(|t| t.parse().ok());
    top.unwrap_or(g.page_size).clamp(1, 5000)
}

async fn list_items(
    State(g): State<Shared>,
    Path((site, list)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let mut g = lock(&g);
    let size = page_size(&g, &q);
    let after: u64 = q
        .get("$skiptoken")
        .and_then(|s| s.strip_prefix("p_ID-"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (expanded, select) = expand(&q);
    let Some(l) = g.list(&site, &list) else {
        return no_list();
    };
    let page: Vec<(u64, super::Item)> = l
        .items
        .range(after + 1..)
        .take(size + 1)
        .map(|(id, i)| (*id, i.clone()))
        .collect();
    let more = page.len() > size;
    let value: Vec<Value> = page
        .iter()
        .take(size)
        .map(|(id, item)| with_select(g.render(*id, item, None), expanded, select.as_deref()))
        .collect();
    let mut body = json!({"value": value});
    if more {
        let last = page[size - 1].0;
        body["@odata.nextLink"] = json!(link(
            &headers,
            &uri,
            &[("$skiptoken", format!("p_ID-{last}"))]
        ));
    }
    Json(body).into_response()
}

async fn delta(
    State(g): State<Shared>,
    Path((site, list)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let mut g = lock(&g);
    let size = page_size(&g, &q);
    let (_, select) = expand(&q);
    let Some(l) = g.list(&site, &list) else {
        return no_list();
    };
    let (generation, version) = (l.generation, l.version());
    let token = q.get("token").map(String::as_str);
    // `$skiptoken` = offset.upper: where this page starts, and the change
    // number the delta link will carry.
    let skip: Option<(usize, u64)> = q.get("$skiptoken").and_then(|s| {
        let (a, b) = s.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    });
    let delta_link = |v: u64| {
        clean(&link(
            &headers,
            &uri,
            &[("token", format!("{generation}.{v}"))],
        ))
    };
    let entries: Vec<Value>;
    let upper;
    match token {
        Some("latest") => {
            let body = json!({"value": [], "@odata.deltaLink": delta_link(version)});
            return Json(body).into_response();
        }
        None => {
            // The initial round: every current item.
            upper = skip.map_or(version, |s| s.1);
            entries = l
                .items
                .iter()
                .map(|(id, item)| (*id, item.clone()))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(id, item)| g.render(id, &item, None))
                .collect();
        }
        Some(t) => {
            let parsed = t
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
            let Some((_, since)) =
                parsed.filter(|(gen_, since)| *gen_ == generation && *since <= version)
            else {
                let location = link(&headers, &uri, &[]);
                let location = location.split('?').next().unwrap_or_default().to_owned();
                let body = json!({"error": {
                    "code": "resyncRequired",
                    "message": "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.",
                    "innerError": {"code": "resyncChangesApplyDifferences", "date": jiff::Timestamp::now().to_string()},
                }});
                let mut r = (StatusCode::GONE, Json(body)).into_response();
                if let Ok(v) = location.parse() {
                    r.headers_mut().insert("location", v);
                }
                return r;
            };
            upper = skip.map_or(version, |s| s.1);
            entries = l.log[since as usize..upper as usize]
                .iter()
                .map(|e| match e {
                    Logged::Changed(item) => item.clone(),
                    Logged::Deleted(id) => {
                        json!({"id": id.to_string(), "deleted": {"state": "deleted"}})
                    }
                })
                .collect();
        }
    }
    let offset = skip.map_or(0, |s| s.0);
    let page: Vec<Value> = entries
        .iter()
        .skip(offset)
        .take(size)
        .map(|e| with_select(e.clone(), true, select.as_deref()))
        .collect();
    let mut body = json!({"value": page});
    if offset + size < entries.len() {
        let next = link(
            &headers,
            &uri,
            &[("$skiptoken", format!("{}.{upper}", offset + size))],
        );
        body["@odata.nextLink"] = json!(next);
    } else {
        body["@odata.deltaLink"] = json!(delta_link(upper));
    }
    Json(body).into_response()
}

/// A link without empty query parts.
fn clean(url: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let parts: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("$skiptoken") && !p.starts_with("%24skiptoken"))
        .collect();
    format!("{path}?{}", parts.join("&"))
}

async fn get_item(
    State(g): State<Shared>,
    Path((site, list, id)): Path<(String, String, String)>,
    Query(q): Q,
) -> Response {
    let mut g = lock(&g);
    let (expanded, select) = expand(&q);
    let id: u64 = id.parse().unwrap_or(0);
    let Some(l) = g.list(&site, &list) else {
        return no_list();
    };
    let Some(item) = l.items.get(&id).cloned() else {
        return no_item();
    };
    Json(with_select(
        g.render(id, &item, None),
        expanded,
        select.as_deref(),
    ))
    .into_response()
}

fn read_only(fields: &Map<String, Value>) -> Option<Response> {
    let f = fields
        .keys()
        .find(|k| READ_ONLY.contains(&k.as_str()) || k.starts_with('@'))?;
    Some(error(
        StatusCode::BAD_REQUEST,
        "invalidRequest",
        &format!("Field '{f}' is read-only"),
    ))
}

async fn create_item(
    State(g): State<Shared>,
    Path((site, list)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    let Some(Value::Object(fields)) = body.and_then(|Json(b)| b.get("fields").cloned()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "The request body must hold the item's fields: {\"fields\": {...}}",
        );
    };
    if let Some(r) = read_only(&fields) {
        return r;
    }
    let mut g = lock(&g);
    let Some(id) = create(&mut g, &site, &list, fields) else {
        return no_list();
    };
    let item = g
        .list(&site, &list)
        .and_then(|l| l.items.get(&id).cloned())
        .expect("just created");
    (StatusCode::CREATED, Json(g.render(id, &item, None))).into_response()
}

/// Whether an `If-Match` header allows changing an item at `etag`.
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    let Some(v) = headers.get("if-match").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    v.trim() == "*" || norm(v) == norm(etag)
}

fn precondition_failed() -> Response {
    error(
        StatusCode::PRECONDITION_FAILED,
        "preconditionFailed",
        "The resource has changed since the caller last read it; usually an eTag mismatch",
    )
}

async fn patch_fields(
    State(g): State<Shared>,
    Path((site, list, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let Some(Json(Value::Object(fields))) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "The request body must be a JSON object of fields",
        );
    };
    if let Some(r) = read_only(&fields) {
        return r;
    }
    let mut g = lock(&g);
    let id: u64 = id.parse().unwrap_or(0);
    let Some(l) = g.list(&site, &list) else {
        return no_list();
    };
    let Some(version) = l.items.get(&id).map(|i| i.version) else {
        return no_item();
    };
    if !matches(&headers, &g.etag(id, version)) {
        return precondition_failed();
    }
    update(&mut g, &site, &list, id, fields);
    let item = g
        .list(&site, &list)
        .and_then(|l| l.items.get(&id).cloned())
        .expect("exists");
    Json(g.render(id, &item, None)["fields"].clone()).into_response()
}

async fn delete_item(
    State(g): State<Shared>,
    Path((site, list, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut g = lock(&g);
    let id: u64 = id.parse().unwrap_or(0);
    let Some(l) = g.list(&site, &list) else {
        return no_list();
    };
    let Some(version) = l.items.get(&id).map(|i| i.version) else {
        return no_item();
    };
    if !matches(&headers, &g.etag(id, version)) {
        return precondition_failed();
    }
    delete(&mut g, &site, &list, id);
    StatusCode::NO_CONTENT.into_response()
}
