//! The REST resources under `/services/data/vNN.0/`: queries and their
//! locators, `describe`, `getUpdated`, `getDeleted`, upsert by external id
//! (one record, or a composite collection of at most 200) and composite
//! deletes.

use serde_json::{Map, Value, json};

use super::store::{Org, Reply, SYSTEM, error, minute, now, time};
use crate::dataverse::odata::{decode, option, query as options};

/// The most records of a composite collection.
pub const MAX_COLLECTION: usize = 200;

/// Runs one request on `rest`, the path after `/services/data/vNN.0/`.
pub fn dispatch(
    org: &mut Org,
    method: &str,
    rest: &str,
    query: Option<&str>,
    header: &dyn Fn(&str) -> Option<String>,
    body: &str,
) -> Reply {
    let opts = options(query);
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| decode(s, false))
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let batch = header("sforce-query-options")
        .and_then(|o| {
            o.trim()
                .strip_prefix("batchSize=")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(2000usize)
        .clamp(200, 2000);
    match (method, seg.as_slice()) {
        ("GET", [kind @ ("query" | "queryAll")]) => match option(&opts, "q") {
            Some(q) => org.query(q, *kind == "queryAll", batch),
            None => error(400, "MALFORMED_QUERY", "the q parameter is missing"),
        },
        ("GET", ["query" | "queryAll", locator]) => next_page(org, locator, batch),
        ("GET", ["sobjects", object, "describe"]) => describe(org, object),
        ("GET", ["sobjects", object, kind @ ("updated" | "deleted")]) => {
            replication(org, object, kind, &opts)
        }
        ("PATCH", ["sobjects", object, ext, value]) => upsert_one(org, object, ext, value, body),
        ("PATCH", ["composite", "sobjects", object, ext]) => upsert_many(org, object, ext, body),
        ("DELETE", ["composite", "sobjects"]) => delete_many(org, &opts),
        _ => error(404, "NOT_FOUND", "The requested resource does not exist"),
    }
}

fn next_page(org: &mut Org, locator: &str, batch: usize) -> Reply {
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    let (Some(rows), Ok(offset)) = (org.locators.remove(id), offset.parse::<usize>()) else {
        return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    let total = rows.len();
    org.page(id.to_owned(), rows, offset, batch, total)
}

fn describe(org: &Org, object: &str) -> Reply {
    let Some(obj) = org.objects.get(object) else {
        return not_found(object);
    };
    let mut fields: Vec<Value> = SYSTEM
        .iter()
        .map(|f| json!({"name": f, "type": if *f == "Id" { "id" } else { "datetime" }, "nillable": false, "createable": false, "updateable": false}))
        .collect();
    fields.extend(obj.fields.iter().map(|f| {
        json!({"name": f, "type": "string", "nillable": true, "createable": true, "updateable": true})
    }));
    (200, json!({"name": object, "fields": fields}))
}

fn not_found(object: &str) -> Reply {
    error(
        404,
        "NOT_FOUND",
        format!("The requested resource does not exist: sObject type '{object}' is not supported."),
    )
}

/// A replication date: ISO 8601, seconds ignored.
fn date(opts: &[(String, String)], name: &str) -> Result<jiff::Timestamp, Reply> {
    let v = option(opts, name)
        .ok_or_else(|| error(400, "MISSING_ARGUMENT", format!("{name} is required")))?;
    let t = super::parse_time(v).ok_or_else(|| {
        error(
            400,
            "INVALID_REPLICATION_DATE",
            format!("{name}: {v:?} is not a date"),
        )
    })?;
    Ok(minute(t))
}

/// `getUpdated` (30 days at most) and `getDeleted` (15 days at most).
fn replication(org: &Org, object: &str, kind: &str, opts: &[(String, String)]) -> Reply {
    let Some(obj) = org.objects.get(object) else {
        return not_found(object);
    };
    let (start, end) = match (date(opts, "start"), date(opts, "end")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let days = if kind == "updated" { 30 } else { 15 };
    if end < start || end.duration_since(start) > jiff::SignedDuration::from_hours(24 * days) {
        return error(
            400,
            "INVALID_REPLICATION_DATE",
            format!("the range from start to end must be positive and at most {days} days"),
        );
    }
    let covered = minute(now()).min(end);
    if kind == "updated" {
        let ids: Vec<&String> = obj
            .records
            .iter()
            .filter(|(_, r)| !r.deleted && r.modstamp >= start && r.modstamp < covered)
            .map(|(id, _)| id)
            .collect();
        return (200, json!({"ids": ids, "latestDateCovered": time(covered)}));
    }
    let deleted: Vec<Value> = obj
        .deleted_log
        .iter()
        .filter(|(_, at)| *at >= start && *at < covered && *at >= org.earliest_deleted)
        .map(|(id, at)| json!({"id": id, "deletedDate": time(*at)}))
        .collect();
    (
        200,
        json!({
            "deletedRecords": deleted,
            "earliestDateAvailable": time(org.earliest_deleted),
            "latestDateCovered": time(covered),
        }),
    )
}

/// `PATCH sobjects/Object/ExtField/value`: 201 when created, 204 when
/// updated.
fn upsert_one(org: &mut Org, object: &str, ext: &str, value: &str, body: &str) -> Reply {
    let fields: Map<String, Value> = match serde_json::from_str(body) {
        Ok(f) => f,
        Err(e) => return error(400, "JSON_PARSER_ERROR", e.to_string()),
    };
    if fields.get(ext).is_some_and(|v| *v != json!(value)) {
        return error(
            400,
            "INVALID_FIELD",
            format!("the value of {ext} in the body differs from the one in the URL"),
        );
    }
    match org.upsert(object, ext, value, &fields, now()) {
        Ok((id, true)) => (
            201,
            json!({"id": id, "success": true, "errors": [], "created": true}),
        ),
        Ok((_, false)) => (204, Value::Null),
        Err((code, message)) => error(400, &code, message),
    }
}

fn item_error(code: &str, message: &str) -> Value {
    json!({"success": false, "errors": [{"statusCode": code, "message": message, "fields": []}]})
}

fn rolled_back(id: Option<&str>) -> Value {
    let mut v = item_error(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
    );
    v["id"] = json!(id);
    v
}

/// `PATCH composite/sobjects/Object/ExtField`: one result per record, in
/// order; with `allOrNone`, nothing is kept when one fails.
fn upsert_many(org: &mut Org, object: &str, ext: &str, body: &str) -> Reply {
    let body: Value = match serde_json::from_str(body) {
        Ok(b) => b,
        Err(e) => return error(400, "JSON_PARSER_ERROR", e.to_string()),
    };
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let Some(records) = body["records"].as_array() else {
        return error(400, "INVALID_FIELD", "records is required");
    };
    if records.len() > MAX_COLLECTION {
        return error(
            400,
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"
            ),
        );
    }
    let before = org.objects.clone();
    let at = now();
    let mut results = Vec::with_capacity(records.len());
    let mut failed = false;
    for r in records {
        let fields = r.as_object().cloned().unwrap_or_default();
        let outcome = match (
            fields.get("attributes").and_then(|a| a["type"].as_str()),
            fields.get(ext),
        ) {
            (Some(t), _) if t != object => Err((
                "INVALID_TYPE".to_owned(),
                format!("the record is a {t}, not a {object}"),
            )),
            (_, Some(Value::String(v))) if !v.is_empty() => org.upsert(object, ext, v, &fields, at),
            (_, Some(Value::Number(n))) => org.upsert(object, ext, &n.to_string(), &fields, at),
            _ => Err((
                "MISSING_ARGUMENT".to_owned(),
                format!("{ext} not specified"),
            )),
        };
        results.push(match outcome {
            Ok((id, created)) => {
                json!({"id": id, "success": true, "errors": [], "created": created})
            }
            Err((code, message)) => {
                failed = true;
                item_error(&code, &message)
            }
        });
    }
    if failed && all_or_none {
        org.objects = before;
        for r in &mut results {
            if r["success"] == json!(true) {
                *r = rolled_back(r["id"].as_str());
            }
        }
    }
    (200, Value::Array(results))
}

/// `DELETE composite/sobjects?ids=...&allOrNone=true`.
fn delete_many(org: &mut Org, opts: &[(String, String)]) -> Reply {
    let ids: Vec<&str> = option(opts, "ids")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .collect();
    if ids.len() > MAX_COLLECTION {
        return error(
            400,
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"
            ),
        );
    }
    let all_or_none = option(opts, "allOrNone") == Some("true");
    let before = org.objects.clone();
    let at = now();
    let mut failed = false;
    let mut results: Vec<Value> = ids
        .iter()
        .map(|id| match org.delete(id, at) {
            Ok(()) => json!({"id": id, "success": true, "errors": []}),
            Err((code, message)) => {
                failed = true;
                let mut v = item_error(&code, &message);
                v["id"] = json!(id);
                v
            }
        })
        .collect();
    if failed && all_or_none {
        org.objects = before;
        for r in &mut results {
            if r["success"] == json!(true) {
                *r = rolled_back(r["id"].as_str());
            }
        }
    }
    (200, Value::Array(results))
}
