//! Links and their base records, cursors, manual pairing and disabling.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, TryGetableMany,
};

use super::codec::{self, Context, IDS_PER_QUERY};
use super::entity::{conflicts, cursors, links};
use super::{LinkRow, LinkSet, LinkUpdate, Side, StateStore, snapshot};
use crate::error::{Error, Result};
use crate::record::{Cursor, Key, Record};

/// How many links one page of [`StateStore::load_links`] reads.
const LINKS_PER_PAGE: u64 = 50_000;

/// The columns of a [`LinkRow`], in the order of [`LinkTuple`].
const LINK_COLUMNS: [links::Column; 7] = [
    links::Column::Id,
    links::Column::AKey,
    links::Column::BKey,
    links::Column::HashA,
    links::Column::HashB,
    links::Column::Disabled,
    links::Column::Day,
];

/// A link as selected by [`LINK_COLUMNS`].
type LinkTuple = (
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    bool,
    Option<String>,
);

fn link_row((id, a_key, b_key, hash_a, hash_b, disabled, day): LinkTuple) -> LinkRow {
    LinkRow {
        day: day.and_then(|d| d.parse().ok()),
        id,
        a_key: a_key.map(Key::from),
        b_key: b_key.map(Key::from),
        hash_a: codec::hash_from_db(hash_a),
        hash_b: codec::hash_from_db(hash_b),
        disabled,
    }
}

/// Runs a select and decodes its rows as tuples.
///
/// Like `into_tuple().all()`, but the rows are decoded by reference and freed
/// together afterwards: freeing each row right after decoding it, between
/// the allocations of the decoded strings, costs three times the CPU time
/// on a million links (glibc malloc, rows allocated on sqlx's worker thread).
async fn all_tuples<T: TryGetableMany>(
    db: &impl ConnectionTrait,
    select: Select<links::Entity>,
) -> std::result::Result<Vec<T>, DbErr> {
    let rows = db.query_all(&select.into_query()).await?;
    let tuples = rows
        .iter()
        .map(|row| T::try_get_many_by_index(row).map_err(DbErr::from))
        .collect();
    drop(rows);
    tuples
}

/// The key column of a side.
fn key_column(side: Side) -> links::Column {
    match side {
        Side::A => links::Column::AKey,
        Side::B => links::Column::BKey,
    }
}

/// The link holding `key` on `side`, inside any connection or transaction.
async fn find_by_key(
    db: &impl ConnectionTrait,
    pair: &str,
    side: Side,
    key: &Key,
) -> Result<Option<LinkRow>> {
    let row: Option<LinkTuple> = links::Entity::find()
        .select_only()
        .columns(LINK_COLUMNS)
        .filter(links::Column::Pair.eq(pair))
        .filter(key_column(side).eq(key.as_str()))
        .into_tuple()
        .one(db)
        .await
        .ctx(|| format!("looking up {} key {key} of pair {pair:?}", side.as_str()))?;
    Ok(row.map(link_row))
}

impl StateStore {
    /// All links of a pair, without their base records, in id order.
    pub async fn load_links(&self, pair: &str) -> Result<Vec<LinkRow>> {
        Ok(self.load_link_set(pair).await?.rows)
    }

    /// All links of a pair with their generation, as a run loads them: from
    /// the pair's snapshot when it is current, else from the links table.
    pub async fn load_link_set(&self, pair: &str) -> Result<LinkSet> {
        // The generation first: a change committed after it makes the
        // links newer than the generation says, never older, and a commit
        // then sees the generation moved on and writes no snapshot.
        let (generation, behind) = snapshot::state(&self.db, pair).await?;
        let rows = match snapshot::read(&self.db, pair, generation).await? {
            Some(rows) => rows,
            None if behind => return Err(snapshot::lost(pair)),
            None => read_link_table(&self.db, pair).await?,
        };
        Ok(LinkSet { generation, rows })
    }

