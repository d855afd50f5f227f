//! What a run accumulates between classification and commit: the
//! decisions, the planned writes, counts and errors.

use super::classify::{BaseChange, ConflictNote, Decision, Write};
use super::index::LinkIndex;
use super::write::{Assigned, SideWriter};
use super::{PairConfig, PlannedWrite};
use crate::record::{Key, Record};
use crate::resolve::ResolverKind;
use crate::store::{LinkUpdate, NewConflict, RunCounts, RunError, Side};

/// What a decision leaves to record once the targets have committed: the
/// decision without its writes, which went to the writers. Kept small, as
/// a first run holds one for every record it creates.
pub(super) struct Planned {
    link: Option<u32>,
    a_key: Option<Key>,
    b_key: Option<Key>,
    base: PlannedBase,
    conflict: Option<Box<ConflictNote>>,
    pub(super) closes: Option<i64>,
    day: Option<jiff::civil::Date>,
}

/// A decision's [`BaseChange`], with the record only where it is kept.
enum PlannedBase {
    Keep,
    Remove,
    Hashes {
        hash_a: Option<u64>,
        hash_b: Option<u64>,
    },
    Set {
        hash_a: u64,
        hash_b: u64,
        record: Option<Box<Record>>,
    },
}

/// What a run accumulates between classification and commit.
#[derive(Default)]
pub(super) struct RunState {
    pub(super) plans: Vec<Planned>,
    pub(super) plan: Vec<PlannedWrite>,
    pub(super) counts: RunCounts,
    pub(super) errors: Vec<RunError>,
    /// Whether base records are kept (two-way pairs, for field merges); a
    /// one-way run keeps only keys and hashes until it commits.
    pub(super) keep_base: bool,
}

impl RunState {
    pub(super) fn queue(
        &mut self,
        decisions: impl IntoIterator<Item = Decision>,
        links: &LinkIndex,
        writers: &mut [SideWriter<'_>; 2],
    ) {
        for mut d in decisions {
            let index = self.plans.len();
            for (side, write) in [(Side::A, d.write_a.take()), (Side::B, d.write_b.take())] {
                let Some(write) = write else { continue };
                let created = match side {
                    Side::A => d.a_key.is_none(),
                    Side::B => d.b_key.is_none(),
                };
                let key = match (side, &write) {
                    (_, Write::Delete(k)) => k.clone(),
                    (Side::A, Write::Upsert(r)) => d.a_key.clone().unwrap_or_else(|| r.key.clone()),
                    (Side::B, Write::Upsert(r)) => d.b_key.clone().unwrap_or_else(|| r.key.clone()),
                };
                writers[side as usize].push(
                    index,
                    write,
                    key,
                    created,
                    d.category,
                    d.link.map(|i| links.row(i).clone()),
                    &mut self.counts,
                    &mut self.plan,
                );
            }
            let base = match d.base {
                BaseChange::Keep => PlannedBase::Keep,
                BaseChange::Remove => PlannedBase::Remove,
                BaseChange::Hashes { hash_a, hash_b } => PlannedBase::Hashes { hash_a, hash_b },
                BaseChange::Set {
                    hash_a,
                    hash_b,
                    record,
                } => PlannedBase::Set {
                    hash_a,
                    hash_b,
                    record: self.keep_base.then(|| Box::new(record)),
                },
            };
            self.plans.push(Planned {
                link: d.link,
                a_key: d.a_key,
                b_key: d.b_key,
                base,
                conflict: d.conflict.map(Box::new),
                closes: d.closes,
                day: d.day,
            });
        }
    }

    pub(super) fn assign(&mut self, assigned: Vec<Assigned>) {
        for a in assigned {
            let d = &mut self.plans[a.plan];
            match a.side {
                Side::A => d.a_key = Some(a.key),
                Side::B => d.b_key = Some(a.key),
            }
        }
    }

    pub(super) fn new_conflicts(
        &self,
        links: &LinkIndex,
        resolver: ResolverKind,
    ) -> Vec<NewConflict> {
        self.plans
            .iter()
            .filter_map(|p| {
                let note = p.conflict.as_ref()?;
                let mut conflict = note.conflict.clone();
                conflict.a_key = p.a_key.clone();
                conflict.b_key = p.b_key.clone();
                // A conflict whose link this run removes (a delete won)
                // keeps its keys, not the link.
                let link_id = match p.base {
                    PlannedBase::Remove => None,
                    _ => p.link.map(|i| links.row(i).id),
                };
                Some(NewConflict {
                    link_id,
                    conflict,
                    resolution: note.resolution.clone(),
                    resolved_by: note.resolution.as_ref().map(|_| resolver.name().to_owned()),
                    loser: note.loser.clone(),
                })
            })
            .collect()
    }

    pub(super) fn link_updates(&mut self, links: &LinkIndex) -> (Vec<LinkUpdate>, Vec<i64>) {
        let mut updates = Vec::with_capacity(self.plans.len());
        let mut removed = Vec::new();
        for d in self.plans.drain(..) {
            let id = d.link.map(|i| links.row(i).id);
            match d.base {
                PlannedBase::Keep => {}
                PlannedBase::Remove => removed.extend(id),
                PlannedBase::Hashes { hash_a, hash_b } => updates.push(LinkUpdate {
                    id,
                    a_key: d.a_key,
                    b_key: d.b_key,
                    hash_a,
                    hash_b,
                    base: None,
                    disabled: false,
                    day: d.day,
                }),
                PlannedBase::Set {
                    hash_a,
                    hash_b,
                    record,
                } => updates.push(LinkUpdate {
                    id,
                    a_key: d.a_key,
                    b_key: d.b_key,
                    hash_a: Some(hash_a),
                    hash_b: Some(hash_b),
                    base: record.map(|r| *r),
                    disabled: false,
                    day: d.day,
                }),
            }
        }
        (updates, removed)
    }
}

pub(super) fn canonical(pair: &PairConfig, side: Side, r: Record) -> Record {
    match side {
        Side::A => pair.canonical_a(r),
        Side::B => pair.canonical_b(r),
    }
}

pub(super) fn entity_of(pair: &PairConfig, side: Side) -> &str {
    match side {
        Side::A => &pair.a_entity,
        Side::B => &pair.b_entity,
    }
}

pub(super) fn reject(
    errors: &mut Vec<RunError>,
    counts: &mut RunCounts,
    entity: &str,
    rejected: Vec<crate::error::RecordError>,
) {
    for r in rejected {
        counts.rejected += 1;
        errors.push(RunError {
            entity: Some(entity.to_owned()),
            key: r.key,
            location: Some(r.location),
            message: r.message,
        });
    }
}

/// The classifier's category counts with the writer tallies and rejects.
pub(super) fn merge_counts(categories: &RunCounts, tallies: &RunCounts) -> RunCounts {
    RunCounts {
        conflict: categories.conflict,
        new: categories.new,
        deleted: categories.deleted,
        disabled: categories.disabled,
        synchronized: categories.synchronized,
        inactive: categories.inactive,
        changed_a: categories.changed_a,
        changed_b: categories.changed_b,
        merged: categories.merged,
        ..tallies.clone()
    }
}
