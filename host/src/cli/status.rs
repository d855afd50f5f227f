//! `tandem status`: per pair, the last run, links, pending conflicts and,
//! for pairs with a day ledger, the days and the elements waiting to sync.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt as _;
use jiff::civil::Date;
use serde::Serialize;
use tandem_core::engine::{Period, day_of};
use tandem_core::store::{DayStatus, LedgerRow, RunRow, RunStatus, Side};
use tandem_core::{Change, ReadRequest};

use super::{days, output};
use crate::context::Context;
use crate::error::EXIT_OK;
use crate::manifest::PairEntry;

/// One pair's state, as `status --json` prints it.
#[derive(Serialize)]
struct PairStatus {
    pair: String,
    a: String,
    b: String,
    mode: &'static str,
    last_run: Option<RunRow>,
    links: usize,
    pending_conflicts: usize,
    /// For pairs with a day ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger: Option<LedgerStatus>,
}

/// Where a pair's days stand, and what waits to be synced.
#[derive(Serialize)]
struct LedgerStatus {
    field: String,
    time_zone: String,
    /// When the last completed run ended.
    last_sync: Option<jiff::Timestamp>,
    /// The first and last day synced (stale days included: they were synced).
    covered: Option<Period>,
    synced_days: u64,
    saved_events: u64,
    stale_days: Vec<Date>,
    failed_days: Vec<Date>,
    /// Elements to sync, polled from side A; `None` when polling failed.
    pending: Option<Pending>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_error: Option<String>,
}

/// What side A has that is not synced yet.
#[derive(Serialize)]
struct Pending {
    /// `source`: the source counted them per day (it reads by day);
    /// `full_read`: side A was read in full and its records counted by day.
    how: &'static str,
    /// Elements on days not synced (or failed).
    total: u64,
    days: Vec<PendingDay>,
    /// Records whose event time could not be read (never synced by day).
    undated: u64,
}

/// Elements waiting on one day.
#[derive(Serialize)]
struct PendingDay {
    day: Date,
    count: u64,
    status: DayStatus,
}

/// Prints the state of one pair or of every pair.
pub async fn status(ctx: &Context, pair: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let names: Vec<&str> = match pair {
        Some(p) => vec![ctx.manifest.pair(p).map(|_| p)?],
        None => ctx.manifest.pairs.keys().map(String::as_str).collect(),
    };
    let store = ctx.store().await?;
    let mut out = Vec::new();
    for name in names {
        let entry = ctx.manifest.pair(name)?;
        let (runs, _) = store.runs(Some(name), 1, 1).await?;
        let ledger = match entry.config.ledger {
            Some(_) => Some(ledger_status(ctx, entry).await?),
            None => None,
        };
        out.push(PairStatus {
            pair: name.to_owned(),
            a: entry.a.clone(),
            b: entry.b.clone(),
            mode: entry.config.mode.as_str(),
            last_run: runs.into_iter().next(),
            links: store.load_links(name).await?.len(),
            pending_conflicts: store.conflicts(name, true).await?.len(),
            ledger,
        });
    }
    if json {
        output::json(&out)?;
        return Ok(EXIT_OK);
    }
    if out.is_empty() {
        say!("{} declares no pairs", ctx.manifest.file);
    }
    for s in &out {
        print_pair(s);
    }
    Ok(EXIT_OK)
}

