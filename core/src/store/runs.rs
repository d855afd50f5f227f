//! The run history: starting and finishing runs, listing them newest first.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::codec::{self, Context};
use super::entity::runs;
use super::{RunCounts, RunError, RunRow, RunStatus, StateStore, not_found};
use crate::error::{Error, Result};

fn run_row(m: runs::Model) -> Result<RunRow> {
    let status = RunStatus::parse(&m.status)
        .ok_or_else(|| Error::store(format!("run {}: unknown status {:?}", m.id, m.status)))?;
    Ok(RunRow {
        id: m.id,
        status,
        started: codec::timestamp(m.started)?,
        ended: codec::timestamp_opt(m.ended)?,
        counts: codec::from_json(&format!("counts of run {}", m.id), &m.counts)?,
        errors: codec::from_json(&format!("errors of run {}", m.id), &m.errors)?,
        pair: m.pair,
        mode: m.mode,
        trigger: m.trigger,
        dry_run: m.dry_run,
    })
}

/// Sets a run's final status, counts, errors and end time, inside any
/// connection or transaction. Fails if the run does not exist.
pub(super) async fn finish(
    db: &impl ConnectionTrait,
    run_id: i64,
    status: RunStatus,
    counts: &RunCounts,
    errors: &[RunError],
) -> Result<()> {
    let what = || format!("finishing run {run_id}");
    let counts = codec::to_json("run counts", counts)?;
    let errors = codec::to_json("run errors", &errors)?;
    let res = runs::Entity::update_many()
        .col_expr(runs::Column::Status, Expr::value(status.as_str()))
        .col_expr(runs::Column::Counts, Expr::value(counts))
        .col_expr(runs::Column::Errors, Expr::value(errors))
        .col_expr(runs::Column::Ended, Expr::value(codec::now_ms()))
        .filter(runs::Column::Id.eq(run_id))
        .exec(db)
        .await
        .ctx(what)?;
    if res.rows_affected == 0 {
        return Err(not_found(format!("{}: run {run_id}", what())));
    }
    Ok(())
}

impl StateStore {
    /// Records the start of a run (status `running`, started now) and
    /// returns its id.
    pub async fn start_run(
        &self,
        pair: &str,
        mode: &str,
        trigger: &str,
        dry_run: bool,
    ) -> Result<i64> {
        let row = runs::ActiveModel {
            id: NotSet,
            pair: Set(pair.to_owned()),
            mode: Set(mode.to_owned()),
            trigger: Set(trigger.to_owned()),
            dry_run: Set(dry_run),
            status: Set(RunStatus::Running.as_str().to_owned()),
            started: Set(codec::now_ms()),
            ended: Set(None),
            counts: Set(codec::to_json("run counts", &RunCounts::default())?),
            errors: Set("[]".to_owned()),
        };
        let _turn = self.write_turn().await;
        let res = runs::Entity::insert(row)
            .exec(&self.db)
            .await
            .ctx(|| format!("starting a run of pair {pair:?}"))?;
        Ok(res.last_insert_id)
    }

    /// Records the end of a run that changed no state (a failed, stopped or
    /// dry run); [`StateStore::commit`] finishes runs that do.
    pub async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        errors: &[RunError],
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        finish(&self.db, run_id, status, counts, errors).await
    }

    /// Marks a run as `stopping` if it is still `running`; returns whether
    /// it was.
    pub async fn request_stop(&self, run_id: i64) -> Result<bool> {
        let _turn = self.write_turn().await;
        let res = runs::Entity::update_many()
            .col_expr(
                runs::Column::Status,
                Expr::value(RunStatus::Stopping.as_str()),
            )
            .filter(runs::Column::Id.eq(run_id))
            .filter(runs::Column::Status.eq(RunStatus::Running.as_str()))
            .exec(&self.db)
            .await
            .ctx(|| format!("stopping run {run_id}"))?;
        Ok(res.rows_affected > 0)
    }

    /// One page of the run history, newest first, and the number of runs
    /// in all pages. `page` counts from 1 (0 is taken as 1); `per_page` is
    /// at least 1.
    pub async fn runs(
        &self,
        pair: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<RunRow>, u64)> {
        let what = || match pair {
            Some(p) => format!("listing runs of pair {p:?}"),
            None => "listing runs".to_owned(),
        };
        let per_page = per_page.max(1);
        let mut query = runs::Entity::find();
        if let Some(pair) = pair {
            query = query.filter(runs::Column::Pair.eq(pair));
        }
        let total = query.clone().count(&self.db).await.ctx(what)?;
        let rows = query
            .order_by_desc(runs::Column::Id)
            .offset((page.max(1) - 1).saturating_mul(per_page))
            .limit(per_page)
            .all(&self.db)
            .await
            .ctx(what)?;
        let rows = rows.into_iter().map(run_row).collect::<Result<_>>()?;
        Ok((rows, total))
    }

    /// One run.
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>> {
        runs::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .ctx(|| format!("loading run {id}"))?
            .map(run_row)
            .transpose()
    }

    /// Runs that have not finished (`running` or `stopping`), oldest first:
    /// after a crash, the runs to resume or roll back.
    pub async fn running_runs(&self) -> Result<Vec<RunRow>> {
        let active = [RunStatus::Running.as_str(), RunStatus::Stopping.as_str()];
        runs::Entity::find()
            .filter(runs::Column::Status.is_in(active))
            .order_by_asc(runs::Column::Id)
            .all(&self.db)
            .await
            .ctx(|| "listing running runs".to_owned())?
            .into_iter()
            .map(run_row)
            .collect()
    }
}
