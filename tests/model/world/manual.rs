//! What a person does between syncs besides editing: undo the last run,
//! resolve a pending conflict.

use super::*;

impl World {
    pub(super) async fn undo(&mut self) -> Result<(), Failure> {
        if self.edited_since {
            return Ok(());
        }
        let Some(last) = self.last.take() else {
            return Ok(());
        };
        self.count("undo");
        let result = self
            .engine
            .undo(&self.pair, &self.ends[0], &self.ends[1], last.run_id, false)
            .await;
        match (result, last.wrote) {
            (Err(e), true) => fail("undo", format!("undoing run {} failed: {e}", last.run_id)),
            (Err(_), false) => Ok(()),
            (Ok(r), false) => fail(
                "undo",
                format!(
                    "undo of run {} that wrote nothing restored {:?}",
                    last.run_id, r.restored
                ),
            ),
            (Ok(_), true) => {
                let now = self.actual_both().await?;
                checks::same_sides(&now, &last.before.sides, "undo did not restore it")?;
                checks::none_running(self.store()).await?;
                // What the undone run changed: links, or records on a side.
                let old = &last.before;
                let undone: BTreeSet<String> = self
                    .model
                    .links
                    .keys()
                    .chain(old.links.keys())
                    .chain(self.model.sides.iter().flat_map(|m| m.keys()))
                    .filter(|id| {
                        self.model.links.get(*id) != old.links.get(*id)
                            || (0..2).any(|i| {
                                self.model.sides[i].get(*id).map(|r| &r.fields)
                                    != old.sides[i].get(*id).map(|r| &r.fields)
                            })
                    })
                    .cloned()
                    .collect();
                let undone_pending: BTreeSet<String> = self
                    .model
                    .links
                    .iter()
                    .filter(|(id, l)| l.pending && !old.links.get(*id).is_some_and(|o| o.pending))
                    .map(|(id, _)| id.clone())
                    .collect();
                self.model = last.before;
                self.adopt(now);
                self.model.cursor = [false, false];
                self.undone_pending = undone_pending;
                self.undone = undone;
                self.ledger = last.ledger;
                self.edited_since = true;
                Ok(())
            }
        }
    }

    pub(super) async fn resolve(&mut self, nth: u8, take_a: bool) -> Result<(), Failure> {
        let pending: Vec<ConflictRow> = self
            .store()
            .conflicts(&self.pair.name, true)
            .await
            .or_else(|e| fail("store", e.to_string()))?;
        if pending.is_empty() {
            return Ok(());
        }
        self.count("manual resolution");
        let row = &pending[nth as usize % pending.len()];
        let id = self.conflict_ident(row);
        let take = if take_a { Side::A } else { Side::B };
        let choice = if take_a { Choice::TakeA } else { Choice::TakeB };
        self.engine
            .resolve(&self.pair, &self.ends[0], &self.ends[1], row.id, choice)
            .await
            .or_else(|e| {
                fail(
                    "resolve",
                    format!("resolving conflict {} of {id}: {e}", row.id),
                )
            })?;
        let (expected, loser) = model::resolve(&self.model, &id, take);
        let now = self.actual_both().await?;
        checks::same_sides(
            &now,
            &expected.sides,
            "a manual resolution diverged from the model",
        )?;
        let done = self
            .store()
            .conflict(row.id)
            .await
            .or_else(|e| fail("store", e.to_string()))?;
        let got = done
            .and_then(|c| c.loser)
            .map(|r| Self::rec_of(&r, self.kit.abilities.nulls).fields);
        if got != loser {
            return fail(
                "resolve",
                format!(
                    "conflict {} of {id} records loser {got:?}, expected {loser:?}",
                    row.id
                ),
            );
        }
        self.ledger.remove(&(ix(take.other()), id.clone()));
        self.resolved_by_hand.insert(id);
        self.model = expected;
        self.adopt(now);
        self.edited_since = true;
        Ok(())
    }
}
