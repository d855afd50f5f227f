//! Classification: every record of a pair into exactly one category, and
//! what the run does about it.
//!
//! One side is read first and its changes held ("prefetched"); the other is
//! then streamed record by record and decided at once, so memory holds the
//! link index and the prefetched side's changes, never a whole side.

use std::collections::{HashMap, HashSet};

mod held;
mod new;

use held::Held;

use super::days::{DayRole, DayScope};
pub use super::decision::{BaseChange, Category, ConflictNote, Decision, Write};
use super::index::LinkIndex;
use super::pair::{Mode, PairConfig};
use super::rules::{apply_resolution, one_way, present, stored_hash};
use crate::merge::three_way;
use crate::record::{Key, Record};
use crate::resolve::{Conflict, Resolution, Resolver};
use crate::store::{RunCounts, Side};

/// One side of a link this run.
#[derive(Clone, Copy)]
pub(super) enum Now<'r> {
    Same(Option<&'r Record>),
    Changed(&'r Record, u64),
    Gone,
}

/// What the prefetched side holds after its read.
#[derive(Default)]
struct Prefetched {
    snapshot: bool,
    read: u64,
    changed: HashMap<u32, (Record, u64)>,
    deleted: HashSet<u32>,
    seen: Vec<bool>,
    new: Vec<Record>,
    claimed: Vec<bool>,
    by_match: HashMap<String, usize>,
}

/// Classifies and decides the records of one run.
pub struct Classifier<'a> {
    pair: &'a PairConfig,
    links: &'a LinkIndex,
    resolver: &'a dyn Resolver,
    mode: Mode,
    force: bool,
    prefetched_side: Side,
    p: Prefetched,
    s_seen: Vec<bool>,
    s_read: u64,
    decided: Vec<bool>,
    bases: HashMap<i64, Record>,
    pending: HashMap<i64, i64>,
    days: Option<DayScope>,
    current_day: Option<jiff::civil::Date>,
    undated: Vec<(Key, String)>,
    counts: RunCounts,
    decisions: Vec<Decision>,
    deletes: [u64; 2],
    held: Held,
    /// The records listed per category (`limit`, listed so far).
    listed: (usize, Vec<super::ListedRecord>),
}

impl<'a> Classifier<'a> {
    /// A classifier for one run. `prefetched_side` is read first.
    /// `pending` maps link ids to their pending conflict ids.
    pub fn new(
        pair: &'a PairConfig,
        links: &'a LinkIndex,
        resolver: &'a dyn Resolver,
        mode: Mode,
        force: bool,
        prefetched_side: Side,
        pending: HashMap<i64, i64>,
    ) -> Self {
        let n = links.len();
        Classifier {
            pair,
            links,
            resolver,
            mode,
            force,
            prefetched_side,
            p: Prefetched {
                seen: vec![false; n],
                ..Default::default()
            },
            s_seen: vec![false; n],
            s_read: 0,
            decided: vec![false; n],
            bases: HashMap::new(),
            pending,
            counts: RunCounts::default(),
            decisions: Vec::new(),
            deletes: [0, 0],
            days: None,
            current_day: None,
            undated: Vec::new(),
            held: Held::default(),
            listed: (0, Vec::new()),
        }
    }

    /// Lists up to `per_category` records of each category as they are
    /// decided.
    pub fn list(&mut self, per_category: usize) {
        self.listed.0 = per_category;
    }

    /// The records listed per category.
    pub fn take_listed(&mut self) -> Vec<super::ListedRecord> {
        std::mem::take(&mut self.listed.1)
    }

    /// Classifies by day: records of held days only mark them stale, records
    /// outside the period are left alone.
    pub fn set_days(&mut self, scope: DayScope) {
        self.days = Some(scope);
    }

    /// The day scope, with the events counted and the days gone stale.
    pub fn days(&self) -> Option<&DayScope> {
        self.days.as_ref()
    }

    /// Records whose event time could not be read (key, message).
    pub fn undated(&self) -> &[(Key, String)] {
        &self.undated
    }

