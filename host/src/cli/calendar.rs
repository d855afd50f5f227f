//! `tandem calendar`: a pair's day ledger as a month grid, Panorama's Calendar tab.

use std::io::IsTerminal;

use jiff::civil::{Date, Weekday};
use tandem_core::store::DayStatus;

use super::days::{self, Month};
use super::output;
use crate::context::Context;
use crate::error::EXIT_OK;
use crate::views::calendar::{self, CalendarOut, DayOut};

/// Prints a month of a pair's ledger (the current month by default).
pub async fn calendar(
    ctx: &Context,
    pair: &str,
    month: Option<Month>,
    json: bool,
) -> anyhow::Result<u8> {
    let out = calendar::month(ctx, pair, month).await?;
    if json {
        output::json(&out)?;
    } else {
        let month: Month = out.month.parse().map_err(anyhow::Error::msg)?;
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        for line in render(&out, month, color) {
            say!("{line}");
        }
    }
    Ok(EXIT_OK)
}

/// The mark that shows a day's status without colour.
fn mark(status: DayStatus) -> char {
    match status {
        DayStatus::Synced => '✓',
        DayStatus::NotSynced => '·',
        DayStatus::Stale => '!',
        DayStatus::Failed => '✗',
    }
}

/// The ANSI colour of a status: green, grey, yellow, red.
fn paint(status: DayStatus) -> &'static str {
    match status {
        DayStatus::Synced => "\x1b[32m",
        DayStatus::NotSynced => "\x1b[90m",
        DayStatus::Stale => "\x1b[33m",
        DayStatus::Failed => "\x1b[31m",
    }
}

const RESET: &str = "\x1b[0m";

/// One day's cell, five columns wide: ` 01✓ `, or `[22·]` for today.
fn cell(d: &DayOut, today: Date, color: bool) -> String {
    let text = format!("{:02}{}", d.day.day(), mark(d.status));
    let (open, close) = if d.day == today {
        ('[', ']')
    } else {
        (' ', ' ')
    };
    if color {
        let bold = if d.day == today { "\x1b[1m" } else { "" };
        format!(
            "{bold}{open}{}{text}{RESET}{bold}{close}{RESET}",
            paint(d.status)
        )
    } else {
        format!("{open}{text}{close}")
    }
}

/// The grid (Monday first, one week a row), then the synced days.
fn render(out: &CalendarOut, month: Month, color: bool) -> Vec<String> {
    let mut lines = vec![
        format!("pair {}: {} ({})", out.pair, month.title(), out.time_zone),
        " Mon   Tue   Wed   Thu   Fri   Sat   Sun".to_owned(),
    ];
    let lead = month.first().weekday().to_monday_zero_offset() as usize;
    let mut week: Vec<String> = vec!["     ".to_owned(); lead];
    for d in &out.days {
        week.push(cell(d, out.today, color));
        if d.day.weekday() == Weekday::Sunday {
            lines.push(week.join(" ").trim_end().to_owned());
            week.clear();
        }
    }
    if !week.is_empty() {
        lines.push(week.join(" ").trim_end().to_owned());
    }
    lines.push("✓ synced  · not synced  ! stale  ✗ failed  [ ] today".to_owned());
    lines.push(String::new());
    lines.push(format!(
        "{}/{} days synchronized",
        out.synced, out.days_in_month
    ));
    for status in [DayStatus::Synced, DayStatus::Stale, DayStatus::Failed] {
        let days: Vec<&DayOut> = out.days.iter().filter(|d| d.status == status).collect();
        if days.is_empty() {
            continue;
        }
        if status == DayStatus::Stale {
            lines.push(format!(
                "stale (new events not applied; tandem sync {} --day DAY --force):",
                out.pair
            ));
        } else if status == DayStatus::Failed {
            lines.push("failed:".to_owned());
        }
        for d in days {
            let dot = if color {
                format!("{}●{RESET}", paint(status))
            } else {
                mark(status).to_string()
            };
            lines.push(format!(
                "  {dot} {}  Saved: {}",
                days::day_dmy(d.day),
                d.events
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn month_out(statuses: &[(i8, DayStatus, u64)], today: Date) -> (CalendarOut, Month) {
        let month: Month = "2024-08".parse().unwrap();
        let days: Vec<DayOut> = month
            .days()
            .map(|day| {
                let (status, events) = statuses
                    .iter()
                    .find(|(d, ..)| *d == day.day())
                    .map(|(_, s, e)| (*s, *e))
                    .unwrap_or((DayStatus::NotSynced, 0));
                DayOut {
                    day,
                    status,
                    events,
                }
            })
            .collect();
        let out = CalendarOut {
            pair: "events".into(),
            month: month.to_string(),
            time_zone: "Europe/Rome".into(),
            today,
            synced: statuses.iter().filter(|s| s.1 == DayStatus::Synced).count() as u64,
            days_in_month: 31,
            days,
        };
        (out, month)
    }

    #[test]
    fn the_grid_starts_on_monday_and_marks_each_status() {
        let (out, month) = month_out(
            &[
                (1, DayStatus::Synced, 12),
                (2, DayStatus::Stale, 3),
                (5, DayStatus::Failed, 0),
            ],
            date(2024, 8, 22),
        );
        let lines = render(&out, month, false);
        assert_eq!(lines[0], "pair events: August 2024 (Europe/Rome)");
        // 1 August 2024 is a Thursday.
        assert_eq!(lines[2], "                   01✓   02!   03·   04·");
        assert_eq!(lines[3], " 05✗   06·   07·   08·   09·   10·   11·");
        assert!(
            lines[5].contains("[22·]"),
            "today is outlined: {}",
            lines[5]
        );
        assert!(lines.contains(&"1/31 days synchronized".to_owned()));
        assert!(lines.contains(&"  ✓ 01/08/2024  Saved: 12".to_owned()));
        assert!(lines.contains(&"  ! 02/08/2024  Saved: 3".to_owned()));
    }

    #[test]
    fn colour_keeps_the_marks() {
        let (out, month) = month_out(&[(1, DayStatus::Synced, 1)], date(2024, 8, 1));
        let lines = render(&out, month, true);
        assert!(lines[2].contains("\x1b[32m01✓"), "{:?}", lines[2]);
    }
}
