//! The Salesforce cursor: a lookback window of `SystemModstamp`s read
//! again on every incremental read, and the rows of that window already
//! reported, so that a re-read row is reported only when it changed.
//!
//! # Guarantee
//!
//! Salesforce sets `SystemModstamp` while a transaction runs, before it
//! commits, and to the millisecond: a change can become visible after a
//! read that handed out a cursor past its stamp, and changes of one
//! millisecond carry the same stamp. No position in `(SystemModstamp, Id)`
//! order is therefore final. Each read asks again for every row stamped
//! from [`LOOKBACK`] before the newest stamp read (and from
//! `latestDateCovered` of `getDeleted`, when Salesforce holds that back for
//! a long-running transaction), and reports a row of the window only when
//! its content (or its being deleted) differs from what the cursor's reads
//! last reported for its id. A change is missed only when it becomes
//! visible more than [`LOOKBACK`] after its stamp while Salesforce's
//! `latestDateCovered` does not cover it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How far before the newest stamp read a read starts again. An Apex
/// transaction runs for 10 minutes at most (wall clock, the execution
/// governor limit), so a stamp is at most that old when its transaction
/// commits; 5 more minutes cover the spread of the clocks of Salesforce's
/// application servers and the second that SOQL literals drop.
pub(super) const LOOKBACK: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// At most this many rows of the window are remembered (about 50 bytes
/// each in the cursor); beyond it, the rows with the oldest stamps are
/// forgotten and reported again should a read meet them in its window.
/// Reporting an unchanged row again is harmless: the engine finds its
/// content hash equal to the one it stored and counts it synchronized.
pub(super) const MAX_SEEN: usize = 10_000;

/// The content a row was reported with: its stamp (ms) and a hash of its
/// record's content, or [`DELETED`] for a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Seen(pub i64, pub u64);

/// The content hash that stands for a deleted row.
pub(super) const DELETED: u64 = 0;

/// Where a read ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct State {
    /// The newest `SystemModstamp` read so far; for a first read that
    /// found no rows, Salesforce's clock when it answered.
    #[serde(default)]
    newest: Option<jiff::Timestamp>,
    /// The next read asks for the rows stamped at or after this second.
    #[serde(default)]
    from: Option<jiff::Timestamp>,
    /// The rows reported that are stamped at or after `from`, by id.
    #[serde(default)]
    seen: BTreeMap<String, Seen>,
    /// Where the next `getDeleted` starts.
    pub deleted_from: jiff::Timestamp,
    /// The last `(SystemModstamp, Id)` read, in cursors made before the
    /// window: such a cursor starts its window there.
    #[serde(default, skip_serializing)]
    after: Option<(jiff::Timestamp, String)>,
}

impl State {
    /// The state of a full read: nothing seen yet.
    pub fn full(deleted_from: jiff::Timestamp) -> Self {
        State {
            newest: None,
            from: None,
            seen: BTreeMap::new(),
            deleted_from,
            after: None,
        }
    }

    /// Where this read starts: `None` for a full read.
    pub fn from(&self) -> Option<jiff::Timestamp> {
        self.from.or_else(|| {
            let (at, _) = self.after.as_ref()?;
            Some(second(*at - LOOKBACK))
        })
    }

    /// Whether a row read is new to the cursor, remembering it if so.
    pub fn report(&mut self, id: &str, seen: Seen) -> bool {
        let newest = jiff::Timestamp::from_millisecond(seen.0).ok();
        self.newest = self.newest.max(newest);
        self.seen.insert(id.to_owned(), seen) != Some(seen)
    }

