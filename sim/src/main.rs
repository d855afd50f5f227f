//! `tandem-sim`: run a protocol simulator on loopback, so that examples can
//! pair a CRM, SharePoint or Data Watcher with no such system at hand.
//!
//! To add a simulator: a `pub mod` line in `lib.rs`, a variant here, and
//! its match arm.

use clap::{Parser, Subcommand};
use tandem_sim::{dataverse, datawatcher, graph, oauth, salesforce};

/// Protocol simulators for Tandem's HTTP connectors (127.0.0.1 only).
#[derive(Debug, Parser)]
#[command(name = "tandem-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The Data Watcher feed, seeded with demo events.
    Datawatcher(datawatcher::Args),
    /// Dynamics 365 / Dataverse Web API with demo accounts, with its token endpoint.
    Dataverse(dataverse::Args),
    /// Microsoft Graph SharePoint list items, with its token endpoint.
    Graph(graph::Args),
    /// Salesforce REST with demo accounts, with its token endpoint.
    Salesforce(salesforce::Args),
    /// The Microsoft identity platform token endpoint alone.
    Token(oauth::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match Cli::parse().command {
        Command::Datawatcher(args) => datawatcher::run(args).await,
        Command::Dataverse(args) => dataverse::run(args).await,
        Command::Graph(args) => graph::run(args).await,
        Command::Salesforce(args) => salesforce::run(args).await,
        Command::Token(args) => oauth::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tandem-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
