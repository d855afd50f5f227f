//! Conversions between the store's column encodings and Rust values, and error context.

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The most bind parameters one statement may carry: below SQLite's limit
/// (32766 since 3.32) and PostgreSQL's and MySQL's (65535).
pub(crate) const MAX_BINDS: usize = 32_000;

/// How many ids one `IN (...)` list holds.
pub(crate) const IDS_PER_QUERY: usize = 10_000;

/// How many rows of `columns` bind parameters one insert statement holds:
/// as many as the bind limit allows (PostgreSQL inserts a million links
/// about 30% faster in 4,000-row statements than in 1,000-row ones; SQLite
/// does not mind).
pub(crate) fn rows_per_insert(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).max(1)
}

/// Adds what was being done to an error and makes it a store error.
pub(crate) trait Context<T> {
    /// `what` names what failed, lowercase: `loading links of pair "p"`.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::store(format!("{}: {e}", what())))
    }
}

/// Prefixes a store error's message with what was being done.
pub(crate) fn within(what: String, err: Error) -> Error {
    match err {
        Error::Store { message } => Error::Store {
            message: format!("{what}: {message}"),
        },
        other => other,
    }
}

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A stored unix-millisecond time.
pub(crate) fn timestamp(ms: i64) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(ms).ctx(|| format!("reading timestamp {ms}"))
}

/// A stored optional unix-millisecond time.
pub(crate) fn timestamp_opt(ms: Option<i64>) -> Result<Option<jiff::Timestamp>> {
    ms.map(timestamp).transpose()
}

/// A `u64` hash as the `i64` it is stored as (same bits).
pub(crate) fn hash_to_db(h: Option<u64>) -> Option<i64> {
    h.map(|h| h as i64)
}

/// A stored hash back as `u64` (same bits).
pub(crate) fn hash_from_db(h: Option<i64>) -> Option<u64> {
    h.map(|h| h as u64)
}

/// Postcard bytes of a value; `what` names it for the error.
pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).ctx(|| format!("encoding {what}"))
}

/// Postcard bytes of a value about `capacity` bytes long: written into a
/// buffer of that size, not grown (and copied) on the way.
pub(crate) fn encode_sized<T: Serialize>(
    what: &str,
    value: &T,
    capacity: usize,
) -> Result<Vec<u8>> {
    postcard::to_extend(value, Vec::with_capacity(capacity)).ctx(|| format!("encoding {what}"))
}

/// A value from postcard bytes; `what` names it for the error.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).ctx(|| format!("decoding {what}"))
}

/// JSON text of a value; `what` names it for the error.
pub(crate) fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).ctx(|| format!("encoding {what}"))
}

/// A value from JSON text; `what` names it for the error.
pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).ctx(|| format!("decoding {what}"))
}

/// The password in a database URL, if it has one.
fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (userinfo, _host) = authority.rsplit_once('@')?;
    let (_user, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// A database URL with its password hidden, for error messages.
pub(crate) fn redact_url(url: &str) -> String {
    hide_password(url, url)
}

/// `text` (an error message) with the password of `url` hidden wherever it
/// appears.
pub(crate) fn hide_password(text: &str, url: &str) -> String {
    match url_password(url) {
        Some(password) => text.replace(password, "***"),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_keep_their_bits() {
        for h in [0, 1, u64::MAX, 1 << 63, 0xdead_beef_cafe_f00d] {
            assert_eq!(hash_from_db(hash_to_db(Some(h))), Some(h));
        }
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://tandem:s3cret@db.example:5432/state"),
            "postgres://tandem:***@db.example:5432/state"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/t"),
            "postgres://postgres@127.0.0.1/t"
        );
        assert_eq!(redact_url("sqlite:state.db"), "sqlite:state.db");
        let url = "postgres://u:pw1@h/db";
        assert_eq!(
            hide_password("cannot parse 'postgres://u:pw1@h/db'", url),
            "cannot parse 'postgres://u:***@h/db'"
        );
    }

    #[test]
    fn inserts_fit_the_bind_limit() {
        assert!(rows_per_insert(7) * 7 <= MAX_BINDS);
        assert!(rows_per_insert(100_000) >= 1);
    }
}
