//! Salesforce REST (`PROTOCOLS.md`, "Salesforce REST"): the client
//! credentials token endpoint (`POST /services/oauth2/token`, no
//! `expires_in`, 401 `INVALID_SESSION_ID` once a token is revoked), SOQL
//! `query` and `queryAll` paged by `nextRecordsUrl`, `describe`,
//! `getUpdated` and `getDeleted` (seconds ignored, 30 and 15 days at
//! most, `earliestDateAvailable` moved on by a purge), upserts by external
//! id (one record, or composite collections of 200 with `allOrNone`),
//! composite deletes into the recycle bin, the daily API limit
//! (`Sforce-Limit-Info` on every answer, 403 `REQUEST_LIMIT_EXCEEDED` once
//! spent), and the shared failure switches.
//!
//! Objects declare the fields one may write; empty text is stored as null,
//! as Salesforce does.

mod routes;
mod soql;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Form, Json, Router};
use serde_json::{Map, Value, json};

use crate::faults::{self, Faults};
use crate::oauth::{self, BearerGuard, Tokens};
use crate::server::{Running, serve};
use store::{Org, Rec};

type Shared = Arc<Mutex<Org>>;

fn lock(org: &Shared) -> MutexGuard<'_, Org> {
    org.lock().unwrap_or_else(|e| e.into_inner())
}

/// An instant as Salesforce or a client writes it: RFC 3339, or with a
/// `+0000` offset.
pub(crate) fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = s.parse() {
        return Some(t);
    }
    let cut = s.len().checked_sub(5)?;
    if !(s.is_char_boundary(cut) && s.is_char_boundary(cut + 3)) {
        return None;
    }
    format!("{}:{}", &s[..cut + 3], &s[cut + 3..]).parse().ok()
}

/// A running Salesforce org and its control handle.
#[derive(Debug)]
pub struct SalesforceSim {
    running: Running,
    org: Shared,
    /// Throttling, 503s, malformed JSON, queued errors, the request log.
    pub faults: Faults,
    /// Who may get a token, and which tokens still work
    /// ([`Tokens::expire_all`] makes the next request answer 401
    /// `INVALID_SESSION_ID`).
    pub tokens: Tokens,
}

