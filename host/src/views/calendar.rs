//! A month of a pair's day ledger, as `tandem calendar` and the API show it.

use std::collections::HashMap;

use jiff::civil::Date;
use serde::Serialize;
use tandem_core::store::DayStatus;

use super::days::{self, Month};
use crate::context::Context;
use crate::error::config_error;

/// One day of the month, as `calendar --json` prints it.
#[derive(Debug, Serialize)]
pub struct DayOut {
    pub day: Date,
    pub status: DayStatus,
    pub events: u64,
}

/// The month, as `calendar --json` prints it.
#[derive(Debug, Serialize)]
pub struct CalendarOut {
    pub pair: String,
    pub month: String,
    pub time_zone: String,
    pub today: Date,
    pub days: Vec<DayOut>,
    /// Days synced (green).
    pub synced: u64,
    pub days_in_month: u64,
}

/// A month of a pair's ledger (the current month in the pair's time zone
/// by default).
pub async fn month(ctx: &Context, pair: &str, month: Option<Month>) -> anyhow::Result<CalendarOut> {
    let config = &ctx.manifest.pair(pair)?.config;
    if config.ledger.is_none() {
        return Err(config_error(format!(
            "pair {pair} has no day ledger: set ledger = {{ field = \"...\" }} in [pairs.{pair}]"
        )));
    }
    let today = days::today(&config.day_zone());
    let month = month.unwrap_or(Month::of(today));
    let rows = ctx
        .store()
        .await?
        .ledger(pair, month.first(), month.last())
        .await?;
    let by_day: HashMap<Date, _> = rows.iter().map(|r| (r.day, r)).collect();
    let days: Vec<DayOut> = month
        .days()
        .map(|day| match by_day.get(&day) {
            Some(r) => DayOut {
                day,
                status: r.status,
                events: r.events,
            },
            None => DayOut {
                day,
                status: DayStatus::NotSynced,
                events: 0,
            },
        })
        .collect();
    Ok(CalendarOut {
        pair: pair.to_owned(),
        month: month.to_string(),
        time_zone: days::zone_name(config),
        today,
        synced: days
            .iter()
            .filter(|d| d.status == DayStatus::Synced)
            .count() as u64,
        days_in_month: month.len(),
        days,
    })
}
