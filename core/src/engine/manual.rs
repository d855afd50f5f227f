//! What a person does in the sync window: resolve a conflict by taking a
//! side or supplying a merged record.

use super::{Endpoint, Engine, PairConfig};
use crate::error::{Error, Result};
use crate::record::{Change, Key, Record};
use crate::resolve::Resolution;
use crate::store::{Commit, ConflictStatus, LinkUpdate, RunStatus, Side};

/// A person's decision on a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Keep side A's current version (or its delete) on both sides.
    TakeA,
    /// Keep side B's current version (or its delete) on both sides.
    TakeB,
    /// Write this record (in the pair's field names) to both sides.
    Merged(Record),
}

impl Engine {
    /// Resolves a pending conflict now: reads both sides' current versions,
    /// writes the chosen one, records the losing version and the new base,
    /// and closes the conflict. Recorded in history as a `resolve` run.
    pub async fn resolve(
        &self,
        pair: &PairConfig,
        a: &Endpoint,
        b: &Endpoint,
        conflict_id: i64,
        choice: Choice,
    ) -> Result<()> {
        let config_err = |m: String| Error::config(format!("pair {}", pair.name), m);
        let row = self
            .store
            .conflict(conflict_id)
            .await?
            .filter(|c| c.pair == pair.name)
            .ok_or_else(|| config_err(format!("no conflict {conflict_id} in this pair")))?;
        if row.status != ConflictStatus::Pending {
            return Err(config_err(format!(
                "conflict {conflict_id} is already resolved"
            )));
        }
        let (a_key, b_key) = (row.conflict.a_key.clone(), row.conflict.b_key.clone());
        let current_a = current(pair, a, Side::A, &pair.a_entity, a_key.as_ref()).await?;
        let current_b = current(pair, b, Side::B, &pair.b_entity, b_key.as_ref()).await?;
        let (winner, loser, resolution) = match &choice {
            Choice::TakeA => (current_a.clone(), current_b.clone(), Resolution::TakeA),
            Choice::TakeB => (current_b.clone(), current_a.clone(), Resolution::TakeB),
            Choice::Merged(m) => (Some(m.clone()), None, Resolution::Merged(m.clone())),
        };
        let run_id = self
            .store
            .start_run(&pair.name, "resolve", "manual", false)
            .await?;
        let result = async {
            for (side, end, entity, key) in [
                (Side::A, a, &pair.a_entity, a_key.clone()),
                (Side::B, b, &pair.b_entity, b_key.clone()),
            ] {
                let keep_side = match choice {
                    Choice::TakeA => side == Side::A,
                    Choice::TakeB => side == Side::B,
                    Choice::Merged(_) => false,
                };
                if keep_side {
                    continue;
                }
                let change = match (&winner, key) {
                    (Some(r), key) => {
                        let mut r = r.clone();
                        r.key = key.unwrap_or_else(|| r.key.clone());
                        Change::Upsert(if side == Side::B { pair.to_b(r) } else { r })
                    }
                    (None, Some(k)) => Change::delete(k),
                    (None, None) => continue,
                };
                let target = end
                    .target
                    .as_ref()
                    .ok_or_else(|| config_err(format!("endpoint {} is read-only", end.name)))?;
                let mut tx = target.begin(entity).await?;
                match tx.apply(vec![change]).await {
                    Ok(_) => tx.commit().await?,
                    Err(e) => {
                        let _ = tx.rollback().await;
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let errors = vec![crate::store::RunError {
                entity: None,
                key: a_key.as_ref().map(|k| k.to_string()),
                location: None,
                message: e.to_string(),
            }];
            self.store
                .finish_run(run_id, RunStatus::Error, &Default::default(), &errors)
                .await?;
            return Err(e);
        }
        let mut commit = Commit::new(run_id, pair.name.clone(), RunStatus::Completed);
        // A conflict between two records paired this run has no link id
        // yet: its link is found by key.
        let link_id = match (row.link_id, &a_key) {
            (Some(id), _) => Some(id),
            (None, Some(k)) => self
                .store
                .link_by_key(&pair.name, Side::A, k)
                .await?
                .map(|l| l.id),
            (None, None) => None,
        };
        match (&winner, link_id) {
            (Some(r), id) => {
                let h = r.content_hash();
                commit.links.push(LinkUpdate {
                    id,
                    a_key: a_key.clone().or_else(|| Some(r.key.clone())),
                    b_key: b_key.clone().or_else(|| Some(r.key.clone())),
                    hash_a: Some(h),
                    hash_b: Some(h),
                    base: Some(r.clone()),
                    disabled: false,
                    day: None,
                });
            }
            (None, Some(id)) => commit.removed_links.push(id),
            (None, None) => {}
        }
        commit.counts.conflict = 1;
        self.store.commit(commit).await?;
        self.store
            .resolve_conflict(conflict_id, resolution, "manual", loser)
            .await
    }
}

/// The current version of one side's record, in the pair's names.
async fn current(
    pair: &PairConfig,
    end: &Endpoint,
    side: Side,
    entity: &str,
    key: Option<&Key>,
) -> Result<Option<Record>> {
    let (Some(key), Some(target)) = (key, end.target.as_ref()) else {
        return Ok(None);
    };
    let record = target
        .fetch(entity, std::slice::from_ref(key))
        .await?
        .into_iter()
        .next();
    Ok(record.map(|r| match side {
        Side::A => pair.canonical_a(r),
        Side::B => pair.canonical_b(r),
    }))
}
