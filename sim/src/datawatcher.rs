//! The Data Watcher feed (`PROTOCOLS.md`, "Data Watcher feed"): days with
//! counts and the retention horizon, events by day after a sequence
//! number, a static bearer token (or OAuth2 tokens), and the shared
//! failure switches.
//!
//! The feed is append-only, as the protocol allows: an updated event is
//! appended again with a higher `seq` and the same `id`, and the older
//! entry stays, so readers must let the last one win.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{self, Faults};
use crate::oauth::{self, BearerGuard, Tokens};
use crate::server::{Running, serve};

/// The static token the simulator accepts unless told otherwise.
pub const TOKEN: &str = "dw-sim-token";

/// The largest `limit` the feed accepts.
pub const MAX_LIMIT: u64 = 5000;

#[derive(Debug, Default)]
struct Feed {
    /// Every entry, in `seq` order.
    log: Vec<Value>,
    /// Entries whose `seq` is taken but which are not visible yet.
    held: BTreeMap<u64, Value>,
    next_seq: u64,
    oldest_available: Option<Date>,
}

/// A running Data Watcher feed and its control handle.
#[derive(Debug)]
pub struct DataWatcherSim {
    running: Running,
    feed: Arc<Mutex<Feed>>,
    /// Throttling, 503s, malformed JSON, the request log.
    pub faults: Faults,
    /// The static token ([`TOKEN`]) and OAuth2 tokens (the Microsoft token
    /// endpoint is served too, for adapters behind an OAuth2 gateway).
    pub tokens: Tokens,
}

/// An event with every field of the protocol; `extra` fields (such as
/// `attributes`) are merged in.
pub fn event(id: &str, time: &str, status: &str, extra: Value) -> Value {
    let mut e = json!({
        "id": id,
        "time": time,
        "dataflow": "DF_ORDERS",
        "model": "M_TRANSFER",
        "node": "node-1",
        "status": status,
        "integrity": if status == "completed" { "ok" } else if status == "error" { "error" } else { "running" },
        "business_status": if status == "error" { "error" } else { "on_schedule" },
        "bytes": 1234,
        "files": 1,
        "attributes": {},
    });
    if let (Some(e), Value::Object(extra)) = (e.as_object_mut(), extra) {
        e.extend(extra);
    }
    e
}

impl DataWatcherSim {
    /// Starts a feed on a random loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::on_port(0).await
    }

    /// Starts a feed on a given loopback port (`0` for a random one).
    pub async fn on_port(port: u16) -> std::io::Result<Self> {
        let feed = Arc::new(Mutex::new(Feed {
            next_seq: 1,
            ..Default::default()
        }));
        let faults = Faults::new(
            json!({"error": {"code": "throttled", "message": "too many requests; retry later"}}),
            "x-request-id",
        );
        let tokens = Tokens::new();
        tokens.add_static(TOKEN);
        let guard = BearerGuard {
            tokens: tokens.clone(),
            unauthorized: json!({"error": {"code": "unauthorized", "message": "missing or invalid bearer token"}}),
        };
        let api = Router::new()
            .route("/api/v1/days", get(days))
            .route("/api/v1/events", get(events))
            .with_state(feed.clone())
            .layer(axum::middleware::from_fn_with_state(
                guard,
                oauth::require_bearer,
            ))
            .layer(axum::middleware::from_fn_with_state(
                faults.clone(),
                faults::apply,
            ));
        let router = api.merge(oauth::microsoft_routes(tokens.clone()));
        Ok(DataWatcherSim {
            running: serve(router, port).await?,
            feed,
            faults,
            tokens,
        })
    }

    /// The base URL (`http://127.0.0.1:PORT`); the feed is under `/api/v1/`.
    pub fn url(&self) -> String {
        self.running.url()
    }

    fn feed(&self) -> MutexGuard<'_, Feed> {
        self.feed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an event (see [`event`]) and returns its `seq`. A missing
    /// `day` is the UTC date of `time`. An event whose `id` is already in
    /// the feed is an update: it reappears with a higher `seq`.
    pub fn put(&self, event: Value) -> u64 {
        let mut feed = self.feed();
        let event = feed.number(event);
        let seq = event["seq"].as_u64().expect("numbered");
        feed.log.push(event);
        seq
    }

    /// Takes the next `seq` for an event that becomes visible only when
    /// [`DataWatcherSim::release`]d: an adapter that numbers an entry
    /// before its write commits, so that entries appear out of `seq`
    /// order.
    pub fn hold(&self, event: Value) -> u64 {
        let mut feed = self.feed();
        let event = feed.number(event);
        let seq = event["seq"].as_u64().expect("numbered");
        feed.held.insert(seq, event);
        seq
    }

    /// Makes a held entry visible, in its place in `seq` order.
    pub fn release(&self, seq: u64) {
        let mut feed = self.feed();
        let event = feed.held.remove(&seq).expect("an entry held");
        let at = feed
            .log
            .partition_point(|e| e["seq"].as_u64().unwrap_or(0) < seq);
        feed.log.insert(at, event);
    }

    /// Removes every entry of an event (as if it had never been).
    pub fn remove(&self, id: &str) {
        self.feed().log.retain(|e| e["id"] != id);
    }

    /// The cleaner: drops the days before `day`, which becomes
    /// `oldest_available`.
    pub fn clean_before(&self, day: Date) {
        let mut feed = self.feed();
        feed.log.retain(|e| day_of(e).is_some_and(|d| d >= day));
        feed.oldest_available = Some(day);
    }

    /// The current events: the last entry of each id, in `seq` order.
    pub fn events(&self) -> Vec<Value> {
        let feed = self.feed();
        let mut last: BTreeMap<&str, &Value> = BTreeMap::new();
        for e in &feed.log {
            last.insert(e["id"].as_str().unwrap_or_default(), e);
        }
        let mut out: Vec<Value> = last.into_values().cloned().collect();
        out.sort_by_key(|e| e["seq"].as_u64());
        out
    }

    /// The highest `seq` handed out so far.
    pub fn last_seq(&self) -> u64 {
        self.feed().next_seq - 1
    }
}

