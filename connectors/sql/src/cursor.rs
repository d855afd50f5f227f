//! The cursor of an incremental read, as JSON bytes: the `(cursor column,
//! key)` position read up to and, for a timestamp cursor column, the
//! lookback window read again and the rows of it already reported.
//!
//! # Guarantee
//!
//! A timestamp cursor column is stamped by whoever writes the row, while
//! the transaction runs: PostgreSQL's `now()` is the time the transaction
//! began, and any writer's clock reads before its commit. A transaction
//! that commits after a read, with a stamp older than the newest stamp that
//! read saw, would be invisible to every read after it if reads went on
//! from the last position. So each read of a table whose cursor column is
//! a timestamp asks again for the rows stamped within the table's lookback
//! window (`lookback_seconds`, default [`DEFAULT_LOOKBACK_SECONDS`]) before
//! the newest stamp read (or before now, should a stamp lie in the future),
//! and reports a row of that window only when its stamp or content differs
//! from what was reported for its key before. A change is missed only when
//! its transaction commits more than the window after its stamp (or its
//! stamp is older than that, by a writer's clock behind the others).
//!
//! A cursor column of another type (a number from a sequence, say) has no
//! window: reads go on after the last `(cursor, key)` position, which
//! misses nothing only when values are assigned in commit order (a single
//! writer, or values assigned at commit).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tandem_core::{Cursor, Error, Result, Value};

use crate::CONNECTOR;

/// The lookback window of a timestamp cursor column unless the table sets
/// `lookback_seconds`: 10 minutes. Ordinary transactions commit well within
/// it; a writer that holds a transaction open longer (a batch job) needs a
/// larger one.
pub(crate) const DEFAULT_LOOKBACK_SECONDS: u64 = 600;

/// At most this many rows of the window are remembered (some 60 bytes each
/// in the cursor); beyond it, those with the oldest stamps are forgotten
/// and reported again should a read meet them in its window. Reporting an
/// unchanged row again is harmless: the engine finds its content hash
/// equal to the one it stored and counts it synchronized.
pub(crate) const MAX_SEEN: usize = 10_000;

/// The cursor format.
const VERSION: u32 = 2;

/// A position in `(cursor column, key)` order, with the values as the
/// database stores them, so that they compare as the database compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// The cursor column's value.
    pub at: Value,
    /// The key columns' values.
    pub key: Vec<Value>,
}

/// A row as reported: its stamp (microseconds) and its content hash (0 for
/// a delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen(pub i64, pub u64);

impl Seen {
    /// A row reported as a change: an upsert with its content hash (never
    /// 0), or a delete (`None`).
    pub fn new(at: jiff::Timestamp, hash: Option<u64>) -> Self {
        Seen(at.as_microsecond(), hash.map_or(0, |h| h.max(1)))
    }
}

/// The lookback window of a timestamp cursor column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Window {
    /// The next read asks for the rows stamped at or after this instant.
    pub from: Option<jiff::Timestamp>,
    /// The rows reported that are stamped at or after `from`, by key.
    pub seen: BTreeMap<String, Seen>,
}

impl Window {
    /// Whether a row read is new to the cursor, remembering it if so.
    pub fn report(&mut self, key: &str, seen: Seen) -> bool {
        self.seen.insert(key.to_owned(), seen) != Some(seen)
    }

    /// The window of the next read: `lookback` before `newest` (the newest
    /// stamp read) or before now, whichever is earlier; rows stamped
    /// before it are forgotten, and the most recent [`MAX_SEEN`] kept.
    pub fn next(mut self, newest: jiff::Timestamp, lookback: jiff::SignedDuration) -> Self {
        let from = newest.min(jiff::Timestamp::now()) - lookback;
        let keep = from.as_microsecond();
        self.seen.retain(|_, s| s.0 >= keep);
        self.trim();
        Window {
            from: Some(from),
            seen: self.seen,
        }
    }

    /// Keeps the [`MAX_SEEN`] rows with the newest stamps.
    pub fn trim(&mut self) {
        if self.seen.len() > MAX_SEEN {
            let mut rows: Vec<(String, Seen)> =
                std::mem::take(&mut self.seen).into_iter().collect();
            rows.sort_by_key(|(_, s)| s.0);
            self.seen = rows.split_off(rows.len() - MAX_SEEN).into_iter().collect();
        }
    }
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
    /// The lookback window (format 1 had none).
    #[serde(default)]
    window: Option<Window>,
}

