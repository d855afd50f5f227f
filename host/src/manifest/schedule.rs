//! A pair's schedule: the weekly grid of one-hour slots, written as day and
//! hour ranges, and the automatic triggers; durations such as `30s`, `5m`.
//!
//! ```toml
//! [pairs.events.schedule]
//! grid = ["Mon-Fri 08-18", "Sat 10"]   # hours 08:00-18:00 on weekdays, 10:00-11:00 on Saturday
//! active = true                        # false keeps the grid but runs nothing automatically
//! after_start = "30s"                  # one sync this long after the daemon starts
//! every = 15                           # minutes since the last sync (or "90s", "2h")
//! after_change = true                  # sync when polling finds elements waiting
//! skip_after_error = true              # no automatic sync after a failed run (the default)
//! ```
//!
//! A grid entry is `DAYS HOURS`: DAYS is a day (`Mon` ... `Sun`), a range
//! (`Mon-Fri`), a list (`Sat,Sun`) or `daily`; HOURS is an hour (`08`: 08:00
//! to 09:00), a range whose end is excluded (`08-18`), a list (`08,12,18`)
//! or `*` (all day). Hours are in the pair's time zone.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The names of the days, Monday first (the grid's order).
pub const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The weekly grid: 7 x 24 one-hour slots, Monday 00-01 first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grid(pub [[bool; 24]; 7]);

impl Grid {
    /// A grid from entries such as `"Mon-Fri 08-18"`.
    pub fn parse(entries: &[String]) -> Result<Grid, String> {
        let mut grid = Grid::default();
        for entry in entries {
            grid.add(entry)?;
        }
        Ok(grid)
    }

    /// Selects the slots of one entry.
    pub fn add(&mut self, entry: &str) -> Result<(), String> {
        let bad = |why: &str| {
            format!(
                "{entry:?}: {why}; write DAYS HOURS, e.g. \"Mon-Fri 08-18\", \"Sat,Sun 10\", \"daily *\""
            )
        };
        let mut words = entry.split_whitespace();
        let (Some(days), Some(hours), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad("expected a day part and an hour part"));
        };
        let days = parse_days(days).map_err(|e| bad(&e))?;
        let hours = parse_hours(hours).map_err(|e| bad(&e))?;
        for d in days {
            for &h in &hours {
                self.0[d][h] = true;
            }
        }
        Ok(())
    }

    /// The grid as 168 characters `0`/`1`, Monday 00-01 first (as stored).
    pub fn to_bits(self) -> String {
        self.0
            .iter()
            .flatten()
            .map(|&on| if on { '1' } else { '0' })
            .collect()
    }

    /// A grid from 168 characters `0`/`1`.
    pub fn from_bits(bits: &str) -> Result<Grid, String> {
        if bits.len() != 168 {
            return Err(format!(
                "the hours must be 168 characters 0 or 1 (7 days x 24 hours), not {}",
                bits.len()
            ));
        }
        let mut grid = Grid::default();
        for (i, b) in bits.bytes().enumerate() {
            grid.0[i / 24][i % 24] = match b {
                b'1' => true,
                b'0' => false,
                _ => return Err(format!("the hours hold {:?}; only 0 and 1", b as char)),
            };
        }
        Ok(grid)
    }

    /// Whether a slot is selected: `day` 0 is Monday.
    pub fn slot(&self, day: usize, hour: usize) -> bool {
        self.0[day % 7][hour % 24]
    }

    /// How many slots are selected.
    pub fn count(&self) -> usize {
        self.0.iter().flatten().filter(|&&on| on).count()
    }

    /// The grid as entries (`Mon-Fri 08-18`), the inverse of [`Grid::parse`]:
    /// days with the same hours are grouped.
    pub fn to_entries(self) -> Vec<String> {
        let hours: Vec<String> = self.0.iter().map(hour_text).collect();
        let mut entries = Vec::new();
        let mut d = 0;
        while d < 7 {
            let mut end = d;
            while end + 1 < 7 && hours[end + 1] == hours[d] {
                end += 1;
            }
            if !hours[d].is_empty() {
                let days = if d == 0 && end == 6 {
                    "daily".to_owned()
                } else if d == end {
                    DAYS[d].to_owned()
                } else {
                    format!("{}-{}", DAYS[d], DAYS[end])
                };
                entries.push(format!("{days} {}", hours[d]));
            }
            d = end + 1;
        }
        entries
    }
}

