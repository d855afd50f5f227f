//! The `tandem` command line: arguments (clap) and one module per group of commands.

/// Prints a line on stdout. A closed stdout (`tandem history | head`) is not
/// an error: the command goes on, so a sync is never cut short by its reader.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod check;
mod conflicts;
mod links;
mod output;
mod plugins;
mod status;
mod sync;

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use tandem_core::engine::{Category, Mode};
use tandem_core::store::Side;

use crate::context::Context;

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
    /// Shows each pair's last run, links and pending conflicts.
    Status {
        /// Only this pair.
        pair: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Lists past runs, newest first.
    History {
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
    },
    /// Lists the records of a pair in one category (pending conflicts by default).
    Conflicts {
        /// The pair.
        pair: String,
        /// The category: conflict and disabled come from the store; the
        /// others from a dry run.
        #[arg(long, value_enum, default_value = "conflict")]
        category: CategoryArg,
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
        Command::History {
            pair,
            page,
            per_page,
            json,
        } => {
            let per_page = per_page.parse().expect("checked by clap");
            status::history(&ctx, pair.as_deref(), page, per_page, json.json).await
        }
        Command::Conflicts {
            pair,
            category,
            json,
        } => conflicts::list(&ctx, &pair, category.into(), json.json).await,
        Command::Resolve(args) => conflicts::resolve(&ctx, args).await,
        Command::Link { pair, a_key, b_key } => links::link(&ctx, &pair, &a_key, &b_key).await,
        Command::Unlink { pair, key } => links::unlink(&ctx, &pair, &key).await,
        Command::Disable(args) => links::set_disabled(&ctx, args, true).await,
        Command::Enable(args) => links::set_disabled(&ctx, args, false).await,
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
