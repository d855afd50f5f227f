//! Link generations and snapshots: loading a pair's links in one read.
//!
//! Every change to a pair's links counts up the pair's generation, in the
//! transaction that makes it. A run's commit, when the links it started from
//! were the current generation, also writes the pair's whole new link set
//! (postcard, in parts of [`LINKS_PER_PART`]) tagged with the generation it
//! made. Loading reads the generation first, then the snapshot, and uses
//! the snapshot only when its tag is that generation; otherwise it reads
//! the `links` table. A snapshot is a cache: the table stays the truth.
//!
//! A million links load from a snapshot in a fraction of a second; the same
//! rows read one by one through the driver take seconds.

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};

use super::codec::{self, Context};
use super::entity::{link_generations, link_snapshots};
use super::{LinkRow, LinkUpdate};
use crate::error::Result;

/// How many links one snapshot row holds (about 5 MB).
const LINKS_PER_PART: usize = 100_000;

/// Whether the backend keeps snapshots (it can reserve link ids inside a
/// commit, see [`reserve_ids`]).
pub(crate) fn supported(backend: DbBackend) -> bool {
    matches!(backend, DbBackend::Sqlite | DbBackend::Postgres)
}

/// The generation of a pair's links: 0 before their first change.
pub(crate) async fn generation(db: &impl ConnectionTrait, pair: &str) -> Result<i64> {
    let row = link_generations::Entity::find()
        .filter(link_generations::Column::Pair.eq(pair))
        .one(db)
        .await
        .ctx(|| format!("reading the link generation of pair {pair:?}"))?;
    Ok(row.map_or(0, |r| r.generation))
}

/// Counts up a pair's generation and forgets its snapshot: what every
/// change to a pair's links does, inside its transaction. Returns the new
/// generation. On PostgreSQL the row stays locked until the transaction
/// ends, so changes to one pair's links take turns.
pub(crate) async fn changed(db: &impl ConnectionTrait, pair: &str) -> Result<i64> {
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
    link_snapshots::Entity::delete_many()
        .filter(link_snapshots::Column::Pair.eq(pair))
        .exec(db)
        .await
        .ctx(what)?;
    generation(db, pair).await
}

/// The pair's snapshot if it holds `generation`; `None` when there is none,
/// it is of another generation, or it cannot be read (with a warning).
pub(crate) async fn read(
    db: &impl ConnectionTrait,
    pair: &str,
    generation: i64,
) -> Result<Option<Vec<LinkRow>>> {
    let parts = link_snapshots::Entity::find()
        .filter(link_snapshots::Column::Pair.eq(pair))
        .order_by_asc(link_snapshots::Column::Part)
        .all(db)
        .await
        .ctx(|| format!("reading the link snapshot of pair {pair:?}"))?;
    let complete = !parts.is_empty()
        && parts.iter().enumerate().all(|(i, p)| {
            p.generation == generation && p.part == i as i64 && p.parts == parts.len() as i64
        });
    if !complete {
        return Ok(None);
    }
    let mut rows = Vec::new();
    for p in parts {
        match codec::decode::<Vec<LinkRow>>(&format!("link snapshot part {}", p.part), &p.data) {
            Ok(part) => rows.extend(part),
            Err(e) => {
                tracing::warn!(pair, error = %e, "link snapshot unreadable; reading the links table");
                return Ok(None);
            }
        }
    }
    Ok(Some(rows))
}

/// Whether the pair has a snapshot of `generation` (its first part).
pub(crate) async fn exists(db: &impl ConnectionTrait, pair: &str, generation: i64) -> Result<bool> {
    let found = link_snapshots::Entity::find()
        .select_only()
        .column(link_snapshots::Column::Id)
        .filter(link_snapshots::Column::Pair.eq(pair))
        .filter(link_snapshots::Column::Part.eq(0))
        .filter(link_snapshots::Column::Generation.eq(generation))
        .into_tuple::<i64>()
        .one(db)
        .await
        .ctx(|| format!("looking for the link snapshot of pair {pair:?}"))?;
    Ok(found.is_some())
}

/// Writes `rows` as the pair's snapshot of `generation` (after
/// [`changed`] removed the old one).
pub(crate) async fn write(
    db: &impl ConnectionTrait,
    pair: &str,
    generation: i64,
    rows: &[LinkRow],
) -> Result<()> {
    let what = || format!("writing the link snapshot of pair {pair:?}");
    let parts = rows.len().div_ceil(LINKS_PER_PART).max(1);
    let mut chunks: Vec<&[LinkRow]> = rows.chunks(LINKS_PER_PART).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for (i, chunk) in chunks.into_iter().enumerate() {
        let row = link_snapshots::ActiveModel {
            id: NotSet,
            pair: Set(pair.to_owned()),
            generation: Set(generation),
            part: Set(i as i64),
            parts: Set(parts as i64),
            data: Set(codec::encode("link snapshot", &chunk)?),
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
/// never reuses one). PostgreSQL: the commit locks `links` against other
/// writers, then moves the id sequence past the reserved block.
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
    row.try_get::<i64>("", "first").ctx(what)
}

/// The pair's links after a commit: `base` without the removed links, with
/// the updates applied, and the inserted links (the updates without an id,
/// in order) numbered from `first_id`. In id order, as `base` is.
pub(crate) fn next(
    base: Vec<LinkRow>,
    removed: &[i64],
    updates: &[LinkUpdate],
    first_id: i64,
) -> Vec<LinkRow> {
    let removed: std::collections::HashSet<i64> = removed.iter().copied().collect();
    let updated: std::collections::HashMap<i64, &LinkUpdate> = updates
        .iter()
        .filter_map(|u| u.id.map(|id| (id, u)))
        .collect();
    let row = |id: i64, u: &LinkUpdate| LinkRow {
        id,
        a_key: u.a_key.clone(),
        b_key: u.b_key.clone(),
        hash_a: u.hash_a,
        hash_b: u.hash_b,
        disabled: u.disabled,
        day: u.day,
    };
    let mut out: Vec<LinkRow> = base
        .into_iter()
        .filter(|r| !removed.contains(&r.id))
        .map(|r| match updated.get(&r.id) {
            Some(u) => row(r.id, u),
            None => r,
        })
        .collect();
    out.extend(
        updates
            .iter()
            .filter(|u| u.id.is_none())
            .enumerate()
            .map(|(i, u)| row(first_id + i as i64, u)),
    );
    out
}
