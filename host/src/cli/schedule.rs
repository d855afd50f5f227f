//! `tandem schedule PAIR show|set|activate|deactivate|reset`: when the
//! daemon syncs a pair.

use clap::{Args, Subcommand};

use super::output;
use crate::context::Context;
use crate::error::EXIT_OK;
use crate::views::schedule::{self, ScheduleOut, ScheduleUpdate, duration_secs, secs_text};

/// `tandem schedule PAIR [ACTION]`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The pair.
    pair: String,
    /// What to do (show by default).
    #[command(subcommand)]
    action: Option<ScheduleAction>,
}

/// What `tandem schedule` does.
#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Shows the grid, the toggle and the triggers.
    Show {
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Changes the schedule; what is given replaces what is there.
    Set(SetArgs),
    /// Turns automatic syncs on.
    Activate,
    /// Turns automatic syncs off (the grid and triggers are kept).
    Deactivate,
    /// Forgets the changes: back to the manifest's schedule.
    Reset,
}

/// `tandem schedule PAIR set ...`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The selected hours, replacing the grid: `"Mon-Fri 08-18"`, `"Sat,Sun 10"`,
    /// `"daily *"`; repeat for more; `none` clears the grid.
    #[arg(long, value_name = "DAYS HOURS")]
    hours: Vec<String>,
    /// A sync when this many minutes passed since the last one (0: off).
    #[arg(long, value_name = "MINUTES")]
    every: Option<u64>,
    /// A sync this long after the daemon starts: `30s`, `5m` (`off`: never).
    #[arg(long, value_name = "DURATION")]
    after_start: Option<String>,
    /// Sync when polling finds elements waiting.
    #[arg(long, value_name = "BOOL")]
    after_change: Option<bool>,
    /// No automatic sync after a failed run until a manual one succeeds.
    #[arg(long, value_name = "BOOL")]
    skip_after_error: Option<bool>,
}

/// Shows or changes a pair's schedule.
pub async fn schedule(ctx: &Context, args: ScheduleArgs) -> anyhow::Result<u8> {
    let pair = args.pair.as_str();
    ctx.manifest.pair(pair)?;
    let update = match args.action {
        None => return print(ctx, pair, false).await,
        Some(ScheduleAction::Show { json }) => return print(ctx, pair, json).await,
        Some(ScheduleAction::Reset) => {
            schedule::reset(ctx, pair).await?;
            say!("pair {pair}: schedule reset to the manifest's");
            return print(ctx, pair, false).await;
        }
        Some(ScheduleAction::Activate) => ScheduleUpdate {
            active: Some(true),
            ..Default::default()
        },
        Some(ScheduleAction::Deactivate) => ScheduleUpdate {
            active: Some(false),
            ..Default::default()
        },
        Some(ScheduleAction::Set(set)) => ScheduleUpdate {
            grid: (!set.hours.is_empty()).then(|| {
                set.hours
                    .into_iter()
                    .filter(|h| h.trim() != "none")
                    .collect()
            }),
            every_secs: set.every.map(|m| m * 60),
            after_start_secs: set.after_start.as_deref().map(duration_secs).transpose()?,
            after_change: set.after_change,
            skip_after_error: set.skip_after_error,
            ..Default::default()
        },
    };
    let (current, _) = schedule::load(ctx, pair).await?;
    let next = update.apply(current)?;
    schedule::save(ctx, pair, &next).await?;
    say!("pair {pair}: schedule saved");
    print(ctx, pair, false).await
}

async fn print(ctx: &Context, pair: &str, json: bool) -> anyhow::Result<u8> {
    let s = schedule::show(ctx, pair).await?;
    if json {
        output::json(&s)?;
        return Ok(EXIT_OK);
    }
    for line in render(&s) {
        say!("{line}");
    }
    Ok(EXIT_OK)
}

/// The schedule as text: a grid of the week (`#` selected), then the triggers.
fn render(s: &ScheduleOut) -> Vec<String> {
    let state = if s.active { "active" } else { "inactive" };
    let mut lines = vec![format!(
        "pair {}: schedule {state} ({}, hours in {})",
        s.pair,
        if s.source == "saved" {
            "saved"
        } else {
            "from the manifest"
        },
        s.time_zone
    )];
    lines.push("      00  03  06  09  12  15  18  21".to_owned());
    for (d, name) in crate::manifest::DAYS.iter().enumerate() {
        let row: String = s.hours[d * 24..d * 24 + 24]
            .chars()
            .map(|c| if c == '1' { '#' } else { '.' })
            .collect::<Vec<char>>()
            .chunks(3)
            .map(|c| format!("{} ", c.iter().collect::<String>()))
            .collect();
        lines.push(format!("  {name} {}", row.trim_end()));
    }
    let grid = if s.grid.is_empty() {
        "none".to_owned()
    } else {
        s.grid.join("; ")
    };
    lines.push(format!(
        "  slots: {grid} ({})",
        output::plural(s.slots as u64, "hour")
    ));
    lines.push(format!(
        "  after start: {}, every: {}, after change: {}, skip after error: {}",
        secs_text(s.after_start_secs),
        secs_text(s.every_secs),
        if s.after_change { "yes" } else { "no" },
        if s.skip_after_error { "yes" } else { "no" }
    ));
    lines
}
