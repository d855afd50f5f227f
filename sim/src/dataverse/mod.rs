//! Dynamics 365 / Dataverse Web API (`PROTOCOLS.md`, "Dynamics 365 /
//! Dataverse Web API") under `/api/data/v9.2/`: change tracking with
//! `Prefer: odata.track-changes` (opaque skip tokens, a delta link on the
//! last page, changed rows first and deletions last), expired delta
//! tokens on demand, upserts by alternate key or id with `If-Match` and
//! `If-None-Match`, deletes by id (404 when gone), `$batch` with atomic
//! change sets of at most 1000 requests, `$filter` of `eq`/`and`/`or`,
//! errors as `{"error":{"code","message"}}`; tokens from the Microsoft
//! identity platform endpoint served by the same server, and the shared
//! failure switches (429 with `Retry-After`, malformed JSON, ...).
//!
//! Tables are schemaless: any column may be written. Empty strings are
//! stored as null, as Dataverse does.

mod batch;
mod delta;
pub(crate) mod odata;
mod ops;
mod store;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use crate::faults::{self, Faults};
use crate::oauth::{self, BearerGuard, Tokens};
use crate::server::{Running, serve};
use odata::KeyPredicate;
use store::{Answer, Org, Table, error};

/// The tenant the examples use; the token endpoint takes any.
pub const TENANT: &str = "contoso";

type Shared = Arc<Mutex<Org>>;

fn lock(org: &Shared) -> MutexGuard<'_, Org> {
    org.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running Dataverse organization and its control handle.
#[derive(Debug)]
pub struct DataverseSim {
    running: Running,
    org: Shared,
    /// Throttling, 503s, malformed JSON, queued errors, the request log.
    pub faults: Faults,
    /// The OAuth2 tokens (`POST /{tenant}/oauth2/v2.0/token` on the same
    /// server), with expiry on demand.
    pub tokens: Tokens,
}

