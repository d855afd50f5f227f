//! Bearer tokens: each request's token is hashed (sha256) and compared with
//! the manifest's; its role says what it may do. Tokens are never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::Daemon;
use super::api::ApiError;
use crate::error::config_error;
use crate::manifest::{Role, TokenConfig, TokenSecret};

/// Who made a request: a token's name and role.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name in the manifest.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// The tokens, as hashes.
pub struct Tokens(Vec<(String, Role, [u8; 32])>);

impl Tokens {
    /// Reads the tokens given by environment variable; fails naming the
    /// variable (never its value) when one is not set.
    pub fn resolve(config: &[TokenConfig]) -> anyhow::Result<Tokens> {
        let mut out = Vec::new();
        for t in config {
            let hash = match &t.secret {
                TokenSecret::Sha256(h) => *h,
                TokenSecret::Env(var) => {
                    let token = std::env::var(var).map_err(|_| {
                        config_error(format!(
                            "daemon.tokens.{}.token_env: environment variable {var} is not set",
                            t.name
                        ))
                    })?;
                    sha256(token.trim())
                }
            };
            out.push((t.name.clone(), t.role, hash));
        }
        Ok(Tokens(out))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The caller a token belongs to.
    pub fn check(&self, token: &str) -> Option<Caller> {
        let hash = sha256(token);
        self.0
            .iter()
            .find(|(_, _, h)| same(h, &hash))
            .map(|(name, role, _)| Caller {
                name: name.clone(),
                role: *role,
            })
    }
}

/// The sha256 of a token.
pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two hashes in constant time.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The role a request needs: reads are for viewers, the rest for admins.
pub fn needed(method: &Method) -> Role {
    if matches!(*method, Method::GET | Method::HEAD) {
        Role::Viewer
    } else {
        Role::Admin
    }
}

/// Checks the bearer token: none or unknown is 401, too weak a role 403.
/// The caller is passed on to the handler.
pub async fn require(State(d): State<Arc<Daemon>>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return unauthorized("a bearer token is required (Authorization: Bearer TOKEN)");
    };
    let Some(caller) = d.tokens.check(token) else {
        return unauthorized("the token is not valid");
    };
    let need = needed(req.method());
    if caller.role < need {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {} has the role {}; this needs {}",
                caller.name,
                caller.role.as_str(),
                need.as_str()
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn unauthorized(message: &str) -> Response {
    let mut res = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_by_hash_and_roles_order() {
        let tokens = Tokens(vec![
            ("ops".into(), Role::Admin, sha256("s3cret")),
            ("wall".into(), Role::Viewer, sha256("look")),
        ]);
        assert_eq!(tokens.check("s3cret").unwrap().role, Role::Admin);
        assert_eq!(tokens.check("look").unwrap().name, "wall");
        assert!(tokens.check("nope").is_none());
        assert!(Role::Viewer < Role::Admin);
        assert_eq!(needed(&Method::GET), Role::Viewer);
        assert_eq!(needed(&Method::POST), Role::Admin);
    }
}