/// Where a read ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct State {
    /// The position read up to.
    pub after: Option<Position>,
    /// The window of a timestamp cursor column; `None` in a cursor made
    /// before there were windows, or of another column type.
    pub window: Option<Window>,
}

/// Encodes where a read of a table ended.
pub(crate) fn encode(table: &str, state: State) -> Cursor {
    let stored = Stored {
        v: VERSION,
        table: table.to_owned(),
        after: state.after,
        window: state.window,
    };
    Cursor(serde_json::to_vec(&stored).expect("cursor values serialize"))
}

/// Decodes a cursor of a table; a cursor of another table or format is
/// [`Error::CursorExpired`], so the engine reads in full.
pub(crate) fn decode(table: &str, cursor: &Cursor) -> Result<State> {
    let expired = |message: String| Error::CursorExpired {
        connector: CONNECTOR.into(),
        entity: table.to_owned(),
        message,
    };
    let stored: Stored = serde_json::from_slice(&cursor.0)
        .map_err(|e| expired(format!("not a cursor of this connector: {e}")))?;
    if !(1..=VERSION).contains(&stored.v) {
        return Err(expired(format!("cursor format {} is not known", stored.v)));
    }
    if stored.table != table {
        return Err(expired(format!(
            "the cursor is for table {:?}",
            stored.table
        )));
    }
    Ok(State {
        after: stored.after,
        window: stored.window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn states_round_trip() {
        let p = Position {
            at: Value::DateTime(at("2024-01-02T03:04:05.123456Z")),
            key: vec![Value::Text("k1".into()), Value::Int(3)],
        };
        let mut window = Window::default();
        window.report("k1", Seen::new(at("2024-01-02T03:04:05Z"), Some(9)));
        let state = State {
            after: Some(p),
            window: Some(window),
        };
        let c = encode("t", state.clone());
        assert_eq!(decode("t", &c).unwrap(), state);
        assert!(matches!(decode("u", &c), Err(Error::CursorExpired { .. })));
        assert!(matches!(
            decode("t", &Cursor::from_text("x")),
            Err(Error::CursorExpired { .. })
        ));
        let old = Cursor::from_text(r#"{"v":1,"table":"t","after":null}"#);
        assert_eq!(decode("t", &old).unwrap(), State::default());
    }

    #[test]
    fn a_row_is_reported_again_only_when_it_changed() {
        let t = at("2024-01-02T03:04:05Z");
        let mut w = Window::default();
        assert!(w.report("k", Seen::new(t, Some(5))));
        assert!(!w.report("k", Seen::new(t, Some(5))));
        assert!(w.report("k", Seen::new(t, Some(6))), "changed, same stamp");
        assert!(w.report("k", Seen::new(t, None)), "deleted");
        assert!(!w.report("k", Seen::new(t, None)));
    }

    #[test]
    fn the_window_ends_at_the_newest_stamp_or_now_and_is_bounded() {
        let ten = jiff::SignedDuration::from_mins(10);
        let mut w = Window::default();
        w.report("old", Seen::new(at("2024-01-02T02:00:00Z"), Some(1)));
        w.report("new", Seen::new(at("2024-01-02T02:55:00Z"), Some(1)));
        let w = w.next(at("2024-01-02T03:00:00Z"), ten);
        assert_eq!(w.from, Some(at("2024-01-02T02:50:00Z")));
        assert_eq!(w.seen.keys().collect::<Vec<_>>(), ["new"]);

        let future = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
        let w = Window::default().next(future, ten);
        assert!(w.from.unwrap() < jiff::Timestamp::now() - jiff::SignedDuration::from_mins(9));

        let mut w = Window::default();
        let now = jiff::Timestamp::now();
        for i in 0..(MAX_SEEN as i64 + 5) {
            let t = now - jiff::SignedDuration::from_micros(MAX_SEEN as i64 + 5 - i);
            w.report(&format!("k{i}"), Seen::new(t, Some(1)));
        }
        let w = w.next(now, ten);
        assert_eq!(w.seen.len(), MAX_SEEN);
        assert!(!w.seen.contains_key("k4") && w.seen.contains_key("k5"));
    }
}
