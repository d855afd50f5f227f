//! `/api/v1/openapi.json`: the API described as OpenAPI 3.0, by hand. A unit
//! test checks that it lists exactly the routes the router serves.

use axum::Json;
use serde_json::{Value, json};

/// A path parameter.
fn path_param(name: &str, kind: &str, about: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": about, "schema": { "type": kind } })
}

/// A query parameter.
fn query(name: &str, schema: Value, about: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": about, "schema": schema })
}

fn pair() -> Value {
    path_param("pair", "string", "the pair's name in the manifest")
}

fn run_id() -> Value {
    path_param("id", "integer", "the run's id")
}

/// An operation: summary, role, parameters, request body, success answer.
fn op(
    summary: &str,
    admin: bool,
    params: Vec<Value>,
    body: Option<Value>,
    ok: (&str, &str),
) -> Value {
    let role = if admin { "admin" } else { "viewer" };
    let mut responses = json!({
        ok.0: { "description": ok.1, "content": { "application/json": { "schema": { "type": "object" } } } },
        "401": { "$ref": "#/components/responses/Unauthorized" },
        "403": { "$ref": "#/components/responses/Forbidden" },
    });
    if params.iter().any(|p| p["in"] == "path") {
        responses["404"] = json!({ "$ref": "#/components/responses/Error" });
    }
    if admin || !params.is_empty() {
        responses["400"] = json!({ "$ref": "#/components/responses/Error" });
    }
    let mut o = json!({
        "summary": summary,
        "description": format!("Needs the role {role}."),
        "security": [{ "bearer": [] }],
        "parameters": params,
        "responses": responses,
    });
    if let Some(schema) = body {
        o["requestBody"] = json!({
            "required": false,
            "content": { "application/json": { "schema": schema } }
        });
    }
    o
}

fn object(props: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": props })
}

fn public(summary: &str, kind: &str) -> Value {
    json!({
        "summary": summary,
        "security": [],
        "responses": { "200": { "description": "ok", "content": { kind: { "schema": { "type": "string" } } } } }
    })
}