impl DataverseSim {
    /// Starts an organization on a random loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::on_port(0).await
    }

    /// Starts an organization on a given loopback port (`0`: random).
    pub async fn on_port(port: u16) -> std::io::Result<Self> {
        let org: Shared = Arc::new(Mutex::new(Org::new(String::new())));
        let faults = Faults::new(
            json!({"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}),
            "x-ms-service-request-id",
        );
        let tokens = Tokens::new();
        let guard = BearerGuard {
            tokens: tokens.clone(),
            unauthorized: json!({"error": {"code": "0x80072560", "message": "The access token is missing, expired or not valid."}}),
        };
        let api = Router::new()
            .route("/api/data/{version}/{*rest}", any(handle))
            .with_state(org.clone())
            .layer(axum::middleware::from_fn_with_state(
                guard,
                oauth::require_bearer,
            ))
            .layer(axum::middleware::from_fn_with_state(
                faults.clone(),
                faults::apply,
            ));
        let router = api.merge(oauth::microsoft_routes(tokens.clone()));
        let running = serve(router, port).await?;
        lock(&org).url = running.url();
        Ok(DataverseSim {
            running,
            org,
            faults,
            tokens,
        })
    }

    /// The organization URL (`http://127.0.0.1:PORT`): the Web API is
    /// under `/api/data/v9.2/`, tokens come from
    /// `/{tenant}/oauth2/v2.0/token` (so it is the authority too).
    pub fn url(&self) -> String {
        self.running.url()
    }

    fn org(&self) -> MutexGuard<'_, Org> {
        lock(&self.org)
    }

    /// Adds an empty table: its entity set, primary id column and
    /// alternate keys (each a list of columns).
    pub fn add_table(&self, set: &str, id_col: &str, alt_keys: &[&[&str]]) -> &Self {
        let logical = id_col.strip_suffix("id").unwrap_or(id_col);
        let keys = alt_keys
            .iter()
            .map(|k| k.iter().map(|c| c.to_string()).collect())
            .collect();
        self.org()
            .tables
            .insert(set.to_owned(), Table::new(logical, id_col, keys));
        self
    }

    /// Declares the columns of a table (the key and id columns need not be
    /// named): writing another one is an error, as on Dataverse. Without
    /// it any column may be written.
    pub fn columns(&self, set: &str, columns: &[&str]) -> &Self {
        if let Some(t) = self.org().tables.get_mut(set) {
            let mut all: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            all.extend(t.alt_keys.iter().flatten().cloned());
            t.columns = Some(all);
        }
        self
    }

    /// Rows per page unless the client asks for fewer (default 5000).
    pub fn page_size(&self, n: usize) -> &Self {
        self.org().page_size = n.clamp(1, 5000);
        self
    }

    fn first_key(&self, set: &str, value: &str) -> KeyPredicate {
        let org = self.org();
        let table = org.tables.get(set).expect("a table added with add_table");
        let col = table.alt_keys[0][0].clone();
        KeyPredicate::Alternate(vec![(col, json!(value))])
    }

    /// Creates or updates the row whose first alternate key (one column)
    /// is `key`, with these fields, as a user of Dynamics would; returns
    /// its id.
    pub fn put(&self, set: &str, key: &str, fields: Value) -> String {
        let predicate = self.first_key(set, key);
        let body = fields.as_object().cloned().unwrap_or_default();
        let a = self.org().upsert(set, &predicate, body, &|_| None);
        assert!(a.status < 300, "put into {set}: {:?}", a.body);
        let entity_id = a
            .headers
            .iter()
            .find(|(n, _)| n == "OData-EntityId")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        entity_id
            .rsplit_once('(')
            .map(|(_, id)| id.trim_end_matches(')').to_owned())
            .unwrap_or_default()
    }

    /// Deletes the row whose first alternate key is `key`; `false` when
    /// there is none.
    pub fn remove(&self, set: &str, key: &str) -> bool {
        let predicate = self.first_key(set, key);
        self.org().delete(set, &predicate, "deleted").status == 204
    }

    /// The row leaves the set as a filter change would: the change feed
    /// reports it with reason `changed`.
    pub fn leave(&self, set: &str, key: &str) -> bool {
        let predicate = self.first_key(set, key);
        self.org().delete(set, &predicate, "changed").status == 204
    }

    /// The row whose first alternate key is `key`, as the Web API shows it.
    pub fn get(&self, set: &str, key: &str) -> Option<Value> {
        let predicate = self.first_key(set, key);
        let a = self.org().get(set, &predicate, &[]);
        (a.status == 200).then(|| a.body.unwrap_or_default())
    }

    /// Every row of a table, as the Web API shows it.
    pub fn rows(&self, set: &str) -> Vec<Value> {
        let org = self.org();
        let table = &org.tables[set];
        table
            .rows
            .iter()
            .map(|(id, r)| Org::render(table, id, r, None))
            .collect()
    }

    /// Every delta token handed out so far expires: following one answers
    /// "Version stamp associated with the client has expired".
    pub fn expire_delta_tokens(&self) -> &Self {
        let mut org = self.org();
        org.min_token = org.version + 1;
        self
    }
}

/// Every request under `/api/data/v9.x/`.
async fn handle(
    State(org): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let rest = path.splitn(5, '/').nth(4).unwrap_or_default().to_owned();
    let header_list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut org = lock(&org);
    if rest == "$batch" && method == Method::POST {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (status, content_type, body) = batch::run(&mut org, content_type, &text, execute_url);
        let mut response =
            (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert("content-type", v);
        }
        return response;
    }
    let answer = execute(
        &mut org,
        method.as_str(),
        &rest,
        uri.query(),
        &header_list,
        &text,
    );
    respond(answer)
}

