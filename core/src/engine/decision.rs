//! What classification decides about a record: its category, the writes
//! to each side, the new base, and the conflict to record.

use serde::{Deserialize, Serialize};

use crate::record::{Key, Record};
use crate::resolve::{Conflict, Resolution};
use crate::store::RunCounts;

/// The category a record is in for a run (CleanManager's sync window, plus
/// changed on one side and merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Linked, changed on both sides differently.
    Conflict,
    /// Unlinked at the start of the run: paired or imported.
    New,
    /// Linked, gone on a side.
    Deleted,
    /// Sync switched off for it.
    Disabled,
    /// The same on both sides.
    Synchronized,
    /// Inactive by the pair's rule: shown, not synced.
    Inactive,
    /// Changed on side A only.
    ChangedA,
    /// Changed on side B only.
    ChangedB,
    /// Changed on both sides in different fields, merged.
    Merged,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 9] = [
        Category::Conflict,
        Category::New,
        Category::Deleted,
        Category::Disabled,
        Category::Synchronized,
        Category::Inactive,
        Category::ChangedA,
        Category::ChangedB,
        Category::Merged,
    ];

    /// The category's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Conflict => "conflict",
            Category::New => "new",
            Category::Deleted => "deleted",
            Category::Disabled => "disabled",
            Category::Synchronized => "synchronized",
            Category::Inactive => "inactive",
            Category::ChangedA => "changed_a",
            Category::ChangedB => "changed_b",
            Category::Merged => "merged",
        }
    }

    /// Parses a category name.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The count of this category in run counts.
    pub fn count(self, c: &RunCounts) -> u64 {
        match self {
            Category::Conflict => c.conflict,
            Category::New => c.new,
            Category::Deleted => c.deleted,
            Category::Disabled => c.disabled,
            Category::Synchronized => c.synchronized,
            Category::Inactive => c.inactive,
            Category::ChangedA => c.changed_a,
            Category::ChangedB => c.changed_b,
            Category::Merged => c.merged,
        }
    }

    pub(super) fn bump(self, c: &mut RunCounts) {
        let slot = match self {
            Category::Conflict => &mut c.conflict,
            Category::New => &mut c.new,
            Category::Deleted => &mut c.deleted,
            Category::Disabled => &mut c.disabled,
            Category::Synchronized => &mut c.synchronized,
            Category::Inactive => &mut c.inactive,
            Category::ChangedA => &mut c.changed_a,
            Category::ChangedB => &mut c.changed_b,
            Category::Merged => &mut c.merged,
        };
        *slot += 1;
    }
}

/// A write to one side, in the pair's field names.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Upsert this record; its key is the key on the written side (or, for
    /// a record new there, the proposed key).
    Upsert(Record),
    /// Delete the record with this key.
    Delete(Key),
}

/// What becomes of a link's stored base.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseChange {
    /// Leave it as it is.
    Keep,
    /// The sides now hold this content.
    Set {
        /// Content hash of side A.
        hash_a: u64,
        /// Content hash of side B.
        hash_b: u64,
        /// The synchronized record, for later field merges.
        record: Record,
    },
    /// The record is gone on both sides: drop the link.
    Remove,
    /// The sides now hold content with these hashes (`None`: deleted),
    /// still in conflict: the base record is kept for the person who
    /// resolves it.
    Hashes {
        /// Content hash of side A.
        hash_a: Option<u64>,
        /// Content hash of side B.
        hash_b: Option<u64>,
    },
}

/// A conflict to record: queued for a person, or resolved with the losing
/// version kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictNote {
    /// Both versions and the base.
    pub conflict: Conflict,
    /// `None` while it waits for a person.
    pub resolution: Option<Resolution>,
    /// The version that lost, for resolutions that took one side.
    pub loser: Option<Record>,
}

/// What the run does about one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Its category.
    pub category: Category,
    /// The link's position in the index; `None` for a record unlinked at
    /// the start of the run.
    pub link: Option<u32>,
    /// The key on side A (the proposed key when it is created there).
    pub a_key: Option<Key>,
    /// The key on side B (likewise).
    pub b_key: Option<Key>,
    /// The write to side A.
    pub write_a: Option<Write>,
    /// The write to side B.
    pub write_b: Option<Write>,
    /// What becomes of the stored base.
    pub base: BaseChange,
    /// A conflict to record.
    pub conflict: Option<ConflictNote>,
    /// A pending conflict that this decision closes.
    pub closes: Option<i64>,
    /// The day of the record's event time, for pairs with a day ledger.
    pub day: Option<jiff::civil::Date>,
}
