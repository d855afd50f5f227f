//! The file's cursor: what it held when it was last read, so that the next
//! read sends only what changed since.
//!
//! A cursor holds the fingerprint of the whole file (a 128-bit hash of its
//! bytes) and, per key, the content hash of its row. Reading since a cursor:
//! - the same fingerprint: nothing changed, and the file is not parsed;
//! - otherwise every row is parsed, and only rows that are new or whose
//!   content changed are sent, then a delete for every key of the cursor
//!   that is gone.
//!
//! Sending a row that did not change is harmless (the engine compares
//! content with its own hashes); the cursor only lets unchanged rows stay
//! in the plugin. A CSV row's hash is of its bytes (every field, so a row
//! whose unread fields changed is sent too), found before the row is
//! converted, so that an unchanged row is never converted; a JSON Lines
//! row's hash is of its record as sent. Either way another field subset or
//! another format sends more rows, never fewer.
//!
//! # What a read since a cursor guarantees
//!
//! It reports the difference between the file as the cursor's read saw it
//! and the file now: every key whose row is new or changed, at its content
//! now, and every key that is gone. There is no window: the file is read
//! whole, and a read that the file changed under (another length or time
//! at its end than at its start) leaves no fingerprint, so the next read
//! parses it again.
//!
//! A difference of two states is not a log of changes: a row added and
//! removed again since the read, or changed and changed back, shows no
//! difference. For the edits of others that is exact, as the net change
//! is what the file holds. For rows the engine itself writes after the
//! read it is not: a user's delete of such a row, or an edit back to what
//! the read saw, looks like nothing happened. The cursor to keep across
//! such writes is [`Since::written`]'s (through
//! [`FileConnector::cursor_after_write`](crate::FileConnector::cursor_after_write)),
//! which holds the written keys so that the next read reports whatever they
//! hold then.
//!
//! A rejected row's key (see [`Tracker::rejected`]) is held too: never
//! reported gone, and sent once its row reads. A read that rejected a row
//! keeps no fingerprint, so the next read reports the row again.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{ErrorKind, Read};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tandem_core::{Cursor, Error, Key, Record, Result};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::CONNECTOR;
use crate::config::Settings;
use crate::error::{BadRow, io_error};

/// The cursor format's version, first in its bytes.
const VERSION: u8 = 2;

/// What a cursor holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u8,
    /// The file's fingerprint when it was read; `None` when the file
    /// changed during the read (then the next read parses it).
    fingerprint: Option<u128>,
    /// Every key read, with its row's hash.
    rows: KeyHashes,
}

/// Keys and their rows' hashes, in the order they were read. The keys are
/// one string, so that a million of them are three allocations, not a
/// million.
#[derive(Default, Serialize, Deserialize)]
struct KeyHashes {
    /// The keys' text, one after another.
    text: String,
    /// Where each key ends in `text`.
    ends: Vec<u32>,
    /// Each key's row hash.
    hashes: Vec<u64>,
}

impl KeyHashes {
    fn with_capacity(rows: usize, text: usize) -> Self {
        KeyHashes {
            text: String::with_capacity(text),
            ends: Vec::with_capacity(rows),
            hashes: Vec::with_capacity(rows),
        }
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    fn push(&mut self, key: &Key, hash: u64) {
        self.text.push_str(&key.0);
        self.ends.push(self.text.len() as u32);
        self.hashes.push(hash);
    }

    /// The text of the `i`th key.
    fn key(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Whether the ends are in order and within the text, on character
    /// boundaries, one per hash.
    fn valid(&self) -> bool {
        let mut start = 0;
        self.ends.len() == self.hashes.len()
            && self.ends.iter().all(|&end| {
                let ok = start <= end && self.text.is_char_boundary(end as usize);
                start = end;
                ok
            })
    }
}

/// The file's fingerprint and the metadata it was taken with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    hash: u128,
    len: u64,
    modified: Option<SystemTime>,
}

impl Fingerprint {
    /// The hash of the file's bytes.
    pub fn hash(&self) -> u128 {
        self.hash
    }
}

/// Hashes the whole file; `None` when it is missing.
pub(crate) fn fingerprint(settings: &Settings) -> Result<Option<Fingerprint>> {
    let mut file = match File::open(&settings.path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("opening", &settings.path, e)),
    };
    let (len, modified) = metadata(settings, &file)?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("reading", &settings.path, e)),
        }
    }
    Ok(Some(Fingerprint {
        hash: hasher.digest128(),
        len,
        modified,
    }))
}

/// Whether the file still has the length and modification time it had
/// when `fp` was taken (it was not written while it was being read).
pub(crate) fn unchanged_since(settings: &Settings, fp: &Fingerprint) -> Result<bool> {
    match File::open(&settings.path) {
        Ok(file) => Ok(metadata(settings, &file)? == (fp.len, fp.modified)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("opening", &settings.path, e)),
    }
}

