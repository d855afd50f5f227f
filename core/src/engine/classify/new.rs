//! Records with no link: paired by the match rule, or new on one side.

use super::{BaseChange, Category, Classifier, Decision, Now, Write};
use crate::engine::pair::Mode;
use crate::engine::rules::one_way;
use crate::record::Record;
use crate::store::Side;

impl Classifier<'_> {
    pub(super) fn streamed_new(&mut self, record: Record) {
        let side = self.streamed_side();
        let found = self
            .pair
            .match_value(&record)
            .and_then(|m| self.p.by_match.get(&m).copied())
            .filter(|&j| !self.p.claimed[j]);
        match found {
            Some(j) => {
                self.p.claimed[j] = true;
                let theirs = self.p.new[j].clone();
                let (a, b) = match side {
                    Side::A => (record, theirs),
                    Side::B => (theirs, record),
                };
                self.paired(a, b);
            }
            None if self
                .held
                .new_on(self.prefetched_side, self.pair, &record.key) => {}
            None => self.unmatched_new(side, record),
        }
    }

    /// Two unlinked records that the match rule pairs.
    fn paired(&mut self, a: Record, b: Record) {
        let mut d = Decision {
            category: Category::New,
            link: None,
            a_key: Some(a.key.clone()),
            b_key: Some(b.key.clone()),
            write_a: None,
            write_b: None,
            base: BaseChange::Keep,
            conflict: None,
            closes: None,
            day: None,
        };
        if self.pair.is_inactive(&a) || self.pair.is_inactive(&b) {
            d.category = Category::Inactive;
            return self.push(d);
        }
        let (ha, hb) = (a.content_hash(), b.content_hash());
        if ha == hb || a.same_content(&b) {
            d.base = BaseChange::Set {
                hash_a: ha,
                hash_b: hb,
                record: a,
            };
            return self.push(d);
        }
        match self.mode {
            Mode::Send => one_way(
                &mut d,
                Now::Changed(&a, ha),
                Now::Changed(&b, hb),
                Side::A,
                false,
            ),
            Mode::Receive => one_way(
                &mut d,
                Now::Changed(&b, hb),
                Now::Changed(&a, ha),
                Side::B,
                self.force,
            ),
            Mode::TwoWay | Mode::Full => {
                self.conflict(&mut d, Some(&a), Some(&b), None, None);
                if matches!(d.base, BaseChange::Keep) {
                    // Left as they are: linked with no base, so the next run
                    // finds both changed and asks the resolver again.
                    d.base = BaseChange::Set {
                        hash_a: 0,
                        hash_b: 0,
                        record: Record::new(a.key.clone()),
                    };
                }
            }
        }
        d.category = if d.conflict.is_some() {
            Category::Conflict
        } else {
            Category::New
        };
        self.push(d);
    }

    /// A record on `side` with no link and no match.
    pub(super) fn unmatched_new(&mut self, side: Side, record: Record) {
        let mut d = Decision {
            category: Category::New,
            link: None,
            a_key: None,
            b_key: None,
            write_a: None,
            write_b: None,
            base: BaseChange::Keep,
            conflict: None,
            closes: None,
            day: None,
        };
        if self.pair.is_inactive(&record) {
            d.category = Category::Inactive;
            return self.push(d);
        }
        let flows = match self.mode {
            Mode::TwoWay | Mode::Full => true,
            Mode::Send => side == Side::A,
            Mode::Receive => side == Side::B,
        };
        let key = record.key.clone();
        if flows {
            let h = record.content_hash();
            // A one-way run does not copy the record it writes.
            let base = match self.mode.keeps_base() || self.pair.mode.keeps_base() {
                true => record.clone(),
                false => Record::new(key.clone()),
            };
            // The key on the other side is the one its target assigns.
            let write = Some(Write::Upsert(record));
            match side {
                Side::A => (d.a_key, d.write_b) = (Some(key), write),
                Side::B => (d.b_key, d.write_a) = (Some(key), write),
            }
            d.base = BaseChange::Set {
                hash_a: h,
                hash_b: h,
                record: base,
            };
        } else if self.mode == Mode::Receive && self.force {
            // A replica of B: what only A has goes.
            d.write_a = Some(Write::Delete(key));
        }
        self.push(d);
    }
}
