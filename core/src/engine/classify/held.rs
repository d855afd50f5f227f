//! Records a side could not read, held back from the run.

use std::collections::HashSet;

use super::Classifier;
use crate::engine::pair::{MatchRule, PairConfig};
use crate::record::Key;
use crate::store::Side;

/// What rejected records hold back this run: a record a side could not
/// read is neither changed nor deleted on the other side, and a side with
/// an unreadable key says nothing of what is gone.
#[derive(Default)]
pub(super) struct Held {
    /// Links whose record a side could not read.
    pub(super) links: HashSet<u32>,
    /// Keys per side of unlinked records a side could not read (under the
    /// key match rule, the other side's record of that key is not copied
    /// over it).
    pub(super) new: [HashSet<Key>; 2],
    /// Sides that rejected a record without a readable key: no delete is
    /// inferred from what their read did not return.
    pub(super) blind: [bool; 2],
}

impl Held {
    /// Whether a link is held (no hashing while nothing is).
    pub(super) fn has(&self, i: u32) -> bool {
        !self.links.is_empty() && self.links.contains(&i)
    }

    /// Whether `side` could not read an unlinked record that the key match
    /// rule pairs with `key`.
    pub(super) fn new_on(&self, side: Side, pair: &PairConfig, key: &Key) -> bool {
        let held = &self.new[side as usize];
        !held.is_empty() && pair.match_rule == MatchRule::Key && held.contains(key)
    }
}

impl Classifier<'_> {
    /// Takes in a record `side` could not read (`on_bad_record = "skip"`).
    /// With its key, its link (or, unlinked, its key) is held: nothing is
    /// written for it on either side this run. Without a key, the side's
    /// read is no longer taken as complete, so no delete is inferred from
    /// it.
    pub fn rejected(&mut self, side: Side, key: Option<&str>) {
        let Some(key) = key else {
            self.held.blind[side as usize] = true;
            return;
        };
        let key = Key::from(key);
        match self.links.find(side, &key) {
            Some(i) => {
                self.held.links.insert(i);
                if side == self.prefetched_side {
                    self.p.seen[i as usize] = true;
                    self.p.changed.remove(&i);
                    self.p.deleted.remove(&i);
                } else {
                    self.s_seen[i as usize] = true;
                }
            }
            None => {
                self.held.new[side as usize].insert(key);
            }
        }
    }

    /// Whether a side rejected a record whose key could not be read, so
    /// that no delete was inferred from its read.
    pub fn blind(&self, side: Side) -> bool {
        self.held.blind[side as usize]
    }
}
