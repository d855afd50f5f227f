//! A pair's state as the CLI and the API show it: last run, links, pending
//! conflicts and, for pairs with a day ledger, covered days and the elements
//! waiting to sync.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt as _;
use jiff::civil::Date;
use serde::Serialize;
use tandem_core::engine::{Period, day_of};
use tandem_core::store::{DayStatus, LedgerRow, RunRow, Side};
use tandem_core::{Change, ReadRequest};

use super::days::zone_name;
use crate::context::Context;
use crate::manifest::PairEntry;

/// One pair's state, as `status --json` prints it.
#[derive(Serialize)]
pub struct PairStatus {
    pub pair: String,
    pub a: String,
    pub b: String,
    pub mode: &'static str,
    pub last_run: Option<RunRow>,
    pub links: usize,
    pub pending_conflicts: usize,
    /// For pairs with a day ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerStatus>,
}

/// Where a pair's days stand, and what waits to be synced.
#[derive(Serialize)]
pub struct LedgerStatus {
    pub field: String,
    pub time_zone: String,
    /// When the last completed run ended.
    pub last_sync: Option<jiff::Timestamp>,
    /// The first and last day synced (stale days included: they were synced).
    pub covered: Option<Period>,
    pub synced_days: u64,
    pub saved_events: u64,
    pub stale_days: Vec<Date>,
    pub failed_days: Vec<Date>,
    /// Elements to sync, polled from side A; `None` when polling failed.
    pub pending: Option<Pending>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_error: Option<String>,
}

/// What side A has that is not synced yet.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    /// `source`: the source counted them per day (it reads by day);
    /// `full_read`: side A was read in full and its records counted by day.
    pub how: &'static str,
    /// Elements on days not synced (or failed).
    pub total: u64,
    pub days: Vec<PendingDay>,
    /// Records whose event time could not be read (never synced by day).
    pub undated: u64,
}

/// Elements waiting on one day.
#[derive(Debug, Clone, Serialize)]
pub struct PendingDay {
    pub day: Date,
    pub count: u64,
    pub status: DayStatus,
}

/// The state of one pair. For a pair with a day ledger, side A is asked
/// for the elements waiting.
/// `ask_source: false` skips asking side A (the daemon polls it instead).
pub async fn pair_status(
    ctx: &Context,
    name: &str,
    ask_source: bool,
) -> anyhow::Result<PairStatus> {
    let entry = ctx.manifest.pair(name)?;
    let store = ctx.store().await?;
    let (runs, _) = store.runs(Some(name), 1, 1).await?;
    let ledger = match entry.config.ledger {
        Some(_) => Some(ledger_status(ctx, entry, ask_source).await?),
        None => None,
    };
    Ok(PairStatus {
        pair: name.to_owned(),
        a: entry.a.clone(),
        b: entry.b.clone(),
        mode: entry.config.mode.as_str(),
        last_run: runs.into_iter().next(),
        links: store.load_links(name).await?.len(),
        pending_conflicts: store.conflicts(name, true).await?.len(),
        ledger,
    })
}

/// The ledger part of a pair's status, polling side A for pending elements.
pub async fn ledger_status(
    ctx: &Context,
    entry: &PairEntry,
    ask_source: bool,
) -> anyhow::Result<LedgerStatus> {
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
    let (pending, pending_error) = match ask_source {
        false => (None, None),
        true => match pending(ctx, entry, &rows).await {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        },
    };
    Ok(LedgerStatus {
        field: pair
            .ledger
            .as_ref()
            .map(|l| l.field.clone())
            .unwrap_or_default(),
        time_zone: zone_name(pair),
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
pub async fn last_sync(ctx: &Context, pair: &str) -> anyhow::Result<Option<jiff::Timestamp>> {
    const LOOK_BACK: u64 = 50;
    let (runs, _) = ctx.store().await?.runs(Some(pair), 1, LOOK_BACK).await?;
    Ok(runs
        .iter()
        .find(|r| r.status.committed() && !r.dry_run && r.mode != "undo")
        .and_then(|r| r.ended))
}

/// Counts side A's elements per day not synced yet: the source's own
/// counts when it reads by day, else a full read of side A, each record
/// placed on its day in the pair's time zone.
pub async fn pending(
    ctx: &Context,
    entry: &PairEntry,
    rows: &[LedgerRow],
) -> anyhow::Result<Pending> {
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
