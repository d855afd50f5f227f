//! Applies decisions to one side in batches inside a target transaction.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::fault;
use crate::record::{Change, Key};
use crate::store::{JournalEntry, LinkRow, RunCounts, Side, StateStore};
use crate::target::Transaction;

use super::classify::{Category, Write};
use super::{Endpoint, PLAN_LIMIT, PairConfig, PlannedWrite};

/// The most changes a batch is sized for ahead.
const MAX_PRESIZED: usize = 100_000;

/// The most written keys a side lists for its source's cursor; a run that
/// writes more says only that it wrote more.
const WRITTEN_LISTED: usize = 100_000;

/// A change waiting in the batch, with the decision it came from.
struct Queued {
    plan: usize,
    created: bool,
    /// The record's link before the run, for the journal.
    link: Option<LinkRow>,
}

/// Writes one side of a pair.
pub(super) struct SideWriter<'a> {
    side: Side,
    endpoint: &'a Endpoint,
    entity: &'a str,
    pair: &'a PairConfig,
    dry_run: bool,
    tx: Option<Box<dyn Transaction>>,
    changes: Vec<Change>,
    queued: Vec<Queued>,
    pub(super) applied: u64,
    /// Where before-images go first, and the run they belong to.
    journal: Option<(StateStore, i64)>,
    /// What was journaled, to compensate a target without transactions.
    journaled: Vec<JournalEntry>,
    /// The journal's last append, writing while the batch applies; on a
    /// target with transactions the journal only has to be durable before
    /// the commit. Each append waits for the one before, so the journal
    /// keeps the order of the batches.
    appending: Option<JournalTask>,
    /// The batch being applied while the run reads and decides the next.
    in_flight: Option<InFlight>,
    /// How long the run waited for applies and for the journal, for the
    /// debug log.
    pub(super) waited: (std::time::Duration, std::time::Duration),
    /// The keys written, for the side's cursor (`None` past
    /// [`WRITTEN_LISTED`]).
    written: Option<Vec<Key>>,
    /// The run did not read this side, so a record it creates may be there
    /// already, unlinked: its before-image is fetched too.
    unread: bool,
}

/// The task applying a batch: it gives the transaction back with the outcome.
type ApplyTask =
    tokio::task::JoinHandle<(Box<dyn Transaction>, Result<Vec<crate::target::Applied>>)>;

/// An append to the journal, writing in a task of its own.
type JournalTask = tokio::task::JoinHandle<Result<()>>;

/// A batch handed to the target, applying in a task of its own.
struct InFlight {
    task: ApplyTask,
    queued: Vec<Queued>,
    n: usize,
}

/// A key assigned by a target to a record created there.
pub(super) struct Assigned {
    pub plan: usize,
    pub side: Side,
    pub key: Key,
}

impl<'a> SideWriter<'a> {
    pub(super) fn new(
        side: Side,
        endpoint: &'a Endpoint,
        entity: &'a str,
        pair: &'a PairConfig,
        dry_run: bool,
        journal: Option<(StateStore, i64)>,
    ) -> Self {
        SideWriter {
            side,
            endpoint,
            entity,
            pair,
            dry_run,
            tx: None,
            changes: Vec::new(),
            queued: Vec::new(),
            applied: 0,
            journal,
            journaled: Vec::new(),
            appending: None,
            in_flight: None,
            waited: Default::default(),
            written: Some(Vec::new()),
            unread: false,
        }
    }

    /// The run does not read this side: the records it creates are looked
    /// for too before they are written, so that an undo or a rollback puts
    /// back one that was there, unlinked, instead of deleting it.
    pub(super) fn unread(&mut self) {
        self.unread = true;
    }