fn metadata(settings: &Settings, file: &File) -> Result<(u64, Option<SystemTime>)> {
    let meta = file
        .metadata()
        .map_err(|e| io_error("reading the metadata of", &settings.path, e))?;
    Ok((meta.len(), meta.modified().ok()))
}

/// A key's 128-bit hash. The maps of a read (a million keys and more) hold
/// these instead of the keys; two keys of one file sharing one is as
/// likely as a random 128-bit collision.
pub(crate) fn key_hash(key: &Key) -> u128 {
    xxh3_128(key.0.as_bytes())
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub(crate) struct HashedKey(u64);

impl Hasher for HashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// A map keyed by [`key_hash`].
pub(crate) type ByKeyHash<V> = HashMap<u128, V, BuildHasherDefault<HashedKey>>;

/// A read since a cursor: what the file held then.
pub(crate) struct Since {
    fingerprint: Option<u128>,
    /// The cursor's keys and row hashes.
    rows: KeyHashes,
    /// Where each key is in `rows`, and the line it was read on again (0
    /// while it was not).
    keys: ByKeyHash<(u32, u64)>,
}

impl Since {
    /// Decodes a cursor; one this connector did not write has expired.
    pub fn decode(settings: &Settings, cursor: &Cursor) -> Result<Since> {
        let expired = |message: String| Error::CursorExpired {
            connector: CONNECTOR.into(),
            entity: settings.entity.clone(),
            message,
        };
        let version = cursor.0.first().copied().unwrap_or_default();
        if version != VERSION {
            return Err(expired(format!(
                "cursor version {version} is not {VERSION}"
            )));
        }
        let stored: Stored = postcard::from_bytes(&cursor.0)
            .map_err(|e| expired(format!("the cursor is not a file cursor: {e}")))?;
        if !stored.rows.valid() {
            return Err(expired("the cursor's keys are out of order".into()));
        }
        let rows = stored.rows;
        let mut keys = ByKeyHash::with_capacity_and_hasher(rows.len(), Default::default());
        for i in 0..rows.len() {
            keys.insert(xxh3_128(rows.key(i).as_bytes()), (i as u32, 0));
        }
        Ok(Since {
            fingerprint: stored.fingerprint,
            rows,
            keys,
        })
    }

    /// The cursor after `written` keys were written to the file (see
    /// [`FileConnector::cursor_after_write`](crate::FileConnector::cursor_after_write)):
    /// each held, every other key as it was, and no fingerprint.
    pub fn written(self, written: &[Key]) -> Result<Cursor> {
        let mut marked = ByKeyHash::with_capacity_and_hasher(written.len(), Default::default());
        for key in written {
            marked.insert(key_hash(key), ());
        }
        let mut rows = KeyHashes::with_capacity(self.len() + written.len(), self.rows.text.len());
        for i in 0..self.len() {
            let key = self.rows.key(i);
            let hash = xxh3_128(key.as_bytes());
            // A key held twice counts where the map has it, as in a read.
            if self
                .keys
                .get(&hash)
                .is_some_and(|&(at, _)| at as usize == i)
                && !marked.contains_key(&hash)
            {
                rows.push(&Key::new(key), self.rows.hashes[i]);
            }
        }
        for key in written {
            if marked.remove(&key_hash(key)).is_some() {
                rows.push(key, HELD);
            }
        }
        encode(None, rows)
    }

    /// Whether the file is byte for byte what the cursor saw.
    pub fn same_file(&self, fp: Option<&Fingerprint>) -> bool {
        matches!((self.fingerprint, fp), (Some(a), Some(b)) if a == b.hash)
    }

    /// How many rows the file had.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Takes a key read again on `line`.
    fn take(&mut self, key: &Key, line: u64) -> Taken {
        match self.keys.get_mut(&key_hash(key)) {
            None => Taken::New,
            Some((_, first)) if *first != 0 => Taken::Again(*first),
            Some((i, first)) => {
                *first = line.max(1);
                Taken::Known(self.rows.hashes[*i as usize])
            }
        }
    }
}

/// What a key read since a cursor is.
enum Taken {
    /// Not in the cursor.
    New,
    /// In the cursor, with its row's hash then.
    Known(u64),
    /// In the cursor, and already read on this line.
    Again(u64),
}

/// What a row read is to the cursor.
pub(crate) enum Seen {
    /// Its key is not in the cursor (or the read is a full one): whether it
    /// is a duplicate is for the reader to tell. Call
    /// [`Tracker::keep_new`] once it is not.
    New,
    /// Its key is in the cursor, with the same hash: not to be sent.
    Unchanged,
    /// Its key is in the cursor, with another hash: to be sent.
    Changed,
    /// Its key was already read, on this line.
    Again(u64),
}

/// The hash a rejected row's key has in a cursor: no row's hash (but for a
/// 2^-64 chance), so that the row is sent once it can be read.
const HELD: u64 = 0;

/// Follows a read: which rows to send, and the cursor it ends with.
pub(crate) struct Tracker {
    since: Option<Since>,
    rows: KeyHashes,
    /// The keys of rejected rows, in the order read, and their hashes.
    held: Vec<Key>,
    held_hashes: ByKeyHash<()>,
    /// Whether a row was rejected, and whether one had no key to read.
    rejected: bool,
    keyless: bool,
}

impl Tracker {
    /// A full read (`None`) or a read since a cursor.
    pub fn new(since: Option<Since>) -> Self {
        let rows = match &since {
            Some(s) => {
                KeyHashes::with_capacity(s.len() + s.len() / 16, s.rows.text.len() * 17 / 16)
            }
            None => KeyHashes::default(),
        };
        Tracker {
            since,
            rows,
            held: Vec::new(),
            held_hashes: ByKeyHash::default(),
            rejected: false,
            keyless: false,
        }
    }

    /// Records a row, already known not to be a duplicate, by its content
    /// for the next cursor; returns whether it is to be sent (always in a
    /// full read; when new or changed since the cursor).
    pub fn changed(&mut self, record: &Record, line: u64) -> bool {
        let hash = record.content_hash();
        match self.seen(&record.key, hash, line) {
            Seen::New => {
                self.keep_new(&record.key, hash);
                true
            }
            Seen::Unchanged => false,
            Seen::Changed | Seen::Again(_) => true,
        }
    }

    /// Tells what a row read on `line`, by the hash of its bytes (or of its
    /// content), is to the cursor, and records it for the next cursor
    /// unless it is new (see [`Seen::New`]) or read again.
    pub fn seen(&mut self, key: &Key, hash: u64, line: u64) -> Seen {
        let Some(since) = &mut self.since else {
            return Seen::New;
        };
        let seen = match since.take(key, line) {
            Taken::New => return Seen::New,
            Taken::Again(first) => return Seen::Again(first),
            Taken::Known(before) if before == hash => Seen::Unchanged,
            Taken::Known(_) => Seen::Changed,
        };
        self.rows.push(key, hash);
        seen
    }

    /// Records a new row (see [`Seen::New`]) for the next cursor.
    pub fn keep_new(&mut self, key: &Key, hash: u64) {
        self.rows.push(key, hash);
    }

    /// Records a rejected row. Its key, when it can be read (and no earlier
    /// row had it), is held: never reported gone, and kept in the next
    /// cursor with a hash no row has, so that the row is sent once it can
    /// be read. A row without a key to read could be any key: then no key
    /// is reported gone, and the keys not read stay in the next cursor as
    /// they were. Either way the next read parses the file again and
    /// reports the row again.
    pub fn rejected(&mut self, bad: &BadRow) {
        self.rejected = true;
        match &bad.key {
            None => self.keyless = true,
            Some(_) if bad.duplicate => {}
            Some(key) => {
                if self.held_hashes.insert(key_hash(key), ()).is_none() {
                    self.held.push(key.clone());
                }
            }
        }
    }

    /// The keys of the cursor that the file no longer holds (none in a full
    /// read, nor when a rejected row had no key). Call once, after the last
    /// row.
    pub fn gone(&mut self) -> Vec<Key> {
        let Tracker {
            since: Some(since),
            rows,
            held_hashes,
            keyless,
            ..
        } = self
        else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for (hash, (i, line)) in &since.keys {
            if *line == 0 && !held_hashes.contains_key(hash) {
                gone.push(*i as usize);
            }
        }
        if *keyless {
            if !gone.is_empty() {
                tracing::warn!(
                    missing = gone.len(),
                    "a rejected row has no key to read: rows missing from the file are not reported deleted"
                );
            }
            for i in gone {
                rows.push(&Key::new(since.rows.key(i)), since.rows.hashes[i]);
            }
            return Vec::new();
        }
        let mut gone: Vec<Key> = gone
            .into_iter()
            .map(|i| Key::new(since.rows.key(i)))
            .collect();
        gone.sort();
        gone
    }

    /// The cursor for what was read: the file's fingerprint when it was
    /// not written during the read and no row was rejected.
    pub fn cursor(mut self, fingerprint: Option<u128>) -> Result<Cursor> {
        for key in &self.held {
            self.rows.push(key, HELD);
        }
        encode(fingerprint.filter(|_| !self.rejected), self.rows)
    }
}

/// A cursor of a fingerprint and the keys' row hashes.
fn encode(fingerprint: Option<u128>, rows: KeyHashes) -> Result<Cursor> {
    let stored = Stored {
        version: VERSION,
        fingerprint,
        rows,
    };
    // Sized up front: a million rows make a cursor of tens of MB.
    let size = stored.rows.text.len() + stored.rows.len() * 15 + 64;
    postcard::to_extend(&stored, Vec::with_capacity(size))
        .map(Cursor)
        .map_err(|e| Error::other(CONNECTOR, format!("encoding the cursor: {e}")))
}
