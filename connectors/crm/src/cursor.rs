//! Cursors: what each CRM needs to read on from where a read ended, as
//! JSON bytes that name the entity and the fields they were read with.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tandem_core::{Cursor, Error, Result};

use crate::CONNECTOR;

/// The cursor format.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    v: u32,
    entity: String,
    /// The fields of the read that made it; a read of other fields starts
    /// over (a Dataverse delta link keeps its `$select`).
    fields: Option<Vec<String>>,
    state: T,
}

/// Encodes where a read of `entity` with `fields` ended.
pub(crate) fn encode<T: Serialize>(entity: &str, fields: Option<&[String]>, state: T) -> Cursor {
    let stored = Stored {
        v: VERSION,
        entity: entity.to_owned(),
        fields: fields.map(<[String]>::to_vec),
        state,
    };
    Cursor(serde_json::to_vec(&stored).expect("cursors serialize"))
}

/// Decodes a cursor; one of another entity, field list or format is
/// [`Error::CursorExpired`], so that the engine reads in full.
pub(crate) fn decode<T: DeserializeOwned>(
    entity: &str,
    fields: Option<&[String]>,
    cursor: &Cursor,
) -> Result<T> {
    let stored: Stored<T> = serde_json::from_slice(&cursor.0)
        .map_err(|e| expired(entity, format!("not a cursor of this connector: {e}")))?;
    if stored.v != VERSION {
        return Err(expired(
            entity,
            format!("cursor format {} is not known", stored.v),
        ));
    }
    if stored.entity != entity {
        return Err(expired(
            entity,
            format!("the cursor is for entity {:?}", stored.entity),
        ));
    }
    if stored.fields.as_deref() != fields {
        return Err(expired(
            entity,
            "the cursor was made reading other fields".to_owned(),
        ));
    }
    Ok(stored.state)
}

/// Decodes a cursor of an entity whatever fields it was read with.
pub(crate) fn decode_any<T: DeserializeOwned>(entity: &str, cursor: &Cursor) -> Result<T> {
    let stored: Stored<serde_json::Value> = serde_json::from_slice(&cursor.0)
        .map_err(|e| expired(entity, format!("not a cursor of this connector: {e}")))?;
    decode(entity, stored.fields.as_deref(), cursor)
}

/// [`Error::CursorExpired`] for an entity.
pub(crate) fn expired(entity: &str, message: impl Into<String>) -> Error {
    Error::CursorExpired {
        connector: CONNECTOR.into(),
        entity: entity.to_owned(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_expire_on_mismatch() {
        let fields = vec!["name".to_owned()];
        let c = encode("accounts", Some(&fields), "link".to_owned());
        let s: String = decode("accounts", Some(&fields), &c).unwrap();
        assert_eq!(s, "link");
        for r in [
            decode::<String>("contacts", Some(&fields), &c),
            decode::<String>("accounts", None, &c),
            decode::<String>("accounts", None, &Cursor::from_text("x")),
        ] {
            assert!(matches!(r, Err(Error::CursorExpired { .. })));
        }
    }
}