fn print_pair(s: &PairStatus) {
    say!("pair {} ({} -> {}, {})", s.pair, s.a, s.b, s.mode);
    match &s.last_run {
        None => say!("  last run: never"),
        Some(r) => {
            let ended = r
                .ended
                .map(output::time)
                .unwrap_or_else(|| "not yet".into());
            say!(
                "  last run: {} {} ({}), started {}, ended {ended}",
                r.id,
                r.status.as_str(),
                r.mode,
                output::time(r.started)
            );
            say!("  counts: {}", output::counts_brief(&r.counts));
            if !r.errors.is_empty() {
                let errors = output::plural(r.errors.len() as u64, "error");
                say!("  {errors} (tandem history show {})", r.id);
            }
        }
    }
    say!(
        "  links: {}, pending conflicts: {}",
        s.links,
        s.pending_conflicts
    );
    let Some(l) = &s.ledger else { return };
    say!("  day ledger: field {}, time zone {}", l.field, l.time_zone);
    say!(
        "  last sync: {}",
        l.last_sync
            .map(output::time)
            .unwrap_or_else(|| "never".into())
    );
    match l.covered {
        Some(p) => say!(
            "  covered period: {} ({} synced, {} saved)",
            days::period_text(p.from, p.to),
            output::plural(l.synced_days, "day"),
            output::plural(l.saved_events, "event")
        ),
        None => say!("  covered period: none"),
    }
    let list = |d: &[Date]| {
        d.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !l.stale_days.is_empty() {
        say!(
            "  stale days (new events not applied; tandem sync {} --day DAY --force): {}",
            s.pair,
            list(&l.stale_days)
        );
    }
    if !l.failed_days.is_empty() {
        say!("  failed days: {}", list(&l.failed_days));
    }
    match (&l.pending, &l.pending_error) {
        (Some(p), _) => {
            let mut line = format!("  pending: {} to sync", output::plural(p.total, "element"));
            let waiting: Vec<&PendingDay> = p
                .days
                .iter()
                .filter(|d| !matches!(d.status, DayStatus::Synced | DayStatus::Stale))
                .collect();
            if !waiting.is_empty() {
                let days: Vec<String> = waiting
                    .iter()
                    .map(|d| format!("{} ({})", d.day, d.count))
                    .collect();
                line.push_str(&format!(
                    " on {}: {}",
                    output::plural(waiting.len() as u64, "day"),
                    days.join(", ")
                ));
            }
            say!("{line}");
            if p.undated > 0 {
                say!(
                    "  {} without a readable event time (never synced by day)",
                    output::plural(p.undated, "record")
                );
            }
        }
        (None, Some(e)) => say!("  pending: unknown ({e})"),
        (None, None) => {}
    }
}

/// The ledger part of a pair's status, polling side A for pending elements.
async fn ledger_status(ctx: &Context, entry: &PairEntry) -> anyhow::Result<LedgerStatus> {
    let pair = &entry.config;
    let store = ctx.store().await?;
    let rows = store.ledger(&pair.name, Date::MIN, Date::MAX).await?;
    let was_synced = |r: &&LedgerRow| matches!(r.status, DayStatus::Synced | DayStatus::Stale);
    let covered = match (
        rows.iter().filter(was_synced).map(|r| r.day).min(),
        rows.iter().filter(was_synced).map(|r| r.day).max(),
    ) {
        (Some(from), Some(to)) => Some(Period { from, to }),
        _ => None,
    };
    let days_with = |status: DayStatus| -> Vec<Date> {
        rows.iter()
            .filter(|r| r.status == status)
            .map(|r| r.day)
            .collect()
    };
    let synced: Vec<&LedgerRow> = rows
        .iter()
        .filter(|r| r.status == DayStatus::Synced)
        .collect();
    let (pending, pending_error) = match pending(ctx, entry, &rows).await {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Ok(LedgerStatus {
        field: pair
            .ledger
            .as_ref()
            .map(|l| l.field.clone())
            .unwrap_or_default(),
        time_zone: days::zone_name(pair),
        last_sync: last_sync(ctx, &pair.name).await?,
        covered,
        synced_days: synced.len() as u64,
        saved_events: synced.iter().map(|r| r.events).sum(),
        stale_days: days_with(DayStatus::Stale),
        failed_days: days_with(DayStatus::Failed),
        pending,
        pending_error,
    })
}

/// When the pair's last completed sync ended (undo runs do not count).
async fn last_sync(ctx: &Context, pair: &str) -> anyhow::Result<Option<jiff::Timestamp>> {
    const LOOK_BACK: u64 = 50;
    let (runs, _) = ctx.store().await?.runs(Some(pair), 1, LOOK_BACK).await?;
    Ok(runs
        .iter()
        .find(|r| r.status == RunStatus::Completed && !r.dry_run && r.mode != "undo")
        .and_then(|r| r.ended))
}

/// Counts side A's elements per day not synced yet: the source's own
/// counts when it reads by day, else a full read of side A, each record
/// placed on its day in the pair's time zone.
async fn pending(ctx: &Context, entry: &PairEntry, rows: &[LedgerRow]) -> anyhow::Result<Pending> {
    let pair = &entry.config;
    let field = pair
        .ledger
        .as_ref()
        .map(|l| l.field.clone())
        .unwrap_or_default();
    let status: HashMap<Date, DayStatus> = rows.iter().map(|r| (r.day, r.status)).collect();
    let status_of = |d: Date| status.get(&d).copied().unwrap_or(DayStatus::NotSynced);
    let waits = |s: DayStatus| matches!(s, DayStatus::NotSynced | DayStatus::Failed);
    let a = ctx.endpoint(&entry.a).await?;
    let mut per_day: BTreeMap<Date, u64> = BTreeMap::new();
    let mut undated = 0;
    let how = if a.capabilities.days {
        let cursor = ctx.store().await?.cursor(&pair.name, Side::A).await?;
        for c in a
            .endpoint
            .source
            .pending(&pair.a_entity, cursor.as_ref())
            .await?
        {
            *per_day.entry(c.day).or_default() += c.count;
        }
        "source"
    } else {
        let tz = pair.day_zone();
        let request = ReadRequest::full(pair.a_entity.clone())
            .with_fields(pair.a_fields())
            .with_batch_size(pair.batch_size);
        let mut stream = a.endpoint.source.read(request).await?;
        while let Some(batch) = stream.next().await {
            for change in batch?.changes {
                let Change::Upsert(record) = change else {
                    continue;
                };
                let record = pair.canonical_a(record);
                if !pair.in_filter(&record) {
                    continue;
                }
                match record.get(&field).and_then(|v| day_of(v, &tz)) {
                    Some(day) if waits(status_of(day)) => *per_day.entry(day).or_default() += 1,
                    Some(_) => {}
                    None => undated += 1,
                }
            }
        }
        "full_read"
    };
    let days: Vec<PendingDay> = per_day
        .into_iter()
        .map(|(day, count)| PendingDay {
            day,
            count,
            status: status_of(day),
        })
        .collect();
    Ok(Pending {
        how,
        total: days
            .iter()
            .filter(|d| waits(d.status))
            .map(|d| d.count)
            .sum(),
        days,
        undated,
    })
}
