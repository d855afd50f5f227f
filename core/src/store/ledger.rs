//! The day ledger: where each day of a pair stands (synced, stale, failed).

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::codec::{self, Context};
use super::entity::ledger;
use super::{DayDetail, DayStatus, LedgerRow, StateStore};
use crate::error::{Error, Result};

/// Sets days of a pair, inside any connection or transaction. A day set to
/// `not_synced` is removed from the ledger.
pub(super) async fn write_days(
    db: &impl ConnectionTrait,
    pair: &str,
    run_id: i64,
    days: &[DayDetail],
    now: i64,
) -> Result<()> {
    for d in days {
        let what = || format!("setting day {} of pair {pair:?}", d.day);
        if d.status == DayStatus::NotSynced {
            ledger::Entity::delete_many()
                .filter(ledger::Column::Pair.eq(pair))
                .filter(ledger::Column::Day.eq(d.day.to_string()))
                .exec(db)
                .await
                .ctx(what)?;
            continue;
        }
        let row = ledger::ActiveModel {
            id: NotSet,
            pair: Set(pair.to_owned()),
            day: Set(d.day.to_string()),
            status: Set(d.status.as_str().to_owned()),
            events: Set(d.events as i64),
            run_id: Set(Some(run_id)),
            updated: Set(now),
        };
        let mut update = vec![
            ledger::Column::Status,
            ledger::Column::RunId,
            ledger::Column::Updated,
        ];
        // A day that goes stale or fails keeps the events it saved before.
        if d.status == DayStatus::Synced {
            update.push(ledger::Column::Events);
        }
        ledger::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([ledger::Column::Pair, ledger::Column::Day])
                    .update_columns(update)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .ctx(what)?;
    }
    Ok(())
}

impl StateStore {
    /// The ledger of a pair between two days (inclusive), in day order.
    /// Days that were never synced have no row.
    pub async fn ledger(
        &self,
        pair: &str,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> Result<Vec<LedgerRow>> {
        let rows = ledger::Entity::find()
            .filter(ledger::Column::Pair.eq(pair))
            .filter(ledger::Column::Day.gte(from.to_string()))
            .filter(ledger::Column::Day.lte(to.to_string()))
            .order_by_asc(ledger::Column::Day)
            .all(&self.db)
            .await
            .ctx(|| format!("reading the ledger of pair {pair:?}"))?;
        rows.into_iter()
            .map(|m| {
                Ok(LedgerRow {
                    day: m
                        .day
                        .parse()
                        .map_err(|e| Error::store(format!("ledger day {:?}: {e}", m.day)))?,
                    status: DayStatus::parse(&m.status).ok_or_else(|| {
                        Error::store(format!(
                            "ledger day {}: unknown status {:?}",
                            m.day, m.status
                        ))
                    })?,
                    events: m.events.max(0) as u64,
                    run_id: m.run_id,
                    updated: codec::timestamp(m.updated)?,
                })
            })
            .collect()
    }

    /// Sets days of a pair outside a run commit (a day found stale by
    /// polling, a day whose run failed).
    pub async fn set_days(&self, pair: &str, run_id: i64, days: &[DayDetail]) -> Result<()> {
        let _turn = self.write_turn().await;
        write_days(&self.db, pair, run_id, days, codec::now_ms()).await
    }
}