impl SalesforceSim {
    /// Starts an org on a random loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::on_port(0).await
    }

    /// Starts an org on a given loopback port (`0`: random).
    pub async fn on_port(port: u16) -> std::io::Result<Self> {
        let org: Shared = Arc::new(Mutex::new(Org::new()));
        let faults = Faults::new(
            json!([{"message": "Too many concurrent requests; retry later", "errorCode": "SERVER_UNAVAILABLE"}]),
            "sforce-request-id",
        );
        let tokens = Tokens::new();
        let guard = BearerGuard {
            tokens: tokens.clone(),
            unauthorized: json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        };
        let api = Router::new()
            .route("/services/data/{version}/{*rest}", any(handle))
            .with_state(org.clone())
            .layer(axum::middleware::from_fn_with_state(org.clone(), limits))
            .layer(axum::middleware::from_fn_with_state(
                guard,
                oauth::require_bearer,
            ))
            .layer(axum::middleware::from_fn_with_state(
                faults.clone(),
                faults::apply,
            ));
        let login = Router::new()
            .route("/services/oauth2/token", post(token))
            .with_state((tokens.clone(), org.clone()));
        let running = serve(api.merge(login), port).await?;
        lock(&org).url = running.url();
        Ok(SalesforceSim {
            running,
            org,
            faults,
            tokens,
        })
    }

    /// The My Domain URL (`http://127.0.0.1:PORT`), which the token answer
    /// also names as the `instance_url`.
    pub fn url(&self) -> String {
        self.running.url()
    }

    fn org(&self) -> MutexGuard<'_, Org> {
        lock(&self.org)
    }

    /// Adds an object whose ids start with `prefix` (three characters) and
    /// whose writable fields are `fields`.
    pub fn add_object(&self, name: &str, prefix: &str, fields: &[&str]) -> &Self {
        let object = store::SObject::new(prefix, fields);
        self.org().objects.insert(name.to_owned(), object);
        self
    }

    /// Creates or updates the record whose external id `ext` is `value`
    /// (a user's edit); returns its id.
    pub fn put(&self, object: &str, ext: &str, value: &str, fields: Value) -> String {
        self.put_at(object, ext, value, fields, store::now())
    }

    /// Like [`SalesforceSim::put`], with the `SystemModstamp` given (a
    /// change stamped at that time, or several sharing one stamp).
    pub fn put_at(
        &self,
        object: &str,
        ext: &str,
        value: &str,
        fields: Value,
        at: jiff::Timestamp,
    ) -> String {
        let fields = fields.as_object().cloned().unwrap_or_default();
        let (id, _) = self
            .org()
            .upsert(object, ext, value, &fields, at)
            .unwrap_or_else(|(c, m)| panic!("put into {object}: {c}: {m}"));
        id
    }

    /// Deletes (into the recycle bin) the record whose `ext` is `value`;
    /// `false` when there is none.
    pub fn remove(&self, object: &str, ext: &str, value: &str) -> bool {
        self.remove_at(object, ext, value, store::now())
    }

    /// Like [`SalesforceSim::remove`], with the `SystemModstamp` (and
    /// deletion date) given: a delete whose transaction set its stamp
    /// earlier than it committed.
    pub fn remove_at(&self, object: &str, ext: &str, value: &str, at: jiff::Timestamp) -> bool {
        let Some(id) = self.id_of(object, ext, value) else {
            return false;
        };
        self.org().delete(&id, at).is_ok()
    }

    fn id_of(&self, object: &str, ext: &str, value: &str) -> Option<String> {
        let org = self.org();
        org.objects
            .get(object)?
            .records
            .iter()
            .find(|(_, r)| !r.deleted && r.fields.get(ext) == Some(&json!(value)))
            .map(|(id, _)| id.clone())
    }

    /// The live record whose `ext` is `value`, with every field.
    pub fn get(&self, object: &str, ext: &str, value: &str) -> Option<Value> {
        let id = self.id_of(object, ext, value)?;
        let org = self.org();
        let rec = &org.objects[object].records[&id];
        Some(render_all(&org, object, &id, rec))
    }

    /// Every live record of an object, with every field.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let org = self.org();
        org.objects[object]
            .records
            .iter()
            .filter(|(_, r)| !r.deleted)
            .map(|(id, r)| render_all(&org, object, id, r))
            .collect()
    }

    /// Empties the recycle bin and purges the log of deletes up to now:
    /// `getDeleted` then says the earliest date available is the next
    /// minute (after every purged delete).
    pub fn purge_deletes(&self) -> &Self {
        let mut org = self.org();
        org.earliest_deleted = store::minute(store::now()) + jiff::SignedDuration::from_mins(1);
        for o in org.objects.values_mut() {
            o.records.retain(|_, r| !r.deleted);
            o.deleted_log.clear();
        }
        self
    }

    /// The daily API request limit (default 15000); requests past it are
    /// refused with 403 `REQUEST_LIMIT_EXCEEDED`. Resets the count.
    pub fn daily_limit(&self, limit: u64) -> &Self {
        let mut org = self.org();
        org.limit = limit;
        org.used = 0;
        self
    }

    /// API requests made so far and the daily limit.
    pub fn api_usage(&self) -> (u64, u64) {
        let org = self.org();
        (org.used, org.limit)
    }
}

fn render_all(org: &Org, object: &str, id: &str, rec: &Rec) -> Value {
    let mut fields: Vec<String> = store::SYSTEM.iter().map(|s| s.to_string()).collect();
    fields.extend(org.objects[object].fields.iter().cloned());
    org.render(object, id, rec, &fields)
}

