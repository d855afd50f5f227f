//! Days and months on the command line and in the API: `2024-08-01`,
//! `2024-08`, today in a pair's time zone, the days a sync names.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use tandem_core::engine::{PairConfig, Period};

use crate::error::config_error;

/// Parses a day written `YYYY-MM-DD` (for clap).
pub fn parse_day(s: &str) -> Result<Date, String> {
    s.trim()
        .parse::<Date>()
        .map_err(|_| format!("{s:?} is not a day; write it YYYY-MM-DD, e.g. 2024-08-01"))
}

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first: Date,
}

impl Month {
    /// The month holding a day.
    pub fn of(day: Date) -> Month {
        Month {
            first: day.first_of_month(),
        }
    }

    /// Its first day.
    pub fn first(self) -> Date {
        self.first
    }

    /// Its last day.
    pub fn last(self) -> Date {
        self.first.last_of_month()
    }

    /// How many days it has.
    pub fn len(self) -> u64 {
        self.first.days_in_month() as u64
    }

    /// Its days, in order.
    pub fn days(self) -> impl Iterator<Item = Date> {
        Period {
            from: self.first(),
            to: self.last(),
        }
        .days()
    }

    /// The month's name and year: `August 2024`.
    pub fn title(self) -> String {
        self.first.strftime("%B %Y").to_string()
    }
}

impl FromStr for Month {
    type Err = String;

    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("{s:?} is not a month; write it YYYY-MM, e.g. 2024-08");
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = m.parse().map_err(|_| bad())?;
        let first = Date::new(year, month, 1).map_err(|_| bad())?;
        Ok(Month { first })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first.strftime("%Y-%m"))
    }
}

/// Today in a time zone.
pub fn today(tz: &TimeZone) -> Date {
    jiff::Timestamp::now().to_zoned(tz.clone()).date()
}

/// The time zone of a pair's days, by name (`Europe/Rome`).
pub fn zone_name(pair: &PairConfig) -> String {
    pair.day_zone().iana_name().unwrap_or("UTC").to_owned()
}

/// The days a month resync covers: from the 1st up to today (in the pair's
/// time zone), or to the month's end for a past month.
pub fn month_up_to_today(month: Month, today: Date) -> anyhow::Result<Period> {
    if month.first() > today {
        return Err(config_error(format!(
            "--month {month}: the month has not started yet (today is {today})"
        )));
    }
    Ok(Period {
        from: month.first(),
        to: month.last().min(today),
    })
}

/// The days a sync names, if any: one day, a month up to today, or a range
/// (`from` and `to` together). They need a day ledger.
pub fn period(
    pair: &PairConfig,
    day: Option<Date>,
    month: Option<Month>,
    range: Option<(Date, Date)>,
) -> anyhow::Result<Option<Period>> {
    let period = match (day, month, range) {
        (Some(day), ..) => Period::day(day),
        (_, Some(month), _) => month_up_to_today(month, today(&pair.day_zone()))?,
        (_, _, Some((from, to))) if from > to => {
            return Err(config_error(format!("--from {from} is after --to {to}")));
        }
        (_, _, Some((from, to))) => Period { from, to },
        _ => return Ok(None),
    };
    if pair.ledger.is_none() {
        return Err(config_error(format!(
            "pair {} has no day ledger, so it cannot be synced by day: set ledger = {{ field = \"...\" }} in [pairs.{}]",
            pair.name, pair.name
        )));
    }
    Ok(Some(period))
}

/// A period as `2024-08-01..2024-08-31`, or one day as `2024-08-01`.
pub fn period_text(from: Date, to: Date) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}..{to}")
    }
}

/// A day as Panorama writes it: `01/08/2024`.
pub fn day_dmy(day: Date) -> String {
    day.strftime("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn months_parse_and_know_their_days() {
        let m: Month = "2024-02".parse().unwrap();
        assert_eq!(
            (m.first(), m.last(), m.len()),
            (date(2024, 2, 1), date(2024, 2, 29), 29)
        );
        assert_eq!(m.to_string(), "2024-02");
        assert_eq!(m.title(), "February 2024");
        assert_eq!(m.days().count(), 29);
        for bad in ["2024", "2024-13", "24-08", "2024-8", "august"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
        assert!(parse_day("2024-08-32").is_err());
        assert_eq!(parse_day("2024-08-01"), Ok(date(2024, 8, 1)));
    }

    #[test]
    fn a_month_resync_stops_at_today() {
        let aug: Month = "2024-08".parse().unwrap();
        let p = month_up_to_today(aug, date(2024, 8, 22)).unwrap();
        assert_eq!((p.from, p.to), (date(2024, 8, 1), date(2024, 8, 22)));
        let p = month_up_to_today(aug, date(2025, 1, 1)).unwrap();
        assert_eq!(p.to, date(2024, 8, 31));
        assert!(month_up_to_today(aug, date(2024, 7, 31)).is_err());
        assert_eq!(day_dmy(date(2024, 8, 1)), "01/08/2024");
        assert_eq!(
            period_text(date(2024, 8, 1), date(2024, 8, 1)),
            "2024-08-01"
        );
    }
}
