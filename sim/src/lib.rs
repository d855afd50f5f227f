//! Protocol simulators for Tandem's HTTP connectors, faithful to
//! `PROTOCOLS.md`: each serves on loopback (a random port in tests), keeps
//! its data in memory, and has a control handle to seed and change that
//! data and to switch failure modes on (throttling with `Retry-After`,
//! 503s, expiring tokens, expired delta tokens, malformed JSON).
//!
//! - [`oauth`]: the Microsoft identity platform token endpoint and token
//!   checks, shared by the simulators that need tokens.
//! - [`faults`]: the failure switches and request log every simulator has.
//! - [`datawatcher`]: the Data Watcher feed.
//! - [`dataverse`]: Dynamics 365 / Dataverse Web API.
//! - [`graph`]: Microsoft Graph SharePoint list items.
//! - [`salesforce`]: Salesforce REST.
//!
//! Each simulator module has `start()` for tests (a random port), and
//! `Args` and `run` for the `tandem-sim` command.
#![warn(missing_docs)]

pub mod cli;
pub mod dataverse;
pub mod datawatcher;
pub mod faults;
pub mod graph;
pub mod oauth;
pub mod salesforce;
pub mod server;

pub use faults::Faults;
pub use oauth::Tokens;
pub use server::{Running, serve};
