//! Link generations and snapshots: loading a pair's links in one read.
//!
//! Every change to a pair's links counts up the pair's generation, in the
//! transaction that makes it. A run's commit, when the links it started from
//! were the current generation, also records the pair's new link set: as a
//! delta (the links it removed, and the links it changed or added, with
//! their ids) on top of the snapshot it started from, or, when the deltas
//! have grown, as a whole new snapshot (postcard, in parts of
//! [`LINKS_PER_PART`]). Each row is tagged with the generation it made and
//! the generation of the whole snapshot it builds on (`base`).
//!
//! Loading reads the generation first, then the snapshot rows, and uses
//! them only when they make an unbroken chain from a whole snapshot to that
//! generation; otherwise it reads the `links` table. Any other change to
//! the links (linking, unlinking, disabling by hand) forgets the snapshot.
//! A snapshot is a cache: the table stays the truth.
//!
//! A million links load from a snapshot in a fraction of a second; the same
//! rows read one by one through the driver take seconds. A run that changes
//! 1% of them writes a delta of that 1%, not the million.

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};

use super::codec::{self, Context};
use super::entity::{link_generations, link_snapshots};
use super::{LinkRow, LinkUpdate};
use crate::error::Result;
use crate::record::Key;

/// How many links one snapshot row holds (about 5 MB).
const LINKS_PER_PART: usize = 100_000;

/// About as many bytes as one link takes in a snapshot, or a few more.
const BYTES_PER_LINK: usize = 64;

/// At most this many deltas on top of a whole snapshot.
const MAX_DELTAS: i64 = 64;

/// The deltas on top of a whole snapshot hold at most this share of its
/// links (in percent) before a commit writes a whole one again.
const MAX_DELTA_SHARE: usize = 25;

/// What a delta holds: the links a commit removed, and the links it
/// changed or added, with their ids.
#[derive(serde::Serialize, serde::Deserialize)]
struct Delta {
    removed: Vec<i64>,
    rows: Vec<LinkRow>,
}

/// A snapshot row without its data.
#[derive(Debug, Clone, Copy, sea_orm::FromQueryResult)]
struct Meta {
    generation: i64,
    base: i64,
    part: i64,
    parts: i64,
    links: i64,
}

/// An unbroken chain of snapshot rows: a whole snapshot and its deltas.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chain {
    /// The generation of the whole snapshot.
    base: i64,
    /// How many links the whole snapshot holds.
    links: usize,
    /// How many links its deltas hold, together.
    delta_links: usize,
}

/// The chain that `rows` (ordered by generation, then part) make up to
/// `generation`, if they make one.
fn chain(rows: &[Meta], generation: i64) -> Option<Chain> {
    let base = rows.first()?.base;
    let full: Vec<&Meta> = rows.iter().filter(|m| m.generation == base).collect();
    let whole = !full.is_empty()
        && full
            .iter()
            .enumerate()
            .all(|(i, m)| m.base == base && m.part == i as i64 && m.parts == full.len() as i64);
    let deltas = &rows[full.len()..];
    let chained = deltas.iter().enumerate().all(|(i, m)| {
        m.base == base && m.generation == base + 1 + i as i64 && m.part == 0 && m.parts == 1
    });
    let last = rows.last().map(|m| m.generation);
    if !whole || !chained || last != Some(generation) {
        return None;
    }
    Some(Chain {
        base,
        links: full.iter().map(|m| m.links as usize).sum(),
        delta_links: deltas.iter().map(|m| m.links as usize).sum(),
    })
}

/// Whether the backend keeps snapshots (it can reserve link ids inside a
/// commit, see [`reserve_ids`]).
pub(crate) fn supported(backend: DbBackend) -> bool {
    matches!(backend, DbBackend::Sqlite | DbBackend::Postgres)
}

/// The generation of a pair's links: 0 before their first change.
pub(crate) async fn generation(db: &impl ConnectionTrait, pair: &str) -> Result<i64> {
    Ok(state(db, pair).await?.0)
}

