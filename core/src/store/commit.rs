//! `StateStore::commit`: a run's links, cursors, conflicts and status in one transaction.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    Statement, Value,
};

use super::codec::{self, Context, IDS_PER_QUERY, rows_per_insert};
use super::entity::{conflicts, cursors, links};
use super::{
    Commit, ConflictStatus, LinkSet, LinkUpdate, StateStore, conflicts as conflict_rows, runs,
    snapshot,
};
use crate::error::Result;

/// Columns bound per inserted link.
const LINK_INSERT_COLUMNS: usize = 9;

/// Columns bound per inserted conflict (all but `id`).
const CONFLICT_INSERT_COLUMNS: usize = 12;

impl StateStore {
    /// Applies everything a run changes, in one transaction: removes links,
    /// updates and inserts links (with their base records), writes cursors,
    /// records conflicts, closes pending conflicts and finishes the run with
    /// its status, counts and errors. Either all of it lands or none of it
    /// does; on failure the run is left as it was (`running`).
    ///
    /// An update of a link that no longer exists (unlinked by hand during
    /// the run) is skipped with a warning. Closing a conflict that is not
    /// pending does nothing.
    pub async fn commit(&self, commit: Commit) -> Result<()> {
        let what = format!("committing run {} of pair {:?}", commit.run_id, commit.pair);
        let started = std::time::Instant::now();
        let _turn = self.write_turn().await;
        let txn = self.begin_write("commit").await?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "store transaction begun"
        );
        // Dropping `txn` on an error rolls everything back.
        apply(&txn, commit, self.defer_links_from)
            .await
            .map_err(|e| codec::within(what.clone(), e))?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "store changes written"
        );
        txn.commit().await.ctx(|| what)?;
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "store committed");
        Ok(())
    }
}

/// Applies a commit inside `txn`.
async fn apply(txn: &DatabaseTransaction, commit: Commit, defer_from: usize) -> Result<()> {
    let Commit {
        run_id,
        pair,
        links,
        removed_links,
        days,
        period,
        cursors,
        conflicts,
        closed_conflicts,
        status,
        counts,
        errors,
        snapshot,
    } = commit;
    let now = codec::now_ms();
    let started = std::time::Instant::now();
    write_all_links(
        txn,
        &pair,
        std::sync::Arc::new(links),
        &removed_links,
        snapshot,
        defer_from,
    )
    .await?;
    tracing::debug!(
        pair = %pair,
        ms = started.elapsed().as_millis() as u64,
        "links written"
    );
    for (side, cursor) in cursors {
        let row = cursors::ActiveModel {
            id: NotSet,
            pair: Set(pair.clone()),
            side: Set(side.as_str().to_owned()),
            cursor: Set(cursor.map(|c| c.0)),
            updated: Set(now),
        };
        let upsert = OnConflict::columns([cursors::Column::Pair, cursors::Column::Side])
            .update_columns([cursors::Column::Cursor, cursors::Column::Updated])
            .to_owned();
        cursors::Entity::insert(row)
            .on_conflict(upsert)
            .exec_without_returning(txn)
            .await
            .ctx(|| format!("writing the {} cursor", side.as_str()))?;
    }
    let rows = conflicts
        .iter()
        .map(|c| conflict_rows::active_model(&pair, run_id, c, now))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows
            .by_ref()
            .take(rows_per_insert(CONFLICT_INSERT_COLUMNS))
            .collect();
        conflicts::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await
            .ctx(|| "recording conflicts".to_owned())?;
    }
    for chunk in closed_conflicts.chunks(IDS_PER_QUERY) {
        conflicts::Entity::update_many()
            .col_expr(
                conflicts::Column::Status,
                Expr::value(ConflictStatus::Resolved.as_str()),
            )
            .col_expr(conflicts::Column::Resolved, Expr::value(now))
            .filter(conflicts::Column::Pair.eq(pair.as_str()))
            .filter(conflicts::Column::Id.is_in(chunk.iter().copied()))
            .filter(conflicts::Column::Status.eq(ConflictStatus::Pending.as_str()))
            .exec(txn)
            .await
            .ctx(|| "closing conflicts".to_owned())?;
    }
    crate::fault::point("store.in_commit");
    super::ledger::write_days(txn, &pair, run_id, &days, now).await?;
    runs::finish(txn, run_id, status, &counts, &errors).await?;
    runs::detail(txn, run_id, period, &days).await
}

