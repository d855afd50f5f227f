//! A sync step of a world: the run, its faults, and every check after it.

use super::*;

impl World {
    pub(super) async fn sync(
        &mut self,
        mode: Mode,
        force: bool,
        fault: Option<Fault>,
        concurrent: bool,
    ) -> Result<(), Failure> {
        self.rounds += 1;
        self.count(match fault {
            None if concurrent => "concurrent",
            None => "clean sync",
            Some(Fault::FailAfter { .. }) => "target fails after n",
            Some(Fault::ReadError { .. }) => "read error",
            Some(Fault::Stop { .. }) => "stop mid-run",
            Some(Fault::KillInApply { .. }) => "kill while applying",
            Some(Fault::KillAfterCommit { .. }) => "kill after a target commit",
        });
        let before = self.model.clone();
        let outcomes = model::sync(&before, mode, force, self.settings);
        let stop = StopSignal::default();
        self.arm(fault, &stop);
        let committed = self.committed();
        let conflicts_before = self
            .conflicts()
            .await?
            .iter()
            .map(|c| c.id)
            .max()
            .unwrap_or(0);
        let opts = RunOptions::new().mode(mode).force(force).stop(stop);
        let result = if concurrent {
            let (r1, r2) = tokio::join!(
                self.engine
                    .run(&self.pair, &self.ends[0], &self.ends[1], opts.clone()),
                self.engine
                    .run(&self.pair, &self.ends[0], &self.ends[1], opts.clone())
            );
            Some(checks::exclusion(r1, r2)?)
        } else {
            tokio::select! {
                r = self.engine.run(&self.pair, &self.ends[0], &self.ends[1], opts) => Some(r),
                _ = self.killed.notified() => None,
            }
        };
        self.arm(None, &StopSignal::default());
        let result = match result {
            Some(r) => r,
            None => return self.killed(&before, &outcomes, mode, force).await,
        };
        let may_refuse = outcomes.iter().find(|o| o.refused());
        let report = match (result, may_refuse) {
            (Err(e), Some(why)) => {
                if !matches!(e, Error::Guard { .. }) && fault.is_none() {
                    return fail(
                        "refusal",
                        format!("expected a guard to refuse ({why:?}); the run failed with: {e}"),
                    );
                }
                self.count("refused by a guard");
                return self.unchanged(&before, &e).await;
            }
            (Err(e), None) => {
                if fault.is_none() {
                    // A guard's refusal is about records: those a person
                    // blanked are the suspects (see known.rs).
                    let blanked: Vec<String> = match e {
                        Error::Guard { .. } => self.blank_written.iter().cloned().collect(),
                        _ => Vec::new(),
                    };
                    return fail("run failed", format!("the run failed: {e}"))
                        .map_err(|f| f.about_all(blanked));
                }
                return self.unchanged(&before, &e).await;
            }
            (Ok(r), _) => r,
        };
        let now = self.actual_both().await?;
        if std::env::var_os("TANDEM_MODEL_TRACE").is_some() {
            eprintln!(
                "{mode:?} run {:?}: {:?}\n  A {:?}\n  B {:?}",
                report.run_id, report.counts, now[0], now[1]
            );
        }
        let done: Vec<&model::Expected> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Done(x) => Some(x),
                Outcome::Refused(_) => None,
            })
            .collect();
        let Some(first) = done.first() else {
            let held: Vec<String> = self.undone_pending.iter().cloned().collect();
            let detail = format!(
                "a guard should have refused the run ({:?}); it completed: {:?}",
                outcomes[0], report.counts
            );
            return fail("refusal", detail).map_err(|f| f.about_all(held));
        };
        let expected = done
            .iter()
            .find(|x| (0..2).all(|i| checks::same_fields(&now[i], &x.state.sides[i])))
            .unwrap_or(first);
        let expected = (*expected).clone();
        if let Some(Fault::FailAfter { side, n }) = fault {
            let wrote = self.committed()[ix(side)].upserts + self.committed()[ix(side)].deletes
                - committed[ix(side)].upserts
                - committed[ix(side)].deletes;
            if wrote > n as u64 {
                return fail(
                    "fault",
                    format!("the target took {wrote} changes, past its failure after {n}"),
                );
            }
        }
        self.completed(
            mode,
            force,
            &before,
            expected,
            &report,
            committed,
            conflicts_before,
            concurrent,
        )
        .await
    }

    /// After a run that failed, stopped or was refused: both sides as
    /// before, and the run recorded as such.
    async fn unchanged(&mut self, before: &State, e: &Error) -> Result<(), Failure> {
        let now = self.actual_both().await?;
        checks::same_sides(&now, &before.sides, "a failed run left it changed")?;
        let (runs, _) = self
            .store()
            .runs(Some(&self.pair.name), 1, 1)
            .await
            .or_else(|e| fail("store", e.to_string()))?;
        let want = if matches!(e, Error::Stopped { .. }) {
            RunStatus::Stopped
        } else {
            RunStatus::Error
        };
        match runs.first() {
            Some(r) if r.status == want => {}
            Some(r) if matches!(e, Error::Busy { .. }) && r.status == RunStatus::Completed => {}
            other => {
                return fail(
                    "history",
                    format!(
                        "the run that failed with {e} is recorded as {:?}",
                        other.map(|r| r.status)
                    ),
                );
            }
        }
        checks::none_running(self.store()).await
    }

    /// After the process "died" mid-run: each target is as before or as
    /// after; the next start recovers (resume, or rollback from the journal).
    async fn killed(
        &mut self,
        before: &State,
        outcomes: &[Outcome],
        mode: Mode,
        force: bool,
    ) -> Result<(), Failure> {
        checks::mark_dead(&self.store_url).await?;
        let now = self.actual_both().await?;
        for (i, side_now) in now.iter().enumerate() {
            let was = checks::same_fields(side_now, &before.sides[i]);
            let is = outcomes.iter().any(|o| match o {
                Outcome::Done(x) => checks::same_fields(side_now, &x.state.sides[i]),
                Outcome::Refused(_) => false,
            });
            if !was && !is {
                // The records that keep it from being as after.
                let after = outcomes.iter().find_map(|o| match o {
                    Outcome::Done(x) => Some(&x.state.sides[i]),
                    Outcome::Refused(_) => None,
                });
                let odd: Vec<String> = match after {
                    Some(a) => a
                        .keys()
                        .chain(now[i].keys())
                        .filter(|id| {
                            a.get(*id).map(|r| &r.fields) != now[i].get(*id).map(|r| &r.fields)
                        })
                        .cloned()
                        .collect(),
                    None => Vec::new(),
                };
                return fail(
                    "atomicity",
                    format!(
                        "after a kill side {:?} is neither as before nor as after: {}; against after: {}",
                        side_of(i),
                        checks::diff(&now[i], &before.sides[i]),
                        after.map(|a| checks::diff(&now[i], a)).unwrap_or_default()
                    ),
                )
                .map_err(|f| f.about_all(odd));
            }
        }
        self.engine
            .recover(&self.pair, &self.ends[0], &self.ends[1])
            .await
            .or_else(|e| fail("recovery", format!("recovering the killed run: {e}")))?;
        let now = self.actual_both().await?;
        if self.cfg.on_crash == tandem_core::engine::OnCrash::Resume {
            for o in outcomes {
                if let Outcome::Done(x) = o {
                    let resolved = x.conflicts.iter().filter(|c| c.resolved);
                    self.killed_conflicts
                        .extend(resolved.map(|c| c.ident.clone()));
                }
            }
        }
        if self.cfg.on_crash == tandem_core::engine::OnCrash::Rollback {
            checks::same_sides(&now, &before.sides, "a rolled back run left it changed")?;
        }
        checks::none_running(self.store()).await?;
        // The conflicts a run found are kept before any target commits, so
        // a killed run's queue for a person stays: those records are held.
        let deferred: BTreeSet<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Done(x) => Some(
                    x.conflicts
                        .iter()
                        .filter(|c| !c.resolved)
                        .map(|c| c.ident.clone()),
                ),
                Outcome::Refused(_) => None,
            })
            .flatten()
            .chain(
                before
                    .links
                    .iter()
                    .filter(|(_, l)| l.pending)
                    .map(|(id, _)| id.clone()),
            )
            .collect();
        let rows = self.conflicts().await?;
        for c in rows
            .iter()
            .filter(|c| c.status == tandem_core::store::ConflictStatus::Pending)
        {
            let id = self.conflict_ident(c);
            if !deferred.contains(&id) {
                return fail(
                    "pending conflicts",
                    format!("after a kill {id} waits for a person, which the run did not queue"),
                )
                .map_err(|f| f.about(id));
            }
            let base = self.model.links.get(&id).and_then(|l| l.base.clone());
            if !before.links.get(&id).is_some_and(|l| l.pending) {
                self.killed_pending.insert(id.clone());
            }
            self.model.links.insert(
                id,
                model::Link {
                    base,
                    pending: true,
                },
            );
        }
        // What the killed run wrote over on a side its mode does not
        // protect is gone by design, as it would be had the run completed.
        for (i, side_now) in now.iter().enumerate() {
            if !protected(mode, force, i) {
                self.ledger.retain(|(s, id), _| {
                    *s != i
                        || side_now.get(id).map(|r| &r.fields)
                            == before.sides[i].get(id).map(|r| &r.fields)
                });
            }
        }
        self.adopt(now);
        self.edited_since = true;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn completed(
        &mut self,
        mode: Mode,
        force: bool,
        before: &State,
        expected: model::Expected,
        report: &RunReport,
        committed: [Committed; 2],
        conflicts_before: i64,
        concurrent: bool,
    ) -> Result<(), Failure> {
        let now = self.actual_both().await?;
        checks::same_sides(&now, &expected.state.sides, "diverged from the model")?;
        // Convergence where the mode promises it.
        if matches!(mode, Mode::TwoWay | Mode::Full) {
            for (id, l) in &expected.state.links {
                if !l.pending
                    && now[0].get(id).map(|r| &r.fields) != now[1].get(id).map(|r| &r.fields)
                {
                    return fail(
                        "convergence",
                        format!("{id} differs between the sides after a {mode:?} run"),
                    )
                    .map_err(|f| f.about(id));
                }
            }
        }
        // Conflicts: the pending queue, and what this run recorded.
        let rows = self.conflicts().await?;
        let pending: BTreeSet<String> = rows
            .iter()
            .filter(|c| c.status == tandem_core::store::ConflictStatus::Pending)
            .map(|c| self.conflict_ident(c))
            .collect();
        let want: BTreeSet<String> = expected
            .state
            .links
            .iter()
            .filter(|(_, l)| l.pending)
            .map(|(id, _)| id.clone())
            .collect();
        if pending != want {
            let odd = pending
                .symmetric_difference(&want)
                .next()
                .cloned()
                .unwrap_or_default();
            return fail(
                "pending conflicts",
                format!("pending conflicts {pending:?}, the model has {want:?}"),
            )
            .map_err(|f| f.about(odd));
        }
        let new: Vec<&ConflictRow> = rows.iter().filter(|c| c.id > conflicts_before).collect();
        let nulls = self.kit.abilities.nulls;
        checks::recorded(
            &new,
            &expected.conflicts,
            |c| self.conflict_ident(c),
            |r| Self::rec_of(r, nulls),
        )?;
        // No silent loss.
        self.check_ledger(mode, force, before, &now, &rows)?;
        // History and links.
        if !concurrent {
            checks::counts(report, committed, self.committed())?;
        }
        checks::history(self.store(), report).await?;
        checks::links(self.store(), &self.pair, mode, &self.kit, &rows).await?;
        checks::none_running(self.store()).await?;

        // A run right after a run writes nothing.
        let c2 = self.committed();
        let again = self
            .engine
            .run(
                &self.pair,
                &self.ends[0],
                &self.ends[1],
                RunOptions::new().mode(mode).force(force),
            )
            .await;
        let c3 = self.committed();
        let plan = match again {
            Ok(r) => r.plan.into_iter().take(5).collect::<Vec<_>>(),
            // A guard the model also expects may refuse it (a send whose B
            // holds none of the records synced to it).
            Err(Error::Guard { .. })
                if {
                    let mut after = expected.state.clone();
                    after.sides = now.clone();
                    model::sync(&after, mode, force, self.settings)
                        .iter()
                        .any(Outcome::refused)
                } =>
            {
                Vec::new()
            }
            Err(e) => return fail("idempotence", format!("the second run failed: {e}")),
        };
        if c2 != c3 {
            return fail(
                "idempotence",
                format!("a second {mode:?} run wrote {c2:?} -> {c3:?}: {plan:?}"),
            );
        }
        let rows2 = self.conflicts().await?;
        if rows2.len() != rows.len() {
            return fail("idempotence", "a second run recorded conflicts again");
        }
        let now2 = self.actual_both().await?;
        for i in 0..2 {
            checks::same_side(side_of(i), &now2[i], &now[i], "a second run changed it")?;
        }

        self.last = Some(Last {
            run_id: report.run_id.expect("a run that is not dry has an id"),
            before: before.clone(),
            ledger: self.ledger.clone(),
            wrote: expected.writes.iter().sum::<usize>() > 0,
        });
        let expected_links = expected.state.links.clone();
        self.model = expected.state;
        self.adopt(now);
        self.ledger.clear();
        self.undone.clear();
        self.killed_conflicts.clear();
        self.resolved_by_hand.clear();
        self.undone_pending.clear();
        self.killed_pending.clear();
        self.blank_written.clear();
        if mode == Mode::Send && !self.cfg.by_email && !force {
            let b0 = &before.sides[1];
            let written = self.model.sides[1]
                .iter()
                .filter(|(id, r)| b0.get(*id).map(|o| &o.fields) != Some(&r.fields))
                .map(|(id, _)| id.clone());
            self.sent_unread.extend(written.collect::<Vec<_>>());
        } else {
            self.sent_unread.clear();
        }
        self.overwritten = self.unread_overwrites(before, mode, force);
        for (id, link) in &expected_links {
            if before.links.get(id) != Some(link) || link.base.is_none() {
                // Only a pair configured one-way keeps no base (a one-way
                // run of a two-way pair keeps it).
                let one_way_pair = matches!(self.cfg.mode, Mode::Send | Mode::Receive);
                match mode {
                    Mode::Send | Mode::Receive if one_way_pair => {
                        self.one_way_base.insert(id.clone())
                    }
                    _ => self.one_way_base.remove(id),
                };
            }
        }
        self.one_way_base
            .retain(|id| expected_links.contains_key(id));
        self.ledger_since = rows2.iter().map(|c| c.id).max().unwrap_or(0);
        self.edited_since = false;
        Ok(())
    }

    /// Every edit since the last completed sync survives on a side, or is
    /// a recorded conflict's version.
    fn check_ledger(
        &self,
        mode: Mode,
        force: bool,
        before: &State,
        now: &[BTreeMap<String, Rec>; 2],
        rows: &[ConflictRow],
    ) -> Result<(), Failure> {
        let protected = |s: usize| protected(mode, force, s);
        let recorded: Vec<&ConflictRow> =
            rows.iter().filter(|c| c.id > self.ledger_since).collect();
        for ((s, id), edit) in &self.ledger {
            // Deleting a record never synced leaves nothing to keep.
            if !protected(*s) || (edit.version.is_none() && !before.links.contains_key(id)) {
                continue;
            }
            // A field set back to its synced value is no edit.
            let base = before.links.get(id).and_then(|l| l.base.as_ref());
            let edited = |n: &String| match (&edit.version, base) {
                (Some(v), Some(b)) => v.get(n) != b.get(n),
                _ => true,
            };
            let no_op = match &edit.touched {
                Some(t) => !t.iter().any(edited),
                None => edit.version.as_ref() == base,
            };
            if edit.version.is_some() && no_op {
                continue;
            }
            // A record deleted and inserted again under its synced key is
            // an update to a sync: its fields merge like an update's.
            let touched: Option<BTreeSet<String>> = match (&edit.touched, &edit.version, base) {
                (Some(t), _, _) => Some(t.clone()),
                (None, Some(v), Some(b)) => Some(v.keys().chain(b.keys()).cloned().collect()),
                (None, _, _) => None,
            };
            let keeps = |f: Option<&Fields>| match (&edit.version, f) {
                (None, None) => true,
                (Some(v), Some(f)) => match &touched {
                    None => v == f,
                    Some(t) => t.iter().filter(|n| edited(n)).all(|n| v.get(n) == f.get(n)),
                },
                _ => false,
            };
            let on_side = match &edit.version {
                None => keeps(now[*s].get(id).map(|r| &r.fields)),
                Some(_) => now
                    .iter()
                    .any(|m| m.get(id).is_some_and(|r| keeps(Some(&r.fields)))),
            };
            let in_conflict = recorded.iter().any(|c| {
                if self.conflict_ident(c) != *id {
                    return false;
                }
                let version = if *s == 0 {
                    &c.conflict.a
                } else {
                    &c.conflict.b
                };
                let loser = c
                    .loser
                    .as_ref()
                    .map(|r| Self::rec_of(r, self.kit.abilities.nulls).fields);
                keeps(
                    version
                        .as_ref()
                        .map(|r| Self::rec_of(r, self.kit.abilities.nulls).fields)
                        .as_ref(),
                ) || (edit.version.is_some() && keeps(loser.as_ref()))
            });
            if !on_side && !in_conflict {
                let detail = format!(
                    "the edit of {id} on side {:?} ({:?}, touched {:?}) is on neither side nor in a recorded conflict; now A {:?}, B {:?}",
                    side_of(*s),
                    edit.version,
                    edit.touched,
                    now[0].get(id).map(|r| &r.fields),
                    now[1].get(id).map(|r| &r.fields)
                );
                return fail("silent loss", detail).map_err(|f| f.about(id));
            }
        }
        Ok(())
    }
}