    /// Queues one write; `key` is the key on this side.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(
        &mut self,
        plan_index: usize,
        write: Write,
        key: Key,
        created: bool,
        category: Category,
        link: Option<LinkRow>,
        counts: &mut RunCounts,
        plan: &mut Vec<PlannedWrite>,
    ) {
        let change = match write {
            Write::Upsert(mut r) => {
                r.key = key;
                let (c, u) = match self.side {
                    Side::A => (&mut counts.created_a, &mut counts.updated_a),
                    Side::B => (&mut counts.created_b, &mut counts.updated_b),
                };
                *(if created { c } else { u }) += 1;
                Change::Upsert(if self.side == Side::B {
                    self.pair.to_b(r)
                } else {
                    r
                })
            }
            Write::Delete(k) => {
                match self.side {
                    Side::A => counts.deleted_a += 1,
                    Side::B => counts.deleted_b += 1,
                }
                Change::delete(k)
            }
        };
        if plan.len() < PLAN_LIMIT {
            let action = if matches!(change, Change::Upsert(_)) {
                "upsert"
            } else {
                "delete"
            };
            plan.push(PlannedWrite {
                side: self.side,
                action,
                key: change.key().to_string(),
                category,
            });
        }
        self.queued.push(Queued {
            plan: plan_index,
            created,
            link,
        });
        self.changes.push(change);
    }

    /// Whether a full batch is waiting.
    pub(super) fn full(&self) -> bool {
        self.changes.len() >= self.pair.batch_size
    }

    /// Hands what is queued to the target, to apply while the run goes on
    /// reading and deciding. Journals the batch first (see
    /// [`Self::journal`]), while the batch before it is still applying,
    /// then waits for that one, so that batches apply in order and one at a
    /// time. Returns the keys the target assigned to created records of the
    /// batches that finished.
    pub(super) async fn flush(&mut self) -> Result<Vec<Assigned>> {
        if self.changes.is_empty() || self.dry_run {
            self.changes.clear();
            self.queued.clear();
            return self.settle().await;
        }
        // The next batch is sized up front: growing it copies it over and
        // over.
        let size = self.pair.batch_size.min(MAX_PRESIZED);
        let changes = std::mem::replace(&mut self.changes, Vec::with_capacity(size));
        let queued = std::mem::replace(&mut self.queued, Vec::with_capacity(size));
        let n = changes.len();
        if self.tx.is_none() && self.in_flight.is_none() {
            let target = self.endpoint.target.as_ref().ok_or_else(|| {
                Error::config(
                    format!("pair {}", self.pair.name),
                    format!(
                        "endpoint {} is read-only but the run must write to it",
                        self.endpoint.name
                    ),
                )
            })?;
            self.tx = Some(target.begin(self.entity).await?);
        }
        let started = std::time::Instant::now();
        self.journal(&changes, &queued).await?;
        let journaled = std::time::Instant::now();
        let assigned = self.settle().await?;
        self.waited.0 += journaled.elapsed();
        self.waited.1 += journaled - started;
        fault::point("engine.before_apply");
        let mut tx = self
            .tx
            .take()
            .expect("the transaction is back or was just begun");
        let task = tokio::spawn(async move {
            let applied = tx.apply(changes).await;
            if applied.is_ok() {
                fault::point("engine.after_apply");
            }
            (tx, applied)
        });
        self.in_flight = Some(InFlight { task, queued, n });
        Ok(assigned)
    }

    /// Applies what is queued and waits until every batch is applied.
    pub(super) async fn finish(&mut self) -> Result<Vec<Assigned>> {
        let mut assigned = self.flush().await?;
        assigned.extend(self.settle().await?);
        Ok(assigned)
    }

    /// Waits for the batch being applied, if there is one, and takes its
    /// transaction back.
    async fn settle(&mut self) -> Result<Vec<Assigned>> {
        let Some(InFlight { task, queued, n }) = self.in_flight.take() else {
            return Ok(Vec::new());
        };
        let (tx, applied) = task.await.map_err(|e| {
            Error::other(
                &self.endpoint.name,
                format!("entity {}: applying a batch failed: {e}", self.entity),
            )
        })?;
        self.tx = Some(tx);
        let applied = applied?;
        if applied.len() != n {
            return Err(Error::other(
                &self.endpoint.name,
                format!(
                    "entity {}: applied {} of {n} changes in a batch",
                    self.entity,
                    applied.len()
                ),
            ));
        }
        self.applied += n as u64;
        if let Some(written) = self.written.as_mut() {
            if written.len() + applied.len() > WRITTEN_LISTED {
                self.written = None;
            } else {
                written.extend(applied.iter().map(|a| a.key.clone()));
            }
        }
        Ok(queued
            .into_iter()
            .zip(applied)
            .filter(|(q, _)| q.created)
            .map(|(q, a)| Assigned {
                plan: q.plan,
                side: self.side,
                key: a.key,
            })
            .collect())
    }

    /// The keys this side's writes went to: `Some` of them, or `None` when
    /// there were more than [`WRITTEN_LISTED`].
    pub(super) fn written(&self) -> Option<&[Key]> {
        self.written.as_deref()
    }

    /// Writes the before-image of every change about to be applied. A record
    /// new to this side has none; records that exist are fetched from the
    /// target in one call per batch, before the batch is applied. On a
    /// target without transactions every change is applied as it goes, so
    /// the journal is written durably first; on one with transactions
    /// nothing is kept before the commit, so the journal is written while
    /// the batch applies and [`Self::commit`] waits for it.
    async fn journal(&mut self, changes: &[Change], queued: &[Queued]) -> Result<()> {
        let Some((store, run_id)) = &self.journal else {
            return Ok(());
        };
        let existing: Vec<Key> = changes
            .iter()
            .zip(queued)
            .filter(|(_, q)| !q.created || self.unread)
            .map(|(c, _)| c.key().clone())
            .collect();
        let mut before = HashMap::new();
        if !existing.is_empty()
            && let Some(target) = &self.endpoint.target
        {
            for r in target.fetch(self.entity, &existing).await? {
                before.insert(r.key.clone(), r);
            }
        }
        let entries: Vec<JournalEntry> = changes
            .iter()
            .zip(queued)
            .map(|(c, q)| JournalEntry {
                side: self.side,
                entity: self.entity.to_owned(),
                key: c.key().clone(),
                before: before.remove(c.key()),
                link: q.link.clone(),
            })
            .collect();
        if self.transactional() {
            let (store, run_id, pair) = (store.clone(), *run_id, self.pair.name.clone());
            let before = self.appending.take();
            self.appending = Some(tokio::spawn(async move {
                if let Some(before) = before {
                    joined(before).await?;
                }
                store.append_journal(run_id, &pair, &entries).await?;
                fault::point("engine.journal_written");
                Ok(())
            }));
            return Ok(());
        }
        store
            .append_journal(*run_id, &self.pair.name, &entries)
            .await?;
        fault::point("engine.journal_written");
        self.journaled.extend(entries);
        Ok(())
    }

    /// Waits until every batch's journal is written.
    async fn journal_written(&mut self) -> Result<()> {
        match self.appending.take() {
            Some(task) => joined(task).await,
            None => Ok(()),
        }
    }

    fn transactional(&self) -> bool {
        self.endpoint
            .target
            .as_ref()
            .is_some_and(|t| t.capabilities().transactions)
    }

    pub(super) async fn commit(&mut self) -> Result<()> {
        self.settle().await?;
        self.journal_written().await?;
        match self.tx.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    /// Discards the applied changes: a transaction rolls back; a target
    /// without transactions is compensated from the journal.
    pub(super) async fn rollback(&mut self) -> Result<()> {
        // The batch being applied is rolled back with the rest.
        if let Err(e) = self.settle().await {
            tracing::debug!(error = %e, "the batch being applied failed; rolling back");
        }
        if let Err(e) = self.journal_written().await {
            tracing::debug!(error = %e, "writing the journal failed; rolling back");
        }
        match self.tx.take() {
            Some(tx) => tx.rollback().await?,
            // Nothing was begun, or the task applying a batch died and
            // dropped the transaction, which rolls it back.
            None if self.journaled.is_empty() => return Ok(()),
            None => {}
        }
        if !self.transactional() && !self.journaled.is_empty() {
            let entries = std::mem::take(&mut self.journaled);
            super::recover::restore(self.endpoint, self.entity, &entries).await?;
        }
        Ok(())
    }
}

/// The outcome of a journal append.
async fn joined(task: JournalTask) -> Result<()> {
    task.await
        .map_err(|e| Error::store(format!("writing the journal failed: {e}")))?
}
