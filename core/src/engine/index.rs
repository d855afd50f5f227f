//! The in-memory index of a pair's links: key to link, by key hash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_64;

use crate::record::Key;
use crate::store::{LinkRow, Side};

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashIndex = HashMap<u64, u32, BuildHasherDefault<IdHasher>>;

/// Key to row, keyed by a 64-bit hash of the key; the rare keys whose hash
/// collides with another's are kept by their full text.
#[derive(Default)]
struct KeyIndex {
    by_hash: HashIndex,
    collided: HashMap<Key, u32>,
}

/// The links of a pair, indexed by the key on each side.
///
/// Holds keys and content hashes only, never records: about 100 bytes per
/// link.
#[derive(Default)]
pub struct LinkIndex {
    rows: Vec<LinkRow>,
    by_a: KeyIndex,
    by_b: KeyIndex,
}

impl LinkIndex {
    /// Indexes the links.
    pub fn new(rows: Vec<LinkRow>) -> Self {
        let mut index = LinkIndex {
            by_a: KeyIndex {
                by_hash: HashIndex::with_capacity_and_hasher(rows.len(), Default::default()),
                ..Default::default()
            },
            by_b: KeyIndex {
                by_hash: HashIndex::with_capacity_and_hasher(rows.len(), Default::default()),
                ..Default::default()
            },
            rows: Vec::new(),
        };
        for (i, row) in rows.iter().enumerate() {
            let i = i as u32;
            if let Some(k) = &row.a_key {
                insert(&mut index.by_a, &rows, Side::A, k, i);
            }
            if let Some(k) = &row.b_key {
                insert(&mut index.by_b, &rows, Side::B, k, i);
            }
        }
        index.rows = rows;
        index
    }

    /// The links, in the order they were indexed.
    pub fn into_rows(self) -> Vec<LinkRow> {
        self.rows
    }

    /// The number of links.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no links.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// One link by its position.
    pub fn row(&self, i: u32) -> &LinkRow {
        &self.rows[i as usize]
    }

    /// All links.
    pub fn rows(&self) -> &[LinkRow] {
        &self.rows
    }

    /// The position of the link holding `key` on `side`.
    pub fn find(&self, side: Side, key: &Key) -> Option<u32> {
        let index = match side {
            Side::A => &self.by_a,
            Side::B => &self.by_b,
        };
        let i = *index.by_hash.get(&xxh3_64(key.0.as_bytes()))?;
        if key_of(&self.rows[i as usize], side) == Some(key) {
            Some(i)
        } else {
            index.collided.get(key).copied()
        }
    }

    /// How many links have a key on `side`.
    pub fn count(&self, side: Side) -> usize {
        self.rows
            .iter()
            .filter(|r| key_of(r, side).is_some())
            .count()
    }
}

/// The key of a link on one side.
pub fn key_of(row: &LinkRow, side: Side) -> Option<&Key> {
    match side {
        Side::A => row.a_key.as_ref(),
        Side::B => row.b_key.as_ref(),
    }
}

fn insert(index: &mut KeyIndex, rows: &[LinkRow], side: Side, key: &Key, i: u32) {
    let h = xxh3_64(key.0.as_bytes());
    match index.by_hash.get(&h) {
        Some(&j) if key_of(&rows[j as usize], side) != Some(key) => {
            index.collided.insert(key.clone(), i);
        }
        _ => {
            index.by_hash.insert(h, i);
        }
    }
}