    /// Brings the pair's links table up to its snapshot if a run's commit
    /// left it behind: before a lookup by key or a change by hand.
    async fn catch_up(&self, pair: &str) -> Result<()> {
        if !snapshot::state(&self.db, pair).await?.1 {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        let txn = self
            .begin_write("bringing the links table up to date")
            .await?;
        catch_up(&txn, pair).await?;
        txn.commit()
            .await
            .ctx(|| format!("bringing the links table of pair {pair:?} up to date"))
    }

    /// The base records of some links of a pair, by link id. Links without a
    /// base (or not of this pair) are left out.
    pub async fn load_bases(&self, pair: &str, ids: &[i64]) -> Result<HashMap<i64, Record>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let select = links::Entity::find()
                .select_only()
                .columns([links::Column::Id, links::Column::Base])
                .filter(links::Column::Pair.eq(pair))
                .filter(links::Column::Id.is_in(chunk.iter().copied()))
                .filter(links::Column::Base.is_not_null());
            let rows: Vec<(i64, Option<Vec<u8>>)> = all_tuples(&self.db, select)
                .await
                .ctx(|| format!("loading base records of pair {pair:?}"))?;
            for (id, base) in rows {
                if let Some(bytes) = base {
                    out.insert(
                        id,
                        codec::decode(&format!("base record of link {id}"), &bytes)?,
                    );
                }
            }
        }
        Ok(out)
    }

    /// The link holding `key` on `side`, if there is one.
    pub async fn link_by_key(&self, pair: &str, side: Side, key: &Key) -> Result<Option<LinkRow>> {
        self.catch_up(pair).await?;
        find_by_key(&self.db, pair, side, key).await
    }

    /// Pairs record `a_key` on side A with record `b_key` on side B by hand,
    /// and returns the link's id.
    ///
    /// Fails if either key is already linked to another record. A link that
    /// holds only one of the keys (a disabled record) is completed; two such
    /// links are joined into one, disabled if either was.
    pub async fn link(&self, pair: &str, a_key: &Key, b_key: &Key) -> Result<i64> {
        let what = || format!("linking a key {a_key} to b key {b_key} in pair {pair:?}");
        let _turn = self.write_turn().await;
        let txn = self.begin_write("linking").await?;
        catch_up(&txn, pair).await?;
        let by_a = find_by_key(&txn, pair, Side::A, a_key).await?;
        let by_b = find_by_key(&txn, pair, Side::B, b_key).await?;
        if let Some(other) = by_a.as_ref().and_then(|l| l.b_key.as_ref()) {
            return Err(Error::store(format!(
                "{}: a key {a_key} is already linked to b key {other}",
                what()
            )));
        }
        if let Some(other) = by_b.as_ref().and_then(|l| l.a_key.as_ref()) {
            return Err(Error::store(format!(
                "{}: b key {b_key} is already linked to a key {other}",
                what()
            )));
        }
        let id = match (by_a, by_b) {
            (None, None) => {
                let row = links::ActiveModel {
                    day: Set(None),
                    id: NotSet,
                    pair: Set(pair.to_owned()),
                    a_key: Set(Some(a_key.0.to_string())),
                    b_key: Set(Some(b_key.0.to_string())),
                    hash_a: Set(None),
                    hash_b: Set(None),
                    base: Set(None),
                    disabled: Set(false),
                };
                links::Entity::insert(row)
                    .exec(&txn)
                    .await
                    .ctx(what)?
                    .last_insert_id
            }
            (Some(a), None) => {
                set_key(&txn, a.id, Side::B, b_key, a.hash_b, a.disabled)
                    .await
                    .ctx(what)?;
                a.id
            }
            (None, Some(b)) => {
                set_key(&txn, b.id, Side::A, a_key, b.hash_a, b.disabled)
                    .await
                    .ctx(what)?;
                b.id
            }
            (Some(a), Some(b)) => {
                links::Entity::delete_by_id(b.id)
                    .exec(&txn)
                    .await
                    .ctx(what)?;
                let disabled = a.disabled || b.disabled;
                set_key(&txn, a.id, Side::B, b_key, b.hash_b, disabled)
                    .await
                    .ctx(what)?;
                a.id
            }
        };
        snapshot::changed(&txn, pair).await?;
        txn.commit().await.ctx(what)?;
        Ok(id)
    }

    /// Removes the link holding `key` on `side`, with its base record.
    /// Returns whether there was one. The two records are then unpaired
    /// (`new` on the next run); a disabled link is no longer disabled.
    pub async fn unlink(&self, pair: &str, side: Side, key: &Key) -> Result<bool> {
        let what = || format!("unlinking {} key {key} in pair {pair:?}", side.as_str());
        let _turn = self.write_turn().await;
        let txn = self.begin_write("unlinking").await?;
        catch_up(&txn, pair).await?;
        let res = links::Entity::delete_many()
            .filter(links::Column::Pair.eq(pair))
            .filter(key_column(side).eq(key.as_str()))
            .exec(&txn)
            .await
            .ctx(what)?;
        if res.rows_affected > 0 {
            snapshot::changed(&txn, pair).await?;
        }
        txn.commit().await.ctx(what)?;
        Ok(res.rows_affected > 0)
    }

    /// Turns synchronization of one record off or on.
    ///
    /// Disabling an unlinked record creates a link holding only its key.
    /// Enabling removes such a link again when it holds nothing else.
    pub async fn set_disabled(
        &self,
        pair: &str,
        side: Side,
        key: &Key,
        disabled: bool,
    ) -> Result<()> {
        let what = || {
            let verb = if disabled { "disabling" } else { "enabling" };
            format!("{verb} {} key {key} in pair {pair:?}", side.as_str())
        };
        let _turn = self.write_turn().await;
        let txn = self.begin_write("disabling").await?;
        catch_up(&txn, pair).await?;
        match find_by_key(&txn, pair, side, key).await? {
            Some(link) if !disabled && link.key(side.other()).is_none() && is_bare(&link) => {
                links::Entity::delete_by_id(link.id)
                    .exec(&txn)
                    .await
                    .ctx(what)?;
            }
            Some(link) => {
                links::Entity::update_many()
                    .col_expr(links::Column::Disabled, Expr::value(disabled))
                    .filter(links::Column::Id.eq(link.id))
                    .exec(&txn)
                    .await
                    .ctx(what)?;
            }
            None if disabled => {
                let (a_key, b_key) = match side {
                    Side::A => (Some(key.0.to_string()), None),
                    Side::B => (None, Some(key.0.to_string())),
                };
                let row = links::ActiveModel {
                    day: Set(None),
                    id: NotSet,
                    pair: Set(pair.to_owned()),
                    a_key: Set(a_key),
                    b_key: Set(b_key),
                    hash_a: Set(None),
                    hash_b: Set(None),
                    base: Set(None),
                    disabled: Set(true),
                };
                links::Entity::insert(row).exec(&txn).await.ctx(what)?;
            }
            None => {}
        }
        snapshot::changed(&txn, pair).await?;
        txn.commit().await.ctx(what)
    }

    /// The stored cursor of one side of a pair.
    pub async fn cursor(&self, pair: &str, side: Side) -> Result<Option<Cursor>> {
        let row: Option<Option<Vec<u8>>> = cursors::Entity::find()
            .select_only()
            .column(cursors::Column::Cursor)
            .filter(cursors::Column::Pair.eq(pair))
            .filter(cursors::Column::Side.eq(side.as_str()))
            .into_tuple()
            .one(&self.db)
            .await
            .ctx(|| format!("loading the {} cursor of pair {pair:?}", side.as_str()))?;
        Ok(row.flatten().map(Cursor))
    }

    /// Removes everything stored about a pair except its run history: links,
    /// base records, cursors and conflicts.
    pub async fn clear_pair(&self, pair: &str) -> Result<()> {
        let what = || format!("clearing pair {pair:?}");
        let _turn = self.write_turn().await;
        let txn = self.begin_write("clearing").await?;
        conflicts::Entity::delete_many()
            .filter(conflicts::Column::Pair.eq(pair))
            .exec(&txn)
            .await
            .ctx(what)?;
        links::Entity::delete_many()
            .filter(links::Column::Pair.eq(pair))
            .exec(&txn)
            .await
            .ctx(what)?;
        cursors::Entity::delete_many()
            .filter(cursors::Column::Pair.eq(pair))
            .exec(&txn)
            .await
            .ctx(what)?;
        snapshot::changed(&txn, pair).await?;
        txn.commit().await.ctx(what)
    }
}