/// The generation of a pair's links, and whether the `links` table is
/// behind it (the snapshot is then the truth; see [`set_behind`]).
pub(crate) async fn state(db: &impl ConnectionTrait, pair: &str) -> Result<(i64, bool)> {
    let row = link_generations::Entity::find()
        .filter(link_generations::Column::Pair.eq(pair))
        .one(db)
        .await
        .ctx(|| format!("reading the link generation of pair {pair:?}"))?;
    Ok(row.map_or((0, false), |r| (r.generation, r.behind)))
}

/// Records whether the pair's `links` table is behind its snapshot: a
/// commit that records a large change in the snapshot alone leaves the
/// table as it was, and says so here; bringing the table up to the
/// snapshot says it no longer is. The pair's generation row must exist.
pub(crate) async fn set_behind(db: &impl ConnectionTrait, pair: &str, behind: bool) -> Result<()> {
    link_generations::Entity::update_many()
        .col_expr(
            link_generations::Column::Behind,
            sea_orm::sea_query::Expr::value(behind),
        )
        .filter(link_generations::Column::Pair.eq(pair))
        .exec(db)
        .await
        .ctx(|| format!("marking the links table of pair {pair:?}"))?;
    Ok(())
}

/// The error when a pair's links table is behind and its snapshot cannot be
/// read: the links are not to be guessed from an older table.
pub(crate) fn lost(pair: &str) -> crate::error::Error {
    crate::error::Error::store(format!(
        "the links of pair {pair:?} are kept in its link snapshot, which is missing or \
         unreadable, and the links table is behind it; restore the state store from \
         a backup"
    ))
}

/// Counts up a pair's generation and forgets its snapshot: what every
/// change to a pair's links other than a run's commit does, inside its
/// transaction, once the table has caught up with the snapshot (or was
/// cleared). Returns the new generation.
pub(crate) async fn changed(db: &impl ConnectionTrait, pair: &str) -> Result<i64> {
    let generation = bump(db, pair).await?;
    forget(db, pair).await?;
    set_behind(db, pair, false).await?;
    Ok(generation)
}

/// Counts up a pair's generation and returns the new one. On PostgreSQL
/// the row stays locked until the transaction ends, so changes to one
/// pair's links take turns.
pub(crate) async fn bump(db: &impl ConnectionTrait, pair: &str) -> Result<i64> {
    let what = || format!("counting up the link generation of pair {pair:?}");
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::MySql => {
            "INSERT INTO link_generations (pair, generation) VALUES (?, 1) \
             ON DUPLICATE KEY UPDATE generation = generation + 1"
        }
        DbBackend::Postgres => {
            "INSERT INTO link_generations (pair, generation) VALUES ($1, 1) \
             ON CONFLICT (pair) DO UPDATE SET generation = link_generations.generation + 1"
        }
        _ => {
            "INSERT INTO link_generations (pair, generation) VALUES (?, 1) \
             ON CONFLICT (pair) DO UPDATE SET generation = link_generations.generation + 1"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [pair.into()]))
        .await
        .ctx(what)?;
    generation(db, pair).await
}

/// Removes the pair's snapshot rows.
pub(crate) async fn forget(db: &impl ConnectionTrait, pair: &str) -> Result<()> {
    link_snapshots::Entity::delete_many()
        .filter(link_snapshots::Column::Pair.eq(pair))
        .exec(db)
        .await
        .ctx(|| format!("forgetting the link snapshot of pair {pair:?}"))?;
    Ok(())
}

/// The pair's links from its snapshot, if its rows make a chain up to
/// `generation`; `None` when they do not, or cannot be read (with a
/// warning).
pub(crate) async fn read(
    db: &impl ConnectionTrait,
    pair: &str,
    generation: i64,
) -> Result<Option<Vec<LinkRow>>> {
    let found = link_snapshots::Entity::find()
        .filter(link_snapshots::Column::Pair.eq(pair))
        .order_by_asc(link_snapshots::Column::Generation)
        .order_by_asc(link_snapshots::Column::Part)
        .all(db)
        .await
        .ctx(|| format!("reading the link snapshot of pair {pair:?}"))?;
    let metas: Vec<Meta> = found.iter().map(meta).collect();
    let Some(chain) = chain(&metas, generation) else {
        return Ok(None);
    };
    let unreadable = |e: crate::error::Error| {
        tracing::warn!(pair, error = %e, "link snapshot unreadable; reading the links table");
        None
    };
    let mut rows = Vec::with_capacity(chain.links + chain.delta_links);
    for p in &found {
        let what = format!("link snapshot {} part {}", p.generation, p.part);
        if p.generation == chain.base {
            match codec::decode::<Vec<LinkRow>>(&what, &p.data) {
                Ok(part) => rows.extend(part),
                Err(e) => return Ok(unreadable(e)),
            }
        } else {
            match codec::decode::<Delta>(&what, &p.data) {
                Ok(delta) => apply(&mut rows, delta),
                Err(e) => return Ok(unreadable(e)),
            }
        }
    }
    Ok(Some(rows))
}