impl Feed {
    /// An event with the next `seq`, and its `day` (the UTC date of its
    /// `time`) when it has none.
    fn number(&mut self, mut event: Value) -> Value {
        let seq = self.next_seq;
        self.next_seq += 1;
        let obj = event.as_object_mut().expect("an event is a JSON object");
        obj.insert("seq".into(), json!(seq));
        if !obj.contains_key("day") {
            let day = obj
                .get("time")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string());
            obj.insert("day".into(), json!(day));
        }
        event
    }
}

fn day_of(e: &Value) -> Option<Date> {
    e.get("day")?.as_str()?.parse().ok()
}

fn bad_request(message: String) -> Response {
    let body = json!({"error": {"code": "bad_request", "message": message}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn parse_day(name: &str, value: Option<&str>) -> Result<Date, String> {
    let value = value.ok_or_else(|| format!("{name} is required (YYYY-MM-DD)"))?;
    value
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not a date (YYYY-MM-DD)"))
}

#[derive(Debug, Deserialize)]
struct DaysQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn days(State(feed): State<Arc<Mutex<Feed>>>, Query(q): Query<DaysQuery>) -> Response {
    let (from, to) = match (
        parse_day("from", q.from.as_deref()),
        parse_day("to", q.to.as_deref()),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(m), _) | (_, Err(m)) => return bad_request(m),
    };
    if from > to {
        return bad_request(format!("from {from} is after to {to}"));
    }
    let feed = feed.lock().unwrap_or_else(|e| e.into_inner());
    let mut per_day: BTreeMap<Date, (BTreeSet<&str>, u64)> = BTreeMap::new();
    for e in &feed.log {
        let Some(day) = day_of(e).filter(|d| from <= *d && *d <= to) else {
            continue;
        };
        let entry = per_day.entry(day).or_default();
        entry.0.insert(e["id"].as_str().unwrap_or_default());
        entry.1 = entry.1.max(e["seq"].as_u64().unwrap_or(0));
    }
    let days: Vec<Value> = per_day
        .into_iter()
        .map(|(day, (ids, last))| json!({"day": day.to_string(), "events": ids.len(), "last_seq": last}))
        .collect();
    let oldest = feed
        .oldest_available
        .or_else(|| feed.log.iter().filter_map(day_of).min());
    Json(json!({"days": days, "oldest_available": oldest.map(|d| d.to_string())})).into_response()
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    day: Option<String>,
    after_seq: Option<String>,
    limit: Option<String>,
}

async fn events(State(feed): State<Arc<Mutex<Feed>>>, Query(q): Query<EventsQuery>) -> Response {
    let day = match parse_day("day", q.day.as_deref()) {
        Ok(d) => d,
        Err(m) => return bad_request(m),
    };
    let number = |name: &str, v: Option<&str>, default: u64| match v {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| format!("{name}: {v:?} is not a whole number")),
    };
    let (after, limit) = match (
        number("after_seq", q.after_seq.as_deref(), 0),
        number("limit", q.limit.as_deref(), 500),
    ) {
        (Ok(a), Ok(l)) if (1..=MAX_LIMIT).contains(&l) => (a, l),
        (Ok(_), Ok(l)) => return bad_request(format!("limit: {l} is not within 1..={MAX_LIMIT}")),
        (Err(m), _) | (_, Err(m)) => return bad_request(m),
    };
    let feed = feed.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(oldest) = feed.oldest_available.filter(|o| day < *o) {
        let body = json!({"error": {"code": "day_expired", "message": format!("day {day} is older than oldest_available {oldest}: the cleaner removed its events")}});
        return (StatusCode::GONE, Json(body)).into_response();
    }
    let mut matching = feed
        .log
        .iter()
        .filter(|e| day_of(e) == Some(day) && e["seq"].as_u64().unwrap_or(0) > after);
    let page: Vec<Value> = matching.by_ref().take(limit as usize).cloned().collect();
    let more = matching.next().is_some();
    let next = page.last().and_then(|e| e["seq"].as_u64()).unwrap_or(after);
    Json(json!({"events": page, "next_after_seq": next, "more": more})).into_response()
}

/// `tandem-sim datawatcher`: a feed seeded with demo events.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: crate::cli::Common,
    /// The static bearer token the feed accepts.
    #[arg(long, default_value = TOKEN)]
    token: String,
    /// Seed events for this many days up to today (UTC).
    #[arg(long, default_value_t = 10)]
    days: u32,
    /// Events per seeded day.
    #[arg(long, default_value_t = 24)]
    events_per_day: u32,
    /// After this many seconds, today's running events complete: they
    /// reappear with higher sequence numbers (a synced day turns stale).
    #[arg(long, value_name = "SECONDS")]
    complete_after: Option<f64>,
}