/// One day's selected hours as ranges: `08-18,20`, `*`, or empty.
fn hour_text(day: &[bool; 24]) -> String {
    if day.iter().all(|&on| on) {
        return "*".into();
    }
    let mut parts = Vec::new();
    let mut h = 0;
    while h < 24 {
        if !day[h] {
            h += 1;
            continue;
        }
        let start = h;
        while h < 24 && day[h] {
            h += 1;
        }
        parts.push(if h - start == 1 {
            format!("{start:02}")
        } else {
            format!("{start:02}-{h:02}")
        });
    }
    parts.join(",")
}

fn day_index(name: &str) -> Result<usize, String> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("unknown day {name:?} (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

fn parse_days(text: &str) -> Result<Vec<usize>, String> {
    if matches!(text.to_ascii_lowercase().as_str(), "daily" | "*") {
        return Ok((0..7).collect());
    }
    let mut days = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day_index(from)?, day_index(to)?);
                if from > to {
                    return Err(format!("{part:?}: the range goes backwards"));
                }
                days.extend(from..=to);
            }
            None => days.push(day_index(part)?),
        }
    }
    Ok(days)
}

fn hour(text: &str, max: usize) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|&h| h <= max)
        .ok_or_else(|| format!("{text:?} is not an hour 0-{max}"))
}

fn parse_hours(text: &str) -> Result<Vec<usize>, String> {
    if text == "*" {
        return Ok((0..24).collect());
    }
    let mut hours = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (hour(from, 23)?, hour(to, 24)?);
                if from >= to {
                    return Err(format!(
                        "{part:?}: the end hour is excluded, so it must be after the start"
                    ));
                }
                hours.extend(from..to);
            }
            None => hours.push(hour(part, 23)?),
        }
    }
    Ok(hours)
}

/// The longest duration a schedule or the daemon takes, in seconds: a
/// year (`8760h`). Longer is a mistake, and the scheduler's clock
/// arithmetic would overflow on far longer ones.
pub const LONGEST_SECS: u64 = 365 * 24 * 3600;

/// Parses a duration: a whole number with `s`, `m` or `h` (`30s`, `5m`,
/// `2h`), at most a year.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("{text:?} is not a duration; write e.g. \"30s\", \"5m\" or \"2h\"");
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "s" | "sec" | "secs" => Some(n),
        "m" | "min" | "mins" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => return Err(bad()),
    };
    match secs {
        Some(secs) if secs <= LONGEST_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "{text:?} is more than a year; write at most \"8760h\""
        )),
    }
}

/// A duration as the shortest text [`parse_duration`] reads back.
pub fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The automatic triggers and their condition (Resco's), as stored (JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triggers {
    /// One sync this many seconds after the daemon starts.
    pub after_start_secs: Option<u64>,
    /// A sync when this many seconds have passed since the last sync began.
    pub every_secs: Option<u64>,
    /// A sync when polling finds elements waiting.
    pub after_change: bool,
    /// No automatic sync while the last run failed (until a manual one succeeds).
    pub skip_after_error: bool,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            after_start_secs: None,
            every_secs: None,
            after_change: false,
            skip_after_error: true,
        }
    }
}

/// A pair's schedule: the grid, the active toggle and the triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schedule {
    /// The weekly grid.
    pub grid: Grid,
    /// Whether automatic syncs (slots and triggers) run; inactive keeps the rest.
    pub active: bool,
    /// The triggers.
    pub triggers: Triggers,
}

/// `[pairs.NAME.schedule]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    /// Selected hours: `["Mon-Fri 08-18", "Sat 10"]`.
    #[serde(default)]
    pub grid: Vec<String>,
    /// Whether automatic syncs run (default true).
    pub active: Option<bool>,
    /// A sync this long after the daemon starts: `"30s"`, `"5m"`.
    pub after_start: Option<String>,
    /// A sync when this long has passed since the last one: minutes (`15`)
    /// or a duration (`"90s"`).
    pub every: Option<Every>,
    /// A sync when polling finds elements waiting.
    pub after_change: Option<bool>,
    /// No automatic sync after a failed run until a manual one succeeds
    /// (default true).
    pub skip_after_error: Option<bool>,
}