    /// Whether a record goes on to be classified: `false` for a record of a
    /// held day (which goes stale if the record changed) or outside the
    /// period, or one without a readable event time. `count`: this is where
    /// the record is counted (a held record counts as synchronized, or as
    /// changed when its day goes stale).
    fn gate(
        &mut self,
        side: Side,
        record: Option<&Record>,
        link: Option<u32>,
        changed: bool,
        count: bool,
    ) -> bool {
        let Some(scope) = self.days.as_mut() else {
            return true;
        };
        let link_day = link.and_then(|i| self.links.row(i).day);
        let day = record.and_then(|r| scope.day(r)).or(link_day);
        let Some(day) = day else {
            if scope.period().is_some() {
                return false;
            }
            if let Some(r) = record.filter(|_| side == Side::A) {
                self.undated.push((
                    r.key.clone(),
                    format!("field {:?} holds no readable event time", scope.field()),
                ));
                return false;
            }
            return true;
        };
        self.current_day = Some(day);
        match scope.role(day) {
            DayRole::Ignore => false,
            DayRole::Hold => {
                if changed {
                    scope.mark_stale(day);
                }
                if count {
                    let category = match (changed, side) {
                        (false, _) => Category::Synchronized,
                        (true, Side::A) => Category::ChangedA,
                        (true, Side::B) => Category::ChangedB,
                    };
                    category.bump(&mut self.counts);
                }
                false
            }
            DayRole::Apply => {
                if side == Side::A && record.is_some() {
                    scope.count(day);
                }
                true
            }
        }
    }

    /// The side that is streamed after the prefetched one.
    pub fn streamed_side(&self) -> Side {
        self.prefetched_side.other()
    }

    /// Takes in one record of the prefetched side (in the pair's names).
    pub fn prefetched(&mut self, record: Record) {
        self.p.read += 1;
        let side = self.prefetched_side;
        match self.links.find(side, &record.key) {
            Some(i) => {
                self.p.seen[i as usize] = true;
                if self.held.has(i) || !self.pair.in_filter(&record) {
                    return;
                }
                let hash = record.content_hash();
                let changed = stored_hash(self.links, i, side) != Some(hash);
                if self.gate(side, Some(&record), Some(i), changed, false) && changed {
                    self.p.changed.insert(i, (record, hash));
                }
            }
            None if self.pair.in_filter(&record)
                && self.gate(side, Some(&record), None, true, true) =>
            {
                self.p.new.push(record);
            }
            None => {}
        }
    }

    /// Takes in a delete reported by the prefetched side.
    pub fn prefetched_delete(&mut self, key: &Key) {
        if let Some(i) = self.links.find(self.prefetched_side, key)
            && !self.held.has(i)
        {
            self.p.changed.remove(&i);
            if self.gate(self.prefetched_side, None, Some(i), true, false) {
                self.p.deleted.insert(i);
            }
        }
    }

    /// Ends the prefetched side's read. `snapshot`: the read was full, so a
    /// linked record it did not return is gone.
    pub fn end_prefetch(&mut self, snapshot: bool) {
        self.p.snapshot = snapshot && !self.blind(self.prefetched_side);
        self.p.claimed = vec![false; self.p.new.len()];
        for (i, r) in self.p.new.iter().enumerate() {
            if let Some(m) = self.pair.match_value(r) {
                self.p.by_match.entry(m).or_insert(i);
            }
        }
    }

    /// The link ids whose stored base a merge may need: those changed on
    /// the prefetched side.
    pub fn base_ids_needed(&self) -> Vec<i64> {
        self.p
            .changed
            .keys()
            .map(|&i| self.links.row(i).id)
            .collect()
    }

    /// Hands over the stored bases asked for by [`Self::base_ids_needed`].
    pub fn set_bases(&mut self, bases: HashMap<i64, Record>) {
        self.bases = bases;
    }

    /// The local changes on A that a `receive` run would discard.
    pub fn unsent_on_a(&self) -> u64 {
        if self.prefetched_side != Side::A {
            return 0;
        }
        let gone = if self.p.snapshot {
            (0..self.links.len())
                .filter(|&i| {
                    !self.p.seen[i]
                        && self.links.rows()[i].a_key.is_some()
                        && !self.links.rows()[i].disabled
                })
                .count() as u64
        } else {
            self.p.deleted.len() as u64
        };
        self.p.changed.len() as u64 + gone + self.p.new.len() as u64
    }