/// Seeds demo events up to now: each hour of each day a transfer; those of
/// the last three hours are still running.
pub fn seed_demo(sim: &DataWatcherSim, days: u32, per_day: u32) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let flows = ["DF_ORDERS", "DF_INVOICES", "DF_STOCK"];
    for back in (0..days).rev() {
        let Ok(day) = today.checked_sub(jiff::Span::new().days(back)) else {
            continue;
        };
        for i in 0..per_day {
            let time = day.at((i % 24) as i8, ((i / 24) % 60) as i8, 0, 0);
            let time = time
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp());
            let Ok(time) = time else { continue };
            if time > jiff::Timestamp::now() {
                continue;
            }
            let recent = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
            let status = match (back, i % 11) {
                (0, _) if time > recent => "running",
                (_, 7) => "error",
                _ => "completed",
            };
            let flow = flows[(i as usize) % flows.len()];
            let extra = json!({
                "dataflow": flow,
                "node": format!("node-{}", i % 3 + 1),
                "bytes": 1000 + i as u64 * 37,
                "files": 1 + i % 4,
                "attributes": {"partner": format!("P{:03}", i % 7), "channel": "SFTP"},
            });
            sim.put(event(
                &format!("{day}-{i:04}"),
                &time.to_string(),
                status,
                extra,
            ));
        }
    }
}

/// Completes the running events after a while: each reappears completed
/// with the next sequence number.
async fn complete_later(feed: Arc<Mutex<Feed>>, delay: std::time::Duration) {
    tokio::time::sleep(delay).await;
    let mut feed = feed.lock().unwrap_or_else(|e| e.into_inner());
    let running: Vec<Value> = feed
        .log
        .iter()
        .filter(|e| e["status"] == "running")
        .cloned()
        .collect();
    for mut e in running {
        let seq = feed.next_seq;
        feed.next_seq += 1;
        e["seq"] = json!(seq);
        e["status"] = json!("completed");
        e["integrity"] = json!("ok");
        feed.log.push(e);
    }
    println!(
        "  running events completed (last seq {})",
        feed.next_seq - 1
    );
}

/// Serves a seeded feed until Ctrl-C.
pub async fn run(args: Args) -> std::io::Result<()> {
    let sim = DataWatcherSim::on_port(args.common.port).await?;
    args.common.apply(&sim.faults, &sim.tokens);
    sim.tokens.add_static(&args.token);
    seed_demo(&sim, args.days, args.events_per_day);
    let notes = [
        format!(
            "GET {}/api/v1/days?from=YYYY-MM-DD&to=YYYY-MM-DD",
            sim.url()
        ),
        format!(
            "GET {}/api/v1/events?day=YYYY-MM-DD&after_seq=0&limit=500",
            sim.url()
        ),
        format!("Authorization: Bearer {}", args.token),
        format!(
            "{} events seeded (last seq {})",
            sim.events().len(),
            sim.last_seq()
        ),
    ];
    let DataWatcherSim { running, feed, .. } = sim;
    if let Some(secs) = args.complete_after {
        let delay = std::time::Duration::try_from_secs_f64(secs).unwrap_or_default();
        tokio::spawn(complete_later(feed, delay));
    }
    crate::cli::announce("datawatcher", running, &notes).await;
    Ok(())
}
