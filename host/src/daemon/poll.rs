//! Polling: every `poll_interval`, each pair is asked what waits to be
//! synced (Panorama's red "Sync now"), and the answer is kept for the API.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::Daemon;
use crate::views::conflicts::dry_run;
use crate::views::status::{PendingDay, pending};

/// The store setting that keeps a polling interval set through the API (seconds).
pub const INTERVAL_SETTING: &str = "poll_interval_secs";

/// What the last poll of a pair found.
#[derive(Debug, Clone, Serialize)]
pub struct PollState {
    /// When it was polled.
    pub at: Timestamp,
    /// Elements waiting: for a pair with a day ledger, side A's elements on
    /// days not synced; for other pairs, the writes a sync would make.
    /// `None` when polling failed.
    pub pending: Option<u64>,
    /// How they were counted: `source` (the source counts per day),
    /// `full_read` (side A read and counted by day), `dry_run`.
    pub how: &'static str,
    /// Days with elements waiting, for pairs with a day ledger.
    pub days: Vec<PendingDay>,
    /// Why polling failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Polls until shutdown.
pub async fn run(d: Arc<Daemon>) {
    loop {
        let names: Vec<String> = match d.take_poll_request() {
            Some(list) if !list.is_empty() => list,
            _ => d.ctx.manifest.pairs.keys().cloned().collect(),
        };
        for name in names {
            if d.shutting_down() {
                return;
            }
            if d.live.contains(&name) {
                continue; // polled again when the run ends
            }
            let state = poll_pair(&d, &name).await;
            if let Some(e) = &state.error {
                tracing::warn!(pair = name.as_str(), "polling failed: {e}");
            }
            d.polls.lock().expect("polls poisoned").insert(name, state);
        }
        let every = d.poll_interval();
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = d.poll_now.notified() => {}
            _ = d.shutdown.notified() => return,
        }
    }
}

/// Asks one pair what waits.
pub async fn poll_pair(d: &Daemon, name: &str) -> PollState {
    let result = async {
        let entry = d.ctx.manifest.pair(name)?;
        if entry.config.ledger.is_some() {
            let rows = d
                .ctx
                .store()
                .await?
                .ledger(name, Date::MIN, Date::MAX)
                .await?;
            let p = pending(&d.ctx, entry, &rows).await?;
            Ok::<_, anyhow::Error>((p.total, p.how, p.days))
        } else {
            let report = dry_run(&d.ctx, name).await?;
            let c = &report.counts;
            let writes =
                c.created_a + c.created_b + c.updated_a + c.updated_b + c.deleted_a + c.deleted_b;
            Ok((writes.max(report.plan.len() as u64), "dry_run", Vec::new()))
        }
    }
    .await;
    match result {
        Ok((pending, how, days)) => PollState {
            at: Timestamp::now(),
            pending: Some(pending),
            how,
            days,
            error: None,
        },
        Err(e) => PollState {
            at: Timestamp::now(),
            pending: None,
            how: "failed",
            days: Vec::new(),
            error: Some(format!("{e:#}")),
        },
    }
}
