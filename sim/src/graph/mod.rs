//! Microsoft Graph SharePoint list items (`PROTOCOLS.md`, "Microsoft Graph:
//! SharePoint lists"): items with `expand=fields(select=...)` paged by
//! `@odata.nextLink`, delta with next and delta links (every change logged,
//! so an item may appear more than once; deletions as the `deleted`
//! facet), 410 `resyncRequired` for expired delta tokens, create, update
//! with `If-Match` eTags (412 on mismatch) and delete; tokens from the
//! Microsoft identity platform endpoint, served by the same server.

mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use serde_json::{Map, Value, json};

use crate::faults::{self, Faults};
use crate::oauth::{self, BearerGuard, Tokens};
use crate::server::{Running, serve};

/// Fields SharePoint sets itself; writing them is an error.
pub const READ_ONLY: &[&str] = &["id", "Created", "Modified", "ContentType", "Attachments"];

#[derive(Debug, Clone)]
struct Item {
    fields: Map<String, Value>,
    version: u64,
    created: String,
    modified: String,
}

#[derive(Debug, Clone)]
enum Logged {
    /// The item as it was after the change.
    Changed(Value),
    Deleted(u64),
}

#[derive(Debug, Default)]
struct List {
    items: BTreeMap<u64, Item>,
    next_id: u64,
    /// The change log: entry `i` is change number `i + 1`.
    log: Vec<Logged>,
    /// Delta tokens carry it; expiring them moves it on, so that older
    /// tokens answer 410.
    generation: u64,
}

#[derive(Debug)]
struct Graph {
    lists: HashMap<(String, String), List>,
    page_size: usize,
    guid: String,
}

type Shared = Arc<Mutex<Graph>>;

fn lock(g: &Shared) -> MutexGuard<'_, Graph> {
    g.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

impl Graph {
    fn list(&mut self, site: &str, list: &str) -> Option<&mut List> {
        self.lists.get_mut(&(site.to_owned(), list.to_owned()))
    }

    fn etag(&self, id: u64, version: u64) -> String {
        format!("\"{}-{id:012},{version}\"", self.guid)
    }

    /// An item as Graph shows it, with its fields (only `select`ed ones
    /// when given).
    fn render(&self, id: u64, item: &Item, select: Option<&[String]>) -> Value {
        let etag = self.etag(id, item.version);
        let mut fields = Map::new();
        fields.insert("@odata.etag".into(), json!(etag));
        let mut all = item.fields.clone();
        all.insert("id".into(), json!(id.to_string()));
        all.insert("Created".into(), json!(item.created));
        all.insert("Modified".into(), json!(item.modified));
        all.insert("ContentType".into(), json!("Item"));
        for (k, v) in all {
            if select.is_none_or(|s| s.contains(&k)) {
                fields.insert(k, v);
            }
        }
        json!({
            "@odata.etag": etag,
            "id": id.to_string(),
            "eTag": etag,
            "createdDateTime": item.created,
            "lastModifiedDateTime": item.modified,
            "fields": fields,
        })
    }
}

impl List {
    fn version(&self) -> u64 {
        self.log.len() as u64
    }

    fn create(&mut self, fields: Map<String, Value>) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let at = now();
        let item = Item {
            fields: fields.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            version: 1,
            created: at.clone(),
            modified: at,
        };
        self.items.insert(id, item);
        id
    }

    fn update(&mut self, id: u64, fields: Map<String, Value>) -> bool {
        let Some(item) = self.items.get_mut(&id) else {
            return false;
        };
        for (k, v) in fields {
            if v.is_null() {
                item.fields.remove(&k);
            } else {
                item.fields.insert(k, v);
            }
        }
        item.version += 1;
        item.modified = now();
        true
    }
}

/// A running Graph and its control handle.
#[derive(Debug)]
pub struct GraphSim {
    running: Running,
    graph: Shared,
    /// Throttling, 503s, malformed JSON, the request log.
    pub faults: Faults,
    /// The tokens of the identity platform endpoint, and their expiry.
    pub tokens: Tokens,
}

