//! The shared layer against the simulators' token endpoint and failure
//! switches: token cache and refresh, re-auth on 401, throttling with
//! Retry-After, bounded retries, malformed JSON, request ids, redaction.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::json;
use tandem_core::Error;
use tandem_http::{
    Auth, ClientCredentials, HttpClient, HttpError, HttpSettings, RetryPolicy, Secret,
};
use tandem_sim::oauth::{self, BearerGuard, Tokens};
use tandem_sim::{Faults, Running, faults};

struct World {
    server: Running,
    tokens: Tokens,
    faults: Faults,
}

async fn world() -> World {
    let tokens = Tokens::new();
    let faults = Faults::new(
        json!({"error":{"code":"TooManyRequests","message":"slow down"}}),
        "request-id",
    );
    let guard = BearerGuard {
        tokens: tokens.clone(),
        unauthorized: json!({"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}),
    };
    let api = Router::new()
        .route(
            "/api/hello",
            get(|| async { axum::Json(json!({"hello": "world"})) }),
        )
        .layer(axum::middleware::from_fn_with_state(
            guard,
            oauth::require_bearer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            faults.clone(),
            faults::apply,
        ));
    let router = api.merge(oauth::microsoft_routes(tokens.clone()));
    World {
        server: tandem_sim::serve(router, 0).await.unwrap(),
        tokens,
        faults,
    }
}

impl World {
    fn client(&self, secret: &str) -> HttpClient {
        let grant = ClientCredentials::microsoft(
            &self.server.url(),
            "contoso",
            oauth::CLIENT_ID,
            Secret::new(secret),
            "https://graph.microsoft.com",
        );
        HttpClient::new(
            "test",
            &HttpSettings::default(),
            Auth::ClientCredentials(grant),
        )
        .unwrap()
        .with_retry(
            RetryPolicy::default()
                .attempts(5)
                .base_delay(Duration::from_millis(10))
                .max_total_wait(Duration::from_secs(5)),
        )
    }

    async fn hello(&self, client: &HttpClient) -> Result<serde_json::Value, HttpError> {
        client
            .get(format!("{}/api/hello", self.server.url()))
            .what("saying hello")
            .send()
            .await?
            .json()
    }
}

#[tokio::test]
async fn tokens_are_cached_and_refetched_once_on_401() {
    let w = world().await;
    let client = w.client(oauth::CLIENT_SECRET);
    for _ in 0..3 {
        assert_eq!(w.hello(&client).await.unwrap()["hello"], "world");
    }
    assert_eq!(w.tokens.issued(), 1, "one token for three requests");
    w.tokens.expire_all();
    assert_eq!(w.hello(&client).await.unwrap()["hello"], "world");
    assert_eq!((w.tokens.issued(), w.tokens.refused()), (2, 1));
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    let w = world().await;
    w.tokens.expires_in(1);
    let client = w.client(oauth::CLIENT_SECRET);
    w.hello(&client).await.unwrap();
    tokio::time::sleep(Duration::from_millis(950)).await;
    w.hello(&client).await.unwrap();
    assert_eq!(w.tokens.issued(), 2);
    assert_eq!(
        w.tokens.refused(),
        0,
        "refreshed before the server refused it"
    );
}

#[tokio::test]
async fn a_token_refused_twice_is_an_error() {
    let w = world().await;
    w.tokens.max_uses(Some(0));
    let client = w.client(oauth::CLIENT_SECRET);
    let err = w.hello(&client).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(w.tokens.issued(), 2, "re-authenticated once, not more");
    assert!(
        err.to_string().contains("InvalidAuthenticationToken"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_secret_is_a_clear_error_without_the_secret() {
    let w = world().await;
    let client = w.client("wrong-secret-value");
    let err: Error = w.hello(&client).await.unwrap_err().into();
    let shown = err.to_string();
    assert!(
        shown.starts_with("test: getting an OAuth2 token from"),
        "{shown}"
    );
    assert!(shown.contains("invalid_client"), "{shown}");
    assert!(!shown.contains("wrong-secret-value"), "{shown}");
    assert!(!format!("{client:?}").contains("wrong-secret-value"));
}

#[tokio::test]
async fn throttling_waits_as_retry_after_says() {
    let w = world().await;
    let client = w.client(oauth::CLIENT_SECRET);
    w.faults.retry_after(Some("0.2")).throttle_next(3);
    assert_eq!(w.hello(&client).await.unwrap()["hello"], "world");
    let log = w.faults.log();
    assert_eq!(
        log.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 429, 429, 200]
    );
    for pair in log.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(200), "waited only {gap:?}");
    }
}

#[tokio::test]
async fn endless_throttling_is_throttled_after_the_attempts() {
    let w = world().await;
    let client = w.client(oauth::CLIENT_SECRET);
    w.faults.retry_after(Some("0.01")).throttle_next(100);
    let err: Error = w.hello(&client).await.unwrap_err().into();
    assert!(
        matches!(
            err,
            Error::Throttled {
                retry_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(w.faults.count(429), 5, "bounded by max attempts");
    assert!(err.to_string().contains("saying hello"), "{err}");
}

#[tokio::test]
async fn a_wait_past_the_budget_fails_at_once() {
    let w = world().await;
    let client = w.client(oauth::CLIENT_SECRET);
    w.faults.retry_after(Some("30")).throttle_next(1);
    let started = std::time::Instant::now();
    let err: Error = w.hello(&client).await.unwrap_err().into();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn unavailable_is_retried_too() {
    let w = world().await;
    let client = w.client(oauth::CLIENT_SECRET);
    w.faults.retry_after(None).unavailable_next(2);
    w.hello(&client).await.unwrap();
    assert_eq!(w.faults.count(503), 2);
}

#[tokio::test]
async fn malformed_json_names_what_was_read() {
    let w = world().await;
    let client = w.client(oauth::CLIENT_SECRET);
    w.hello(&client).await.unwrap();
    w.faults.malformed_next(1);
    let err = w.hello(&client).await.unwrap_err();
    assert!(matches!(err, HttpError::Malformed { .. }), "{err:?}");
    let core: Error = err.into();
    let shown = core.to_string();
    assert!(
        shown.starts_with("test: saying hello: the response is not valid: "),
        "{shown}"
    );
    assert!(shown.contains("request id"), "{shown}");
}

#[tokio::test]
async fn error_statuses_carry_the_request_id() {
    let w = world().await;
    let client = w.client(oauth::CLIENT_SECRET);
    w.faults.fail_next(
        404,
        json!({"error":{"code":"itemNotFound","message":"The resource could not be found."}}),
    );
    let err: Error = w.hello(&client).await.unwrap_err().into();
    match &err {
        Error::Remote {
            status, request_id, ..
        } => {
            assert_eq!(*status, Some(404));
            assert!(
                request_id
                    .as_deref()
                    .is_some_and(|r| r.starts_with("00000000-"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("itemNotFound: The resource could not be found.")
    );
}

#[tokio::test]
async fn a_dead_server_is_a_transport_error() {
    let w = world().await;
    let url = w.server.url();
    drop(w);
    let client = HttpClient::new(
        "test",
        &HttpSettings::default(),
        Auth::Bearer(Secret::new("x")),
    )
    .unwrap()
    .with_retry(
        RetryPolicy::default()
            .attempts(2)
            .base_delay(Duration::from_millis(1)),
    );
    let err = client
        .get(format!("{url}/api/hello"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Transport { .. }), "{err:?}");
}