fn meta(m: &link_snapshots::Model) -> Meta {
    Meta {
        generation: m.generation,
        base: m.base,
        part: m.part,
        parts: m.parts,
        links: m.links,
    }
}

/// Applies a delta to links in id order; they stay in id order. A link in
/// the delta replaces the one with its id (the last one wins when the delta
/// holds an id twice); the others are merged in, in one pass.
fn apply(rows: &mut Vec<LinkRow>, delta: Delta) {
    if !delta.removed.is_empty() {
        let removed: std::collections::HashSet<i64> = delta.removed.into_iter().collect();
        rows.retain(|r| !removed.contains(&r.id));
    }
    let mut changed = delta.rows;
    last_per_id(&mut changed, |r| r.id);
    let Some(first) = changed.first() else {
        return;
    };
    if rows.last().is_none_or(|last| last.id < first.id) {
        rows.append(&mut changed);
        return;
    }
    let old = std::mem::take(rows);
    rows.reserve(old.len() + changed.len());
    merge_by_id(
        old.into_iter(),
        changed.into_iter(),
        |r| r.id,
        |r| rows.push(r),
    );
}

/// Sorts by id and keeps the last of each id (the sort is stable).
fn last_per_id<T>(items: &mut Vec<T>, id: impl Fn(&T) -> i64) {
    items.sort_by_key(|t| id(t));
    items.dedup_by(|later, kept| {
        let same = id(later) == id(kept);
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
}

/// Merges `old` and `changed`, both in id order with one item per id, into
/// `out` in id order: a changed item replaces the old one of its id.
fn merge_by_id<T>(
    old: impl Iterator<Item = T>,
    changed: impl Iterator<Item = T>,
    id: impl Fn(&T) -> i64,
    mut out: impl FnMut(T),
) {
    let (mut old, mut changed) = (old.peekable(), changed.peekable());
    loop {
        let next = match (old.peek(), changed.peek()) {
            (Some(o), Some(c)) if id(o) < id(c) => old.next(),
            (Some(o), Some(c)) if id(o) == id(c) => {
                old.next();
                changed.next()
            }
            (_, Some(_)) => changed.next(),
            (Some(_), None) => old.next(),
            (None, None) => break,
        };
        next.into_iter().for_each(&mut out);
    }
}

/// The pair's snapshot chain up to `generation`, if its rows make one.
pub(crate) async fn chain_to(
    db: &impl ConnectionTrait,
    pair: &str,
    generation: i64,
) -> Result<Option<Chain>> {
    use link_snapshots::Column as C;
    let metas = link_snapshots::Entity::find()
        .select_only()
        .columns([C::Generation, C::Base, C::Part, C::Parts, C::Links])
        .filter(C::Pair.eq(pair))
        .order_by_asc(C::Generation)
        .order_by_asc(C::Part)
        .into_model::<Meta>()
        .all(db)
        .await
        .ctx(|| format!("reading the link snapshot of pair {pair:?}"))?;
    Ok(chain(&metas, generation))
}

/// Whether a commit that changes `links` links (removed, changed or added)
/// records them as a delta on `chain`, rather than as a whole snapshot:
/// while the chain is short and its deltas small.
pub(crate) fn as_delta(chain: Chain, generation: i64, links: usize) -> bool {
    generation - chain.base <= MAX_DELTAS
        && (chain.delta_links + links) * 100 <= chain.links.max(1) * MAX_DELTA_SHARE
}

/// Records a commit's links (the ids it `removed`, the links it `changed`
/// or added) as generation `generation` of the pair's snapshot, as a delta
/// on `chain` (the snapshot of the generation before; see [`as_delta`]).
pub(crate) async fn record_delta(
    db: &impl ConnectionTrait,
    pair: &str,
    generation: i64,
    chain: Chain,
    removed: &[i64],
    changed: Vec<LinkRow>,
) -> Result<()> {
    let delta = Delta {
        removed: removed.to_vec(),
        rows: changed,
    };
    let links = delta.removed.len() + delta.rows.len();
    let row = link_snapshots::ActiveModel {
        id: NotSet,
        pair: Set(pair.to_owned()),
        generation: Set(generation),
        base: Set(chain.base),
        part: Set(0),
        parts: Set(1),
        links: Set(links as i64),
        data: Set(codec::encode("link snapshot delta", &delta)?),
    };
    link_snapshots::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .ctx(|| format!("writing the link snapshot of pair {pair:?}"))?;
    Ok(())
}

/// A whole snapshot, encoded: each part's link count and bytes.
pub(crate) type Parts = Vec<(usize, Vec<u8>)>;

/// A link as a snapshot holds it, borrowed from where it is: encodes as
/// the [`LinkRow`] it stands for (the same fields in the same order).
#[derive(serde::Serialize)]
struct LinkRef<'a> {
    id: i64,
    a_key: Option<&'a Key>,
    b_key: Option<&'a Key>,
    hash_a: Option<u64>,
    hash_b: Option<u64>,
    disabled: bool,
    day: Option<jiff::civil::Date>,
}

impl<'a> LinkRef<'a> {
    fn row(r: &'a LinkRow) -> Self {
        LinkRef {
            id: r.id,
            a_key: r.a_key.as_ref(),
            b_key: r.b_key.as_ref(),
            hash_a: r.hash_a,
            hash_b: r.hash_b,
            disabled: r.disabled,
            day: r.day,
        }
    }

    fn update(id: i64, u: &'a LinkUpdate) -> Self {
        LinkRef {
            id,
            a_key: u.a_key.as_ref(),
            b_key: u.b_key.as_ref(),
            hash_a: u.hash_a,
            hash_b: u.hash_b,
            disabled: u.disabled,
            day: u.day,
        }
    }
}

/// Where a link of a new whole snapshot comes from.
#[derive(Clone, Copy)]
enum Source {
    /// The snapshot the run started from, by index.
    Base(usize),
    /// The commit's updates, by index, with the link's id.
    Update(i64, usize),
}

/// One part of a snapshot being encoded: its links, read where they are.
struct Part<'a> {
    base: &'a [LinkRow],
    updates: &'a [LinkUpdate],
    links: &'a [Source],
}

