//! Recorded conflicts: the manual queue and the resolved history with losing versions.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::codec::{self, Context};
use super::entity::conflicts;
use super::{ConflictRow, ConflictStatus, NewConflict, StateStore, not_found};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::resolve::Resolution;

/// Columns bound per inserted conflict (all but `id`).
const CONFLICT_COLUMNS: usize = 12;

/// The row of a new conflict found by `run_id`, recorded at `now`.
pub(super) fn active_model(
    pair: &str,
    run_id: i64,
    c: &NewConflict,
    now: i64,
) -> Result<conflicts::ActiveModel> {
    let resolution = c
        .resolution
        .as_ref()
        .map(|r| codec::encode("resolution", r))
        .transpose()?;
    let status = if c.resolution.is_some() {
        ConflictStatus::Resolved
    } else {
        ConflictStatus::Pending
    };
    Ok(conflicts::ActiveModel {
        id: NotSet,
        pair: Set(pair.to_owned()),
        run_id: Set(run_id),
        link_id: Set(c.link_id),
        a_key: Set(c.conflict.a_key.as_ref().map(|k| k.0.to_string())),
        b_key: Set(c.conflict.b_key.as_ref().map(|k| k.0.to_string())),
        conflict: Set(codec::encode("conflict", &c.conflict)?),
        status: Set(status.as_str().to_owned()),
        resolved: Set(resolution.is_some().then_some(now)),
        resolution: Set(resolution),
        resolved_by: Set(c.resolved_by.clone()),
        loser: Set(c
            .loser
            .as_ref()
            .map(|r| codec::encode("losing record", r))
            .transpose()?),
        created: Set(now),
    })
}

fn conflict_row(m: conflicts::Model) -> Result<ConflictRow> {
    let id = m.id;
    let status = ConflictStatus::parse(&m.status)
        .ok_or_else(|| Error::store(format!("conflict {id}: unknown status {:?}", m.status)))?;
    Ok(ConflictRow {
        id,
        conflict: codec::decode(&format!("conflict {id}"), &m.conflict)?,
        status,
        resolution: m
            .resolution
            .map(|b| codec::decode(&format!("resolution of conflict {id}"), &b))
            .transpose()?,
        loser: m
            .loser
            .map(|b| codec::decode(&format!("losing record of conflict {id}"), &b))
            .transpose()?,
        created: codec::timestamp(m.created)?,
        resolved: codec::timestamp_opt(m.resolved)?,
        pair: m.pair,
        run_id: m.run_id,
        link_id: m.link_id,
        resolved_by: m.resolved_by,
    })
}

impl StateStore {
    /// The conflicts of a pair, oldest first; only the pending ones (the
    /// manual queue) if `pending_only`.
    pub async fn conflicts(&self, pair: &str, pending_only: bool) -> Result<Vec<ConflictRow>> {
        let mut query = conflicts::Entity::find().filter(conflicts::Column::Pair.eq(pair));
        if pending_only {
            query = query.filter(conflicts::Column::Status.eq(ConflictStatus::Pending.as_str()));
        }
        query
            .order_by_asc(conflicts::Column::Id)
            .all(&self.db)
            .await
            .ctx(|| format!("listing conflicts of pair {pair:?}"))?
            .into_iter()
            .map(conflict_row)
            .collect()
    }

    /// Records the conflicts a run found, with their losing versions, in a
    /// transaction of their own. A run does this before it commits its
    /// targets: once a target holds the winner, the loser must already be
    /// kept, whether or not the process lives to commit the rest. The
    /// conflicts are recorded by their keys (the link of a record first
    /// paired this run has no id yet).
    pub async fn record_conflicts(
        &self,
        pair: &str,
        run_id: i64,
        found: &[NewConflict],
    ) -> Result<()> {
        if found.is_empty() {
            return Ok(());
        }
        let what = || format!("recording the conflicts of run {run_id} of pair {pair:?}");
        let now = codec::now_ms();
        let rows = found
            .iter()
            .map(|c| {
                let mut m = active_model(pair, run_id, c, now)?;
                m.link_id = Set(None);
                Ok(m)
            })
            .collect::<Result<Vec<_>>>()?;
        let _turn = self.write_turn().await;
        let txn = self.begin_write("recording conflicts").await?;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows
                .by_ref()
                .take(codec::rows_per_insert(CONFLICT_COLUMNS))
                .collect();
            conflicts::Entity::insert_many(chunk)
                .exec_without_returning(&txn)
                .await
                .ctx(what)?;
        }
        txn.commit().await.ctx(what)
    }

    /// Drops the conflicts a run recorded, when none of its writes stayed.
    pub async fn forget_conflicts(&self, run_id: i64) -> Result<()> {
        let _turn = self.write_turn().await;
        conflicts::Entity::delete_many()
            .filter(conflicts::Column::RunId.eq(run_id))
            .exec(&self.db)
            .await
            .ctx(|| format!("dropping the conflicts of run {run_id}"))?;
        Ok(())
    }

    /// One conflict.
    pub async fn conflict(&self, id: i64) -> Result<Option<ConflictRow>> {
        conflicts::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .ctx(|| format!("loading conflict {id}"))?
            .map(conflict_row)
            .transpose()
    }

    /// Records a person's decision on a pending conflict, with the version
    /// that loses. Fails if the conflict does not exist or is not pending.
    pub async fn resolve_conflict(
        &self,
        id: i64,
        resolution: Resolution,
        resolved_by: &str,
        loser: Option<Record>,
    ) -> Result<()> {
        let what = || format!("resolving conflict {id}");
        let resolution = codec::encode("resolution", &resolution)?;
        let loser = loser
            .map(|r| codec::encode("losing record", &r))
            .transpose()?;
        let _turn = self.write_turn().await;
        let res = conflicts::Entity::update_many()
            .col_expr(
                conflicts::Column::Status,
                Expr::value(ConflictStatus::Resolved.as_str()),
            )
            .col_expr(conflicts::Column::Resolution, Expr::value(resolution))
            .col_expr(conflicts::Column::ResolvedBy, Expr::value(resolved_by))
            .col_expr(conflicts::Column::Loser, Expr::value(loser))
            .col_expr(conflicts::Column::Resolved, Expr::value(codec::now_ms()))
            .filter(conflicts::Column::Id.eq(id))
            .filter(conflicts::Column::Status.eq(ConflictStatus::Pending.as_str()))
            .exec(&self.db)
            .await
            .ctx(what)?;
        if res.rows_affected > 0 {
            return Ok(());
        }
        match self.conflict(id).await? {
            None => Err(not_found(format!("{}: conflict {id}", what()))),
            Some(_) => Err(Error::store(format!("{}: it is already resolved", what()))),
        }
    }
}