/// Runs a request of a batch, whose URL may be absolute or relative.
fn execute_url(
    org: &mut Org,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &str,
) -> Answer {
    let (path, query) = url
        .split_once('?')
        .map_or((url, None), |(p, q)| (p, Some(q)));
    let rest = match path.find("/api/data/") {
        Some(i) => path[i..].splitn(5, '/').nth(4).unwrap_or_default(),
        None => path.trim_start_matches('/'),
    };
    execute(org, method, rest, query, headers, body)
}

/// Runs one request on `rest`, the path after the Web API root.
fn execute(
    org: &mut Org,
    method: &str,
    rest: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: &str,
) -> Answer {
    let header = |name: &str| -> Option<String> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let options = odata::query(query);
    let (set, key) = match odata::resource(&odata::decode(rest, false)) {
        Ok(r) => r,
        Err(m) => {
            return error(
                400,
                "0x80060888",
                format!("Bad Request - Error in query syntax: {m}"),
            );
        }
    };
    match (method, key) {
        ("GET", None) => {
            let prefer = header("prefer").unwrap_or_default();
            if prefer.contains("odata.track-changes") {
                delta::track(org, &set, &options, &prefer)
            } else {
                org.query(&set, &options)
            }
        }
        ("GET", Some(key)) => org.get(&set, &key, &options),
        ("PATCH", Some(key)) => match serde_json::from_str::<Map<String, Value>>(body) {
            Ok(fields) => org.upsert(&set, &key, fields, &header),
            Err(e) => error(
                400,
                "0x80048d19",
                format!(
                    "Error identified in Payload provided by the user for Entity :'{set}': {e}"
                ),
            ),
        },
        ("DELETE", Some(key)) => org.delete(&set, &key, "deleted"),
        _ => error(
            405,
            "0x80060888",
            format!("{method} is not supported on {rest:?}"),
        ),
    }
}

fn respond(a: Answer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match a.body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.0"));
    for (n, v) in a.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

/// `tandem-sim dataverse`: an organization with demo accounts.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: crate::cli::Common,
    /// Demo accounts to seed (table `accounts`, alternate key
    /// `accountnumber`).
    #[arg(long, default_value_t = 12)]
    accounts: u32,
}

/// Seeds `accounts` (id `accountid`, alternate key `accountnumber`) and
/// `contacts` (id `contactid`, alternate key `emailaddress1`).
pub fn seed_demo(sim: &DataverseSim, accounts: u32) {
    sim.add_table("accounts", "accountid", &[&["accountnumber"]]);
    sim.add_table("contacts", "contactid", &[&["emailaddress1"]]);
    let cities = ["Oslo", "Aarhus", "Malmö", "Turku", "Reykjavík"];
    for i in 1..=accounts {
        let city = cities[(i as usize) % cities.len()];
        sim.put(
            "accounts",
            &format!("ACC-{i:04}"),
            json!({"name": format!("Account {i}"), "address1_city": city, "revenue": 1000 * i, "telephone1": format!("+45 7000 {i:04}")}),
        );
    }
}

/// Serves a seeded organization until Ctrl-C.
pub async fn run(args: Args) -> std::io::Result<()> {
    let sim = DataverseSim::on_port(args.common.port).await?;
    args.common.apply(&sim.faults, &sim.tokens);
    seed_demo(&sim, args.accounts);
    let notes = [
        format!(
            "organization URL {} (Web API {}/api/data/v9.2/)",
            sim.url(),
            sim.url()
        ),
        format!(
            "tokens: POST {}/{TENANT}/oauth2/v2.0/token (authority {})",
            sim.url(),
            sim.url()
        ),
        format!(
            "client_id={} client_secret={}",
            args.common.client_id, args.common.client_secret
        ),
        format!(
            "{} accounts seeded (alternate key accountnumber); contacts empty (alternate key emailaddress1)",
            args.accounts
        ),
    ];
    let DataverseSim { running, .. } = sim;
    crate::cli::announce("dataverse", running, &notes).await;
    Ok(())
}
