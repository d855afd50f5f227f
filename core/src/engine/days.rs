//! Days: which calendar day a record belongs to, and which days a run
//! applies, holds (already synced: changes make them stale) or ignores.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::record::Record;
use crate::store::{DayDetail, DayStatus, LedgerRow};
use crate::value::Value;

/// A pair's day ledger: the field holding each record's event time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// The field (A's name) with the event time.
    pub field: String,
    /// The IANA time zone days are computed in; the pair's when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// An inclusive range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
}

impl Period {
    /// One day.
    pub fn day(day: Date) -> Self {
        Period { from: day, to: day }
    }

    /// The days of the period, in order.
    pub fn days(self) -> impl Iterator<Item = Date> {
        let to = self.to;
        std::iter::successors(Some(self.from), |d| d.tomorrow().ok()).take_while(move |d| *d <= to)
    }

    /// Whether the period holds the day.
    pub fn contains(self, day: Date) -> bool {
        self.from <= day && day <= self.to
    }
}

/// The day of an event time: an instant in the zone, a date as it is, or
/// text holding either (RFC 3339, `YYYY-MM-DD HH:MM:SS` as civil time in the
/// zone, or `YYYY-MM-DD`).
pub fn day_of(value: &Value, tz: &TimeZone) -> Option<Date> {
    match value {
        Value::DateTime(t) => Some(t.to_zoned(tz.clone()).date()),
        Value::Date(d) => Some(*d),
        Value::Text(s) => {
            let s = s.trim();
            if let Ok(t) = s.parse::<jiff::Timestamp>() {
                return Some(t.to_zoned(tz.clone()).date());
            }
            if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
                return Some(dt.date());
            }
            s.parse::<Date>().ok()
        }
        _ => None,
    }
}

/// What a run does with the records of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayRole {
    /// Sync it.
    Apply,
    /// Already synced: a change makes it stale and is not applied.
    Hold,
    /// Outside the run's period: leave it alone.
    Ignore,
}

/// The days of one run of a pair with a ledger.
#[derive(Debug, Clone)]
pub struct DayScope {
    field: String,
    tz: TimeZone,
    period: Option<Period>,
    /// Days that are synced or stale and not forced.
    held: BTreeSet<Date>,
    /// Events read per applied day (side A).
    pub(super) events: BTreeMap<Date, u64>,
    /// Held days that have changes.
    pub(super) stale: BTreeSet<Date>,
    /// The ledger before the run.
    previous: BTreeMap<Date, (DayStatus, u64)>,
}

impl DayScope {
    /// The scope of a run: `period` (all days when `None`), with the
    /// ledger's synced and stale days held unless `force`.
    pub fn new(
        field: String,
        tz: TimeZone,
        period: Option<Period>,
        ledger: &[LedgerRow],
        force: bool,
    ) -> Self {
        let held = if force {
            BTreeSet::new()
        } else {
            ledger
                .iter()
                .filter(|r| matches!(r.status, DayStatus::Synced | DayStatus::Stale))
                .map(|r| r.day)
                .collect()
        };
        DayScope {
            field,
            tz,
            period,
            held,
            events: BTreeMap::new(),
            stale: BTreeSet::new(),
            previous: ledger
                .iter()
                .map(|r| (r.day, (r.status, r.events)))
                .collect(),
        }
    }

    /// The days of the period that the run will sync (not held).
    pub fn days_to_sync(&self) -> Vec<Date> {
        self.period
            .map(|p| p.days().filter(|d| !self.held.contains(d)).collect())
            .unwrap_or_default()
    }

    /// The period.
    pub fn period(&self) -> Option<Period> {
        self.period
    }

    /// The day of a record (pair names), if its event time can be read.
    pub fn day(&self, record: &Record) -> Option<Date> {
        record.get(&self.field).and_then(|v| day_of(v, &self.tz))
    }

    /// The event-time field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What the run does with a day.
    pub fn role(&self, day: Date) -> DayRole {
        match self.period {
            Some(p) if !p.contains(day) => DayRole::Ignore,
            _ if self.held.contains(&day) => DayRole::Hold,
            _ => DayRole::Apply,
        }
    }

    /// Counts an event read for an applied day.
    pub fn count(&mut self, day: Date) {
        *self.events.entry(day).or_default() += 1;
    }

    /// Marks a held day stale.
    pub fn mark_stale(&mut self, day: Date) {
        self.stale.insert(day);
    }

    /// The ledger rows this run sets: every applied day of the period (or
    /// with events, without a period) synced with its events, held days
    /// with changes stale.
    pub fn details(&self) -> Vec<DayDetail> {
        let mut days: BTreeMap<Date, DayDetail> = BTreeMap::new();
        let mut synced = |day: Date, events: u64| {
            days.insert(
                day,
                DayDetail {
                    day,
                    status: DayStatus::Synced,
                    events,
                    note: None,
                    previous: None,
                },
            );
        };
        match self.period {
            Some(p) => p
                .days()
                .filter(|d| !self.held.contains(d))
                .for_each(|d| synced(d, self.events.get(&d).copied().unwrap_or(0))),
            None => self.events.iter().for_each(|(d, n)| synced(*d, *n)),
        }
        for day in &self.stale {
            days.insert(
                *day,
                DayDetail {
                    day: *day,
                    status: DayStatus::Stale,
                    events: 0,
                    note: Some("the source has new or changed events for this synced day; resync it with force".into()),
                    previous: None,
                },
            );
        }
        days.into_values()
            .map(|mut d| {
                d.previous = self.previous.get(&d.day).copied();
                d
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_computed_in_the_time_zone() {
        let rome = TimeZone::get("Europe/Rome").unwrap();
        // 23:30 UTC on 31 July is 01:30 on 1 August in Rome (CEST).
        let t: jiff::Timestamp = "2024-07-31T23:30:00Z".parse().unwrap();
        assert_eq!(
            day_of(&Value::DateTime(t), &rome),
            Some(jiff::civil::date(2024, 8, 1))
        );
        assert_eq!(
            day_of(&Value::from("2024-07-31T23:30:00Z"), &TimeZone::UTC),
            Some(jiff::civil::date(2024, 7, 31))
        );
        assert_eq!(
            day_of(&Value::from("2024-08-02"), &rome),
            Some(jiff::civil::date(2024, 8, 2))
        );
    }

    #[test]
    fn period_lists_its_days() {
        let p = Period {
            from: jiff::civil::date(2024, 2, 27),
            to: jiff::civil::date(2024, 3, 1),
        };
        assert_eq!(p.days().count(), 4, "2024 is a leap year");
    }
}
