//! A pair's schedule as `tandem schedule` and the API show and change it:
//! saved in the state store, or else the manifest's.

use serde::{Deserialize, Serialize};
use tandem_core::store::ScheduleRow;

use crate::context::Context;
use crate::error::config_error;
use crate::manifest::{Grid, Schedule, Triggers, duration_text, parse_duration};

/// A pair's schedule, as shown.
#[derive(Debug, Serialize)]
pub struct ScheduleOut {
    /// The pair.
    pub pair: String,
    /// `saved` (changed through the CLI, API or UI) or `manifest`.
    pub source: &'static str,
    /// Whether automatic syncs run.
    pub active: bool,
    /// The selected hours as entries: `["Mon-Fri 08-18"]`.
    pub grid: Vec<String>,
    /// The grid as 168 characters `0`/`1`, Monday 00-01 first.
    pub hours: String,
    /// How many one-hour slots are selected.
    pub slots: usize,
    /// A sync this many seconds after the daemon starts.
    pub after_start_secs: Option<u64>,
    /// A sync when this many seconds passed since the last one began.
    pub every_secs: Option<u64>,
    /// A sync when polling finds elements waiting.
    pub after_change: bool,
    /// No automatic sync after a failed run until a manual one succeeds.
    pub skip_after_error: bool,
    /// The time zone of the grid's hours.
    pub time_zone: String,
    /// When it was saved (`source = saved`).
    pub updated: Option<jiff::Timestamp>,
}

/// A change to a schedule: what is given replaces what is there.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleUpdate {
    /// The selected hours as entries (`["Mon-Fri 08-18"]`), replacing the grid.
    pub grid: Option<Vec<String>>,
    /// The grid as 168 characters `0`/`1`, replacing it.
    pub hours: Option<String>,
    /// Turns automatic syncs on or off.
    pub active: Option<bool>,
    /// Seconds after start; `0` turns it off.
    pub after_start_secs: Option<u64>,
    /// Seconds since the last sync; `0` turns it off.
    pub every_secs: Option<u64>,
    /// Sync when polling finds elements waiting.
    pub after_change: Option<bool>,
    /// No automatic sync after a failed run.
    pub skip_after_error: Option<bool>,
}

impl ScheduleUpdate {
    /// Applies the change; errors say which value is wrong.
    pub fn apply(self, mut s: Schedule) -> anyhow::Result<Schedule> {
        if self.grid.is_some() && self.hours.is_some() {
            return Err(config_error("give grid or hours, not both"));
        }
        if let Some(entries) = self.grid {
            s.grid = Grid::parse(&entries).map_err(|e| config_error(format!("grid: {e}")))?;
        }
        if let Some(bits) = self.hours {
            s.grid = Grid::from_bits(&bits).map_err(|e| config_error(format!("hours: {e}")))?;
        }
        if let Some(a) = self.active {
            s.active = a;
        }
        if let Some(secs) = self.after_start_secs {
            s.triggers.after_start_secs = (secs > 0).then_some(secs);
        }
        if let Some(secs) = self.every_secs {
            s.triggers.every_secs = (secs > 0).then_some(secs);
        }
        if let Some(c) = self.after_change {
            s.triggers.after_change = c;
        }
        if let Some(k) = self.skip_after_error {
            s.triggers.skip_after_error = k;
        }
        Ok(s)
    }
}

/// A duration option on the command line or in the API: `30s`, `5m`, `2h`,
/// or `off`.
pub fn duration_secs(text: &str) -> anyhow::Result<u64> {
    if matches!(text, "off" | "0") {
        return Ok(0);
    }
    parse_duration(text)
        .map(|d| d.as_secs())
        .map_err(config_error)
}

/// A pair's schedule now: saved, or else the manifest's; with where it came from.
pub async fn load(
    ctx: &Context,
    pair: &str,
) -> anyhow::Result<(Schedule, Option<jiff::Timestamp>)> {
    let entry = ctx.manifest.pair(pair)?;
    let Some(row) = ctx.store().await?.schedule(pair).await? else {
        return Ok((entry.schedule, None));
    };
    let grid = Grid::from_bits(&row.grid)
        .map_err(|e| anyhow::anyhow!("the saved schedule of pair {pair}: {e}"))?;
    let triggers: Triggers = serde_json::from_str(&row.triggers)
        .map_err(|e| anyhow::anyhow!("the saved triggers of pair {pair}: {e}"))?;
    Ok((
        Schedule {
            grid,
            active: row.active,
            triggers,
        },
        Some(row.updated),
    ))
}

/// Saves a pair's schedule.
pub async fn save(ctx: &Context, pair: &str, s: &Schedule) -> anyhow::Result<()> {
    ctx.manifest.pair(pair)?;
    let row = ScheduleRow {
        pair: pair.to_owned(),
        grid: s.grid.to_bits(),
        active: s.active,
        triggers: serde_json::to_string(&s.triggers)?,
        updated: jiff::Timestamp::now(),
    };
    Ok(ctx.store().await?.save_schedule(&row).await?)
}

/// Forgets a pair's saved schedule: it follows the manifest again.
pub async fn reset(ctx: &Context, pair: &str) -> anyhow::Result<()> {
    ctx.manifest.pair(pair)?;
    ctx.store().await?.delete_schedule(pair).await?;
    Ok(())
}

/// A pair's schedule as shown.
pub async fn show(ctx: &Context, pair: &str) -> anyhow::Result<ScheduleOut> {
    let (s, updated) = load(ctx, pair).await?;
    let config = &ctx.manifest.pair(pair)?.config;
    Ok(ScheduleOut {
        pair: pair.to_owned(),
        source: if updated.is_some() {
            "saved"
        } else {
            "manifest"
        },
        active: s.active,
        grid: s.grid.to_entries(),
        hours: s.grid.to_bits(),
        slots: s.grid.count(),
        after_start_secs: s.triggers.after_start_secs,
        every_secs: s.triggers.every_secs,
        after_change: s.triggers.after_change,
        skip_after_error: s.triggers.skip_after_error,
        time_zone: super::days::zone_name(config),
        updated,
    })
}

/// Seconds as `30s`, `5m`, or `off`.
pub fn secs_text(secs: Option<u64>) -> String {
    secs.map_or_else(
        || "off".to_owned(),
        |s| duration_text(std::time::Duration::from_secs(s)),
    )
}
