//! Authentication: none, a static bearer token, or OAuth2 client
//! credentials with a token cache that refreshes before expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// How requests authenticate.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer <token>` with a token from the configuration;
    /// a 401 is an error at once (there is nothing to refresh).
    Bearer(Secret),
    /// OAuth2 client credentials: a token fetched from `token_url`, cached
    /// until shortly before it expires, fetched again once on a 401.
    ClientCredentials(ClientCredentials),
}

/// The OAuth2 client-credentials grant.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// Where tokens come from (`POST`, form body).
    pub token_url: String,
    /// The application (client) id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// The `scope` parameter (`{resource}/.default` for Microsoft); not
    /// sent when `None` (Salesforce).
    pub scope: Option<String>,
}

impl ClientCredentials {
    /// A grant against any token endpoint.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
        scope: Option<String>,
    ) -> Self {
        ClientCredentials {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret,
            scope,
        }
    }

    /// The Microsoft identity platform: `POST
    /// {authority}/{tenant}/oauth2/v2.0/token` with scope
    /// `{resource}/.default` (Dataverse: the organization URL; Graph:
    /// `https://graph.microsoft.com`).
    pub fn microsoft(
        authority: &str,
        tenant: &str,
        client_id: impl Into<String>,
        client_secret: Secret,
        resource: &str,
    ) -> Self {
        ClientCredentials::new(
            format!(
                "{}/{tenant}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
            client_id,
            client_secret,
            Some(format!("{}/.default", resource.trim_end_matches('/'))),
        )
    }

    /// The form body of a token request.
    pub(crate) fn form(&self) -> Vec<(&str, &str)> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.as_str()));
        }
        form
    }
}

/// An access token and what else the token endpoint said (Salesforce's
/// `instance_url`, for one).
#[derive(Debug)]
pub struct Token {
    access_token: Secret,
    /// When to fetch a new one; `None` when the endpoint gave no
    /// `expires_in` (then only a 401 replaces it).
    refresh_at: Option<Instant>,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Token {
    /// A token from a token endpoint's JSON answer; `None` without an
    /// `access_token`.
    pub(crate) fn from_json(mut body: serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        let access_token = match body.remove("access_token") {
            Some(serde_json::Value::String(t)) if !t.is_empty() => Secret::new(t),
            _ => return None,
        };
        let expires_in = match body.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let refresh_at = expires_in.map(|secs| {
            let life = Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or_default();
            // Refresh a little early: a tenth of the life, at most a minute.
            Instant::now() + life - (life / 10).min(Duration::from_secs(60))
        });
        Some(Token {
            access_token,
            refresh_at,
            fields: body,
        })
    }

    /// The token, for the `Authorization` header.
    pub fn access_token(&self) -> &Secret {
        &self.access_token
    }

    /// A text field of the token answer (`instance_url`, `token_type`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name)?.as_str()
    }

    /// Whether the token can still be used without refreshing.
    fn fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| Instant::now() < at)
    }
}

/// The cached token of one client. One fetch at a time: concurrent requests
/// that find no fresh token wait for the one being fetched.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    slot: tokio::sync::Mutex<Option<Arc<Token>>>,
}

impl TokenCache {
    /// The cached token if fresh, else a new one from `fetch`.
    pub(crate) async fn get<F, Fut, E>(&self, fetch: F) -> Result<Arc<Token>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Token, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| t.fresh()) {
            return Ok(t.clone());
        }
        let token = Arc::new(fetch().await?);
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Forgets `used` (the server refused it), unless another request has
    /// already replaced it.
    pub(crate) async fn invalidate(&self, used: &Arc<Token>) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(t, used)) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_refresh_before_they_expire() {
        let json = serde_json::json!({"token_type":"Bearer","expires_in":3599,"access_token":"t"});
        let t = Token::from_json(json.as_object().unwrap().clone()).unwrap();
        let left = t.refresh_at.unwrap() - Instant::now();
        assert!(left > Duration::from_secs(3530) && left <= Duration::from_secs(3539));
        assert!(t.fresh());
        let json = serde_json::json!({"access_token":"t","instance_url":"https://x"});
        let t = Token::from_json(json.as_object().unwrap().clone()).unwrap();
        assert!(t.refresh_at.is_none() && t.fresh());
        assert_eq!(t.field("instance_url"), Some("https://x"));
        assert!(!format!("{t:?}").contains("\"t\""));
    }

    #[test]
    fn microsoft_token_url_and_scope() {
        let c = ClientCredentials::microsoft(
            "https://login.microsoftonline.com/",
            "contoso",
            "app",
            Secret::new("s"),
            "https://graph.microsoft.com",
        );
        assert_eq!(
            c.token_url,
            "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
        );
        assert_eq!(
            c.scope.as_deref(),
            Some("https://graph.microsoft.com/.default")
        );
        assert!(!format!("{c:?}").contains("\"s\""));
    }
}
