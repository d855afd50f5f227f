//! `HttpError`: what a request ended with, carrying what connectors need to
//! tell errors apart (status, service error code, request id, `Location`),
//! and its conversion to [`tandem_core::Error`].

use std::time::Duration;

use reqwest::header::HeaderMap;

/// The headers services put their request id in, in the order looked at:
/// Microsoft Graph (`request-id`, `client-request-id`), Dataverse
/// (`x-ms-service-request-id`, `x-ms-request-id`), and generic ones.
const REQUEST_ID_HEADERS: &[&str] = &[
    "request-id",
    "x-ms-service-request-id",
    "x-ms-request-id",
    "client-request-id",
    "x-request-id",
    "sforce-request-id",
];

/// An error status from the server, with what connectors need to tell
/// errors apart.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{connector}: {what}: HTTP {status}{}: {message}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
#[non_exhaustive]
pub struct StatusError {
    /// The connector.
    pub connector: String,
    /// What was being done ("reading list items of list X").
    pub what: String,
    /// The HTTP status.
    pub status: u16,
    /// The service's error code (`error.code`, `errorCode`, OAuth
    /// `error`), when the body has one.
    pub code: Option<String>,
    /// The service's message, or the start of the body.
    pub message: String,
    /// The request id the service gave.
    pub request_id: Option<String>,
    /// The `Location` header (Graph's 410 gives a fresh link there).
    pub location: Option<String>,
    /// The body, when it is JSON, for codes nested deeper.
    pub body: Option<serde_json::Value>,
}

/// A failed request, by what the caller does about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The server answered with an error status.
    #[error("{0}")]
    Status(Box<StatusError>),
    /// The server kept throttling for longer than the policy allows.
    #[error("{connector}: {what}: throttled: {message}")]
    Throttled {
        /// The connector.
        connector: String,
        /// What was being done.
        what: String,
        /// What happened.
        message: String,
        /// How long the server last asked to wait.
        retry_after: Option<Duration>,
        /// The request id of the last answer.
        request_id: Option<String>,
    },
    /// The server could not be reached, or the connection failed.
    #[error("{connector}: {what}: {message}")]
    Transport {
        /// The connector.
        connector: String,
        /// What was being done.
        what: String,
        /// What failed.
        message: String,
    },
    /// The server answered success with a body that is not what the
    /// protocol says (malformed JSON, a missing field).
    #[error("{connector}: {what}: the response is not valid: {message}")]
    Malformed {
        /// The connector.
        connector: String,
        /// What was being read.
        what: String,
        /// What is wrong with it.
        message: String,
        /// The request id the service gave.
        request_id: Option<String>,
    },
}

impl HttpError {
    /// The HTTP status of a [`HttpError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status(s) => Some(s.status),
            HttpError::Throttled { .. } => Some(429),
            _ => None,
        }
    }

    /// The service's error code of a [`HttpError::Status`].
    pub fn code(&self) -> Option<&str> {
        match self {
            HttpError::Status(s) => s.code.as_deref(),
            _ => None,
        }
    }

    /// The service's message.
    pub fn message(&self) -> &str {
        match self {
            HttpError::Status(s) => &s.message,
            HttpError::Throttled { message, .. }
            | HttpError::Transport { message, .. }
            | HttpError::Malformed { message, .. } => message,
        }
    }

    /// The details of a [`HttpError::Status`].
    pub fn as_status(&self) -> Option<&StatusError> {
        match self {
            HttpError::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The request id the service gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            HttpError::Status(s) => s.request_id.as_deref(),
            HttpError::Throttled { request_id, .. } | HttpError::Malformed { request_id, .. } => {
                request_id.as_deref()
            }
            HttpError::Transport { .. } => None,
        }
    }
}