/// The document.
pub fn spec() -> Value {
    let day = json!({ "type": "string", "format": "date", "example": "2024-08-01" });
    let key_side = object(json!({
        "key": { "type": "string" },
        "side": { "type": "string", "enum": ["a", "b"] }
    }));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tandem daemon API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Everything the tandem CLI does, over HTTP. Send `Authorization: Bearer TOKEN`; tokens and their roles (admin: everything, viewer: read only) are in the manifest's [daemon.tokens]. No token or an unknown one is 401; a viewer calling an admin route is 403. Errors are {\"error\": \"...\"}."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": { "description": "the request cannot be done", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                "Unauthorized": { "description": "no token, or an unknown one", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                "Forbidden": { "description": "the token's role may not do this", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            },
            "schemas": {
                "Error": object(json!({ "error": { "type": "string" } }))
            }
        },
        "paths": {
            "/healthz": { "get": public("liveness: answers ok", "text/plain") },
            "/metrics": { "get": public("Prometheus metrics: runs by status, records applied, last success and pending elements per pair", "text/plain") },
            "/api/v1/openapi.json": { "get": public("this document", "application/json") },
            "/api/v1/me": { "get": op("the caller's token name and role", false, vec![], None, ("200", "name and role")) },
            "/api/v1/settings": {
                "get": op("the daemon's settings (polling interval)", false, vec![], None, ("200", "the settings")),
                "put": op("change the polling interval (kept across restarts)", true, vec![],
                    Some(object(json!({ "poll_interval": { "type": "string", "example": "5m" } }))), ("200", "the settings"))
            },
            "/api/v1/pairs": { "get": op("the pairs with their status, last poll and live run", false, vec![], None, ("200", "the pairs")) },
            "/api/v1/status": { "get": op("every pair's status (as tandem status --json, with the last poll and the live run)", false, vec![], None, ("200", "the pairs")) },
            "/api/v1/pairs/{pair}/status": { "get": op("one pair's status", false, vec![pair()], None, ("200", "the pair")) },
            "/api/v1/pairs/{pair}/poll": { "post": op("poll the pair now: the elements waiting to sync", true, vec![pair()], None, ("200", "the poll")) },
            "/api/v1/pairs/{pair}/calendar": { "get": op("a month of the pair's day ledger (as tandem calendar --json)", false,
                vec![pair(), query("month", json!({ "type": "string", "example": "2024-08" }), "YYYY-MM; the current month by default")], None, ("200", "the month")) },
            "/api/v1/pairs/{pair}/sync": { "post": op(
                "start a sync in the background: 202 with its run id; 200 with the report when there was nothing to do, it ended at once, or for a dry run; 409 when the pair runs already",
                true, vec![pair()],
                Some(object(json!({
                    "day": day, "month": { "type": "string", "example": "2024-08" },
                    "from": day, "to": day,
                    "force": { "type": "boolean" },
                    "mode": { "type": "string", "enum": ["two_way", "send", "receive", "full"] },
                    "dry_run": { "type": "boolean" }
                }))), ("202", "the run started")) },
            "/api/v1/pairs/{pair}/schedule": {
                "get": op("the pair's schedule (saved, or the manifest's)", false, vec![pair()], None, ("200", "the schedule")),
                "put": op("change the schedule: what is given replaces what is there", true, vec![pair()],
                    Some(object(json!({
                        "grid": { "type": "array", "items": { "type": "string" }, "example": ["Mon-Fri 08-18"] },
                        "hours": { "type": "string", "description": "168 characters 0/1, Monday 00-01 first" },
                        "active": { "type": "boolean" },
                        "after_start_secs": { "type": "integer" },
                        "every_secs": { "type": "integer" },
                        "after_change": { "type": "boolean" },
                        "skip_after_error": { "type": "boolean" }
                    }))), ("200", "the schedule"))
            },
            "/api/v1/pairs/{pair}/schedule/reset": { "post": op("back to the manifest's schedule", true, vec![pair()], None, ("200", "the schedule")) },
            "/api/v1/pairs/{pair}/window": { "get": op("the sync window: the six categories (conflict, new, deleted, disabled, synchronized, inactive) with counts and records", false, vec![pair()], None, ("200", "the window")) },
            "/api/v1/pairs/{pair}/conflicts": { "get": op("the records of one category (as tandem conflicts --category C --json)", false,
                vec![pair(), query("category", json!({ "type": "string", "enum": ["conflict", "new", "deleted", "disabled", "synchronized", "inactive", "changed_a", "changed_b", "merged"] }), "pending conflicts by default")],
                None, ("200", "the records")) },
            "/api/v1/pairs/{pair}/resolve": { "post": op("resolve a pending conflict by taking a side or a merged record", true, vec![pair()],
                Some(object(json!({
                    "key": { "type": "string" }, "id": { "type": "integer" },
                    "take": { "type": "string", "enum": ["a", "b"] },
                    "merged": { "type": "object" }
                }))), ("200", "resolved")) },
            "/api/v1/pairs/{pair}/link": { "post": op("pair two records by hand", true, vec![pair()],
                Some(object(json!({ "a_key": { "type": "string" }, "b_key": { "type": "string" } }))), ("200", "linked")) },
            "/api/v1/pairs/{pair}/unlink": { "post": op("unpair a record", true, vec![pair()], Some(key_side.clone()), ("200", "unlinked")) },
            "/api/v1/pairs/{pair}/disable": { "post": op("turn a record's sync off", true, vec![pair()], Some(key_side.clone()), ("200", "disabled")) },
            "/api/v1/pairs/{pair}/enable": { "post": op("turn a record's sync back on", true, vec![pair()], Some(key_side), ("200", "enabled")) },
            "/api/v1/history": { "get": op("the run history, newest first", false, vec![
                query("pair", json!({ "type": "string" }), "only this pair"),
                query("page", json!({ "type": "integer", "minimum": 1 }), "from 1"),
                query("per_page", json!({ "type": "integer", "enum": [10, 20, 50] }), "runs per page")
            ], None, ("200", "one page")) },
            "/api/v1/runs/{id}": { "get": op("one run with everything about it, and its live progress", false, vec![run_id()], None, ("200", "the run")) },
            "/api/v1/runs/{id}/stop": { "post": op("ask a running run to stop: it rolls back and ends stopped; 409 when not running", true, vec![run_id()], None, ("202", "stopping")) },
            "/api/v1/runs/{id}/undo": { "post": op("restore the targets as they were before a finished run", true, vec![run_id()],
                Some(object(json!({ "force": { "type": "boolean" } }))), ("200", "undone")) }
        }
    })
}

/// Serves the document.
pub async fn document() -> Json<Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::daemon::api::{API_ROUTES, PUBLIC_ROUTES};

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let doc = spec();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let routed: BTreeSet<(String, String)> = API_ROUTES
            .iter()
            .chain(PUBLIC_ROUTES)
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, routed);
        for (m, p) in API_ROUTES {
            let o = &doc["paths"][p][m];
            let admin = *m != "get";
            assert_eq!(
                o["description"].as_str().unwrap().contains("admin"),
                admin,
                "{m} {p}"
            );
        }
    }
}
