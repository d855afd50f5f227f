//! Records, keys, changes, cursors and entity schemas.

use std::fmt;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::value::Value;

/// The separator between the parts of a composite key.
const KEY_SEPARATOR: char = '\u{1f}';

/// The identity of a record within one entity of one endpoint.
///
/// A key is text, kept inline up to 24 bytes like a [`Name`]. A composite key (several key columns) is encoded
/// canonically by [`Key::composite`], so the same parts always give the same
/// key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key(pub Name);

impl Key {
    /// A key of one part.
    pub fn new(s: impl Into<Name>) -> Self {
        Key(s.into())
    }

    /// A key of several parts, in the order the key columns are configured.
    pub fn composite<S: AsRef<str>>(parts: &[S]) -> Self {
        let mut out = Name::default();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push(KEY_SEPARATOR);
            }
            out.push_str(p.as_ref());
        }
        Key(out)
    }

    /// The parts of a composite key (one part for a simple key).
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split(KEY_SEPARATOR)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(p)?;
        }
        Ok(())
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key(s.into())
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key(s.into())
    }
}

/// A field name. Names are short, so one is kept inline (up to 24 bytes)
/// with no allocation of its own: a record is built, sent across the plugin
/// boundary and decoded again millions of times in a large run, each time
/// with all its names.
pub type Name = compact_str::CompactString;

/// One record: a key and its fields, in the order the endpoint gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The record's identity in its endpoint.
    pub key: Key,
    /// Field names and values, in the endpoint's order.
    pub fields: Vec<(Name, Value)>,
    /// An opaque version (eTag, row version) when the endpoint has one.
    pub version: Option<String>,
    /// When the endpoint last changed the record, when it knows.
    pub modified: Option<jiff::Timestamp>,
}

impl Record {
    /// A record with no fields.
    pub fn new(key: impl Into<Key>) -> Self {
        Record {
            key: key.into(),
            fields: Vec::new(),
            version: None,
            modified: None,
        }
    }

    /// Adds or replaces a field, builder style.
    pub fn with(mut self, name: impl Into<Name>, value: impl Into<Value>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets the modification time, builder style.
    pub fn modified_at(mut self, at: jiff::Timestamp) -> Self {
        self.modified = Some(at);
        self
    }

    /// The value of a field, if the record has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Adds a field, or replaces its value in place.
    pub fn set(&mut self, name: impl Into<Name>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Removes a field and returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.fields.iter().position(|(n, _)| n == name)?;
        Some(self.fields.remove(i).1)
    }

    /// The content hash of the fields: independent of field order and of the
    /// types systems give values (see [`Value::write_canonical`]); a blank
    /// field (null, empty text or bytes) hashes as an absent one.
    pub fn content_hash(&self) -> u64 {
        let mut buf = String::with_capacity(64);
        let mut acc: u64 = 0;
        for (name, value) in &self.fields {
            if value.is_blank() {
                continue;
            }
            buf.clear();
            buf.push_str(name);
            buf.push('\u{0}');
            value.write_canonical(&mut buf);
            // Order-independent combination of per-field hashes.
            acc = acc.wrapping_add(mix(xxh3_64(buf.as_bytes())));
        }
        acc
    }

    /// Whether two records hold the same content (see [`Record::content_hash`]).
    pub fn same_content(&self, other: &Record) -> bool {
        let filled = |r: &Record| r.fields.iter().filter(|(_, v)| !v.is_blank()).count();
        filled(self) == filled(other)
            && self
                .fields
                .iter()
                .filter(|(_, v)| !v.is_blank())
                .all(|(n, v)| other.get(n).is_some_and(|o| v.same_content(o)))
    }
}

/// A finalizer so that summing per-field hashes stays well distributed.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// One change read from a source or applied to a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// Insert or replace the record with this key. Its `modified` is the
    /// source's event time.
    Upsert(Record),
    /// Delete the record with this key.
    Delete {
        /// The key of the deleted record.
        key: Key,
        /// When the source deleted it, when it knows.
        at: Option<jiff::Timestamp>,
    },
}

impl Change {
    /// The key the change is about.
    pub fn key(&self) -> &Key {
        match self {
            Change::Upsert(r) => &r.key,
            Change::Delete { key, .. } => key,
        }
    }

    /// A delete without an event time.
    pub fn delete(key: impl Into<Key>) -> Self {
        Change::Delete {
            key: key.into(),
            at: None,
        }
    }
}

/// A position in a source's change stream, chosen by the source (a delta
/// link, a watermark, a log position). The engine stores it; only the source
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor(pub Vec<u8>);

impl Cursor {
    /// A cursor holding text.
    pub fn from_text(s: &str) -> Self {
        Cursor(s.as_bytes().to_vec())
    }

    /// The cursor as text, if it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

/// The type of a field, as an endpoint declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FieldType {
    /// See [`Value::Bool`].
    Bool,
    /// See [`Value::Int`].
    Int,
    /// See [`Value::Float`].
    Float,
    /// See [`Value::Decimal`].
    Decimal,
    /// See [`Value::Text`].
    Text,
    /// See [`Value::Bytes`].
    Bytes,
    /// See [`Value::Date`].
    Date,
    /// See [`Value::DateTime`].
    DateTime,
    /// See [`Value::List`] and [`Value::Map`].
    Json,
    /// The endpoint does not say.
    Unknown,
}

/// One field of an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSchema {
    /// The field's name.
    pub name: String,
    /// Its type.
    pub kind: FieldType,
    /// Whether it may hold null.
    pub nullable: bool,
}

/// An entity (table, list, sheet, feed) that an endpoint exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySchema {
    /// The entity's name, as pairs refer to it.
    pub name: String,
    /// The names of the key fields, in order.
    pub key: Vec<String>,
    /// The fields, in the endpoint's order.
    pub fields: Vec<FieldSchema>,
}