/// Removes, updates and inserts the run's links and counts up the pair's
/// link generation. With the links the run started from (`base`), and
/// nothing else having changed them since, stores the new link set as the
/// pair's snapshot; a run that changed no link and finds the snapshot
/// current leaves both as they are.
///
/// Such a commit that changes `defer_from` links or more, or finds the
/// links table already behind, and carries no base record, writes the
/// snapshot alone and leaves the table behind (see the `snapshot` module).
/// Any other commit first brings a table that is behind up to date.
async fn write_all_links(
    txn: &DatabaseTransaction,
    pair: &str,
    all: std::sync::Arc<Vec<LinkUpdate>>,
    removed: &[i64],
    base: Option<LinkSet>,
    defer_from: usize,
) -> Result<()> {
    let links = all.as_slice();
    let keep = snapshot::supported(txn.get_database_backend());
    let (before, behind) = match keep {
        true => snapshot::state(txn, pair).await?,
        false => (snapshot::generation(txn, pair).await?, false),
    };
    if links.is_empty() && removed.is_empty() {
        match &base {
            Some(b) if keep && snapshot::chain_to(txn, pair, b.generation).await?.is_some() => {
                return Ok(());
            }
            Some(_) => {}
            None => return Ok(()),
        }
    }
    // Nothing else changed the links since the run loaded them: every
    // link it updates still exists, so updates can go in bulk.
    let current = base.as_ref().is_some_and(|b| b.generation == before);
    let defer = keep
        && current
        && (behind || links.len() + removed.len() >= defer_from)
        && links.iter().all(|u| u.base.is_none());
    if behind && !defer {
        super::links::catch_up(txn, pair).await?;
    }
    let generation = snapshot::bump(txn, pair).await?;
    let (updates, inserts): (Vec<&LinkUpdate>, Vec<&LinkUpdate>) =
        links.iter().partition(|u| u.id.is_some());
    let first_id = match keep {
        true => Some(snapshot::reserve_ids(txn, inserts.len()).await?),
        false => None,
    };
    // With the links current, updates go in bulk; those whose keys stay as
    // they were leave the key indexes alone: a few thousand updates in a
    // million links then write a third of the pages.
    let bulk: Option<(Vec<&LinkUpdate>, Vec<&LinkUpdate>)> = match (current, keep, &base) {
        (true, true, Some(base)) => Some(updates.iter().copied().partition(|u: &&LinkUpdate| {
            let id = u.id.expect("an update has an id");
            base.rows
                .binary_search_by_key(&id, |r| r.id)
                .is_ok_and(|i| base.rows[i].a_key == u.a_key && base.rows[i].b_key == u.b_key)
        })),
        _ => None,
    };
    // The new snapshot: a delta on the chain, or a whole one, encoded in
    // a thread of its own while the links are written.
    let next = match (base, first_id, current) {
        (Some(base), Some(first_id), true) => {
            let changes = removed.len() + links.len();
            let chain = snapshot::chain_to(txn, pair, base.generation).await?;
            match chain.filter(|&c| snapshot::as_delta(c, generation, changes)) {
                Some(chain) => NewSnapshot::Delta(chain, first_id),
                None => {
                    let (all, removed) = (all.clone(), removed.to_vec());
                    NewSnapshot::Whole(tokio::task::spawn_blocking(move || {
                        let started = std::time::Instant::now();
                        let parts = snapshot::encode_whole(&base.rows, &removed, &all, first_id);
                        tracing::debug!(
                            ms = started.elapsed().as_millis() as u64,
                            "link snapshot encoded"
                        );
                        parts
                    }))
                }
            }
        }
        _ => NewSnapshot::Forget,
    };
    if defer {
        if !behind {
            snapshot::set_behind(txn, pair, true).await?;
        }
    } else {
        remove_links(txn, pair, removed)
            .await
            .ctx(|| "removing links".to_owned())?;
        match bulk {
            Some((same, rekeyed)) => {
                update_links(txn, pair, &same, false).await?;
                let ids: Vec<i64> = rekeyed.iter().filter_map(|u| u.id).collect();
                release_keys(txn, pair, &ids)
                    .await
                    .ctx(|| "writing links".to_owned())?;
                update_links(txn, pair, &rekeyed, true).await?;
            }
            None => {
                for u in &updates {
                    update_link(txn, pair, u.id.expect("an update has an id"), u).await?;
                }
            }
        }
        insert_links(txn, pair, &inserts, first_id).await?;
    }
    let started = std::time::Instant::now();
    match next {
        NewSnapshot::Whole(whole) => {
            let parts = whole.await.map_err(|e| {
                crate::error::Error::store(format!("encoding the link snapshot: {e}"))
            })??;
            snapshot::write_whole(txn, pair, generation, parts).await?;
        }
        NewSnapshot::Delta(chain, first_id) => {
            let changed = snapshot::changed_rows(links, first_id);
            snapshot::record_delta(txn, pair, generation, chain, removed, changed).await?;
        }
        NewSnapshot::Forget => snapshot::forget(txn, pair).await?,
    }
    tracing::debug!(
        pair = %pair,
        deferred = defer,
        ms = started.elapsed().as_millis() as u64,
        "link snapshot written"
    );
    Ok(())
}

