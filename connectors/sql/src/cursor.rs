//! The cursor of an incremental read: the `(cursor column, key)` position
//! of the last row read, as JSON bytes.

use serde::{Deserialize, Serialize};
use tandem_core::{Cursor, Error, Result, Value};

use crate::CONNECTOR;

/// A position in `(cursor column, key)` order, with the values as the
/// database stores them, so that they compare as the database compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// The cursor column's value.
    pub at: Value,
    /// The key columns' values.
    pub key: Vec<Value>,
}

/// What the cursor bytes hold.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    /// The format, for later changes.
    v: u32,
    /// The table the cursor is for.
    table: String,
    /// Rows at or before this position were read; `None` means nothing was.
    after: Option<Position>,
}

/// Encodes a position of a table.
pub(crate) fn encode(table: &str, after: Option<Position>) -> Cursor {
    let stored = Stored {
        v: 1,
        table: table.to_owned(),
        after,
    };
    Cursor(serde_json::to_vec(&stored).expect("cursor values serialize"))
}

/// Decodes a cursor of a table; a cursor of another table or format is
/// [`Error::CursorExpired`], so the engine reads in full.
pub(crate) fn decode(table: &str, cursor: &Cursor) -> Result<Option<Position>> {
    let expired = |message: String| Error::CursorExpired {
        connector: CONNECTOR.into(),
        entity: table.to_owned(),
        message,
    };
    let stored: Stored = serde_json::from_slice(&cursor.0)
        .map_err(|e| expired(format!("not a cursor of this connector: {e}")))?;
    if stored.v != 1 {
        return Err(expired(format!("cursor format {} is not known", stored.v)));
    }
    if stored.table != table {
        return Err(expired(format!(
            "the cursor is for table {:?}",
            stored.table
        )));
    }
    Ok(stored.after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let at: jiff::Timestamp = "2024-01-02T03:04:05.123456Z".parse().unwrap();
        let p = Position {
            at: Value::DateTime(at),
            key: vec![Value::Text("k1".into()), Value::Int(3)],
        };
        let c = encode("t", Some(p.clone()));
        assert_eq!(decode("t", &c).unwrap(), Some(p));
        assert!(matches!(decode("u", &c), Err(Error::CursorExpired { .. })));
        assert!(matches!(
            decode("t", &Cursor::from_text("x")),
            Err(Error::CursorExpired { .. })
        ));
    }
}
