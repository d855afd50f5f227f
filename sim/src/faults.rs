//! Failure modes every simulator shares: throttling with `Retry-After`,
//! 503s, malformed JSON, and a log of the requests served.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// One request a simulator served.
#[derive(Debug, Clone)]
pub struct Served {
    /// When it arrived.
    pub at: Instant,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query.
    pub uri: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug)]
struct State_ {
    throttle_every: Option<u64>,
    throttle_next: u64,
    unavailable_next: u64,
    retry_after: Option<String>,
    malformed_next: u64,
    malformed_skip: u64,
    fail_next: Vec<(u16, serde_json::Value)>,
    counted: u64,
    throttle_body: serde_json::Value,
    log: Vec<Served>,
    request_id_header: &'static str,
    next_id: u64,
}

/// The failure switches of one simulator, shared with its server: set them
/// from a test (or the command line) and the next requests see them.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Faults(Arc<Mutex<State_>>);

impl Faults {
    /// Switches with everything off. `throttle_body` is the JSON a 429 or
    /// 503 answers with; `request_id_header` names the header every answer
    /// carries its request id in (`request-id` for Graph).
    pub fn new(throttle_body: serde_json::Value, request_id_header: &'static str) -> Self {
        Faults(Arc::new(Mutex::new(State_ {
            throttle_every: None,
            throttle_next: 0,
            unavailable_next: 0,
            retry_after: Some("1".into()),
            malformed_next: 0,
            malformed_skip: 0,
            fail_next: Vec::new(),
            counted: 0,
            throttle_body,
            log: Vec::new(),
            request_id_header,
            next_id: 0,
        })))
    }

    fn state(&self) -> MutexGuard<'_, State_> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every `n`th request (counting from now) is answered 429 with the
    /// current `Retry-After`; `0` turns it off.
    pub fn throttle_every(&self, n: u64) -> &Self {
        let mut s = self.state();
        s.throttle_every = (n > 0).then_some(n);
        s.counted = 0;
        self
    }

    /// The next `n` requests are answered 429.
    pub fn throttle_next(&self, n: u64) -> &Self {
        self.state().throttle_next = n;
        self
    }

    /// The next `n` requests are answered 503.
    pub fn unavailable_next(&self, n: u64) -> &Self {
        self.state().unavailable_next = n;
        self
    }

    /// The `Retry-After` value of 429 and 503 answers (seconds, decimals
    /// allowed: `"0.2"`); `None` sends none.
    pub fn retry_after(&self, value: Option<&str>) -> &Self {
        self.state().retry_after = value.map(str::to_owned);
        self
    }

    /// The next `n` successful answers carry a body cut in half (malformed
    /// JSON).
    pub fn malformed_next(&self, n: u64) -> &Self {
        self.malformed_after(0, n)
    }

    /// After `skip` more successful answers, the next `n` carry a body cut
    /// in half (malformed JSON in the middle of a read).
    pub fn malformed_after(&self, skip: u64, n: u64) -> &Self {
        let mut s = self.state();
        s.malformed_skip = skip;
        s.malformed_next = n;
        self
    }

    /// The next request is answered with this status and JSON body (queued:
    /// each call adds one).
    pub fn fail_next(&self, status: u16, body: serde_json::Value) -> &Self {
        self.state().fail_next.push((status, body));
        self
    }

    /// Turns every failure off (the log stays).
    pub fn clear(&self) -> &Self {
        let mut s = self.state();
        s.throttle_every = None;
        s.throttle_next = 0;
        s.unavailable_next = 0;
        s.malformed_next = 0;
        s.malformed_skip = 0;
        s.fail_next.clear();
        self
    }

    /// The requests served so far, oldest first.
    pub fn log(&self) -> Vec<Served> {
        self.state().log.clone()
    }

    /// How many requests were answered with `status`.
    pub fn count(&self, status: u16) -> usize {
        self.state()
            .log
            .iter()
            .filter(|s| s.status == status)
            .count()
    }

    /// A fresh request id.
    fn next_id(&self) -> (String, &'static str) {
        let mut s = self.state();
        s.next_id += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", s.next_id);
        (id, s.request_id_header)
    }

    /// What to answer instead of handling the request, if anything.
    fn intercept(&self) -> Option<Response> {
        let mut s = self.state();
        if !s.fail_next.is_empty() {
            let (status, body) = s.fail_next.remove(0);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Some((status, axum::Json(body)).into_response());
        }
        s.counted += 1;
        let every = s
            .throttle_every
            .is_some_and(|n| s.counted.is_multiple_of(n));
        let status = if s.throttle_next > 0 {
            s.throttle_next -= 1;
            StatusCode::TOO_MANY_REQUESTS
        } else if s.unavailable_next > 0 {
            s.unavailable_next -= 1;
            StatusCode::SERVICE_UNAVAILABLE
        } else if every {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            return None;
        };
        let mut response = (status, axum::Json(s.throttle_body.clone())).into_response();
        if let Some(v) = s
            .retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert("retry-after", v);
        }
        Some(response)
    }

    fn take_malformed(&self) -> bool {
        let mut s = self.state();
        if s.malformed_next > 0 && s.malformed_skip > 0 {
            s.malformed_skip -= 1;
            false
        } else if s.malformed_next > 0 {
            s.malformed_next -= 1;
            true
        } else {
            false
        }
    }
}

/// The middleware that applies [`Faults`] to every request of a router:
/// `router.layer(axum::middleware::from_fn_with_state(faults, faults::apply))`.
/// Put it outermost, so that throttling comes before authentication, as
/// services do.
pub async fn apply(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let at = Instant::now();
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let mut response = match faults.intercept() {
        Some(r) => r,
        None => {
            let response = next.run(request).await;
            if response.status().is_success() && faults.take_malformed() {
                cut_in_half(response).await
            } else {
                response
            }
        }
    };
    let (id, header) = faults.next_id();
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(header, v);
    }
    faults.state().log.push(Served {
        at,
        method,
        uri,
        status: response.status().as_u16(),
    });
    response
}

/// The same answer with its body cut in half.
async fn cut_in_half(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = if bytes.len() >= 2 {
        bytes.slice(..bytes.len() / 2)
    } else {
        axum::body::Bytes::from_static(b"{")
    };
    parts.headers.remove("content-length");
    parts
        .headers
        .insert("content-type", HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(cut))
}
