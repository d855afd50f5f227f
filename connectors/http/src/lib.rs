//! Tandem's shared HTTP layer: the one place where every HTTP connector
//! (Data Watcher, SharePoint, Dynamics 365, Salesforce) gets retries,
//! throttling, tokens, paging and timeouts, so that no connector repeats
//! them.
//!
//! - [`HttpClient`]: reqwest with rustls, a connection pool, request and
//!   connect timeouts ([`HttpSettings`]).
//! - Authentication ([`Auth`]): none, a static bearer token, or OAuth2
//!   client credentials ([`ClientCredentials`]) whose token is cached until
//!   shortly before `expires_in` runs out and fetched again once when the
//!   server answers 401.
//! - Retries ([`RetryPolicy`]): 429 and 503 are retried after the
//!   `Retry-After` the server gives (seconds, decimals allowed: `"2.128"`),
//!   or with exponential backoff and jitter when it gives none; 502, 504 and
//!   dropped connections are retried for idempotent requests. Attempts and
//!   the total wait are bounded; past them a throttled request is
//!   [`Error::Throttled`](tandem_core::Error::Throttled).
//! - Errors ([`HttpError`]) carry the status, the service's error code and
//!   message, the request id (`request-id`, `x-ms-request-id`,
//!   `client-request-id`, ...) and what was being done; they convert into
//!   [`tandem_core::Error`] (`Remote` with `request_id`, `Throttled`).
//!   A success with a body that is not valid JSON is
//!   [`HttpError::Malformed`], naming what was read.
//! - Paging ([`HttpClient::pages`]): follow next links as a stream.
//! - Secrets ([`Secret`]) never appear in `Debug` output, errors or logs;
//!   logs show method, URL path (no query), status and attempt only.
//!
//! ```no_run
//! use tandem_http::{Auth, ClientCredentials, HttpClient, HttpSettings, Secret};
//!
//! # async fn run() -> tandem_core::Result<()> {
//! let grant = ClientCredentials::microsoft(
//!     "https://login.microsoftonline.com",
//!     "contoso.onmicrosoft.com",
//!     "app-id",
//!     Secret::new("from the environment"),
//!     "https://graph.microsoft.com",
//! );
//! let client = HttpClient::new("sharepoint", &HttpSettings::default(), Auth::ClientCredentials(grant))?;
//! let page: serde_json::Value = client
//!     .get("https://graph.microsoft.com/v1.0/sites/root/lists")
//!     .what("listing the lists of the site")
//!     .send()
//!     .await?
//!     .json()?;
//! # let _ = page;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod auth;
mod client;
mod error;
mod paging;
mod retry;
mod secret;

pub use auth::{Auth, ClientCredentials, Token};
pub use client::{Call, HttpClient, Response};
pub use error::{HttpError, StatusError, error_details, request_id};
pub use paging::resolve;
pub use reqwest::Method;
pub use reqwest::header::HeaderMap;
pub use retry::{HttpSettings, RetryPolicy, parse_retry_after};
pub use secret::Secret;
