//! Runs: sync (a day, a month, a range, or what changed), stop, undo, the
//! history and one run.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_core::engine::{Mode, RunOptions};

use super::{ApiError, ApiResult, Body, pair_entry};
use crate::daemon::{Daemon, StartError, Started, SyncRequest};
use crate::views::days::{self, Month};
use crate::views::history;

/// `POST /api/v1/pairs/{pair}/sync`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// One day, `YYYY-MM-DD`.
    day: Option<String>,
    /// A month, `YYYY-MM`: resynced from the 1st up to today (forced).
    month: Option<String>,
    /// The first day of a custom range.
    from: Option<String>,
    /// The last day of a custom range.
    to: Option<String>,
    /// Sync days already synced again; override the guards.
    #[serde(default)]
    force: bool,
    /// `two_way`, `send`, `receive` or `full` instead of the pair's mode.
    mode: Option<String>,
    /// Plan only: the report of what would change; nothing is written.
    #[serde(default)]
    dry_run: bool,
}

fn day(text: &Option<String>, what: &str) -> ApiResult<Option<Date>> {
    text.as_deref()
        .map(|t| days::parse_day(t).map_err(|e| ApiError::bad_request(format!("{what}: {e}"))))
        .transpose()
}

/// Starts a sync in the background: 202 with its run id; 200 with the
/// report when it had nothing to do or ended at once, or for a dry run.
pub async fn sync(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Body(body): Body<SyncBody>,
) -> ApiResult<Response> {
    let entry = pair_entry(&d, &pair)?;
    let month = body
        .month
        .as_deref()
        .map(|m| m.parse::<Month>().map_err(ApiError::bad_request))
        .transpose()?;
    let range = match (day(&body.from, "from")?, day(&body.to, "to")?) {
        (Some(f), Some(t)) => Some((f, t)),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("give both from and to")),
    };
    let single = day(&body.day, "day")?;
    let named = [single.is_some(), month.is_some(), range.is_some()];
    if named.iter().filter(|&&n| n).count() > 1 {
        return Err(ApiError::bad_request(
            "give one of day, month, or from and to",
        ));
    }
    let period = days::period(&entry.config, single, month, range)?;
    let mode = body
        .mode
        .as_deref()
        .map(|m| {
            Mode::parse(m).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "mode: unknown mode {m:?}, expected one of two_way, send, receive, full"
                ))
            })
        })
        .transpose()?;
    let force = body.force || month.is_some();
    if body.dry_run {
        let setup = d.ctx.pair(&pair).await?;
        let mut opts = RunOptions::new().dry_run(true).force(force);
        if let Some(p) = period {
            opts = opts.period(p);
        }
        if let Some(m) = mode {
            opts = opts.mode(m);
        }
        let report = d
            .ctx
            .engine()
            .await?
            .run(&setup.config, &setup.a, &setup.b, opts)
            .await?;
        return Ok(Json(json!({ "started": false, "report": report })).into_response());
    }
    let req = SyncRequest {
        trigger: "manual".into(),
        period,
        force,
        mode,
    };
    match d.start_sync(&pair, req).await {
        Ok(Started::Running(id)) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "started": true, "run_id": id, "pair": pair })),
        )
            .into_response()),
        Ok(Started::Finished(report)) => Ok(Json(json!({
            "started": report.run_id.is_some(),
            "run_id": report.run_id,
            "pair": pair,
            "report": report,
        }))
        .into_response()),
        Err(StartError::Busy(id)) => Err(ApiError::conflict(match id {
            Some(id) => format!("pair {pair} is running already (run {id})"),
            None => format!("pair {pair} is starting a run already"),
        })),
        Err(StartError::ShuttingDown) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down",
        )),
        Err(StartError::Failed(e)) => Err(e.into()),
    }
}

/// `GET /api/v1/history` query.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pair: Option<String>,
    #[serde(default = "one")]
    page: u64,
    #[serde(default = "ten")]
    per_page: u64,
}

fn one() -> u64 {
    1
}

fn ten() -> u64 {
    10
}

/// One page of the history, newest first (10, 20 or 50 a page).
pub async fn history(
    State(d): State<Arc<Daemon>>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<history::HistoryPage>> {
    if let Some(p) = &q.pair {
        pair_entry(&d, p)?;
    }
    if ![10, 20, 50].contains(&q.per_page) {
        return Err(ApiError::bad_request("per_page: 10, 20 or 50"));
    }
    if q.page == 0 {
        return Err(ApiError::bad_request("page: counts from 1"));
    }
    Ok(Json(
        history::page(&d.ctx, q.pair.as_deref(), q.page, q.per_page).await?,
    ))
}

/// One run with everything about it.
pub async fn run(State(d): State<Arc<Daemon>>, Path(id): Path<i64>) -> ApiResult<Response> {
    match d.ctx.store().await?.run(id).await? {
        Some(r) => {
            let live = d.live.get(&r.pair).filter(|l| l.run_id == Some(id));
            Ok(Json(json!({ "run": r, "live": live })).into_response())
        }
        None => Err(ApiError::not_found(format!("no run {id} in the history"))),
    }
}

#[derive(Serialize)]
struct Stopping {
    run_id: i64,
    pair: String,
    status: &'static str,
}

/// Asks a running run to stop (202): it stops at its next batch, rolls its
/// target back and ends `stopped`. 409 when it is not running.
pub async fn stop(State(d): State<Arc<Daemon>>, Path(id): Path<i64>) -> ApiResult<Response> {
    let store = d.ctx.store().await?;
    let Some(run) = store.run(id).await? else {
        return Err(ApiError::not_found(format!("no run {id} in the history")));
    };
    let asked = store.request_stop(id).await?;
    let ours = d.live.stop_run(id);
    if !asked && !ours {
        return Err(ApiError::conflict(format!(
            "run {id} of pair {} is not running (it is {})",
            run.pair,
            run.status.as_str()
        )));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Stopping {
            run_id: id,
            pair: run.pair,
            status: "stopping",
        }),
    )
        .into_response())
}

/// `POST /api/v1/runs/{id}/undo`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    /// Undo even though later runs changed the same records.
    #[serde(default)]
    force: bool,
}

/// Restores the targets as they were before a finished run.
pub async fn undo(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<i64>,
    Body(body): Body<UndoBody>,
) -> ApiResult<Json<history::UndoOut>> {
    let Some(run) = d.ctx.store().await?.run(id).await? else {
        return Err(ApiError::not_found(format!("no run {id} in the history")));
    };
    if d.live.contains(&run.pair) {
        return Err(ApiError::conflict(format!(
            "pair {} is running; undo when the run has ended",
            run.pair
        )));
    }
    let out = history::undo(&d.ctx, id, body.force).await?;
    d.request_poll(Some(&out.pair));
    Ok(Json(out))
}
