//! The feed's cursor: the highest `seq` read, and the holes below it, the
//! sequence numbers no read has seen yet, which later reads look into.
//!
//! # Guarantee
//!
//! Every new or changed entry gets the next `seq`, but an adapter may take
//! it before the entry is written (a counter in MongoDB, then the insert),
//! so entries can become visible out of `seq` order: a read that saw `seq`
//! 12 may not have seen 11 yet. A cursor that only kept the highest `seq`
//! would skip 11 for good. This one also keeps, for [`WAIT`] after a read
//! first passed them, the numbers at or below its `seq` that no read has
//! seen (within the last [`SPAN`] numbers), and each read asks again from
//! the lowest of them; an entry read in a hole is reported, and entries
//! read before are not. An entry is missed only when it becomes visible
//! more than [`WAIT`] after a read passed its number, or more than
//! [`SPAN`] numbers below the highest one. Numbers that never appear (an
//! adapter that drops an entry it replaced, a cleaned day, an event
//! removed) are holes until [`WAIT`] has passed, and cost only a re-read.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tandem_core::{Cursor, Error, Result};

use crate::CONNECTOR;

/// How long a number no read has seen is waited for: 10 minutes, far
/// longer than a write to Data Watcher's MongoDB takes to become visible
/// once its number is taken.
pub(crate) const WAIT: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// How far below the highest number holes are kept.
pub(crate) const SPAN: u64 = 100_000;

/// At most this many runs of missing numbers are kept (the highest).
pub(crate) const MAX_HOLES: usize = 10_000;

/// A run of numbers no read has seen: from, to (inclusive), and when a
/// read first passed them (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hole(pub u64, pub u64, pub i64);

/// Where reads of the feed stand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeqCursor {
    /// The highest `seq` read (or listed) so far.
    pub seq: u64,
    /// The numbers at or below `seq` no read has seen yet, in order.
    #[serde(default)]
    pub holes: Vec<Hole>,
}

impl SeqCursor {
    /// Decodes a cursor: `seq:N` (the first format, without holes) or JSON.
    pub fn decode(entity: &str, cursor: &Cursor) -> Result<Self> {
        let text = cursor.as_text();
        let old = text
            .and_then(|t| t.strip_prefix("seq:"))
            .and_then(|n| n.parse().ok())
            .map(|seq| SeqCursor {
                seq,
                holes: Vec::new(),
            });
        old.or_else(|| serde_json::from_slice(&cursor.0).ok())
            .ok_or_else(|| Error::CursorExpired {
                connector: CONNECTOR.into(),
                entity: entity.to_owned(),
                message: "the cursor is not a Data Watcher sequence number".into(),
            })
    }

    /// The cursor's bytes: JSON text.
    pub fn encode(&self) -> Cursor {
        Cursor(serde_json::to_vec(self).expect("cursors serialize"))
    }

    /// A read asks for the entries after this number.
    pub fn start(&self) -> u64 {
        self.holes
            .first()
            .map_or(self.seq, |h| h.0.saturating_sub(1).min(self.seq))
    }

    /// Whether an entry with this number was not read before.
    pub fn is_new(&self, seq: u64) -> bool {
        seq > self.seq || {
            let i = self.holes.partition_point(|h| h.1 < seq);
            self.holes.get(i).is_some_and(|h| h.0 <= seq)
        }
    }

    /// At or below which number a read need not note what it saw.
    pub fn floor(&self, listed: u64) -> u64 {
        self.start().max(listed.saturating_sub(SPAN))
    }

    /// The cursor after a read that listed `listed` as the highest number
    /// and saw the numbers `seen` (every one above [`SeqCursor::floor`]).
    pub fn next(&self, listed: u64, seen: &BTreeSet<u64>, now: jiff::Timestamp) -> SeqCursor {
        let top = self.seq.max(listed).max(seen.last().copied().unwrap_or(0));
        let floor = top.saturating_sub(SPAN);
        let now = now.as_second();
        let expired = now - WAIT.as_secs();
        let mut holes: Vec<Hole> = Vec::new();
        let mut add = |s: u64, at: i64| match holes.last_mut() {
            Some(h) if h.1 + 1 == s && h.2 == at => h.1 = s,
            _ => holes.push(Hole(s, s, at)),
        };
        for h in self.holes.iter().filter(|h| h.2 > expired) {
            for s in h.0.max(floor + 1)..=h.1 {
                if !seen.contains(&s) {
                    add(s, h.2);
                }
            }
        }
        for s in (self.seq + 1).max(floor + 1)..=top {
            if !seen.contains(&s) {
                add(s, now);
            }
        }
        let keep = holes.len().saturating_sub(MAX_HOLES);
        SeqCursor {
            seq: top,
            holes: holes.split_off(keep),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn both_formats_decode() {
        let c = SeqCursor::decode("e", &Cursor::from_text("seq:42")).unwrap();
        assert_eq!(
            c,
            SeqCursor {
                seq: 42,
                holes: vec![]
            }
        );
        let c = SeqCursor {
            seq: 9,
            holes: vec![Hole(3, 4, 100)],
        };
        assert_eq!(SeqCursor::decode("e", &c.encode()).unwrap(), c);
        assert!(matches!(
            SeqCursor::decode("e", &Cursor::from_text("x")),
            Err(Error::CursorExpired { .. })
        ));
    }

    #[test]
    fn numbers_not_seen_are_holes_until_seen_or_waited_for() {
        let start = SeqCursor {
            seq: 10,
            holes: vec![],
        };
        let seen: BTreeSet<u64> = [11, 12, 14, 17].into();
        let c = start.next(16, &seen, at(1000));
        assert_eq!(c.seq, 17);
        assert_eq!(c.holes, [Hole(13, 13, 1000), Hole(15, 16, 1000)]);
        assert_eq!(c.start(), 12);
        assert!(c.is_new(13) && c.is_new(16) && c.is_new(18));
        assert!(!c.is_new(14) && !c.is_new(17) && !c.is_new(12));

        // 15 shows up; 13 and 16 are waited for until WAIT has passed.
        let c = c.next(17, &[15].into(), at(1000 + 60));
        assert_eq!(c.holes, [Hole(13, 13, 1000), Hole(16, 16, 1000)]);
        let c = c.next(17, &BTreeSet::new(), at(1000 + WAIT.as_secs() + 1));
        assert_eq!(c.holes, []);
        assert_eq!(c.start(), 17);
    }

    #[test]
    fn holes_are_kept_within_the_span_and_bounded() {
        let first = SeqCursor::default().next(SPAN + 50, &BTreeSet::new(), at(5));
        assert_eq!(first.holes, [Hole(51, SPAN + 50, 5)]);
        let every_other: BTreeSet<u64> = (1..=2 * MAX_HOLES as u64 + 3).step_by(2).collect();
        let c = SeqCursor::default().next(0, &every_other, at(5));
        assert_eq!(c.holes.len(), MAX_HOLES);
        assert_eq!(c.holes[0], Hole(4, 4, 5), "the lowest are dropped");
        let last = 2 * MAX_HOLES as u64 + 2;
        assert_eq!(c.holes.last(), Some(&Hole(last, last, 5)));
    }
}
