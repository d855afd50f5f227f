//! Conflicts, the `Resolver` trait and the built-in resolvers.

use serde::{Deserialize, Serialize};

use crate::merge::three_way;
use crate::record::{Key, Record};

/// A linked record that changed on both sides, differently.
///
/// Records are in the pair's field names (side A's names after mapping).
/// `None` on a side means the record was deleted there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The key on side A.
    pub a_key: Option<Key>,
    /// The key on side B.
    pub b_key: Option<Key>,
    /// Side A's version, or `None` if A deleted it.
    pub a: Option<Record>,
    /// Side B's version, or `None` if B deleted it.
    pub b: Option<Record>,
    /// The last synchronized version, when known.
    pub base: Option<Record>,
}

/// What to do with a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Resolution {
    /// Keep A's version (or A's delete) on both sides.
    TakeA,
    /// Keep B's version (or B's delete) on both sides.
    TakeB,
    /// Write this record to both sides.
    Merged(Record),
    /// Leave both sides as they are this run.
    Skip,
    /// Queue it for a person to resolve (the sync window's conflict list).
    Defer,
}

/// Decides conflicts.
///
/// # Contract
///
/// `resolve` is pure: the same conflict gives the same resolution, and it
/// does no I/O. The engine records the losing version of every resolution.
pub trait Resolver: Send + Sync {
    /// Decides one conflict.
    fn resolve(&self, conflict: &Conflict) -> Resolution;
}

/// The built-in resolvers, by their manifest names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolverKind {
    /// A's version wins.
    AWins,
    /// B's version wins.
    BWins,
    /// The version modified last wins; ties and unknown times go to manual.
    Newest,
    /// Field by field: fields changed on one side only are kept, a field
    /// changed on both sides takes the newer side's value.
    FieldMerge,
    /// Every conflict waits for a person.
    #[default]
    Manual,
}

impl ResolverKind {
    /// The manifest name.
    pub fn name(self) -> &'static str {
        match self {
            ResolverKind::AWins => "a_wins",
            ResolverKind::BWins => "b_wins",
            ResolverKind::Newest => "newest",
            ResolverKind::FieldMerge => "field_merge",
            ResolverKind::Manual => "manual",
        }
    }

    /// Parses a manifest name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::AWins,
            Self::BWins,
            Self::Newest,
            Self::FieldMerge,
            Self::Manual,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

impl Resolver for ResolverKind {
    fn resolve(&self, c: &Conflict) -> Resolution {
        match self {
            ResolverKind::AWins => Resolution::TakeA,
            ResolverKind::BWins => Resolution::TakeB,
            ResolverKind::Manual => Resolution::Defer,
            ResolverKind::Newest => newest(c).unwrap_or(Resolution::Defer),
            ResolverKind::FieldMerge => field_merge(c),
        }
    }
}

/// A's or B's by modification time. A delete has no time of its own, so an
/// update beats a delete: data is kept rather than lost.
fn newest(c: &Conflict) -> Option<Resolution> {
    match (&c.a, &c.b) {
        (Some(_), None) => Some(Resolution::TakeA),
        (None, Some(_)) => Some(Resolution::TakeB),
        (Some(a), Some(b)) => match (a.modified, b.modified) {
            (Some(ta), Some(tb)) if ta > tb => Some(Resolution::TakeA),
            (Some(ta), Some(tb)) if tb > ta => Some(Resolution::TakeB),
            (Some(_), None) => Some(Resolution::TakeA),
            (None, Some(_)) => Some(Resolution::TakeB),
            _ => None,
        },
        (None, None) => Some(Resolution::Skip),
    }
}

fn field_merge(c: &Conflict) -> Resolution {
    let (Some(a), Some(b)) = (&c.a, &c.b) else {
        return newest(c).unwrap_or(Resolution::Defer);
    };
    let Some(base) = &c.base else {
        return newest(c).unwrap_or(Resolution::Defer);
    };
    let outcome = three_way(base, a, b);
    let a_newer = match (a.modified, b.modified) {
        (Some(ta), Some(tb)) => ta >= tb,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) => true,
    };
    let mut merged = outcome.merged;
    for field in &outcome.conflicting {
        let from = if a_newer { a } else { b };
        merged.set(field.clone(), from.get(field).cloned().unwrap_or_default());
    }
    merged.modified = a.modified.max(b.modified);
    Resolution::Merged(merged)
}
