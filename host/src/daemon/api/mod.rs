//! The HTTP API under `/api/v1` (everything the CLI does), plus `/healthz`,
//! `/metrics`, the OpenAPI document and the web UI.

mod pairs;
mod records;
mod runs;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::{Daemon, auth, metrics, openapi, ui};
use crate::error::ConfigError;
use crate::manifest::PairEntry;

/// The routes under `/api/v1` that need a token, as (method, path) in
/// axum's syntax; the OpenAPI document must list exactly these (and
/// [`PUBLIC_ROUTES`]); a unit test and the end-to-end tests check it.
#[cfg(test)]
pub const API_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/me"),
    ("get", "/api/v1/settings"),
    ("put", "/api/v1/settings"),
    ("get", "/api/v1/pairs"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/pairs/{pair}/status"),
    ("post", "/api/v1/pairs/{pair}/poll"),
    ("get", "/api/v1/pairs/{pair}/calendar"),
    ("post", "/api/v1/pairs/{pair}/sync"),
    ("get", "/api/v1/pairs/{pair}/schedule"),
    ("put", "/api/v1/pairs/{pair}/schedule"),
    ("post", "/api/v1/pairs/{pair}/schedule/reset"),
    ("get", "/api/v1/pairs/{pair}/window"),
    ("get", "/api/v1/pairs/{pair}/conflicts"),
    ("post", "/api/v1/pairs/{pair}/resolve"),
    ("post", "/api/v1/pairs/{pair}/link"),
    ("post", "/api/v1/pairs/{pair}/unlink"),
    ("post", "/api/v1/pairs/{pair}/disable"),
    ("post", "/api/v1/pairs/{pair}/enable"),
    ("get", "/api/v1/history"),
    ("get", "/api/v1/runs/{id}"),
    ("post", "/api/v1/runs/{id}/stop"),
    ("post", "/api/v1/runs/{id}/undo"),
];

/// The routes anyone may call.
#[cfg(test)]
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
];

/// The daemon's routes.
pub fn router(d: Arc<Daemon>) -> Router {
    let api = Router::new()
        .route("/api/v1/me", get(pairs::me))
        .route(
            "/api/v1/settings",
            get(pairs::settings).put(pairs::put_settings),
        )
        .route("/api/v1/pairs", get(pairs::list))
        .route("/api/v1/status", get(pairs::status_all))
        .route("/api/v1/pairs/{pair}/status", get(pairs::status))
        .route("/api/v1/pairs/{pair}/poll", post(pairs::poll))
        .route("/api/v1/pairs/{pair}/calendar", get(pairs::calendar))
        .route("/api/v1/pairs/{pair}/sync", post(runs::sync))
        .route(
            "/api/v1/pairs/{pair}/schedule",
            get(pairs::schedule).put(pairs::put_schedule),
        )
        .route(
            "/api/v1/pairs/{pair}/schedule/reset",
            post(pairs::reset_schedule),
        )
        .route("/api/v1/pairs/{pair}/window", get(records::window))
        .route("/api/v1/pairs/{pair}/conflicts", get(records::conflicts))
        .route("/api/v1/pairs/{pair}/resolve", post(records::resolve))
        .route("/api/v1/pairs/{pair}/link", post(records::link))
        .route("/api/v1/pairs/{pair}/unlink", post(records::unlink))
        .route("/api/v1/pairs/{pair}/disable", post(records::disable))
        .route("/api/v1/pairs/{pair}/enable", post(records::enable))
        .route("/api/v1/history", get(runs::history))
        .route("/api/v1/runs/{id}", get(runs::run))
        .route("/api/v1/runs/{id}/stop", post(runs::stop))
        .route("/api/v1/runs/{id}/undo", post(runs::undo))
        .route_layer(axum::middleware::from_fn_with_state(
            d.clone(),
            auth::require,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(api)
        .merge(ui::routes())
        .fallback(not_found)
        .with_state(d)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// An error answer: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let status = e
            .chain()
            .find_map(|c| {
                if c.is::<ConfigError>() {
                    return Some(StatusCode::BAD_REQUEST);
                }
                match c.downcast_ref::<tandem_core::Error>()? {
                    tandem_core::Error::Config { .. } => Some(StatusCode::BAD_REQUEST),
                    tandem_core::Error::Busy { .. } | tandem_core::Error::Guard { .. } => {
                        Some(StatusCode::CONFLICT)
                    }
                    // The engine refusing what the pair's state does not
                    // allow (undo of a run that changed nothing).
                    tandem_core::Error::Other { connector, .. }
                        if connector.starts_with("pair ") =>
                    {
                        Some(StatusCode::CONFLICT)
                    }
                    _ => None,
                }
            })
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, format!("{e:#}"))
    }
}

impl From<tandem_core::Error> for ApiError {
    fn from(e: tandem_core::Error) -> Self {
        anyhow::Error::new(e).into()
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!("api: {}", self.message);
        }
        (
            self.status,
            axum::Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response()
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// A pair of the manifest, or 404.
pub fn pair_entry<'a>(d: &'a Daemon, pair: &str) -> ApiResult<&'a PairEntry> {
    d.ctx.manifest.pairs.get(pair).ok_or_else(|| {
        let known: Vec<&str> = d.ctx.manifest.pairs.keys().map(String::as_str).collect();
        ApiError::not_found(format!(
            "no pair {pair:?}; pairs: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// A JSON body, or 400 with serde's message.
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::bad_request(format!("the request body: {e}")))
    }
}