impl serde::Serialize for Part<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.links.iter().map(|l| match *l {
            Source::Base(i) => LinkRef::row(&self.base[i]),
            Source::Update(id, i) => LinkRef::update(id, &self.updates[i]),
        }))
    }
}

/// Encodes the links a run started from (`base`, in id order), less those
/// a commit `removed`, with those it changed or added (`updates`, the
/// inserted ones numbered from `first_id`), as a whole snapshot: CPU work
/// that can run while the links are written. The links are encoded where
/// they lie, in id order, without building the new link set.
pub(crate) fn encode_whole(
    base: &[LinkRow],
    removed: &[i64],
    updates: &[LinkUpdate],
    first_id: i64,
) -> Result<Parts> {
    let removed: std::collections::HashSet<i64> = removed.iter().copied().collect();
    let mut next_id = first_id;
    let mut changed: Vec<Source> = updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let id = u.id.unwrap_or_else(|| {
                next_id += 1;
                next_id - 1
            });
            Source::Update(id, i)
        })
        .collect();
    let id = |s: &Source| match *s {
        Source::Base(i) => base[i].id,
        Source::Update(id, _) => id,
    };
    // Of two updates of one link, the later one stays, as in `apply`.
    last_per_id(&mut changed, id);
    let old = (0..base.len())
        .filter(|&i| removed.is_empty() || !removed.contains(&base[i].id))
        .map(Source::Base);
    let mut links = Vec::with_capacity(base.len() + changed.len());
    merge_by_id(old, changed.into_iter(), id, |s| links.push(s));
    let mut chunks: Vec<Part> = links
        .chunks(LINKS_PER_PART)
        .map(|links| Part {
            base,
            updates,
            links,
        })
        .collect();
    if chunks.is_empty() {
        chunks.push(Part {
            base,
            updates,
            links: &[],
        });
    }
    // The parts are encoded on every core: a million links take about
    // 0.25 s on one.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(chunks.len());
    let chunks = &chunks;
    let mut parts: Vec<(usize, usize, Vec<u8>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..chunks.len())
                        .step_by(threads)
                        .map(|i| {
                            let chunk = &chunks[i];
                            let data = codec::encode_sized(
                                "link snapshot",
                                chunk,
                                chunk.links.len() * BYTES_PER_LINK,
                            )?;
                            Ok((i, chunk.links.len(), data))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("encoding a snapshot part does not panic"))
            .collect::<Result<Vec<Vec<_>>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    parts.sort_unstable_by_key(|(i, _, _)| *i);
    Ok(parts.into_iter().map(|(_, n, data)| (n, data)).collect())
}

