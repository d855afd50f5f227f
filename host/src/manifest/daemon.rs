//! `[daemon]`: where `tandem daemon` listens, how often it polls, and the
//! bearer tokens of its API.
//!
//! ```toml
//! [daemon]
//! listen = "127.0.0.1:7420"
//! poll_interval = "5m"
//!
//! [daemon.tokens.ops]                 # a token's name, for logs (never the token)
//! role = "admin"                      # everything
//! hash = "sha256:9f86d08..."          # sha256 of the token, hex
//!
//! [daemon.tokens.wall]
//! role = "viewer"                     # read only
//! token_env = "TANDEM_WALL_TOKEN"     # the token itself, from the environment
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::schedule::parse_duration;

/// The address the daemon listens on when neither `--listen` nor
/// `[daemon] listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7420";

/// The polling interval when `[daemon] poll_interval` does not say.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// `[daemon]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    /// The address to listen on (`127.0.0.1:7420`).
    pub listen: Option<String>,
    /// How often each pair is polled for elements waiting: `"5m"`, `"30s"`.
    pub poll_interval: Option<String>,
    /// Token name to token.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSection>,
}

/// `[daemon.tokens.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// `admin` (everything) or `viewer` (read only).
    pub role: String,
    /// `sha256:<hex>` of the token.
    pub hash: Option<String>,
    /// The environment variable holding the token.
    pub token_env: Option<String>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read only.
    Viewer,
    /// Everything.
    Admin,
}

impl Role {
    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// Where a token's secret is.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSecret {
    /// The sha256 of the token.
    Sha256([u8; 32]),
    /// The token is in this environment variable.
    Env(String),
}

/// One API token. Its `Debug` shows no secret.
#[derive(Clone)]
pub struct TokenConfig {
    /// The token's name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Where its secret is.
    pub secret: TokenSecret,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The daemon's settings, checked.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The address to listen on, if the manifest says.
    pub listen: Option<String>,
    /// How often pairs are polled.
    pub poll_interval: Duration,
    /// The API tokens.
    pub tokens: Vec<TokenConfig>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            tokens: Vec::new(),
        }
    }
}

/// Parses `sha256:<64 hex digits>`.
pub fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let hex = text
        .strip_prefix("sha256:")
        .ok_or("expected \"sha256:\" then 64 hex digits")?;
    if hex.len() != 64 {
        return Err(format!(
            "expected 64 hex digits after sha256:, not {}",
            hex.len()
        ));
    }
    // Checked before the digits are sliced in pairs, which would panic
    // inside a character of more than one byte.
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("expected hex digits after sha256:".to_owned());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| "expected hex digits after sha256:".to_owned())?;
    }
    Ok(out)
}

impl DaemonSection {
    /// The checked settings; errors name the key.
    pub fn into_config(self) -> Result<DaemonConfig, String> {
        let poll_interval = match self.poll_interval {
            None => DEFAULT_POLL_INTERVAL,
            Some(t) => parse_duration(&t).map_err(|e| format!("daemon.poll_interval: {e}"))?,
        };
        if poll_interval.is_zero() {
            return Err("daemon.poll_interval: must be more than zero".into());
        }
        let mut tokens = Vec::new();
        for (name, t) in self.tokens {
            let key = |k: &str| format!("daemon.tokens.{name}.{k}");
            let role = match t.role.as_str() {
                "admin" => Role::Admin,
                "viewer" => Role::Viewer,
                other => {
                    return Err(format!(
                        "{}: unknown role {other:?}, expected \"admin\" or \"viewer\"",
                        key("role")
                    ));
                }
            };
            let secret = match (t.hash, t.token_env) {
                (Some(h), None) => TokenSecret::Sha256(
                    parse_sha256(&h).map_err(|e| format!("{}: {e}", key("hash")))?,
                ),
                (None, Some(var)) if !var.trim().is_empty() => TokenSecret::Env(var),
                (None, Some(_)) => {
                    return Err(format!(
                        "{}: name an environment variable",
                        key("token_env")
                    ));
                }
                _ => {
                    return Err(format!(
                        "daemon.tokens.{name}: give either hash = \"sha256:...\" or token_env = \"VAR\""
                    ));
                }
            };
            tokens.push(TokenConfig { name, role, secret });
        }
        Ok(DaemonConfig {
            listen: self.listen,
            poll_interval,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_intervals_are_checked() {
        let hash = format!("sha256:{}", "ab".repeat(32));
        let section = DaemonSection {
            listen: None,
            poll_interval: Some("30s".into()),
            tokens: BTreeMap::from([
                (
                    "ops".to_owned(),
                    TokenSection {
                        role: "admin".into(),
                        hash: Some(hash.clone()),
                        token_env: None,
                    },
                ),
                (
                    "wall".to_owned(),
                    TokenSection {
                        role: "viewer".into(),
                        hash: None,
                        token_env: Some("WALL".into()),
                    },
                ),
            ]),
        };
        let config = section.into_config().unwrap();
        assert_eq!(config.poll_interval, Duration::from_secs(30));
        assert_eq!(config.tokens[0].role, Role::Admin);
        assert!(config.tokens[0].secret == TokenSecret::Sha256([0xab; 32]));
        assert!(config.tokens[1].secret == TokenSecret::Env("WALL".into()));
        assert!(!format!("{:?}", config.tokens[0]).contains("ab"));

        let bad = |role: &str, hash: Option<&str>, env: Option<&str>| {
            DaemonSection {
                tokens: BTreeMap::from([(
                    "t".to_owned(),
                    TokenSection {
                        role: role.into(),
                        hash: hash.map(Into::into),
                        token_env: env.map(Into::into),
                    },
                )]),
                ..Default::default()
            }
            .into_config()
            .unwrap_err()
        };
        assert!(bad("root", Some(&hash), None).contains("unknown role \"root\""));
        assert!(bad("admin", Some("md5:00"), None).starts_with("daemon.tokens.t.hash: "));
        assert!(bad("admin", Some(&hash), Some("V")).contains("either hash"));
        assert!(bad("admin", None, None).contains("either hash"));
    }
}