impl From<HttpError> for tandem_core::Error {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Status(s) => {
                let StatusError {
                    connector,
                    what,
                    status,
                    code,
                    message,
                    request_id,
                    ..
                } = *s;
                tandem_core::Error::Remote {
                    connector,
                    status: Some(status),
                    message: format!(
                        "{what}: HTTP {status}{}: {message}",
                        code.map(|c| format!(" {c}")).unwrap_or_default()
                    ),
                    request_id,
                }
            }
            HttpError::Throttled {
                connector,
                what,
                message,
                retry_after,
                request_id,
            } => tandem_core::Error::Throttled {
                connector,
                message: match request_id {
                    Some(r) => format!("{what}: {message} (request id {r})"),
                    None => format!("{what}: {message}"),
                },
                retry_after,
            },
            HttpError::Transport {
                connector,
                what,
                message,
            } => tandem_core::Error::Remote {
                connector,
                status: None,
                message: format!("{what}: {message}"),
                request_id: None,
            },
            HttpError::Malformed {
                connector,
                what,
                message,
                request_id,
            } => tandem_core::Error::Remote {
                connector,
                status: None,
                message: format!("{what}: the response is not valid: {message}"),
                request_id,
            },
        }
    }
}

/// The request id in a response's headers.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(str::to_owned)
}

/// The service's error code and message from an error body: Graph and
/// Dataverse `{"error":{"code","message"}}`, OAuth
/// `{"error","error_description"}`, Salesforce `[{"errorCode","message"}]`;
/// else the start of the body as text.
pub fn error_details(body: &[u8]) -> (Option<String>, String, Option<serde_json::Value>) {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    if let Some(v) = &json {
        let found = match v {
            serde_json::Value::Object(o) => match o.get("error") {
                Some(serde_json::Value::Object(e)) => {
                    Some((text(e.get("code")), text(e.get("message"))))
                }
                Some(serde_json::Value::String(code)) => {
                    Some((Some(code.clone()), text(o.get("error_description"))))
                }
                _ => text(o.get("message")).map(|m| (text(o.get("errorCode")), Some(m))),
            },
            serde_json::Value::Array(items) => items
                .first()
                .map(|e| (text(e.get("errorCode")), text(e.get("message")))),
            _ => None,
        };
        if let Some((code, message)) = found {
            let message = message.unwrap_or_else(|| "no message".to_owned());
            return (code, message, json);
        }
    }
    let shown: String = String::from_utf8_lossy(body).chars().take(300).collect();
    let shown = if shown.trim().is_empty() {
        "empty body".to_owned()
    } else {
        shown.trim().to_owned()
    };
    (None, shown, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_each_service() {
        let graph = br#"{"error":{"code":"resyncRequired","message":"Resync required."}}"#;
        assert_eq!(error_details(graph).0.as_deref(), Some("resyncRequired"));
        let oauth = br#"{"error":"invalid_client","error_description":"bad secret"}"#;
        let (code, message, _) = error_details(oauth);
        assert_eq!(
            (code.as_deref(), message.as_str()),
            (Some("invalid_client"), "bad secret")
        );
        let sf = br#"[{"message":"Session expired","errorCode":"INVALID_SESSION_ID"}]"#;
        assert_eq!(error_details(sf).0.as_deref(), Some("INVALID_SESSION_ID"));
        let (code, message, _) = error_details(b"<html>Bad gateway</html>");
        assert_eq!((code, message.as_str()), (None, "<html>Bad gateway</html>"));
    }

    #[test]
    fn request_id_from_any_known_header() {
        let mut h = HeaderMap::new();
        h.insert("client-request-id", "abc".parse().unwrap());
        assert_eq!(request_id(&h).as_deref(), Some("abc"));
        h.insert("request-id", "r1".parse().unwrap());
        assert_eq!(request_id(&h).as_deref(), Some("r1"));
    }

    #[test]
    fn converts_to_remote_with_request_id() {
        let e = HttpError::Status(Box::new(StatusError {
            connector: "sharepoint".into(),
            what: "reading list items".into(),
            status: 404,
            code: Some("itemNotFound".into()),
            message: "gone".into(),
            request_id: Some("rid".into()),
            location: None,
            body: None,
        }));
        let core: tandem_core::Error = e.into();
        assert_eq!(
            core.to_string(),
            "sharepoint: reading list items: HTTP 404 itemNotFound: gone (request id rid)"
        );
        assert!(matches!(
            core,
            tandem_core::Error::Remote {
                status: Some(404),
                ..
            }
        ));
    }
}