/// Writes encoded parts as the pair's whole snapshot of `generation`, in
/// place of the snapshot it had.
pub(crate) async fn write_whole(
    db: &impl ConnectionTrait,
    pair: &str,
    generation: i64,
    parts: Parts,
) -> Result<()> {
    forget(db, pair).await?;
    let what = || format!("writing the link snapshot of pair {pair:?}");
    let count = parts.len();
    for (i, (links, data)) in parts.into_iter().enumerate() {
        let row = link_snapshots::ActiveModel {
            id: NotSet,
            pair: Set(pair.to_owned()),
            generation: Set(generation),
            base: Set(generation),
            part: Set(i as i64),
            parts: Set(count as i64),
            links: Set(links as i64),
            data: Set(data),
        };
        link_snapshots::Entity::insert(row)
            .exec_without_returning(db)
            .await
            .ctx(what)?;
    }
    Ok(())
}

/// Reserves `n` new link ids and returns the first: the ids a commit gives
/// the links it inserts, so that it knows them without reading them back.
///
/// SQLite: the commit holds the database's write lock, so the next id is
/// past both the largest id and the largest ever given (`AUTOINCREMENT`
/// never reuses one); the block is recorded as given at once, since a
/// commit that leaves the table behind inserts none of its ids.
/// PostgreSQL: the commit locks `links` against other writers, then moves
/// the id sequence past the reserved block.
pub(crate) async fn reserve_ids(db: &impl ConnectionTrait, n: usize) -> Result<i64> {
    let what = || "reserving link ids".to_owned();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            db.execute_unprepared("LOCK TABLE links IN SHARE ROW EXCLUSIVE MODE")
                .await
                .ctx(what)?;
            if n == 0 {
                return Ok(0);
            }
            format!(
                "SELECT setval(pg_get_serial_sequence('links', 'id'), \
                 nextval(pg_get_serial_sequence('links', 'id')) + {}) - {} AS first",
                n - 1,
                n - 1
            )
        }
        _ => {
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name = 'links'), 0), \
              COALESCE((SELECT MAX(id) FROM links), 0)) + 1 AS first"
                .to_owned()
        }
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .ctx(what)?
        .ok_or_else(|| crate::error::Error::store("reserving link ids: no result"))?;
    let first = row.try_get::<i64>("", "first").ctx(what)?;
    if backend == DbBackend::Sqlite && n > 0 {
        let last = first + n as i64 - 1;
        let given = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE sqlite_sequence SET seq = ? WHERE name = 'links'",
                [last.into()],
            ))
            .await
            .ctx(what)?;
        if given.rows_affected() == 0 {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('links', ?)",
                [last.into()],
            ))
            .await
            .ctx(what)?;
        }
    }
    Ok(first)
}

/// The links a commit changes or adds, with their ids: the inserted ones
/// (the updates without an id, in order) numbered from `first_id`.
pub(crate) fn changed_rows(updates: &[LinkUpdate], first_id: i64) -> Vec<LinkRow> {
    let mut next_id = first_id;
    updates
        .iter()
        .map(|u| {
            let id = u.id.unwrap_or_else(|| {
                next_id += 1;
                next_id - 1
            });
            LinkRow {
                id,
                a_key: u.a_key.clone(),
                b_key: u.b_key.clone(),
                hash_a: u.hash_a,
                hash_b: u.hash_b,
                disabled: u.disabled,
                day: u.day,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
