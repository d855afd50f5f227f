//! `tandem sync`: runs pairs with a progress bar, Ctrl-C to stop, and a summary per category.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::civil::Date;
use serde::Serialize;
use tandem_core::engine::{PairConfig, Period, Progress, RunOptions, RunReport, StopSignal};
use tandem_core::store::{DayStatus, RunStatus};

use super::days::{self, Month, parse_day};
use super::{ModeArg, output};
use crate::context::Context;
use crate::error::{EXIT_CONFLICTS, EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, config_error};

/// `tandem sync PAIR | --all`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["pair", "all"])))]
pub struct SyncArgs {
    /// The pair to run.
    pair: Option<String>,
    /// Run every pair of the manifest, one after the other.
    #[arg(long)]
    all: bool,
    /// Run in this mode instead of the pair's own.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Plan only: print what would be written and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Override the guards (max_delete, an empty side, unsent local changes,
    /// a send target that lost what was synced to it); a forced send also
    /// restores on B what B changed or lost, where B is read.
    #[arg(long)]
    force: bool,
    /// Print the reports as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Sync one day (YYYY-MM-DD, in the pair's time zone) of a pair with a
    /// day ledger; a day already synced is left alone unless --force.
    #[arg(long, value_name = "DAY", value_parser = parse_day,
          conflicts_with_all = ["all", "month", "from", "to"])]
    day: Option<Date>,
    /// Resync a month (YYYY-MM) of a pair with a day ledger, from the 1st up
    /// to today; days already synced are synced again (implies --force).
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["all", "from", "to"])]
    month: Option<Month>,
    /// Sync the days from this one to --to (a custom range); days already
    /// synced are left alone unless --force.
    #[arg(long, value_name = "DAY", value_parser = parse_day, requires = "to", conflicts_with = "all")]
    from: Option<Date>,
    /// The last day of the range started by --from.
    #[arg(long, value_name = "DAY", value_parser = parse_day, requires = "from", conflicts_with = "all")]
    to: Option<Date>,
}

impl SyncArgs {
    /// The days to sync for a pair, if the command names any. They need a
    /// day ledger; a month runs up to today in the pair's time zone.
    fn period(&self, pair: &PairConfig) -> anyhow::Result<Option<Period>> {
        days::period(pair, self.day, self.month, self.from.zip(self.to))
    }

    /// Whether days already synced are synced again.
    fn force(&self) -> bool {
        self.force || self.month.is_some()
    }
}

/// The outcome of one pair, as `--json` prints it.
#[derive(Serialize)]
struct Outcome {
    pair: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<RunReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs the pairs; exit 1 if any failed or reported errors, 3 if conflicts wait.
pub async fn sync(ctx: &Context, args: SyncArgs) -> anyhow::Result<u8> {
    let names: Vec<String> = match &args.pair {
        Some(p) => vec![ctx.manifest.pair(p).map(|_| p.clone())?],
        None => ctx.manifest.pairs.keys().cloned().collect(),
    };
    if names.is_empty() {
        return Err(config_error(format!(
            "{} declares no pairs",
            ctx.manifest.file
        )));
    }
    let engine = ctx.engine().await?;
    let stop = StopSignal::default();
    let current: BarSlot = Arc::default();
    let watcher = tokio::spawn(watch_ctrl_c(stop.clone(), current.clone()));
    let mut outcomes = Vec::new();
    for name in names {
        if stop.is_stopped() {
            break;
        }
        let period = args.period(&ctx.manifest.pair(&name)?.config)?;
        let setup = ctx.pair(&name).await?;
        let bar = progress_bar(&name);
        *current.lock().expect("bar slot poisoned") = bar.clone();
        let mut opts = RunOptions::new()
            .dry_run(args.dry_run)
            .force(args.force())
            .stop(stop.clone());
        if let Some(mode) = args.mode {
            opts = opts.mode(mode.into());
        }
        if let Some(period) = period {
            opts = opts.period(period);
        }
        if let Some(bar) = &bar {
            let bar = bar.clone();
            let show = move |p: Progress| {
                bar.set_message(format!(
                    "read a {}, read b {}, applied {}",
                    p.read_a, p.read_b, p.applied
                ));
            };
            opts = opts.progress(Arc::new(show));
        }
        let result = engine.run(&setup.config, &setup.a, &setup.b, opts).await;
        if let Some(bar) = current.lock().expect("bar slot poisoned").take() {
            bar.finish_and_clear();
        }
        let outcome = match result {
            Ok(report) => {
                // A partial run committed; its held records are listed.
                let ok = report.status.committed();
                Outcome {
                    pair: name,
                    ok,
                    report: Some(report),
                    error: None,
                }
            }
            Err(e) => {
                // Engine errors mostly name the pair already.
                let message = e.to_string();
                let error = if message.starts_with(&format!("pair {name}")) {
                    message
                } else {
                    format!("pair {name}: {message}")
                };
                Outcome {
                    pair: name,
                    ok: false,
                    report: None,
                    error: Some(error),
                }
            }
        };
        if !args.json {
            print_outcome(&outcome);
        } else if let Some(e) = &outcome.error {
            eprintln!("error: {e}");
        }
        outcomes.push(outcome);
    }
    watcher.abort();
    if args.json {
        output::json(&outcomes)?;
    }
    let failed = outcomes.iter().any(|o| !o.ok) || stop.is_stopped();
    let waiting = outcomes
        .iter()
        .filter_map(|o| o.report.as_ref())
        .any(|r| r.pending_conflicts > 0);
    let partial = outcomes
        .iter()
        .filter_map(|o| o.report.as_ref())
        .any(|r| r.status == RunStatus::Partial);
    Ok(if failed {
        EXIT_FAILED
    } else if partial {
        EXIT_PARTIAL
    } else if waiting {
        EXIT_CONFLICTS
    } else {
        EXIT_OK
    })
}

/// The progress bar of the running pair, if one is shown.
type BarSlot = Arc<Mutex<Option<ProgressBar>>>;

/// First Ctrl-C: ask the run to stop (it rolls back). Second: quit at once.
async fn watch_ctrl_c(stop: StopSignal, bar: BarSlot) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    stop.stop();
    let say = || {
        eprintln!(
            "stopping: the run stops at its next batch and rolls back (ctrl-c again quits now)"
        )
    };
    match bar.lock().expect("bar slot poisoned").as_ref() {
        Some(bar) => bar.suspend(say),
        None => say(),
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("error: interrupted");
        std::process::exit(130);
    }
}

