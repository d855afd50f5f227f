//! `HttpClient`: one request with retries, throttling, token refresh and
//! timeouts; `Response` with JSON decoding that names what was read.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::auth::{Auth, ClientCredentials, Token, TokenCache};
use crate::error::{HttpError, StatusError, error_details, request_id};
use crate::retry::{HttpSettings, RetryPolicy, parse_retry_after};

/// The shared HTTP layer of one connector instance: a connection pool, the
/// authentication (with its token cache) and the retry policy. Cheap to
/// clone; clones share all of it.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    connector: String,
    http: reqwest::Client,
    auth: Auth,
    retry: RetryPolicy,
    tokens: TokenCache,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("connector", &self.inner.connector)
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

impl HttpClient {
    /// A client for `connector` (named in every error). Pure apart from
    /// building the connection pool: nothing is sent until a request is.
    pub fn new(
        connector: impl Into<String>,
        settings: &HttpSettings,
        auth: Auth,
    ) -> tandem_core::Result<Self> {
        let connector = connector.into();
        settings
            .check()
            .map_err(|m| tandem_core::Error::config(connector.clone(), m))?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout())
            .connect_timeout(settings.connect_timeout())
            .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                tandem_core::Error::other(
                    connector.clone(),
                    format!("building the HTTP client: {e}"),
                )
            })?;
        Ok(HttpClient {
            inner: Arc::new(Inner {
                connector,
                http,
                auth,
                retry: settings.retry_policy(),
                tokens: TokenCache::default(),
            }),
        })
    }

    /// The same client with another retry policy (tests use short waits).
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        let inner = &self.inner;
        HttpClient {
            inner: Arc::new(Inner {
                connector: inner.connector.clone(),
                http: inner.http.clone(),
                auth: inner.auth.clone(),
                retry,
                tokens: TokenCache::default(),
            }),
        }
    }

    /// The connector this client works for.
    pub fn connector(&self) -> &str {
        &self.inner.connector
    }

    /// A request.
    pub fn request(&self, method: Method, url: impl Into<String>) -> Call {
        let url = url.into();
        Call {
            client: self.clone(),
            idempotent: matches!(
                method,
                Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
            ),
            what: format!("{method} {}", path_of(&url)),
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// A `GET` request.
    pub fn get(&self, url: impl Into<String>) -> Call {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl Into<String>) -> Call {
        self.request(Method::POST, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl Into<String>) -> Call {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl Into<String>) -> Call {
        self.request(Method::DELETE, url)
    }

    /// The current OAuth2 token (fetched if there is none or it is about to
    /// expire); `None` unless the client uses client credentials.
    pub async fn token(&self) -> Result<Option<Arc<Token>>, HttpError> {
        match &self.inner.auth {
            Auth::ClientCredentials(grant) => Ok(Some(self.cached_token(grant).await?)),
            _ => Ok(None),
        }
    }

    async fn cached_token(&self, grant: &ClientCredentials) -> Result<Arc<Token>, HttpError> {
        self.inner.tokens.get(|| self.fetch_token(grant)).await
    }

    async fn fetch_token(&self, grant: &ClientCredentials) -> Result<Token, HttpError> {
        tracing::debug!(connector = %self.inner.connector, url = %path_of(&grant.token_url), "fetching an OAuth2 token");
        let what = format!("getting an OAuth2 token from {}", grant.token_url);
        let response = self
            .post(grant.token_url.clone())
            .form(&grant.form())
            .what(what.clone())
            .send_as(None)
            .await?;
        let body: serde_json::Map<String, serde_json::Value> = response.json()?;
        Token::from_json(body).ok_or_else(|| HttpError::Malformed {
            connector: self.inner.connector.clone(),
            what,
            message: "no access_token in the answer".into(),
            request_id: response.request_id.clone(),
        })
    }

    pub(crate) fn error_transport(&self, what: &str, message: String) -> HttpError {
        HttpError::Transport {
            connector: self.inner.connector.clone(),
            what: what.to_owned(),
            message,
        }
    }
}

/// Which credentials one attempt used.
enum Credential {
    None,
    Static(crate::Secret),
    Token(Arc<Token>),
}

/// One request being built; sent (and retried) by [`Call::send`].
#[must_use = "a call does nothing until it is sent"]
pub struct Call {
    client: HttpClient,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<(Vec<u8>, Cow<'static, str>)>,
    what: String,
    idempotent: bool,
}

impl Call {
    /// Says what the request is for, in the sync's words ("reading list
    /// items of list Tasks"); errors start with it.
    pub fn what(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }

    /// Adds a header; a name or value that is not valid HTTP is ignored
    /// with a warning.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => tracing::warn!(header = name, "invalid header skipped"),
        }
        self
    }

    /// Adds headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers.extend(headers);
        self
    }

    /// A JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Self {
        let bytes = serde_json::to_vec(body).expect("serializing a JSON body cannot fail");
        self.body = Some((bytes, Cow::Borrowed("application/json")));
        self
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let mut out = String::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            form_encode(k, &mut out);
            out.push('=');
            form_encode(v, &mut out);
        }
        self.body = Some((
            out.into_bytes(),
            Cow::Borrowed("application/x-www-form-urlencoded"),
        ));
        self
    }

    /// A body of any type; the content type may carry parameters made at
    /// run time (`multipart/mixed;boundary=batch_...`).
    pub fn body(mut self, content_type: impl Into<Cow<'static, str>>, bytes: Vec<u8>) -> Self {
        self.body = Some((bytes, content_type.into()));
        self
    }

    /// Whether the request may be sent again after a dropped connection or
    /// a gateway error (GET, PUT, DELETE are; an upsert by key may be).
    /// Throttling (429, 503) is always retried: the server did nothing.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Sends the request, retrying as the client's policy says, and reads
    /// the whole body. A status other than 2xx is [`HttpError::Status`].
    pub async fn send(self) -> Result<Response, HttpError> {
        let client = self.client.clone();
        match &client.inner.auth {
            Auth::None => self.send_as(None).await,
            Auth::Bearer(secret) => self.send_as(Some(secret.clone())).await,
            Auth::ClientCredentials(_) => self.send_with_token().await,
        }
    }

    async fn send_with_token(self) -> Result<Response, HttpError> {
        let client = self.client.clone();
        let Auth::ClientCredentials(grant) = &client.inner.auth else {
            unreachable!("only called with client credentials")
        };
        let token = client.cached_token(grant).await?;
        match self.try_send(Credential::Token(token.clone())).await {
            Err((HttpError::Status(s), Some(call))) if s.status == 401 => {
                tracing::info!(connector = %client.inner.connector, "access token refused; fetching a new one");
                client.inner.tokens.invalidate(&token).await;
                let token = client.cached_token(grant).await?;
                call.try_send(Credential::Token(token))
                    .await
                    .map_err(|(e, _)| e)
            }
            other => other.map_err(|(e, _)| e),
        }
    }

    async fn send_as(self, secret: Option<crate::Secret>) -> Result<Response, HttpError> {
        let credential = secret.map_or(Credential::None, Credential::Static);
        self.try_send(credential).await.map_err(|(e, _)| e)
    }

    /// The retry loop. On a 401 the call is handed back, so that the caller
    /// can try once more with a new token.
    async fn try_send(self, credential: Credential) -> Result<Response, (HttpError, Option<Call>)> {
        let inner = &self.client.inner;
        let policy = inner.retry;
        let connector = inner.connector.as_str();
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut rb = inner
                .http
                .request(self.method.clone(), &self.url)
                .headers(self.headers.clone());
            match &credential {
                Credential::None => {}
                Credential::Static(s) => rb = rb.bearer_auth(s.expose()),
                Credential::Token(t) => rb = rb.bearer_auth(t.access_token().expose()),
            }
            if let Some((body, content_type)) = &self.body {
                rb = rb
                    .header(CONTENT_TYPE, content_type.as_ref())
                    .body(body.clone());
            }
            let outcome = match rb.send().await {
                Ok(r) => {
                    let (status, headers) = (r.status(), r.headers().clone());
                    r.bytes().await.map(|b| (status, headers, b.to_vec()))
                }
                Err(e) => Err(e),
            };
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(e) => {
                    let message = describe(&e);
                    let delay = policy.backoff(attempt);
                    if self.idempotent
                        && attempt < policy.max_attempts
                        && waited + delay <= policy.max_total_wait
                    {
                        tracing::warn!(connector, what = %self.what, attempt, error = %message, "request failed; retrying in {delay:?}");
                        tokio::time::sleep(delay).await;
                        waited += delay;
                        continue;
                    }
                    return Err((self.client.error_transport(&self.what, message), None));
                }
            };
            let rid = request_id(&headers);
            tracing::debug!(connector, method = %self.method, url = %path_of(&self.url), status = status.as_u16(), attempt, "http");
            if status.is_success() {
                return Ok(Response {
                    status: status.as_u16(),
                    headers,
                    body,
                    request_id: rid,
                    connector: connector.to_owned(),
                    what: self.what,
                });
            }
            let throttled = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            let gateway = matches!(
                status,
                StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
            );
            let asked = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            if throttled || (gateway && self.idempotent) {
                let delay = asked.map_or_else(|| policy.backoff(attempt), |a| policy.after(a));
                if attempt < policy.max_attempts && waited + delay <= policy.max_total_wait {
                    tracing::warn!(connector, what = %self.what, status = status.as_u16(), attempt, "throttled; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    waited += delay;
                    continue;
                }
                if throttled {
                    let (_, message, _) = error_details(&body);
                    let why = if attempt >= policy.max_attempts {
                        format!("{attempt} attempts")
                    } else {
                        format!(
                            "waiting {} s more would pass the limit",
                            delay.as_secs_f64()
                        )
                    };
                    return Err((
                        HttpError::Throttled {
                            connector: connector.to_owned(),
                            what: self.what.clone(),
                            message: format!(
                                "HTTP {} ({message}); gave up after {why} ({:.1} s waited)",
                                status.as_u16(),
                                waited.as_secs_f64()
                            ),
                            retry_after: asked,
                            request_id: rid,
                        },
                        None,
                    ));
                }
            }
            let (code, message, json) = error_details(&body);
            let location = headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let error = HttpError::Status(Box::new(StatusError {
                connector: connector.to_owned(),
                what: self.what.clone(),
                status: status.as_u16(),
                code,
                message,
                request_id: rid,
                location,
                body: json,
            }));
            let again = (status == StatusCode::UNAUTHORIZED).then_some(self);
            return Err((error, again));
        }
    }
}

/// A successful answer, read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status (2xx).
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The request id the service gave.
    pub request_id: Option<String>,
    connector: String,
    what: String,
}

impl Response {
    /// The body as JSON; malformed JSON (or JSON of the wrong shape) is
    /// [`HttpError::Malformed`] naming what was being read, with serde's
    /// line and column.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| self.malformed(e.to_string()))
    }

    /// A [`HttpError::Malformed`] about this response.
    pub fn malformed(&self, message: impl Into<String>) -> HttpError {
        HttpError::Malformed {
            connector: self.connector.clone(),
            what: self.what.clone(),
            message: message.into(),
            request_id: self.request_id.clone(),
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// What the request was for.
    pub fn what(&self) -> &str {
        &self.what
    }
}

/// The URL without its query, for logs and messages (queries may hold
/// tokens of paging links).
pub(crate) fn path_of(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A reqwest error, said plainly.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the connection failed while reading the answer"
    } else {
        "the request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        let mut out = String::new();
        form_encode("a b&c=d/é", &mut out);
        assert_eq!(out, "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn paths_drop_queries() {
        assert_eq!(
            path_of("http://x/items/delta?token=abc"),
            "http://x/items/delta"
        );
    }
}
