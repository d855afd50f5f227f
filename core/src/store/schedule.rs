//! What the daemon keeps: each pair's saved schedule, its settings, and run
//! counts for its metrics.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::codec::{self, Context};
use super::entity::{runs, schedules, settings};
use super::{RunStatus, StateStore};
use crate::error::{Error, Result};

/// A pair's saved schedule. The store keeps the grid and the triggers as
/// text; the host gives them meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRow {
    /// The pair.
    pub pair: String,
    /// 168 characters `0`/`1`, one per hour of the week, Monday 00-01 first.
    pub grid: String,
    /// Whether automatic syncs run (an inactive schedule keeps its grid).
    pub active: bool,
    /// The automatic triggers, JSON.
    pub triggers: String,
    /// When it was saved.
    pub updated: jiff::Timestamp,
}

/// How many runs of a pair ended (or stand) in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTally {
    /// The pair.
    pub pair: String,
    /// The status.
    pub status: RunStatus,
    /// How many runs.
    pub runs: u64,
}

impl StateStore {
    /// A pair's saved schedule, if one was saved.
    pub async fn schedule(&self, pair: &str) -> Result<Option<ScheduleRow>> {
        let row = schedules::Entity::find()
            .filter(schedules::Column::Pair.eq(pair))
            .one(&self.db)
            .await
            .ctx(|| format!("loading the schedule of pair {pair:?}"))?;
        row.map(|m| {
            Ok(ScheduleRow {
                updated: codec::timestamp(m.updated)?,
                pair: m.pair,
                grid: m.grid,
                active: m.active,
                triggers: m.triggers,
            })
        })
        .transpose()
    }

    /// Saves a pair's schedule (its `updated` is set to now), replacing the
    /// one saved before.
    pub async fn save_schedule(&self, row: &ScheduleRow) -> Result<()> {
        if row.grid.len() != 168 || !row.grid.bytes().all(|b| b == b'0' || b == b'1') {
            return Err(Error::store(format!(
                "schedule of pair {:?}: the grid must be 168 characters 0 or 1",
                row.pair
            )));
        }
        let model = schedules::ActiveModel {
            id: NotSet,
            pair: Set(row.pair.clone()),
            grid: Set(row.grid.clone()),
            active: Set(row.active),
            triggers: Set(row.triggers.clone()),
            updated: Set(codec::now_ms()),
        };
        let _turn = self.write_turn().await;
        schedules::Entity::insert(model)
            .on_conflict(
                OnConflict::column(schedules::Column::Pair)
                    .update_columns([
                        schedules::Column::Grid,
                        schedules::Column::Active,
                        schedules::Column::Triggers,
                        schedules::Column::Updated,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .ctx(|| format!("saving the schedule of pair {:?}", row.pair))?;
        Ok(())
    }

    /// Forgets a pair's saved schedule (it follows its manifest again);
    /// returns whether one was saved.
    pub async fn delete_schedule(&self, pair: &str) -> Result<bool> {
        let _turn = self.write_turn().await;
        let res = schedules::Entity::delete_many()
            .filter(schedules::Column::Pair.eq(pair))
            .exec(&self.db)
            .await
            .ctx(|| format!("resetting the schedule of pair {pair:?}"))?;
        Ok(res.rows_affected > 0)
    }

    /// A setting, if it was set.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let row = settings::Entity::find()
            .filter(settings::Column::Name.eq(name))
            .one(&self.db)
            .await
            .ctx(|| format!("reading setting {name:?}"))?;
        Ok(row.map(|m| m.value))
    }

    /// Sets a setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        let model = settings::ActiveModel {
            id: NotSet,
            name: Set(name.to_owned()),
            value: Set(value.to_owned()),
            updated: Set(codec::now_ms()),
        };
        let _turn = self.write_turn().await;
        settings::Entity::insert(model)
            .on_conflict(
                OnConflict::column(settings::Column::Name)
                    .update_columns([settings::Column::Value, settings::Column::Updated])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .ctx(|| format!("setting {name:?}"))?;
        Ok(())
    }

    /// How many runs each pair has in each status (dry runs are not
    /// recorded, so not counted).
    pub async fn run_tallies(&self) -> Result<Vec<RunTally>> {
        let rows: Vec<(String, String, i64)> = runs::Entity::find()
            .select_only()
            .column(runs::Column::Pair)
            .column(runs::Column::Status)
            .column_as(Expr::col(runs::Column::Id).count(), "runs")
            .group_by(runs::Column::Pair)
            .group_by(runs::Column::Status)
            .order_by_asc(runs::Column::Pair)
            .order_by_asc(runs::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .ctx(|| "counting runs by status".to_owned())?;
        rows.into_iter()
            .map(|(pair, status, runs)| {
                let status = RunStatus::parse(&status).ok_or_else(|| {
                    Error::store(format!("runs of pair {pair:?}: unknown status {status:?}"))
                })?;
                Ok(RunTally {
                    pair,
                    status,
                    runs: u64::try_from(runs).unwrap_or(0),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pair: &str, grid: String, active: bool) -> ScheduleRow {
        ScheduleRow {
            pair: pair.into(),
            grid,
            active,
            triggers: "{}".into(),
            updated: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn schedules_are_saved_replaced_and_reset() {
        let store = StateStore::open("sqlite::memory:").await.unwrap();
        assert_eq!(store.schedule("p").await.unwrap(), None);
        let grid = "1".repeat(24) + &"0".repeat(144);
        store
            .save_schedule(&row("p", grid.clone(), true))
            .await
            .unwrap();
        let saved = store.schedule("p").await.unwrap().unwrap();
        assert_eq!((saved.grid.as_str(), saved.active), (grid.as_str(), true));
        store
            .save_schedule(&row("p", "0".repeat(168), false))
            .await
            .unwrap();
        let saved = store.schedule("p").await.unwrap().unwrap();
        assert_eq!((saved.grid, saved.active), ("0".repeat(168), false));
        assert!(
            store
                .save_schedule(&row("p", "01".into(), true))
                .await
                .is_err()
        );
        assert!(store.delete_schedule("p").await.unwrap());
        assert!(!store.delete_schedule("p").await.unwrap());
        assert_eq!(store.schedule("p").await.unwrap(), None);
    }

    #[tokio::test]
    async fn settings_and_tallies() {
        let store = StateStore::open("sqlite::memory:").await.unwrap();
        assert_eq!(store.setting("poll_interval").await.unwrap(), None);
        store.set_setting("poll_interval", "60").await.unwrap();
        store.set_setting("poll_interval", "30").await.unwrap();
        assert_eq!(
            store.setting("poll_interval").await.unwrap().as_deref(),
            Some("30")
        );
        for _ in 0..2 {
            store.start_run("p", "send", "manual", false).await.unwrap();
        }
        let id = store.start_run("q", "send", "manual", false).await.unwrap();
        store
            .finish_run(id, RunStatus::Completed, &Default::default(), &[])
            .await
            .unwrap();
        let tallies = store.run_tallies().await.unwrap();
        assert_eq!(
            tallies
                .iter()
                .map(|t| (t.pair.as_str(), t.status, t.runs))
                .collect::<Vec<_>>(),
            vec![("p", RunStatus::Running, 2), ("q", RunStatus::Completed, 1)]
        );
    }
}