/// A spinner on stderr when it is a terminal.
fn progress_bar(pair: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(pair.to_owned());
    bar.set_message("reading");
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

fn print_outcome(o: &Outcome) {
    let Some(report) = &o.report else {
        eprintln!("error: {}", o.error.as_deref().unwrap_or("failed"));
        return;
    };
    if let (Some(p), None, false) = (report.period, report.run_id, report.dry_run) {
        // Nothing to do: every day of the period is synced already.
        let what = days::period_text(p.from, p.to);
        let verb = if p.from == p.to { "is" } else { "are" };
        say!(
            "pair {}: {what} {verb} already synced; use --force to sync again",
            o.pair
        );
        return;
    }
    let how = match (report.dry_run, report.run_id) {
        (true, _) => "dry run, nothing changed".to_owned(),
        (false, Some(id)) => format!("{}, run {id}", report.status.as_str()),
        (false, None) => report.status.as_str().to_owned(),
    };
    say!("pair {} ({}): {how}", o.pair, report.mode.as_str());
    for line in output::category_lines(&report.counts) {
        say!("  {line}");
    }
    for line in output::write_lines(&report.counts) {
        say!("  {line}");
    }
    if report.dry_run {
        say!(
            "  {}:",
            output::plural(report.plan.len() as u64, "planned write")
        );
        for w in &report.plan {
            say!(
                "    {} {} {} ({})",
                w.side.as_str(),
                w.action,
                w.key,
                w.category.as_str()
            );
        }
    }
    print_days(report);
    if !report.errors.is_empty() {
        say!("  {}:", output::plural(report.errors.len() as u64, "error"));
        for e in &report.errors {
            say!("    {}", output::run_error(e));
        }
    }
    if report.pending_conflicts > 0 {
        let waiting = output::plural(report.pending_conflicts, "conflict");
        say!(
            "  {waiting} waiting for a decision: tandem conflicts {}",
            o.pair
        );
    }
}

/// What the run did per day, and the days and events it saved.
fn print_days(report: &RunReport) {
    if report.days.is_empty() {
        if report.period.is_some() {
            say!("  no days synced");
        }
        return;
    }
    say!("  days:");
    let rows: Vec<Vec<String>> = report
        .days
        .iter()
        .map(|d| {
            vec![
                format!("    {}", d.day),
                d.status.as_str().to_owned(),
                output::plural(d.events, "event"),
                d.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    for line in output::table(&rows) {
        say!("{line}");
    }
    let synced: Vec<_> = report
        .days
        .iter()
        .filter(|d| d.status == DayStatus::Synced)
        .collect();
    let events: u64 = synced.iter().map(|d| d.events).sum();
    let saved = if report.dry_run {
        "would be saved"
    } else {
        "saved"
    };
    let synced_word = if report.dry_run { "to sync" } else { "synced" };
    say!(
        "  {} {synced_word}, {} {saved}",
        output::plural(synced.len() as u64, "day"),
        output::plural(events, "event")
    );
    let stale = report
        .days
        .iter()
        .filter(|d| d.status == DayStatus::Stale)
        .count() as u64;
    if stale > 0 {
        say!(
            "  {} stale: new or changed events were not applied; resync with --day DAY --force",
            output::plural(stale, "day")
        );
    }
}
