//! The run history a page at a time, newest first, and undoing a run.

use std::collections::HashSet;

use anyhow::anyhow;
use serde::Serialize;
use tandem_core::store::{DayStatus, RunRow};

use crate::context::Context;

/// One page of history, as `history --json` prints it.
#[derive(Serialize)]
pub struct HistoryPage {
    /// The page, from 1.
    pub page: u64,
    /// Runs per page.
    pub per_page: u64,
    /// How many pages there are.
    pub pages: u64,
    /// How many runs there are.
    pub total: u64,
    /// This page's runs, newest first.
    pub runs: Vec<RunRow>,
}

/// One page of the run history (of one pair, or of all), newest first.
pub async fn page(
    ctx: &Context,
    pair: Option<&str>,
    page: u64,
    per_page: u64,
) -> anyhow::Result<HistoryPage> {
    if let Some(p) = pair {
        ctx.manifest.pair(p)?;
    }
    let per_page = per_page.max(1);
    let page = page.max(1);
    let (runs, total) = ctx.store().await?.runs(pair, page, per_page).await?;
    Ok(HistoryPage {
        page,
        per_page,
        pages: total.div_ceil(per_page).max(1),
        total,
        runs,
    })
}

/// A run by id, or an error saying there is none.
pub async fn find_run(ctx: &Context, run_id: i64) -> anyhow::Result<RunRow> {
    ctx.store()
        .await?
        .run(run_id)
        .await?
        .ok_or_else(|| anyhow!("no run {run_id} in the history"))
}

/// What an undo restored, as `undo --json` prints it.
#[derive(Serialize)]
pub struct UndoOut {
    /// The pair.
    pub pair: String,
    /// The run undone.
    pub undone: i64,
    /// The undo's own run.
    pub run_id: i64,
    /// Records restored on side A.
    pub restored_a: u64,
    /// Records restored on side B.
    pub restored_b: u64,
    /// Records the run created, now deleted again.
    pub deleted: Vec<String>,
    /// Records put back as they were before the run.
    pub restored: Vec<String>,
    /// Days the run synced, not synced any more.
    pub days: Vec<jiff::civil::Date>,
}

/// Restores the targets to their state before a run, from its journal.
/// Refuses when later runs changed the same records, unless `force`.
pub async fn undo(ctx: &Context, run_id: i64, force: bool) -> anyhow::Result<UndoOut> {
    let run = find_run(ctx, run_id).await?;
    let setup = ctx.pair(&run.pair).await?;
    let engine = ctx.engine().await?;
    let journal = engine.store().journal(run_id).await?;
    let report = engine
        .undo(&setup.config, &setup.a, &setup.b, run_id, force)
        .await?;
    // The first before-image of a key is what was put back.
    let mut seen = HashSet::new();
    let (mut deleted, mut restored) = (Vec::new(), Vec::new());
    for e in &journal {
        if seen.insert((e.side, e.key.clone())) {
            let name = format!("{} {}", e.side.as_str(), e.key);
            match e.before {
                Some(_) => restored.push(name),
                None => deleted.push(name),
            }
        }
    }
    Ok(UndoOut {
        pair: run.pair.clone(),
        undone: run_id,
        run_id: report.run_id,
        restored_a: report.restored[0],
        restored_b: report.restored[1],
        deleted,
        restored,
        days: run
            .days
            .iter()
            .filter(|d| d.status == DayStatus::Synced)
            .map(|d| d.day)
            .collect(),
    })
}
