//! `tandem history` (pages of runs, newest first) and `tandem history show RUN`.

use tandem_core::store::{RunRow, RunStatus};

use super::{days, output};
use crate::context::Context;
use crate::error::EXIT_OK;
use crate::views::history::{self, HistoryPage};

/// Errors listed per run under the history table; `history show` lists all.
const ERRORS_LISTED: usize = 3;

/// A time to the second, without the zone (the table says UTC once).
fn short_time(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// A run's period, or `-` for a run that was not by day.
fn period(r: &RunRow) -> String {
    r.period
        .map(|(from, to)| days::period_text(from, to))
        .unwrap_or_else(|| "-".into())
}

/// Prints one page of the run history, newest first.
pub async fn list(
    ctx: &Context,
    pair: Option<&str>,
    page: u64,
    per_page: u64,
    json: bool,
) -> anyhow::Result<u8> {
    let out = history::page(ctx, pair, page, per_page).await?;
    if json {
        output::json(&out)?;
        return Ok(EXIT_OK);
    }
    let HistoryPage {
        pages, total, runs, ..
    } = out;
    say!(
        "page {page} of {pages} ({}, newest first, times in UTC)",
        output::plural(total, "run")
    );
    let mut rows = vec![
        [
            "run",
            "pair",
            "trigger",
            "mode",
            "status",
            "period",
            "started",
            "ended",
            "saved days",
            "saved events",
            "errors",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &runs {
        rows.push(vec![
            r.id.to_string(),
            r.pair.clone(),
            r.trigger.clone(),
            if r.dry_run {
                format!("{} (dry)", r.mode)
            } else {
                r.mode.clone()
            },
            r.status.as_str().to_owned(),
            period(r),
            short_time(r.started),
            r.ended.map(short_time).unwrap_or_else(|| "-".into()),
            r.saved_days.to_string(),
            r.saved_events.to_string(),
            r.errors.len().to_string(),
        ]);
    }
    for line in output::table(&rows) {
        say!("{line}");
    }
    for r in runs.iter().filter(|r| !r.errors.is_empty()) {
        say!("run {} errors:", r.id);
        for e in r.errors.iter().take(ERRORS_LISTED) {
            say!("  {}", output::run_error(e));
        }
        if r.errors.len() > ERRORS_LISTED {
            say!(
                "  ... {} more: tandem history show {}",
                r.errors.len() - ERRORS_LISTED,
                r.id
            );
        }
    }
    if page < pages {
        say!("next page: --page {}", page + 1);
    }
    Ok(EXIT_OK)
}

/// Prints everything about one run: counts per category, errors with
/// record keys, the days it covered.
pub async fn show(ctx: &Context, run_id: i64, json: bool) -> anyhow::Result<u8> {
    let r = history::find_run(ctx, run_id).await?;
    if json {
        output::json(&r)?;
        return Ok(EXIT_OK);
    }
    say!("run {} of pair {}", r.id, r.pair);
    let dry = if r.dry_run { " (dry run)" } else { "" };
    say!("  status:  {}", r.status.as_str());
    say!("  mode:    {}{dry}", r.mode);
    say!("  trigger: {}", r.trigger);
    say!("  period:  {}", period(&r));
    say!("  started: {}", output::time(r.started));
    match r.ended {
        Some(e) => say!(
            "  ended:   {} ({:.1} s)",
            output::time(e),
            e.duration_since(r.started).as_secs_f64()
        ),
        None => say!("  ended:   not yet"),
    }
    if r.status.is_active() {
        if let Some(owner) = &r.owner {
            say!("  process: {owner}");
        }
        if let Some(beat) = r.heartbeat {
            say!("  last heartbeat: {}", output::time(beat));
        }
        if r.status == RunStatus::Running {
            say!("  stop it with: tandem stop {}", r.id);
        }
    }
    say!(
        "  saved:   {}, {}",
        output::plural(r.saved_days, "day"),
        output::plural(r.saved_events, "event")
    );
    say!("  categories:");
    for line in output::category_lines(&r.counts) {
        say!("    {line}");
    }
    for line in output::write_lines(&r.counts) {
        say!("    {line}");
    }
    if r.errors.is_empty() {
        say!("  errors: none");
    } else {
        say!("  {}:", output::plural(r.errors.len() as u64, "error"));
        for e in &r.errors {
            say!("    {}", output::run_error(e));
        }
    }
    if !r.days.is_empty() {
        say!("  days:");
        let rows: Vec<Vec<String>> = r
            .days
            .iter()
            .map(|d| {
                vec![
                    format!("    {}", d.day),
                    d.status.as_str().to_owned(),
                    output::plural(d.events, "event"),
                    d.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        for line in output::table(&rows) {
            say!("{line}");
        }
    }
    Ok(EXIT_OK)
}