/// `POST /services/oauth2/token` with the client credentials grant.
async fn token(
    State((tokens, org)): State<(Tokens, Shared)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let refuse = |code: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response()
    };
    if field("grant_type") != "client_credentials" {
        return refuse("unsupported_grant_type", "grant type not supported");
    }
    if !tokens.client_ok(field("client_id"), field("client_secret")) {
        return refuse("invalid_client", "invalid client credentials");
    }
    let url = lock(&org).url.clone();
    let issued_at = jiff::Timestamp::now().as_millisecond().to_string();
    Json(json!({
        "access_token": tokens.issue(),
        "instance_url": url,
        "id": format!("{url}/id/00DSIM000000001AAA/005SIM000000001AAA"),
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": "c2ltdWxhdGVk",
    }))
    .into_response()
}

/// Counts API requests against the daily limit, refuses them once it is
/// spent, and says the usage on every answer (`Sforce-Limit-Info`).
async fn limits(State(org): State<Shared>, request: Request, next: Next) -> Response {
    let (used, limit) = {
        let mut org = lock(&org);
        org.used += 1;
        (org.used, org.limit)
    };
    let mut response = if used > limit {
        let (status, body) = store::error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        );
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            Json(body),
        )
            .into_response()
    } else {
        next.run(request).await
    };
    if let Ok(v) = HeaderValue::from_str(&format!("api-usage={}/{limit}", used.min(limit))) {
        response.headers_mut().insert("sforce-limit-info", v);
    }
    response
}

/// Every request under `/services/data/vNN.0/`.
async fn handle(
    State(org): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rest = uri
        .path()
        .splitn(5, '/')
        .nth(4)
        .unwrap_or_default()
        .to_owned();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let text = String::from_utf8_lossy(&body);
    let (status, body) = routes::dispatch(
        &mut lock(&org),
        method.as_str(),
        &rest,
        uri.query(),
        &header,
        &text,
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if body.is_null() {
        status.into_response()
    } else {
        (status, Json(body)).into_response()
    }
}

/// `tandem-sim salesforce`: an org with demo accounts.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: crate::cli::Common,
    /// Demo accounts to seed (object `Account`, external id `Ext_Id__c`).
    #[arg(long, default_value_t = 12)]
    accounts: u32,
    /// The daily API request limit.
    #[arg(long, default_value_t = 15_000)]
    daily_limit: u64,
}

/// Seeds `Account` (external id `Ext_Id__c`; fields `Name`, `Phone`,
/// `BillingCity`, `AnnualRevenue`).
pub fn seed_demo(sim: &SalesforceSim, accounts: u32) {
    sim.add_object(
        "Account",
        "001",
        &["Ext_Id__c", "Name", "Phone", "BillingCity", "AnnualRevenue"],
    );
    let cities = ["Oslo", "Aarhus", "Malmö", "Turku", "Reykjavík"];
    for i in 1..=accounts {
        let mut fields = Map::new();
        fields.insert("Name".into(), json!(format!("Account {i}")));
        fields.insert("Phone".into(), json!(format!("+45 7000 {i:04}")));
        fields.insert(
            "BillingCity".into(),
            json!(cities[i as usize % cities.len()]),
        );
        fields.insert("AnnualRevenue".into(), json!(1000 * i));
        sim.put(
            "Account",
            "Ext_Id__c",
            &format!("ACC-{i:04}"),
            Value::Object(fields),
        );
    }
}

/// Serves a seeded org until Ctrl-C.
pub async fn run(args: Args) -> std::io::Result<()> {
    let sim = SalesforceSim::on_port(args.common.port).await?;
    args.common.apply(&sim.faults, &sim.tokens);
    sim.daily_limit(args.daily_limit);
    seed_demo(&sim, args.accounts);
    let notes = [
        format!(
            "My Domain and instance URL {} (REST {}/services/data/v61.0/)",
            sim.url(),
            sim.url()
        ),
        format!("tokens: POST {}/services/oauth2/token", sim.url()),
        format!(
            "client_id={} client_secret={}",
            args.common.client_id, args.common.client_secret
        ),
        format!(
            "{} accounts seeded (object Account, external id Ext_Id__c)",
            args.accounts
        ),
    ];
    let SalesforceSim { running, .. } = sim;
    crate::cli::announce("salesforce", running, &notes).await;
    Ok(())
}
