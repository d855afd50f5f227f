//! `tandem status`: per pair, the last run, links, pending conflicts and,
//! for pairs with a day ledger, the days and the elements waiting to sync.

use jiff::civil::Date;
use tandem_core::store::DayStatus;

use super::{days, output};
use crate::context::Context;
use crate::error::EXIT_OK;
use crate::views::status::{PairStatus, PendingDay, pair_status};

/// Prints the state of one pair or of every pair.
pub async fn status(ctx: &Context, pair: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let names: Vec<&str> = match pair {
        Some(p) => vec![ctx.manifest.pair(p).map(|_| p)?],
        None => ctx.manifest.pairs.keys().map(String::as_str).collect(),
    };
    let mut out = Vec::new();
    for name in names {
        out.push(pair_status(ctx, name, true).await?);
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