    /// Takes in one record of the streamed side (in the pair's names).
    pub fn streamed(&mut self, record: Record) {
        self.s_read += 1;
        let side = self.streamed_side();
        match self.links.find(side, &record.key) {
            Some(i) => {
                let iu = i as usize;
                self.s_seen[iu] = true;
                if self.decided[iu] || !self.pair.in_filter(&record) {
                    return;
                }
                let hash = record.content_hash();
                let same = stored_hash(self.links, i, side) == Some(hash);
                let p_changed = !matches!(self.p_now(i), Now::Same(_));
                if !self.gate(side, Some(&record), Some(i), !same || p_changed, true) {
                    self.decided[iu] = true;
                    return;
                }
                let now = if same {
                    Now::Same(Some(&record))
                } else {
                    Now::Changed(&record, hash)
                };
                self.decide_link(i, now);
            }
            None if self.pair.in_filter(&record)
                && self.gate(side, Some(&record), None, true, true) =>
            {
                self.streamed_new(record);
            }
            None => {}
        }
    }

    /// Takes in a delete reported by the streamed side.
    pub fn streamed_delete(&mut self, key: &Key) {
        if let Some(i) = self.links.find(self.streamed_side(), key)
            && !self.decided[i as usize]
        {
            self.s_seen[i as usize] = true;
            if self.gate(self.streamed_side(), None, Some(i), true, true) {
                self.decide_link(i, Now::Gone);
            } else {
                self.decided[i as usize] = true;
            }
        }
    }