/// `every`: minutes, or a duration.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "minutes (a whole number) or a duration such as \"90s\""
)]
pub enum Every {
    /// Minutes.
    Minutes(u64),
    /// A duration.
    Text(String),
}

impl ScheduleSection {
    /// The schedule; errors name the key (without the pair).
    pub fn into_schedule(self) -> Result<Schedule, String> {
        let grid = Grid::parse(&self.grid).map_err(|e| format!("schedule.grid: {e}"))?;
        let after_start = self
            .after_start
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| format!("schedule.after_start: {e}"))?;
        let every = match self.every {
            None => None,
            Some(Every::Minutes(m)) => match m.checked_mul(60) {
                Some(secs) if secs <= LONGEST_SECS => Some(Duration::from_secs(secs)),
                _ => {
                    return Err(format!(
                        "schedule.every: {m} minutes is more than a year; write at most 525600"
                    ));
                }
            },
            Some(Every::Text(t)) => {
                Some(parse_duration(&t).map_err(|e| format!("schedule.every: {e}"))?)
            }
        };
        if every.is_some_and(|d| d.is_zero()) {
            return Err("schedule.every: must be more than zero".into());
        }
        Ok(Schedule {
            grid,
            active: self.active.unwrap_or(true),
            triggers: Triggers {
                after_start_secs: after_start.map(|d| d.as_secs()),
                every_secs: every.map(|d| d.as_secs()),
                after_change: self.after_change.unwrap_or(false),
                skip_after_error: self.skip_after_error.unwrap_or(true),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(entries: &[&str]) -> Result<Grid, String> {
        Grid::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn entries_select_slots_and_read_back() {
        let g = grid(&["Mon-Fri 08-18", "Sat,Sun 10", "Wed 20-22"]).unwrap();
        assert!(g.slot(0, 8) && g.slot(4, 17) && !g.slot(4, 18) && !g.slot(0, 7));
        assert!(g.slot(5, 10) && g.slot(6, 10) && !g.slot(6, 11));
        assert_eq!(g.count(), 5 * 10 + 2 + 2);
        assert_eq!(
            g.to_entries(),
            vec![
                "Mon-Tue 08-18",
                "Wed 08-18,20-22",
                "Thu-Fri 08-18",
                "Sat-Sun 10"
            ]
        );
        assert_eq!(grid(&["daily *"]).unwrap().to_entries(), vec!["daily *"]);
        let again = Grid::parse(&g.to_entries()).unwrap();
        assert_eq!(again, g);
        assert_eq!(Grid::from_bits(&g.to_bits()).unwrap(), g);
        assert_eq!(g.to_bits().len(), 168);
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (entry, says) in [
            ("Mon", "expected a day part and an hour part"),
            ("Funday 08", "unknown day \"Funday\""),
            ("Mon 18-08", "must be after the start"),
            ("Mon 25", "not an hour"),
            ("Fri-Mon 08", "goes backwards"),
        ] {
            let err = grid(&[entry]).unwrap_err();
            assert!(err.contains(says), "{entry}: {err}");
        }
        assert!(Grid::from_bits("01").is_err());
    }

    #[test]
    fn durations_and_sections() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("5").is_err() && parse_duration("m").is_err());
        assert_eq!(duration_text(Duration::from_secs(300)), "5m");
        assert_eq!(duration_text(Duration::from_secs(90)), "90s");
        let s = ScheduleSection {
            grid: vec!["Mon 08".into()],
            every: Some(Every::Minutes(15)),
            after_start: Some("30s".into()),
            ..Default::default()
        }
        .into_schedule()
        .unwrap();
        assert!(s.active && s.grid.slot(0, 8));
        assert_eq!(s.triggers.every_secs, Some(900));
        assert_eq!(s.triggers.after_start_secs, Some(30));
        assert!(s.triggers.skip_after_error && !s.triggers.after_change);
        let err = ScheduleSection {
            every: Some(Every::Text("soon".into())),
            ..Default::default()
        }
        .into_schedule()
        .unwrap_err();
        assert!(err.starts_with("schedule.every: "), "{err}");
    }
}