impl GraphSim {
    /// Starts Graph (and its token endpoint) on a random loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::on_port(0).await
    }

    /// Starts Graph on a given loopback port (`0` for a random one).
    pub async fn on_port(port: u16) -> std::io::Result<Self> {
        let graph = Arc::new(Mutex::new(Graph {
            lists: HashMap::new(),
            page_size: 200,
            guid: format!("4c7a9d2e-{:04x}-4b1e-9f00", std::process::id() & 0xffff),
        }));
        let faults = Faults::new(
            json!({"error": {"code": "TooManyRequests", "message": "Too many requests. Please try again later.", "innerError": {}}}),
            "request-id",
        );
        let tokens = Tokens::new();
        let guard = BearerGuard {
            tokens: tokens.clone(),
            unauthorized: json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid.", "innerError": {}}}),
        };
        let api = routes::router(graph.clone())
            .layer(axum::middleware::from_fn_with_state(
                guard,
                oauth::require_bearer,
            ))
            .layer(axum::middleware::from_fn_with_state(
                faults.clone(),
                faults::apply,
            ));
        let router: Router = api.merge(oauth::microsoft_routes(tokens.clone()));
        Ok(GraphSim {
            running: serve(router, port).await?,
            graph,
            faults,
            tokens,
        })
    }

    /// The base URL (`http://127.0.0.1:PORT`): Graph is under `/v1.0/`,
    /// the token endpoint under `/{tenant}/oauth2/v2.0/token`.
    pub fn url(&self) -> String {
        self.running.url()
    }

    fn graph(&self) -> MutexGuard<'_, Graph> {
        lock(&self.graph)
    }

    /// Creates an empty list (again empty if it existed).
    pub fn create_list(&self, site: &str, list: &str) {
        self.graph()
            .lists
            .insert((site.to_owned(), list.to_owned()), List::default());
    }

    /// How many items a page holds (`$top` may ask for fewer).
    pub fn page_size(&self, n: usize) {
        self.graph().page_size = n.max(1);
    }

    /// Adds an item as a user would; returns its id.
    pub fn add_item(&self, site: &str, list: &str, fields: Value) -> String {
        create(&mut self.graph(), site, list, into_map(fields))
            .expect("the list exists")
            .to_string()
    }

    /// Changes fields of an item as a user would (null removes a field).
    pub fn update_item(&self, site: &str, list: &str, id: &str, fields: Value) {
        let id = id.parse().expect("an item id");
        assert!(
            update(&mut self.graph(), site, list, id, into_map(fields)),
            "item {id} exists"
        );
    }

    /// Deletes an item as a user would.
    pub fn delete_item(&self, site: &str, list: &str, id: &str) {
        let id = id.parse().expect("an item id");
        assert!(
            delete(&mut self.graph(), site, list, id),
            "item {id} exists"
        );
    }

    /// The fields of every item of a list, by id order (with `id`).
    pub fn items(&self, site: &str, list: &str) -> Vec<Value> {
        let mut g = self.graph();
        let Some(l) = g.list(site, list) else {
            return Vec::new();
        };
        l.items
            .iter()
            .map(|(id, item)| {
                let mut f = item.fields.clone();
                f.insert("id".into(), json!(id.to_string()));
                Value::Object(f)
            })
            .collect()
    }

    /// Every delta token handed out so far expires: using one answers 410
    /// `resyncRequired`.
    pub fn expire_delta_tokens(&self) {
        for list in self.graph().lists.values_mut() {
            list.generation += 1;
        }
    }
}

/// Creates an item and logs the change; `None` without the list.
fn create(g: &mut Graph, site: &str, list: &str, fields: Map<String, Value>) -> Option<u64> {
    let l = g.list(site, list)?;
    let id = l.create(fields);
    log_change(g, site, list, id);
    Some(id)
}

/// Changes an item and logs it; `false` without it.
fn update(g: &mut Graph, site: &str, list: &str, id: u64, fields: Map<String, Value>) -> bool {
    let done = g.list(site, list).is_some_and(|l| l.update(id, fields));
    if done {
        log_change(g, site, list, id);
    }
    done
}

/// Deletes an item and logs it; `false` without it.
fn delete(g: &mut Graph, site: &str, list: &str, id: u64) -> bool {
    let Some(l) = g.list(site, list) else {
        return false;
    };
    let done = l.items.remove(&id).is_some();
    if done {
        l.log.push(Logged::Deleted(id));
    }
    done
}

fn log_change(g: &mut Graph, site: &str, list: &str, id: u64) {
    let item = g.list(site, list).and_then(|l| l.items.get(&id).cloned());
    if let Some(item) = item {
        let shown = g.render(id, &item, None);
        if let Some(l) = g.list(site, list) {
            l.log.push(Logged::Changed(shown));
        }
    }
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("item fields are a JSON object"),
    }
}

/// `tandem-sim graph`: Graph with one list, seeded with demo items.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: crate::cli::Common,
    /// The site id.
    #[arg(long, default_value = "contoso")]
    site: String,
    /// The list id (or name).
    #[arg(long, default_value = "Customers")]
    list: String,
    /// Items per page.
    #[arg(long, default_value_t = 200)]
    page_size: usize,
    /// Leave the list empty instead of seeding demo customers.
    #[arg(long)]
    empty: bool,
}

/// Demo customers: `Code`, `Title`, `Country`, `Status`.
pub fn seed_demo(sim: &GraphSim, site: &str, list: &str) {
    let rows = [
        ("C001", "Nordlys ApS", "DK", "active"),
        ("C002", "Fjord AS", "NO", "active"),
        ("C003", "Sakura KK", "JP", "inactive"),
        ("C004", "Alpenglühen GmbH", "AT", "active"),
    ];
    for (code, title, country, status) in rows {
        sim.add_item(
            site,
            list,
            json!({"Code": code, "Title": title, "Country": country, "Status": status}),
        );
    }
}

/// Serves Graph until Ctrl-C.
pub async fn run(args: Args) -> std::io::Result<()> {
    let sim = GraphSim::on_port(args.common.port).await?;
    args.common.apply(&sim.faults, &sim.tokens);
    sim.create_list(&args.site, &args.list);
    sim.page_size(args.page_size);
    if !args.empty {
        seed_demo(&sim, &args.site, &args.list);
    }
    let url = sim.url();
    let notes = [
        format!(
            "GET {url}/v1.0/sites/{}/lists/{}/items?expand=fields",
            args.site, args.list
        ),
        format!(
            "tokens: POST {url}/{{tenant}}/oauth2/v2.0/token client_id={} client_secret={}",
            args.common.client_id, args.common.client_secret
        ),
        format!("{} items", sim.items(&args.site, &args.list).len()),
    ];
    let GraphSim { running, .. } = sim;
    crate::cli::announce("graph", running, &notes).await;
    Ok(())
}
