//! OAuth2 client credentials as the Microsoft identity platform speaks it
//! (`POST /{tenant}/oauth2/v2.0/token`), the tokens it issues, and the
//! middleware that checks them, with token expiry on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::json;

/// The client id the simulators accept unless told otherwise.
pub const CLIENT_ID: &str = "tandem-sim";
/// The client secret the simulators accept unless told otherwise.
pub const CLIENT_SECRET: &str = "sim-secret";

#[derive(Debug)]
struct Issued {
    at: Instant,
    uses: u64,
}

#[derive(Debug)]
struct TokenState {
    clients: HashMap<String, String>,
    issued: HashMap<String, Issued>,
    statics: Vec<String>,
    expires_in: u64,
    lifetime: Option<Duration>,
    max_uses: Option<u64>,
    count: u64,
    refused: u64,
}

/// The tokens of one simulator: who may get one, which were issued, and
/// when they stop working. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tokens(Arc<Mutex<TokenState>>);

impl Default for Tokens {
    fn default() -> Self {
        Tokens::new()
    }
}

impl Tokens {
    /// Tokens for the client [`CLIENT_ID`] with [`CLIENT_SECRET`], valid
    /// for an hour (`expires_in` 3599), with no use limit.
    pub fn new() -> Self {
        let clients = HashMap::from([(CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())]);
        Tokens(Arc::new(Mutex::new(TokenState {
            clients,
            issued: HashMap::new(),
            statics: Vec::new(),
            expires_in: 3599,
            lifetime: None,
            max_uses: None,
            count: 0,
            refused: 0,
        })))
    }

    fn state(&self) -> MutexGuard<'_, TokenState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts another client.
    pub fn add_client(&self, id: &str, secret: &str) -> &Self {
        self.state()
            .clients
            .insert(id.to_owned(), secret.to_owned());
        self
    }

    /// Accepts a static token (configured, never expires, not refreshable).
    pub fn add_static(&self, token: &str) -> &Self {
        self.state().statics.push(token.to_owned());
        self
    }

    /// The `expires_in` token answers report, in seconds.
    pub fn expires_in(&self, secs: u64) -> &Self {
        self.state().expires_in = secs;
        self
    }

    /// Issued tokens stop working after this long, whatever `expires_in`
    /// said (a token revoked early); `None` for never.
    pub fn lifetime(&self, d: Option<Duration>) -> &Self {
        self.state().lifetime = d;
        self
    }

    /// Issued tokens stop working after this many requests; `None` for
    /// never.
    pub fn max_uses(&self, n: Option<u64>) -> &Self {
        self.state().max_uses = n;
        self
    }

    /// Every issued token stops working now.
    pub fn expire_all(&self) -> &Self {
        self.state().issued.clear();
        self
    }

    /// Checks a client's credentials.
    pub fn client_ok(&self, id: &str, secret: &str) -> bool {
        self.state().clients.get(id).is_some_and(|s| s == secret)
    }

    /// Issues a token (for token endpoints of other protocols).
    pub fn issue(&self) -> String {
        let mut s = self.state();
        s.count += 1;
        let token = format!("sim-token-{}-{}", s.count, std::process::id());
        s.issued.insert(
            token.clone(),
            Issued {
                at: Instant::now(),
                uses: 0,
            },
        );
        token
    }

    /// Whether a bearer token is good for one more request (counts the use).
    pub fn check(&self, token: &str) -> bool {
        let mut s = self.state();
        if s.statics.iter().any(|t| t == token) {
            return true;
        }
        let (lifetime, max_uses) = (s.lifetime, s.max_uses);
        let ok = match s.issued.get_mut(token) {
            Some(i) => {
                i.uses += 1;
                lifetime.is_none_or(|l| i.at.elapsed() < l) && max_uses.is_none_or(|m| i.uses <= m)
            }
            None => false,
        };
        if !ok {
            s.refused += 1;
        }
        ok
    }

    /// How many tokens were issued.
    pub fn issued(&self) -> u64 {
        self.state().count
    }

    /// How many requests were refused with 401.
    pub fn refused(&self) -> u64 {
        self.state().refused
    }

    fn answer_expires_in(&self) -> u64 {
        self.state().expires_in
    }
}

/// The token endpoint of the Microsoft identity platform:
/// `POST /{tenant}/oauth2/v2.0/token`.
pub fn microsoft_routes(tokens: Tokens) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(microsoft_token))
        .with_state(tokens)
}

async fn microsoft_token(
    State(tokens): State<Tokens>,
    Path(_tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let error = |code: &str, description: &str, aadsts: u32| {
        let body = json!({
            "error": code,
            "error_description": format!("AADSTS{aadsts}: {description}"),
            "error_codes": [aadsts],
            "timestamp": jiff::Timestamp::now().to_string(),
        });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    };
    if field("grant_type") != "client_credentials" {
        return error(
            "unsupported_grant_type",
            "The provided value for the input parameter 'grant_type' is not valid.",
            70003,
        );
    }
    if !tokens.client_ok(field("client_id"), field("client_secret")) {
        return error(
            "invalid_client",
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.",
            7000215,
        );
    }
    if !field("scope").ends_with("/.default") {
        return error(
            "invalid_scope",
            "The provided value for the input parameter 'scope' is not valid. The scope must end in /.default.",
            1002012,
        );
    }
    let body = json!({
        "token_type": "Bearer",
        "expires_in": tokens.answer_expires_in(),
        "ext_expires_in": tokens.answer_expires_in(),
        "access_token": tokens.issue(),
    });
    Json(body).into_response()
}

/// What [`require_bearer`] checks tokens against and answers a refusal with.
#[derive(Debug, Clone)]
pub struct BearerGuard {
    /// The tokens.
    pub tokens: Tokens,
    /// The JSON body of a 401.
    pub unauthorized: serde_json::Value,
}

/// Middleware: 401 with the guard's body unless the request carries
/// `Authorization: Bearer <a good token>`.
pub async fn require_bearer(
    State(guard): State<BearerGuard>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token.is_some_and(|t| guard.tokens.check(t)) {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, Json(guard.unauthorized)).into_response();
    response.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// `tandem-sim token`: the token endpoint alone.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: crate::cli::Common,
}

/// Serves the token endpoint until Ctrl-C.
pub async fn run(args: Args) -> std::io::Result<()> {
    let tokens = Tokens::new();
    let faults = crate::Faults::new(json!({}), "x-ms-request-id");
    args.common.apply(&faults, &tokens);
    let running = crate::serve(microsoft_routes(tokens), args.common.port).await?;
    let notes = [format!(
        "POST {}/{{tenant}}/oauth2/v2.0/token with client_id={} client_secret={}",
        running.url(),
        args.common.client_id,
        args.common.client_secret
    )];
    crate::cli::announce("token", running, &notes).await;
    Ok(())
}
