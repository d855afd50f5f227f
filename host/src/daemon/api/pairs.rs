//! Pairs: the list, status (with the last poll and the live run), the
//! calendar, the schedule, and the daemon's settings.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, ApiResult, Body, pair_entry};
use crate::daemon::Daemon;
use crate::daemon::auth::Caller;
use crate::daemon::poll::{INTERVAL_SETTING, PollState, poll_pair};
use crate::daemon::runner::LiveRun;
use crate::manifest::duration_text;
use crate::views::calendar::{self, CalendarOut};
use crate::views::days::Month;
use crate::views::schedule::{self, ScheduleOut, ScheduleUpdate, duration_secs};
use crate::views::status::{PairStatus, pair_status};

/// Who the token is: its name and role (the UI hides admin buttons from viewers).
pub async fn me(Extension(caller): Extension<Caller>) -> Json<serde_json::Value> {
    Json(json!({ "name": caller.name, "role": caller.role.as_str() }))
}

#[derive(Serialize)]
struct Settings {
    /// How often pairs are polled, e.g. `5m`.
    poll_interval: String,
    /// The same in seconds.
    poll_interval_secs: u64,
}

fn settings_of(d: &Daemon) -> Settings {
    let every = d.poll_interval();
    Settings {
        poll_interval: duration_text(every),
        poll_interval_secs: every.as_secs(),
    }
}

/// The daemon's settings.
pub async fn settings(State(d): State<Arc<Daemon>>) -> Json<impl Serialize> {
    Json(settings_of(&d))
}

/// `PUT /api/v1/settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// `30s`, `5m`, `1h`.
    poll_interval: Option<String>,
}

/// Changes the polling interval (kept in the store across restarts).
pub async fn put_settings(
    State(d): State<Arc<Daemon>>,
    Body(body): Body<SettingsBody>,
) -> ApiResult<Json<impl Serialize>> {
    if let Some(text) = body.poll_interval {
        let secs = duration_secs(&text)
            .map_err(|e| ApiError::bad_request(format!("poll_interval: {e}")))?;
        if secs == 0 {
            return Err(ApiError::bad_request(
                "poll_interval: must be more than zero",
            ));
        }
        d.ctx
            .store()
            .await?
            .set_setting(INTERVAL_SETTING, &secs.to_string())
            .await?;
        d.set_poll_interval(std::time::Duration::from_secs(secs));
    }
    Ok(Json(settings_of(&d)))
}

/// A pair as the API shows it: the status, the last poll, the live run.
#[derive(Serialize)]
pub struct PairView {
    #[serde(flatten)]
    status: PairStatus,
    /// What the last poll found (`pending > 0`: a red "Sync now").
    poll: Option<PollState>,
    /// The run going on in this daemon, with its progress.
    live: Option<LiveRun>,
    /// Whether the pair syncs by day.
    has_ledger: bool,
    /// Whether automatic syncs are on, and how many slots are selected.
    schedule: serde_json::Value,
}

async fn view(d: &Daemon, pair: &str) -> ApiResult<PairView> {
    let entry = pair_entry(d, pair)?;
    let status = pair_status(&d.ctx, pair, false).await?;
    let (s, _) = schedule::load(&d.ctx, pair).await?;
    Ok(PairView {
        status,
        poll: d.polls.lock().expect("polls poisoned").get(pair).cloned(),
        live: d.live.get(pair),
        has_ledger: entry.config.ledger.is_some(),
        schedule: json!({ "active": s.active, "slots": s.grid.count() }),
    })
}

/// The pairs, with their status.
pub async fn list(State(d): State<Arc<Daemon>>) -> ApiResult<Json<Vec<PairView>>> {
    status_all(State(d)).await
}

/// Every pair's status.
pub async fn status_all(State(d): State<Arc<Daemon>>) -> ApiResult<Json<Vec<PairView>>> {
    let mut out = Vec::new();
    for name in d.ctx.manifest.pairs.keys() {
        out.push(view(&d, name).await?);
    }
    Ok(Json(out))
}

/// One pair's status.
pub async fn status(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
) -> ApiResult<Json<PairView>> {
    Ok(Json(view(&d, &pair).await?))
}

/// Polls a pair now and returns what waits.
pub async fn poll(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
) -> ApiResult<Json<PollState>> {
    pair_entry(&d, &pair)?;
    let state = poll_pair(&d, &pair).await;
    d.polls
        .lock()
        .expect("polls poisoned")
        .insert(pair, state.clone());
    Ok(Json(state))
}

/// `?month=YYYY-MM`.
#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// A month of the pair's day ledger.
pub async fn calendar(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Query(q): Query<MonthQuery>,
) -> ApiResult<Json<CalendarOut>> {
    pair_entry(&d, &pair)?;
    let month = q
        .month
        .as_deref()
        .map(|m| m.parse::<Month>().map_err(ApiError::bad_request))
        .transpose()?;
    Ok(Json(calendar::month(&d.ctx, &pair, month).await?))
}

/// The pair's schedule.
pub async fn schedule(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
) -> ApiResult<Json<ScheduleOut>> {
    pair_entry(&d, &pair)?;
    Ok(Json(schedule::show(&d.ctx, &pair).await?))
}

/// Changes the pair's schedule: what the body gives replaces what is there.
pub async fn put_schedule(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
    Body(update): Body<ScheduleUpdate>,
) -> ApiResult<Json<ScheduleOut>> {
    pair_entry(&d, &pair)?;
    let (current, _) = schedule::load(&d.ctx, &pair).await?;
    let next = update.apply(current)?;
    schedule::save(&d.ctx, &pair, &next).await?;
    Ok(Json(schedule::show(&d.ctx, &pair).await?))
}

/// Back to the manifest's schedule.
pub async fn reset_schedule(
    State(d): State<Arc<Daemon>>,
    Path(pair): Path<String>,
) -> ApiResult<Json<ScheduleOut>> {
    pair_entry(&d, &pair)?;
    schedule::reset(&d.ctx, &pair).await?;
    Ok(Json(schedule::show(&d.ctx, &pair).await?))
}
