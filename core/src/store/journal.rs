//! The journal: the before-image of every change a run applies, written
//! before the change is, so that a run can be undone or rolled back.
//!
//! Each applied batch is one row of `journal_batches` holding its entries
//! (postcard). Runs journaled before that table keep one row per change in
//! `journal`; both are read.

use std::collections::{BTreeSet, HashSet};

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::codec::{self, Context, IDS_PER_QUERY};
use super::entity::{journal, journal_batches};
use super::{JournalEntry, LinkRow, Side, StateStore};
use crate::error::{Error, Result};
use crate::record::{Key, Record};

/// One entry of a batch as stored: key, record before, link before.
type StoredEntry = (Key, Option<Record>, Option<LinkRow>);

impl StateStore {
    /// Appends before-images to a run's journal, durably, before the
    /// changes they describe are applied: one row per side and entity.
    pub async fn append_journal(
        &self,
        run_id: i64,
        pair: &str,
        entries: &[JournalEntry],
    ) -> Result<()> {
        let mut rows = Vec::new();
        for group in entries.chunk_by(|x, y| x.side == y.side && x.entity == y.entity) {
            let stored: Vec<(&Key, &Option<Record>, &Option<LinkRow>)> =
                group.iter().map(|e| (&e.key, &e.before, &e.link)).collect();
            rows.push(journal_batches::ActiveModel {
                id: NotSet,
                run_id: Set(run_id),
                pair: Set(pair.to_owned()),
                side: Set(group[0].side.as_str().to_owned()),
                entity: Set(group[0].entity.clone()),
                entries: Set(group.len() as i64),
                data: Set(codec::encode("journal batch", &stored)?),
            });
        }
        if rows.is_empty() {
            return Ok(());
        }
        let what = || format!("writing the journal of run {run_id}");
        let _turn = self.write_turn().await;
        journal_batches::Entity::insert_many(rows)
            .exec_without_returning(&self.db)
            .await
            .ctx(what)?;
        Ok(())
    }

    /// A run's journal, in the order it was written.
    pub async fn journal(&self, run_id: i64) -> Result<Vec<JournalEntry>> {
        let what = || format!("reading the journal of run {run_id}");
        let rows = journal::Entity::find()
            .filter(journal::Column::RunId.eq(run_id))
            .order_by_asc(journal::Column::Id)
            .all(&self.db)
            .await
            .ctx(what)?;
        let mut out = rows
            .into_iter()
            .map(|m| {
                Ok(JournalEntry {
                    side: parse_side(m.id, &m.side)?,
                    entity: m.entity,
                    key: Key::from(m.key),
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
            .collect::<Result<Vec<_>>>()?;
        let batches = journal_batches::Entity::find()
            .filter(journal_batches::Column::RunId.eq(run_id))
            .order_by_asc(journal_batches::Column::Id)
            .all(&self.db)
            .await
            .ctx(what)?;
        for b in batches {
            let side = parse_side(b.id, &b.side)?;
            let stored: Vec<StoredEntry> =
                codec::decode(&format!("journal batch {}", b.id), &b.data)?;
            out.extend(stored.into_iter().map(|(key, before, link)| JournalEntry {
                side,
                entity: b.entity.clone(),
                key,
                before,
                link,
            }));
        }
        Ok(out)
    }

    /// Forgets a run's journal (once the run is undone).
    pub async fn clear_journal(&self, run_id: i64) -> Result<()> {
        let _turn = self.write_turn().await;
        journal::Entity::delete_many()
            .filter(journal::Column::RunId.eq(run_id))
            .exec(&self.db)
            .await
            .ctx(|| format!("clearing the journal of run {run_id}"))?;
        journal_batches::Entity::delete_many()
            .filter(journal_batches::Column::RunId.eq(run_id))
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
                .filter(journal::Column::Key.is_in(chunk.iter().map(|k| k.0.to_string())))
                .into_tuple()
                .all(&self.db)
                .await
                .ctx(|| format!("looking for runs after {run_id}"))?;
            runs.extend(found);
        }
        let wanted: HashSet<&Key> = keys.iter().collect();
        let batches: Vec<(i64, i64, Vec<u8>)> = journal_batches::Entity::find()
            .select_only()
            .columns([
                journal_batches::Column::Id,
                journal_batches::Column::RunId,
                journal_batches::Column::Data,
            ])
            .filter(journal_batches::Column::Pair.eq(pair))
            .filter(journal_batches::Column::RunId.gt(run_id))
            .into_tuple()
            .all(&self.db)
            .await
            .ctx(|| format!("looking for runs after {run_id}"))?;
        for (id, run, data) in batches {
            if runs.contains(&run) {
                continue;
            }
            let stored: Vec<StoredEntry> = codec::decode(&format!("journal batch {id}"), &data)?;
            if stored.iter().any(|(k, _, _)| wanted.contains(k)) {
                runs.insert(run);
            }
        }
        Ok(runs.into_iter().collect())
    }
}

fn parse_side(id: i64, side: &str) -> Result<Side> {
    Side::parse(side)
        .ok_or_else(|| Error::store(format!("journal entry {id}: unknown side {side:?}")))
}