    /// The decisions made so far, to apply. The buffer is kept for the
    /// next batch, so that a run does not grow a new one every batch.
    pub fn drain_decisions(&mut self) -> std::vec::Drain<'_, Decision> {
        self.decisions.drain(..)
    }

    /// Ends the streamed side's read and decides every remaining record.
    pub fn finish(&mut self, snapshot: bool) {
        let snapshot = snapshot && !self.blind(self.streamed_side());
        for i in 0..self.links.len() as u32 {
            if self.decided[i as usize] {
                continue;
            }
            let now = if snapshot && !self.s_seen[i as usize] {
                Now::Gone
            } else {
                Now::Same(None)
            };
            let changed = matches!(now, Now::Gone) || !matches!(self.p_now(i), Now::Same(_));
            self.current_day = None;
            if self.gate(self.streamed_side(), None, Some(i), changed, true) {
                self.decide_link(i, now);
            }
        }
        let p_side = self.prefetched_side;
        for j in 0..self.p.new.len() {
            if self.p.claimed[j]
                || self
                    .held
                    .new_on(self.streamed_side(), self.pair, &self.p.new[j].key)
            {
                continue;
            }
            let record = self.p.new[j].clone();
            self.current_day = self.days.as_ref().and_then(|s| s.day(&record));
            self.unmatched_new(p_side, record);
        }
    }

    /// Counts per category, and deletes planned per side.
    pub fn counts(&self) -> &RunCounts {
        &self.counts
    }

    /// Deletes planned on a side.
    pub fn deletes(&self, side: Side) -> u64 {
        self.deletes[side as usize]
    }

    /// Records read from (prefetched, streamed) side.
    pub fn read_counts(&self) -> (u64, u64) {
        (self.p.read, self.s_read)
    }

    fn p_now(&self, i: u32) -> Now<'_> {
        if let Some((r, h)) = self.p.changed.get(&i) {
            Now::Changed(r, *h)
        } else if self.p.deleted.contains(&i) || (self.p.snapshot && !self.p.seen[i as usize]) {
            Now::Gone
        } else {
            Now::Same(None)
        }
    }

    fn decide_link(&mut self, i: u32, s_now: Now<'_>) {
        self.decided[i as usize] = true;
        if self.held.has(i) {
            // A side could not read this record: it is held as it is.
            return;
        }
        let row = self.links.row(i);
        let mut d = Decision {
            category: Category::Synchronized,
            link: Some(i),
            a_key: row.a_key.clone(),
            b_key: row.b_key.clone(),
            write_a: None,
            write_b: None,
            base: BaseChange::Keep,
            conflict: None,
            closes: None,
            day: None,
        };
        if row.disabled || row.a_key.is_none() || row.b_key.is_none() {
            d.category = Category::Disabled;
            return self.push(d);
        }
        let p_now = self.p_now(i);
        let (a, b) = match self.prefetched_side {
            Side::A => (p_now, s_now),
            Side::B => (s_now, p_now),
        };
        if [present(a), present(b)]
            .into_iter()
            .flatten()
            .any(|r| self.pair.is_inactive(r))
        {
            d.category = Category::Inactive;
            return self.push(d);
        }
        let pending = self.pending.get(&row.id).copied();
        if let Some(id) = pending {
            self.hold_pending(&mut d, id, a, b);
            return self.push(d);
        }
        match self.mode {
            // A forced send restores what B changed or lost, where B was
            // read (a reload of a B that lost its records).
            Mode::Send => one_way(&mut d, a, b, Side::A, self.force),
            Mode::Receive => one_way(&mut d, b, a, Side::B, self.force),
            Mode::TwoWay | Mode::Full => self.two_way(&mut d, a, b, pending),
        }
        if d.closes.is_none() && pending.is_some() && d.category != Category::Conflict {
            d.closes = pending;
        }
        self.push(d);
    }

    /// A conflict waiting for a person holds the record on both sides until
    /// it is resolved, or until both sides come to hold the same content
    /// (or both delete it), which closes it. Meanwhile the link follows
    /// each side's current content, so that a side re-read later still
    /// shows whether the two have met.
    fn hold_pending(&self, d: &mut Decision, id: i64, a: Now<'_>, b: Now<'_>) {
        let i = d.link.expect("a pending conflict's record is linked");
        // The content each side holds now; `None`: deleted.
        let hash = |now: Now<'_>, side| match now {
            Now::Changed(_, h) => Some(h),
            Now::Same(_) => stored_hash(self.links, i, side),
            Now::Gone => None,
        };
        let (ha, hb) = (hash(a, Side::A), hash(b, Side::B));
        match (ha, hb) {
            (None, None) => {
                d.category = Category::Deleted;
                d.base = BaseChange::Remove;
                d.closes = Some(id);
                return;
            }
            (Some(x), Some(y)) if x == y && x != 0 => {
                d.closes = Some(id);
                d.base = match (present(a), present(b)) {
                    (Some(r), _) | (None, Some(r)) => BaseChange::Set {
                        hash_a: x,
                        hash_b: y,
                        record: r.clone(),
                    },
                    (None, None) => BaseChange::Hashes {
                        hash_a: ha,
                        hash_b: hb,
                    },
                };
                return;
            }
            _ => {}
        }
        d.category = Category::Conflict;
        if !matches!((a, b), (Now::Same(_), Now::Same(_))) {
            d.base = BaseChange::Hashes {
                hash_a: ha,
                hash_b: hb,
            };
        }
    }

    fn two_way(&self, d: &mut Decision, a: Now<'_>, b: Now<'_>, pending: Option<i64>) {
        let id = self.links.row(d.link.unwrap_or_default()).id;
        match (a, b) {
            (Now::Same(_), Now::Same(_)) => {}
            (Now::Changed(ra, ha), Now::Same(_)) => {
                d.category = Category::ChangedA;
                d.write_b = Some(Write::Upsert(ra.clone()));
                d.base = BaseChange::Set {
                    hash_a: ha,
                    hash_b: ha,
                    record: ra.clone(),
                };
            }
            (Now::Same(_), Now::Changed(rb, hb)) => {
                d.category = Category::ChangedB;
                d.write_a = Some(Write::Upsert(rb.clone()));
                d.base = BaseChange::Set {
                    hash_a: hb,
                    hash_b: hb,
                    record: rb.clone(),
                };
            }
            (Now::Changed(ra, ha), Now::Changed(rb, hb)) if ha == hb || ra.same_content(rb) => {
                d.base = BaseChange::Set {
                    hash_a: ha,
                    hash_b: hb,
                    record: ra.clone(),
                };
            }
            (Now::Changed(ra, _), Now::Changed(rb, _)) => {
                let base = self.bases.get(&id);
                if let Some(base) = base {
                    let outcome = three_way(base, ra, rb);
                    if outcome.conflicting.is_empty() {
                        let h = outcome.merged.content_hash();
                        d.category = Category::Merged;
                        d.write_a = Some(Write::Upsert(outcome.merged.clone()));
                        d.write_b = Some(Write::Upsert(outcome.merged.clone()));
                        d.base = BaseChange::Set {
                            hash_a: h,
                            hash_b: h,
                            record: outcome.merged,
                        };
                        return;
                    }
                }
                self.conflict(d, Some(ra), Some(rb), base.cloned(), pending);
            }
            (Now::Gone, Now::Same(_)) => {
                d.category = Category::Deleted;
                d.write_b = d.b_key.clone().map(Write::Delete);
                d.base = BaseChange::Remove;
            }
            (Now::Same(_), Now::Gone) => {
                d.category = Category::Deleted;
                d.write_a = d.a_key.clone().map(Write::Delete);
                d.base = BaseChange::Remove;
            }
            (Now::Gone, Now::Gone) => {
                d.category = Category::Deleted;
                d.base = BaseChange::Remove;
            }
            (Now::Gone, Now::Changed(rb, _)) => {
                self.conflict(d, None, Some(rb), self.bases.get(&id).cloned(), pending)
            }
            (Now::Changed(ra, _), Now::Gone) => {
                self.conflict(d, Some(ra), None, self.bases.get(&id).cloned(), pending)
            }
        }
    }

    fn conflict(
        &self,
        d: &mut Decision,
        a: Option<&Record>,
        b: Option<&Record>,
        base: Option<Record>,
        pending: Option<i64>,
    ) {
        d.category = Category::Conflict;
        let conflict = Conflict {
            a_key: d.a_key.clone(),
            b_key: d.b_key.clone(),
            a: a.cloned(),
            b: b.cloned(),
            base,
        };
        let resolution = self.resolver.resolve(&conflict);
        apply_resolution(d, &resolution, a, b);
        let loser = match resolution {
            Resolution::TakeA => b.cloned(),
            Resolution::TakeB => a.cloned(),
            _ => None,
        };
        match resolution {
            Resolution::Defer if pending.is_some() => {}
            Resolution::Defer => {
                // Held for a person: the link follows what each side holds.
                d.base = BaseChange::Hashes {
                    hash_a: a.map(Record::content_hash),
                    hash_b: b.map(Record::content_hash),
                };
                d.conflict = Some(ConflictNote {
                    conflict,
                    resolution: None,
                    loser: None,
                })
            }
            r => {
                d.closes = pending;
                d.conflict = Some(ConflictNote {
                    conflict,
                    resolution: Some(r),
                    loser,
                });
            }
        }
    }

    fn push(&mut self, mut d: Decision) {
        if self.days.is_some() {
            d.day = self
                .current_day
                .or_else(|| d.link.and_then(|i| self.links.row(i).day));
        }
        d.category.bump(&mut self.counts);
        if self.listed.0 > 0 && d.category.count(&self.counts) <= self.listed.0 as u64 {
            let key = |k: &Option<Key>| k.as_ref().map(|k| k.0.to_string());
            let action = [(Side::A, &d.write_a), (Side::B, &d.write_b)]
                .into_iter()
                .filter_map(|(side, w)| {
                    let what = match w.as_ref()? {
                        Write::Upsert(_) => "upsert",
                        Write::Delete(_) => "delete",
                    };
                    Some(format!("{} {what}", side.as_str()))
                })
                .collect::<Vec<_>>();
            self.listed.1.push(super::ListedRecord {
                category: d.category,
                a_key: key(&d.a_key),
                b_key: key(&d.b_key),
                action: (!action.is_empty()).then(|| action.join(", ")),
            });
        }
        if matches!(d.write_a, Some(Write::Delete(_))) {
            self.deletes[Side::A as usize] += 1;
        }
        if matches!(d.write_b, Some(Write::Delete(_))) {
            self.deletes[Side::B as usize] += 1;
        }
        let trivial = d.write_a.is_none()
            && d.write_b.is_none()
            && d.base == BaseChange::Keep
            && d.conflict.is_none()
            && d.closes.is_none();
        if !trivial {
            self.decisions.push(d);
        }
    }
}