/// What a commit does with the pair's link snapshot.
enum NewSnapshot {
    /// Writes a whole one, being encoded.
    Whole(tokio::task::JoinHandle<Result<snapshot::Parts>>),
    /// Writes a delta on this chain; inserted links are numbered from the id.
    Delta(snapshot::Chain, i64),
    /// Forgets it: the links changed from another generation than the
    /// current one, or the backend keeps none.
    Forget,
}

/// Removes links of `pair` by id.
pub(super) async fn remove_links(
    txn: &DatabaseTransaction,
    pair: &str,
    ids: &[i64],
) -> std::result::Result<(), sea_orm::DbErr> {
    for chunk in ids.chunks(IDS_PER_QUERY) {
        links::Entity::delete_many()
            .filter(links::Column::Pair.eq(pair))
            .filter(links::Column::Id.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Clears the keys of links of `pair` by id, before they are written with
/// new ones: a key that moves from one link to another (two links trading
/// keys) would otherwise meet itself in the unique key indexes.
pub(super) async fn release_keys(
    txn: &DatabaseTransaction,
    pair: &str,
    ids: &[i64],
) -> std::result::Result<(), sea_orm::DbErr> {
    for chunk in ids.chunks(IDS_PER_QUERY) {
        links::Entity::update_many()
            .col_expr(links::Column::AKey, Expr::value(Option::<String>::None))
            .col_expr(links::Column::BKey, Expr::value(Option::<String>::None))
            .filter(links::Column::Pair.eq(pair))
            .filter(links::Column::Id.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Updates existing links by their id in batches (an upsert on the id),
/// replacing everything but a base record the update does not carry, and
/// the keys unless `keys` says so.
pub(super) async fn update_links(
    txn: &DatabaseTransaction,
    pair: &str,
    links: &[&LinkUpdate],
    keys: bool,
) -> Result<()> {
    let mut columns = vec![
        links::Column::HashA,
        links::Column::HashB,
        links::Column::Disabled,
        links::Column::Day,
    ];
    if keys {
        columns.extend([links::Column::AKey, links::Column::BKey]);
    }
    for chunk in links.chunks(rows_per_insert(LINK_INSERT_COLUMNS)) {
        let rows = chunk
            .iter()
            .map(|u| {
                Ok(links::ActiveModel {
                    id: Set(u.id.expect("an update has an id")),
                    pair: Set(pair.to_owned()),
                    a_key: Set(u.a_key.as_ref().map(|k| k.0.to_string())),
                    b_key: Set(u.b_key.as_ref().map(|k| k.0.to_string())),
                    hash_a: Set(codec::hash_to_db(u.hash_a)),
                    hash_b: Set(codec::hash_to_db(u.hash_b)),
                    base: Set(base_bytes(u)?),
                    disabled: Set(u.disabled),
                    day: Set(u.day.map(|d| d.to_string())),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let replace = OnConflict::column(links::Column::Id)
            .update_columns(columns.iter().copied())
            .value(
                links::Column::Base,
                Expr::cust("COALESCE(excluded.base, links.base)"),
            )
            .to_owned();
        // The clause is SQLite's and PostgreSQL's: bulk updates are made
        // only where snapshots are kept.
        links::Entity::insert_many(rows)
            .on_conflict(replace)
            .exec_without_returning(txn)
            .await
            .ctx(|| "writing links".to_owned())?;
    }
    Ok(())
}

/// Inserts new links (numbered from `first_id` when it is given, else by
/// the database) with plain multi-row statements whose text is built once:
/// a first run inserts a link for every record it created.
async fn insert_links(
    txn: &DatabaseTransaction,
    pair: &str,
    links: &[&LinkUpdate],
    first_id: Option<i64>,
) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let columns = match first_id {
        Some(_) => "id, pair, a_key, b_key, hash_a, hash_b, base, disabled, day",
        None => "pair, a_key, b_key, hash_a, hash_b, base, disabled, day",
    };
    let per_row = columns.split(", ").count();
    let sql = |rows: usize| {
        let mut sql = format!("INSERT INTO links ({columns}) VALUES ");
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..per_row {
                if c > 0 {
                    sql.push_str(", ");
                }
                match backend {
                    DbBackend::Postgres => sql.push_str(&format!("${}", r * per_row + c + 1)),
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        sql
    };
    let per_insert = rows_per_insert(LINK_INSERT_COLUMNS).min(links.len());
    let full = sql(per_insert);
    let mut next_id = first_id;
    for chunk in links.chunks(per_insert) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * per_row);
        for u in chunk {
            if let Some(n) = next_id.as_mut() {
                values.push((*n).into());
                *n += 1;
            }
            values.push(pair.into());
            values.push(u.a_key.as_ref().map(|k| k.0.to_string()).into());
            values.push(u.b_key.as_ref().map(|k| k.0.to_string()).into());
            values.push(codec::hash_to_db(u.hash_a).into());
            values.push(codec::hash_to_db(u.hash_b).into());
            values.push(base_bytes(u)?.into());
            values.push(u.disabled.into());
            values.push(u.day.map(|d| d.to_string()).into());
        }
        let text = match chunk.len() == per_insert {
            true => full.clone(),
            false => sql(chunk.len()),
        };
        txn.execute_raw(Statement::from_sql_and_values(backend, text, values))
            .await
            .ctx(|| "writing links".to_owned())?;
    }
    Ok(())
}

/// Updates one link; a link that is gone is skipped with a warning.
async fn update_link(db: &impl ConnectionTrait, pair: &str, id: i64, u: &LinkUpdate) -> Result<()> {
    let mut update = links::Entity::update_many()
        .col_expr(
            links::Column::AKey,
            Expr::value(u.a_key.as_ref().map(|k| k.0.to_string())),
        )
        .col_expr(
            links::Column::BKey,
            Expr::value(u.b_key.as_ref().map(|k| k.0.to_string())),
        )
        .col_expr(
            links::Column::HashA,
            Expr::value(codec::hash_to_db(u.hash_a)),
        )
        .col_expr(
            links::Column::HashB,
            Expr::value(codec::hash_to_db(u.hash_b)),
        )
        .col_expr(links::Column::Disabled, Expr::value(u.disabled))
        .col_expr(
            links::Column::Day,
            Expr::value(u.day.map(|d| d.to_string())),
        );
    if let Some(base) = base_bytes(u)? {
        update = update.col_expr(links::Column::Base, Expr::value(base));
    }
    let res = update
        .filter(links::Column::Id.eq(id))
        .filter(links::Column::Pair.eq(pair))
        .exec(db)
        .await
        .ctx(|| format!("updating link {id}"))?;
    if res.rows_affected == 0 {
        tracing::warn!(pair, link = id, "link to update is gone; skipped");
    }
    Ok(())
}

/// The postcard bytes of an update's base record, if it has one.
fn base_bytes(u: &LinkUpdate) -> Result<Option<Vec<u8>>> {
    u.base
        .as_ref()
        .map(|b| codec::encode(&format!("base record {}", b.key), b))
        .transpose()
}
