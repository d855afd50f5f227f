//! Checked changes, and how they are grouped into statements.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::Arc;

use sea_orm::sea_query::Value as SeaValue;
use tandem_core::Key;

/// One change, checked and bound.
pub(crate) enum Op {
    Upsert {
        key: Key,
        cols: Arc<[usize]>,
        row: Vec<SeaValue>,
    },
    Delete {
        key: Key,
        row: Vec<SeaValue>,
    },
}

/// Rows waiting for one statement.
#[derive(Default)]
pub(crate) struct Group {
    /// The columns of an upsert; `None` for a delete.
    pub cols: Option<Arc<[usize]>>,
    pub rows: Vec<Vec<SeaValue>>,
    /// Hashes of the keys (a collision only starts a statement early).
    pub keys: HashSet<u64>,
    pub params: usize,
    pub first: Option<Key>,
    pub last: Option<Key>,
}

/// Splits ops into groups of one statement each: the same columns, within
/// the bind limit, and no key twice (a key seen twice starts a new group,
/// so the last change of a key wins).
pub(crate) fn grouped(ops: Vec<Op>, limit: usize) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut group = Group::default();
    let hasher = std::hash::RandomState::new();
    for op in ops {
        let (key, cols, row) = match op {
            Op::Upsert { key, cols, row } => (key, Some(cols), row),
            Op::Delete { key, row } => (key, None, row),
        };
        let hash = hasher.hash_one(&key);
        let fits =
            group.cols == cols && !group.keys.contains(&hash) && group.params + row.len() <= limit;
        if !fits && !group.rows.is_empty() {
            groups.push(std::mem::take(&mut group));
        }
        group.cols = cols;
        group.params += row.len();
        group.keys.insert(hash);
        if group.first.is_none() {
            group.first = Some(key.clone());
        }
        group.last = Some(key);
        group.rows.push(row);
    }
    if !group.rows.is_empty() {
        groups.push(group);
    }
    groups
}