/// All links of a pair from the links table, read in pages by id, so no
/// single query holds the whole table.
async fn read_link_table(db: &impl ConnectionTrait, pair: &str) -> Result<Vec<LinkRow>> {
    let mut out = Vec::new();
    let mut after = i64::MIN;
    loop {
        let select = links::Entity::find()
            .select_only()
            .columns(LINK_COLUMNS)
            .filter(links::Column::Pair.eq(pair))
            .filter(links::Column::Id.gt(after))
            .order_by_asc(links::Column::Id)
            .limit(LINKS_PER_PAGE);
        let page: Vec<LinkTuple> = all_tuples(db, select)
            .await
            .ctx(|| format!("loading links of pair {pair:?}"))?;
        let full = page.len() as u64 == LINKS_PER_PAGE;
        if let Some(last) = page.last() {
            after = last.0;
        }
        out.extend(page.into_iter().map(link_row));
        if !full {
            return Ok(out);
        }
    }
}

/// Brings the pair's links table up to its snapshot, inside `txn`, when a
/// run's commit left it behind (see [`snapshot::set_behind`]); otherwise
/// does nothing. Only what differs is written: links the snapshot no
/// longer has are removed, new and changed ones written, base records kept.
pub(super) async fn catch_up(txn: &DatabaseTransaction, pair: &str) -> Result<()> {
    let (generation, behind) = snapshot::state(txn, pair).await?;
    if !behind {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let Some(truth) = snapshot::read(txn, pair, generation).await? else {
        return Err(snapshot::lost(pair));
    };
    let table = read_link_table(txn, pair).await?;
    let current: HashMap<i64, &LinkRow> = table.iter().map(|r| (r.id, r)).collect();
    let kept: std::collections::HashSet<i64> = truth.iter().map(|r| r.id).collect();
    let removed: Vec<i64> = table
        .iter()
        .map(|r| r.id)
        .filter(|id| !kept.contains(id))
        .collect();
    let changed: Vec<&LinkRow> = truth
        .iter()
        .filter(|r| current.get(&r.id).is_none_or(|&t| t != *r))
        .collect();
    let rekeyed: Vec<i64> = changed
        .iter()
        .filter(|r| {
            current
                .get(&r.id)
                .is_some_and(|t| t.a_key != r.a_key || t.b_key != r.b_key)
        })
        .map(|r| r.id)
        .collect();
    let what = || format!("bringing the links table of pair {pair:?} up to date");
    super::commit::remove_links(txn, pair, &removed)
        .await
        .ctx(what)?;
    super::commit::release_keys(txn, pair, &rekeyed)
        .await
        .ctx(what)?;
    let updates: Vec<LinkUpdate> = changed.into_iter().map(LinkUpdate::from).collect();
    let refs: Vec<&LinkUpdate> = updates.iter().collect();
    super::commit::update_links(txn, pair, &refs, true).await?;
    snapshot::set_behind(txn, pair, false).await?;
    tracing::info!(
        pair,
        removed = removed.len(),
        written = refs.len(),
        ms = started.elapsed().as_millis() as u64,
        "links table brought up to date"
    );
    Ok(())
}

/// Whether a one-sided link holds nothing but its key (no hash, so no base).
fn is_bare(link: &LinkRow) -> bool {
    link.hash_a.is_none() && link.hash_b.is_none()
}

/// Sets one side's key (and hash) of a link.
async fn set_key(
    db: &impl ConnectionTrait,
    id: i64,
    side: Side,
    key: &Key,
    hash: Option<u64>,
    disabled: bool,
) -> std::result::Result<(), sea_orm::DbErr> {
    let hash_column = match side {
        Side::A => links::Column::HashA,
        Side::B => links::Column::HashB,
    };
    links::Entity::update_many()
        .col_expr(key_column(side), Expr::value(key.as_str()))
        .col_expr(hash_column, Expr::value(codec::hash_to_db(hash)))
        .col_expr(links::Column::Disabled, Expr::value(disabled))
        .filter(links::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
