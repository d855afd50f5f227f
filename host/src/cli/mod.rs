//! The `tandem` command line: arguments (clap) and one module per group of commands.

/// Prints a line on stdout. A closed stdout (`tandem history | head`) is not
/// an error: the command goes on, so a sync is never cut short by its reader.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod calendar;
mod check;
mod conflicts;
mod history;
mod links;
mod output;
mod plugins;
mod runs;
mod schedule;
mod status;
mod sync;

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use tandem_core::engine::{Category, Mode};
use tandem_core::store::Side;

use crate::context::Context;
use crate::views::days;

/// Keeps two systems in step, with connectors loaded as plugins.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about, propagate_version = true)]
pub struct Cli {
    /// The manifest.
    #[arg(
        long,
        global = true,
        env = "TANDEM_MANIFEST",
        default_value = "plugins.toml",
        value_name = "PATH"
    )]
    pub manifest: PathBuf,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG wins when set.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--json`: machine-readable JSON on stdout, and nothing else there.
#[derive(Debug, Clone, Copy, Args)]
pub struct Json {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checks the manifest, loads every plugin and opens every endpoint.
    Check(#[command(flatten)] Json),
    /// Lists the plugins: version, ABI, build and capabilities.
    Plugins(#[command(flatten)] Json),
    /// Lists the entities an endpoint exposes, with keys and fields.
    Entities {
        /// The endpoint.
        endpoint: String,
        #[command(flatten)]
        json: Json,
    },
    /// Runs a pair (or every pair) once.
    Sync(sync::SyncArgs),
    /// Shows each pair's last run, links and pending conflicts; for pairs
    /// with a day ledger, the covered period, stale days and the elements
    /// waiting to sync (polled from side A).
    Status {
        /// Only this pair.
        pair: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Shows a month of a pair's day ledger: synced (green, ✓), not synced
    /// (grey, ·), stale (yellow, !), failed (red, ✗), today outlined.
    Calendar {
        /// The pair (it needs a day ledger).
        pair: String,
        /// The month (YYYY-MM); the current month in the pair's time zone by default.
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<days::Month>,
        #[command(flatten)]
        json: Json,
    },
    /// Lists past runs, newest first; `history show RUN` shows one run.
    History(HistoryArgs),
    /// Asks a running run (of this or another process) to stop: it stops at
    /// its next batch, restores the target and ends stopped.
    Stop {
        /// The run's id (tandem history).
        run: i64,
    },
    /// Restores the targets to their state before a finished run, from its
    /// journal; refuses when later runs changed the same records.
    Undo {
        /// The run's id (tandem history).
        run: i64,
        /// Undo even though later runs changed the same records (their
        /// changes to those records are lost).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        json: Json,
    },
    /// Recovers runs whose process died (every run does this first): resumed
    /// or rolled back as the pair's on_crash says.
    Recover {
        /// Only this pair.
        pair: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Lists the records of a pair in one category (pending conflicts by default).
    Conflicts {
        /// The pair.
        pair: String,
        /// The category: conflict and disabled come from the store; the
        /// others from a dry run.
        #[arg(long, value_enum, default_value = "conflict")]
        category: CategoryArg,
        /// Conflicts already resolved (by the pair's resolver or a person),
        /// with the version that lost, instead of the pending ones.
        #[arg(long, conflicts_with = "category")]
        resolved: bool,
        #[command(flatten)]
        json: Json,
    },
    /// Resolves a pending conflict by taking a side or a merged record.
    Resolve(conflicts::ResolveArgs),
    /// Pairs record A_KEY on side A with record B_KEY on side B by hand.
    Link {
        /// The pair.
        pair: String,
        /// The key on side A.
        a_key: String,
        /// The key on side B.
        b_key: String,
    },
    /// Unpairs a record (by its A key, or its B key when no link has that A key).
    Unlink {
        /// The pair.
        pair: String,
        /// The key.
        key: String,
    },
    /// Turns synchronization of one record off.
    Disable(links::SideKey),
    /// Turns synchronization of one record back on.
    Enable(links::SideKey),
    /// Shows or changes when the daemon syncs a pair: the weekly grid of
    /// one-hour slots, the active toggle and the automatic triggers.
    Schedule(schedule::ScheduleArgs),
    /// Runs schedules, automatic triggers and polling for every pair, and
    /// serves the HTTP API and the web UI, until SIGTERM or Ctrl-C (running
    /// syncs then stop and roll back).
    Daemon {
        /// The address to listen on ([daemon] listen in the manifest, else 127.0.0.1:7420).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
    },
}

/// `tandem history [PAIR] [--page N] [--per-page 10|20|50]` or `tandem history show RUN`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    /// Show one run.
    #[command(subcommand)]
    show: Option<HistoryCommand>,
    /// Only this pair.
    pair: Option<String>,
    /// The page, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    page: u64,
    /// Runs per page.
    #[arg(long, default_value = "10", value_parser = ["10", "20", "50"])]
    per_page: String,
    #[command(flatten)]
    json: Json,
}

/// The subcommand of `tandem history`.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Shows everything about one run: counts per category, errors with
    /// record keys, what it did per day.
    Show {
        /// The run's id.
        run: i64,
        #[command(flatten)]
        json: Json,
    },
}

/// A side on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SideArg {
    /// Side A.
    A,
    /// Side B.
    B,
}

impl From<SideArg> for Side {
    fn from(s: SideArg) -> Side {
        match s {
            SideArg::A => Side::A,
            SideArg::B => Side::B,
        }
    }
}

/// A mode on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Both ways, incrementally.
    #[value(name = "two-way", alias = "two_way")]
    TwoWay,
    /// A to B only.
    Send,
    /// B to A only.
    Receive,
    /// Both ways, re-reading everything.
    Full,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::TwoWay => Mode::TwoWay,
            ModeArg::Send => Mode::Send,
            ModeArg::Receive => Mode::Receive,
            ModeArg::Full => Mode::Full,
        }
    }
}

/// A category on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum CategoryArg {
    Conflict,
    New,
    Deleted,
    Disabled,
    Synchronized,
    Inactive,
    #[value(name = "changed_a", alias = "changed-a")]
    ChangedA,
    #[value(name = "changed_b", alias = "changed-b")]
    ChangedB,
    Merged,
}

impl From<CategoryArg> for Category {
    fn from(c: CategoryArg) -> Category {
        match c {
            CategoryArg::Conflict => Category::Conflict,
            CategoryArg::New => Category::New,
            CategoryArg::Deleted => Category::Deleted,
            CategoryArg::Disabled => Category::Disabled,
            CategoryArg::Synchronized => Category::Synchronized,
            CategoryArg::Inactive => Category::Inactive,
            CategoryArg::ChangedA => Category::ChangedA,
            CategoryArg::ChangedB => Category::ChangedB,
            CategoryArg::Merged => Category::Merged,
        }
    }
}

/// Runs the command and returns the exit code; errors are printed by the caller.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    if let Command::Check(json) = cli.command {
        return check::check(&cli.manifest, json.json).await;
    }
    let ctx = Context::load(&cli.manifest)?;
    match cli.command {
        Command::Check(_) => unreachable!("handled above"),
        Command::Plugins(json) => plugins::plugins(&ctx, json.json).await,
        Command::Entities { endpoint, json } => plugins::entities(&ctx, &endpoint, json.json).await,
        Command::Sync(args) => sync::sync(&ctx, args).await,
        Command::Status { pair, json } => status::status(&ctx, pair.as_deref(), json.json).await,
        Command::Calendar { pair, month, json } => {
            calendar::calendar(&ctx, &pair, month, json.json).await
        }
        Command::History(HistoryArgs {
            show: Some(HistoryCommand::Show { run, json }),
            ..
        }) => history::show(&ctx, run, json.json).await,
        Command::History(args) => {
            let per_page = args.per_page.parse().expect("checked by clap");
            history::list(
                &ctx,
                args.pair.as_deref(),
                args.page,
                per_page,
                args.json.json,
            )
            .await
        }
        Command::Stop { run } => runs::stop(&ctx, run).await,
        Command::Undo { run, force, json } => runs::undo(&ctx, run, force, json.json).await,
        Command::Recover { pair, json } => runs::recover(&ctx, pair.as_deref(), json.json).await,
        Command::Conflicts {
            pair,
            resolved: true,
            json,
            ..
        } => conflicts::resolved(&ctx, &pair, json.json).await,
        Command::Conflicts {
            pair,
            category,
            json,
            ..
        } => conflicts::list(&ctx, &pair, category.into(), json.json).await,
        Command::Resolve(args) => conflicts::resolve(&ctx, args).await,
        Command::Link { pair, a_key, b_key } => links::link(&ctx, &pair, &a_key, &b_key).await,
        Command::Unlink { pair, key } => links::unlink(&ctx, &pair, &key).await,
        Command::Disable(args) => links::set_disabled(&ctx, args, true).await,
        Command::Enable(args) => links::set_disabled(&ctx, args, false).await,
        Command::Schedule(args) => schedule::schedule(&ctx, args).await,
        Command::Daemon { listen } => crate::daemon::run(ctx, listen).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_2() {
        let err = Cli::try_parse_from(["tandem", "sync"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["tandem", "history", "--per-page", "30"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn history_lists_pages_or_shows_a_run() {
        let cli = Cli::try_parse_from(["tandem", "history", "show", "12", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::History(HistoryArgs {
                show: Some(HistoryCommand::Show { run: 12, .. }),
                ..
            })
        ));
        let cli =
            Cli::try_parse_from(["tandem", "history", "p", "--page", "2", "--per-page", "20"])
                .unwrap();
        let Command::History(args) = cli.command else {
            panic!("history")
        };
        assert_eq!(
            (args.pair.as_deref(), args.page, args.per_page.as_str()),
            (Some("p"), 2, "20")
        );
        assert!(Cli::try_parse_from(["tandem", "history", "--json"]).is_ok());
    }

    #[test]
    fn day_options_parse_and_exclude_each_other() {
        let ok = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map(|_| ())
                .map_err(|e| e.exit_code())
        };
        assert_eq!(
            ok(&["tandem", "sync", "p", "--day", "2024-08-01", "--force"]),
            Ok(())
        );
        assert_eq!(ok(&["tandem", "sync", "p", "--month", "2024-08"]), Ok(()));
        assert_eq!(
            ok(&[
                "tandem",
                "sync",
                "p",
                "--from",
                "2024-08-01",
                "--to",
                "2024-08-03"
            ]),
            Ok(())
        );
        assert_eq!(ok(&["tandem", "sync", "p", "--from", "2024-08-01"]), Err(2));
        assert_eq!(
            ok(&[
                "tandem",
                "sync",
                "p",
                "--day",
                "2024-08-01",
                "--month",
                "2024-08"
            ]),
            Err(2)
        );
        assert_eq!(
            ok(&["tandem", "sync", "--all", "--day", "2024-08-01"]),
            Err(2)
        );
        assert_eq!(ok(&["tandem", "sync", "p", "--day", "1 August"]), Err(2));
        assert_eq!(
            ok(&["tandem", "calendar", "p", "--month", "2024-8"]),
            Err(2)
        );
    }

    #[test]
    fn schedule_and_daemon_parse() {
        let cli = Cli::try_parse_from([
            "tandem",
            "schedule",
            "p",
            "set",
            "--hours",
            "Mon-Fri 08-18",
            "--hours",
            "Sat 10",
            "--every",
            "15",
            "--after-change",
            "true",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Schedule(_)));
        assert!(Cli::try_parse_from(["tandem", "schedule", "p"]).is_ok());
        assert!(Cli::try_parse_from(["tandem", "schedule", "p", "reset"]).is_ok());
        assert!(Cli::try_parse_from(["tandem", "schedule", "p", "set", "--every", "x"]).is_err());
        let cli = Cli::try_parse_from(["tandem", "daemon", "--listen", "127.0.0.1:0"]).unwrap();
        assert!(matches!(cli.command, Command::Daemon { listen: Some(_) }));
    }

    #[test]
    fn modes_and_categories_parse() {
        let cli =
            Cli::try_parse_from(["tandem", "sync", "p", "--mode", "two_way", "--dry-run"]).unwrap();
        assert!(matches!(cli.command, Command::Sync(_)));
        let cli = Cli::try_parse_from([
            "tandem",
            "conflicts",
            "p",
            "--category",
            "changed_a",
            "--json",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Conflicts {
                category: CategoryArg::ChangedA,
                ..
            }
        ));
    }
}