    /// The state the next read starts from: its window ends at the newest
    /// stamp read (`fallback`, Salesforce's clock, when none ever was) and
    /// at `covered`, `getDeleted`'s `latestDateCovered`, whichever is
    /// earlier; the rows stamped before it are forgotten.
    pub fn next(mut self, fallback: jiff::Timestamp, covered: Option<jiff::Timestamp>) -> Self {
        let newest = self
            .newest
            .or_else(|| self.after.as_ref().map(|(at, _)| *at))
            .unwrap_or(fallback);
        let mut from = second(newest - LOOKBACK);
        if let Some(covered) = covered {
            from = from.min(second(covered));
        }
        let keep = from.as_millisecond();
        self.seen.retain(|_, s| s.0 >= keep);
        if self.seen.len() > MAX_SEEN {
            let mut rows: Vec<(String, Seen)> =
                std::mem::take(&mut self.seen).into_iter().collect();
            rows.sort_by_key(|(_, s)| s.0);
            self.seen = rows.split_off(rows.len() - MAX_SEEN).into_iter().collect();
        }
        State {
            newest: Some(newest),
            from: Some(from),
            seen: self.seen,
            deleted_from: self.deleted_from,
            after: None,
        }
    }
}

/// An instant floored to the second (SOQL literals have no fractions).
fn second(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_row_is_reported_again_only_when_its_content_changed() {
        let t = at("2024-05-01T10:00:00.250Z").as_millisecond();
        let mut s = State::full(at("2024-05-01T09:00:00Z"));
        assert!(s.report("a", Seen(t, 7)));
        let mut s = s.next(at("2024-05-01T11:00:00Z"), None);
        assert_eq!(s.from(), Some(at("2024-05-01T09:45:00Z")));
        assert!(!s.report("a", Seen(t, 7)), "the same content, read again");
        assert!(s.report("a", Seen(t, 8)), "changed within the millisecond");
        assert!(s.report("a", Seen(t + 1, DELETED)), "deleted");
    }

    #[test]
    fn the_window_follows_the_newest_stamp_and_a_held_back_coverage() {
        let mut s = State::full(at("2024-05-01T09:00:00Z"));
        let old = at("2024-05-01T09:50:00Z").as_millisecond();
        s.report("old", Seen(old, 1));
        s.report(
            "new",
            Seen(at("2024-05-01T10:10:00.900Z").as_millisecond(), 2),
        );
        let s = s.next(at("2024-05-01T12:00:00Z"), None);
        assert_eq!(s.from(), Some(at("2024-05-01T09:55:00Z")));
        assert_eq!(
            s.seen.keys().collect::<Vec<_>>(),
            ["new"],
            "older rows are forgotten"
        );
        let held = s.next(at("2024-05-01T12:00:00Z"), Some(at("2024-05-01T09:30:00Z")));
        assert_eq!(held.from(), Some(at("2024-05-01T09:30:00Z")));
        let empty = State::full(at("2024-05-01T09:00:00Z")).next(at("2024-05-01T12:00:00Z"), None);
        assert_eq!(empty.from(), Some(at("2024-05-01T11:45:00Z")));
    }

    #[test]
    fn the_rows_remembered_are_bounded() {
        let mut s = State::full(at("2024-05-01T09:00:00Z"));
        let base = at("2024-05-01T10:00:00Z").as_millisecond();
        for i in 0..(MAX_SEEN as i64 + 10) {
            s.report(&format!("r{i}"), Seen(base + i, 1));
        }
        let s = s.next(at("2024-05-01T10:00:00Z"), None);
        assert_eq!(s.seen.len(), MAX_SEEN);
        assert!(!s.seen.contains_key("r0") && s.seen.contains_key("r10"));
    }

    #[test]
    fn a_cursor_made_before_the_window_starts_one_at_its_position() {
        let old: State = serde_json::from_str(
            r#"{"after":["2024-05-01T10:00:00.5Z","001A"],"deleted_from":"2024-05-01T09:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(old.from(), Some(at("2024-05-01T09:45:00Z")));
        let next = old.next(at("2024-05-01T12:00:00Z"), None);
        assert_eq!(next.from(), Some(at("2024-05-01T09:45:00Z")));
    }
}
