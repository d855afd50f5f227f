//! The journal: the before-image of every change a run applies, written
//! before the change is, so that a run can be undone or rolled back.

use std::collections::BTreeSet;

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, Iterable, QueryFilter, QueryOrder, QuerySelect,
};

use super::codec::{self, Context, IDS_PER_QUERY, rows_per_insert};
use super::entity::journal;
use super::{JournalEntry, Side, StateStore};
use crate::error::{Error, Result};
use crate::record::Key;

impl StateStore {
    /// Appends before-images to a run's journal, durably, before the
    /// changes they describe are applied.
    pub async fn append_journal(
        &self,
        run_id: i64,
        pair: &str,
        entries: &[JournalEntry],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries
            .iter()
            .map(|e| {
                Ok(journal::ActiveModel {
                    id: NotSet,
                    run_id: Set(run_id),
                    pair: Set(pair.to_owned()),
                    side: Set(e.side.as_str().to_owned()),
                    entity: Set(e.entity.clone()),
                    key: Set(e.key.0.clone()),
                    before: Set(e
                        .before
                        .as_ref()
                        .map(|r| codec::encode("before-image", r))
                        .transpose()?),
                    link: Set(e
                        .link
                        .as_ref()
                        .map(|l| codec::encode("link before-image", l))
                        .transpose()?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let _turn = self.write_turn().await;
        let txn = self.begin_write("journal").await?;
        for chunk in rows.chunks(rows_per_insert(journal::Column::iter().count())) {
            journal::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .ctx(|| format!("writing the journal of run {run_id}"))?;
        }
        txn.commit()
            .await
            .ctx(|| format!("writing the journal of run {run_id}"))
    }

    /// A run's journal, in the order it was written.
    pub async fn journal(&self, run_id: i64) -> Result<Vec<JournalEntry>> {
        let rows = journal::Entity::find()
            .filter(journal::Column::RunId.eq(run_id))
            .order_by_asc(journal::Column::Id)
            .all(&self.db)
            .await
            .ctx(|| format!("reading the journal of run {run_id}"))?;
        rows.into_iter()
            .map(|m| {
                Ok(JournalEntry {
                    side: Side::parse(&m.side).ok_or_else(|| {
                        Error::store(format!("journal entry {}: unknown side {:?}", m.id, m.side))
                    })?,
                    entity: m.entity,
                    key: Key(m.key),
                    before: m
                        .before
                        .map(|b| codec::decode("before-image", &b))
                        .transpose()?,
                    link: m
                        .link
                        .map(|l| codec::decode("link before-image", &l))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Forgets a run's journal (once the run is undone).
    pub async fn clear_journal(&self, run_id: i64) -> Result<()> {
        let _turn = self.write_turn().await;
        journal::Entity::delete_many()
            .filter(journal::Column::RunId.eq(run_id))
            .exec(&self.db)
            .await
            .ctx(|| format!("clearing the journal of run {run_id}"))?;
        Ok(())
    }

    /// The runs of a pair after `run_id` whose journals touch any of these
    /// keys: what an undo of `run_id` would overwrite.
    pub async fn later_runs_touching(
        &self,
        pair: &str,
        run_id: i64,
        keys: &[Key],
    ) -> Result<Vec<i64>> {
        let mut runs = BTreeSet::new();
        for chunk in keys.chunks(IDS_PER_QUERY) {
            let found: Vec<i64> = journal::Entity::find()
                .select_only()
                .column(journal::Column::RunId)
                .filter(journal::Column::Pair.eq(pair))
                .filter(journal::Column::RunId.gt(run_id))
                .filter(journal::Column::Key.is_in(chunk.iter().map(|k| k.0.clone())))
                .into_tuple()
                .all(&self.db)
                .await
                .ctx(|| format!("looking for runs after {run_id}"))?;
            runs.extend(found);
        }
        Ok(runs.into_iter().collect())
    }
}
