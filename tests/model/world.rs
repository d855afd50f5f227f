//! One world: a pair of sides, a state store and the engine, driven by a
//! program, with the model beside it and every invariant checked after
//! every step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use tandem_core::engine::{
    Choice, Endpoint, Engine, MatchRule, Mode, PairConfig, RunOptions, RunReport, StopSignal,
};
use tandem_core::store::{ConflictRow, RunStatus, Side, StateStore};
use tandem_core::{Error, Record, Value};
use tokio::sync::Notify;

use crate::checks;
use crate::faults::{Committed, Faulty, Plan};
use crate::model::{self, Fields, Outcome, Rec, State};
use crate::program::{Abilities, Config, FIELDS, Fault, Op, Val};

/// A check that failed: a short kind (what the shrinker keeps failing on)
/// and what was seen.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: String,
    pub detail: String,
    /// The records it is about, when it is about records.
    pub idents: Vec<String>,
    /// Per record, where the world stood when it failed (see `known.rs`).
    pub context: BTreeMap<String, Vec<&'static str>>,
}

impl Failure {
    pub fn about(mut self, ident: impl Into<String>) -> Self {
        self.idents = vec![ident.into()];
        self
    }

    pub fn about_all(mut self, idents: Vec<String>) -> Self {
        self.idents = idents;
        self
    }
}

pub fn fail<T>(kind: &str, detail: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        kind: kind.to_owned(),
        detail: detail.into(),
        idents: Vec::new(),
        context: BTreeMap::new(),
    })
}

/// One side of a pair as a user sees it: edited by hand, read back whole.
#[async_trait]
pub trait SideIo: Send + Sync {
    /// Writes a record as a user would; `None` values are written as null
    /// where the side has nulls, else left out.
    async fn put(&self, key: &str, fields: &[(String, Option<String>)], modified: Option<i64>);
    /// Deletes a record as a user would.
    async fn remove(&self, key: &str);
    /// Every record, as the side holds it.
    async fn raw(&self) -> Vec<Record>;
    /// The side as an endpoint the engine runs.
    fn endpoint(&self) -> Endpoint;
    /// Removes what the side made outside the world's folder.
    async fn finish(&self) {}
}

/// A pair's two sides and what they can hold.
pub struct Kit {
    pub a: Box<dyn SideIo>,
    pub b: Box<dyn SideIo>,
    pub a_entity: String,
    pub b_entity: String,
    pub abilities: Abilities,
    /// Whether each side's source keeps cursors.
    pub cursors: [bool; 2],
}

/// Per (side, identity): the user's latest version since the last
/// completed sync, and the fields the user touched (`None`: the record as
/// a whole: an insert or a delete).
#[derive(Debug, Clone)]
struct Edit {
    version: Option<Fields>,
    touched: Option<BTreeSet<String>>,
}

type Ledger = BTreeMap<(usize, String), Edit>;

/// The last sync that completed, for undo.
struct Last {
    run_id: i64,
    before: State,
    ledger: Ledger,
    wrote: bool,
}

pub struct World {
    cfg: Config,
    kit: Kit,
    engine: Engine,
    store_url: String,
    pair: PairConfig,
    faulty: [Faulty; 2],
    ends: [Endpoint; 2],
    killed: Arc<Notify>,
    model: State,
    settings: model::Settings,
    clock: i64,
    ledger: Ledger,
    /// Conflict ids up to this one were looked at by an earlier check.
    ledger_since: i64,
    last: Option<Last>,
    edited_since: bool,
    /// Records an undo restored, until a sync completes after it.
    undone: BTreeSet<String>,
    /// Records whose link a one-way run wrote last (it keeps no base
    /// record, only hashes).
    one_way_base: BTreeSet<String>,
    /// Unlinked records the last completed run wrote over or deleted as if
    /// they were not there (see `unread_overwrites`).
    overwritten: BTreeSet<String>,
    /// Conflicts a killed run resolved and wrote to a target before it
    /// died (on_crash = resume), until a sync completes.
    killed_conflicts: BTreeSet<String>,
    /// Records whose conflict a killed run queued, until a sync completes.
    killed_pending: BTreeSet<String>,
    /// Records whose conflict an undone run queued, until a sync completes.
    undone_pending: BTreeSet<String>,
    /// Records a person's resolution wrote, until a sync completes.
    resolved_by_hand: BTreeSet<String>,
    /// The key each identity last had on each side (email pairs).
    keys: [BTreeMap<String, String>; 2],
    /// Syncs run so far.
    pub rounds: u64,
    /// Kinds of faults and steps seen, for the closing figures.
    pub seen: BTreeMap<&'static str, u64>,
}

/// The time of the first edit of a program, in seconds since 1970.
const EPOCH: i64 = 1_700_000_000;

/// Whether a run in `mode` keeps the edits of side `s` (index): one-way
/// runs replace what the receiving side changed (a forced receive, all of
/// A's changes).
fn protected(mode: Mode, force: bool, s: usize) -> bool {
    match mode {
        Mode::TwoWay | Mode::Full => true,
        Mode::Send => s == 0,
        Mode::Receive => s == 1 || !force,
    }
}

fn ix(side: Side) -> usize {
    side as usize
}

fn side_of(i: usize) -> Side {
    if i == 0 { Side::A } else { Side::B }
}

/// The text a side holds for a value.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) => Some(s.to_string()),
        other => Some(other.canonical()),
    }
}

impl World {
    pub async fn new(cfg: Config, kit: Kit, store_dir: &std::path::Path) -> World {
        let store_url = format!("sqlite://{}", store_dir.join("state.db").display());
        let store = StateStore::open(&store_url)
            .await
            .expect("open the state store");
        let mut pair = PairConfig::new("people", kit.a_entity.clone(), kit.b_entity.clone());
        pair.mode = cfg.mode;
        pair.resolver = cfg.resolver;
        pair.batch_size = cfg.batch_size;
        pair.on_crash = cfg.on_crash;
        pair.max_delete = cfg.max_delete;
        if cfg.by_email {
            pair.match_rule = MatchRule::Fields(vec!["email".into()]);
            pair.fields = Some(FIELDS.iter().map(|f| f.to_string()).collect());
        }
        let killed = Arc::new(Notify::new());
        let faulty = [
            Faulty::new(&kit.a.endpoint(), killed.clone()),
            Faulty::new(&kit.b.endpoint(), killed.clone()),
        ];
        let ends = [faulty[0].endpoint(), faulty[1].endpoint()];
        let settings = model::Settings {
            resolver: cfg.resolver,
            max_delete: cfg.max_delete,
            by_email: cfg.by_email,
            cursors: kit.cursors,
        };
        World {
            cfg,
            kit,
            engine: Engine::new(store),
            store_url,
            pair,
            faulty,
            ends,
            killed,
            model: State::default(),
            settings,
            clock: 0,
            ledger: Ledger::new(),
            ledger_since: 0,
            last: None,
            edited_since: false,
            keys: Default::default(),
            undone: BTreeSet::new(),
            one_way_base: BTreeSet::new(),
            overwritten: BTreeSet::new(),
            killed_conflicts: BTreeSet::new(),
            resolved_by_hand: BTreeSet::new(),
            undone_pending: BTreeSet::new(),
            killed_pending: BTreeSet::new(),
            rounds: 0,
            seen: BTreeMap::new(),
        }
    }

    fn io(&self, side: Side) -> &dyn SideIo {
        match side {
            Side::A => self.kit.a.as_ref(),
            Side::B => self.kit.b.as_ref(),
        }
    }

    fn store(&self) -> &StateStore {
        self.engine.store()
    }

    fn count(&mut self, what: &'static str) {
        *self.seen.entry(what).or_default() += 1;
    }

    /// The identity of a record: its key, or its normalized email.
    fn ident(&self, key: &str, fields: &Fields) -> String {
        if self.cfg.by_email {
            match fields.get("email") {
                Some(e) => e.trim().to_lowercase(),
                None => format!("?{key}"),
            }
        } else {
            key.to_owned()
        }
    }

    /// Removes what the sides made outside the world's folder.
    pub async fn finish(&self) {
        self.kit.a.finish().await;
        self.kit.b.finish().await;
    }

    /// A record as the model holds it: text fields, no `id`, and neither
    /// null nor "" (one value to content comparison: no value).
    pub fn rec_of(r: &Record, _nulls: bool) -> Rec {
        let fields = r
            .fields
            .iter()
            .filter(|(n, _)| n != "id")
            .filter_map(|(n, v)| text(v).map(|t| (n.to_string(), t)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        Rec {
            key: r.key.as_str().to_owned(),
            fields,
            modified: r.modified.map(|t| t.as_second()),
        }
    }

    /// A side as the model holds it, read back.
    async fn actual(&self, side: Side) -> Result<BTreeMap<String, Rec>, Failure> {
        let mut out = BTreeMap::new();
        for r in self.io(side).raw().await {
            let rec = Self::rec_of(&r, self.kit.abilities.nulls);
            let id = self.ident(&rec.key, &rec.fields);
            if let Some(old) = out.insert(id.clone(), rec) {
                return fail(
                    "duplicate",
                    format!(
                        "side {side:?} holds {id} twice: keys {} and {}",
                        old.key, r.key
                    ),
                )
                .map_err(|f| f.about(id));
            }
        }
        Ok(out)
    }

    async fn actual_both(&self) -> Result<[BTreeMap<String, Rec>; 2], Failure> {
        Ok([self.actual(Side::A).await?, self.actual(Side::B).await?])
    }

    fn identity(&self, id: u8) -> (String, String) {
        if self.cfg.by_email {
            let email = format!("p{id}@x.org");
            (email.clone(), email)
        } else {
            let key = format!("k{id}");
            (key.clone(), key)
        }
    }

    /// Runs one step of a program.
    pub async fn step(&mut self, op: &Op) -> Result<(), Failure> {
        let undone = self.undone.clone();
        let one_way = self.one_way_base.clone();
        let overwritten = match op {
            Op::Sync { mode, force, .. } => {
                self.unread_overwrites(&self.model, mode.unwrap_or(self.cfg.mode), *force)
            }
            Op::Undo => self.overwritten.clone(),
            _ => BTreeSet::new(),
        };
        let killed_conflicts = self.killed_conflicts.clone();
        let by_hand = self.resolved_by_hand.clone();
        let undone_pending = self.undone_pending.clone();
        let killed_pending = self.killed_pending.clone();
        // B's changes a forced send (that reads B) is to put back.
        let restores: BTreeSet<String> = match op {
            Op::Sync {
                mode, force: true, ..
            } if mode.unwrap_or(self.cfg.mode) == Mode::Send => {
                let st = &self.model;
                st.links
                    .iter()
                    .filter(|(id, l)| {
                        !l.pending && st.sides[1].get(*id).map(|r| &r.fields) != l.base.as_ref()
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            }
            _ => BTreeSet::new(),
        };
        self.run_step(op).await.map_err(|mut f| {
            for id in &f.idents {
                let tags = f.context.entry(id.clone()).or_default();
                if undone.contains(id) {
                    tags.push("first sync after an undo");
                }
                if one_way.contains(id) {
                    tags.push("one-way base");
                }
                if restores.contains(id) {
                    tags.push("a forced send restores B's change");
                }
                if killed_pending.contains(id) {
                    tags.push("a killed run queued its conflict");
                }
                if undone_pending.contains(id) {
                    tags.push("an undone run queued its conflict");
                }
                if by_hand.contains(id) {
                    tags.push("a manual resolution wrote it");
                }
                if killed_conflicts.contains(id) {
                    tags.push("a killed run resolved it and resumed");
                }
                if overwritten.contains(id) {
                    tags.push("written over with no before-image");
                }
            }
            f
        })
    }

    async fn run_step(&mut self, op: &Op) -> Result<(), Failure> {
        match op {
            Op::Put { side, id, fields } => self.put(*side, *id, fields).await,
            Op::Delete { side, id } => {
                let (ident, _) = self.identity(*id);
                self.delete(*side, &ident).await;
                Ok(())
            }
            Op::Rekey { side, id, to } => {
                let (from, _) = self.identity(*id);
                let (dest, _) = self.identity(*to);
                let map = &self.model.sides[ix(*side)];
                if self.cfg.by_email || from == dest || map.contains_key(&dest) {
                    return Ok(());
                }
                let Some(rec) = map.get(&from).cloned() else {
                    return Ok(());
                };
                self.delete(*side, &from).await;
                let fields: Vec<(u8, Val)> = Vec::new();
                self.write(*side, &dest, dest.clone(), rec.fields, &fields)
                    .await;
                Ok(())
            }
            Op::Sync { mode, force, fault } => {
                self.sync(mode.unwrap_or(self.cfg.mode), *force, *fault, false)
                    .await
            }
            Op::Concurrent => self.sync(self.cfg.mode, false, None, true).await,
            Op::Undo => self.undo().await,
            Op::Resolve { nth, take_a } => self.resolve(*nth, *take_a).await,
        }
    }

    async fn put(&mut self, side: Side, id: u8, ops: &[(u8, Val)]) -> Result<(), Failure> {
        let (ident, email) = self.identity(id);
        let existing = self.model.sides[ix(side)].get(&ident).cloned();
        let mut fields = existing
            .as_ref()
            .map(|r| r.fields.clone())
            .unwrap_or_default();
        for (f, v) in ops {
            let name = FIELDS[*f as usize % FIELDS.len()];
            if name == "email" && self.cfg.by_email {
                let spelled = match v {
                    Val::Text(i) if i % 3 == 1 => email.to_uppercase(),
                    Val::Text(i) if i % 3 == 2 => format!(" {email} "),
                    _ => email.clone(),
                };
                fields.insert(name.to_owned(), spelled);
                continue;
            }
            // "" and null are one value to a sync: the model holds neither.
            match v.text(self.clock as u64) {
                Some(t) if !t.is_empty() => {
                    fields.insert(name.to_owned(), t);
                }
                _ => {
                    fields.remove(name);
                }
            }
        }
        if self.cfg.by_email && !fields.contains_key("email") {
            fields.insert("email".to_owned(), email);
        }
        let key = match &existing {
            Some(r) => r.key.clone(),
            None if self.cfg.by_email => self.fresh_key(side, &ident, id),
            None => ident.clone(),
        };
        self.write(side, &ident, key, fields, ops).await;
        Ok(())
    }

    /// A key for a new record of identity `id` on a side: the one it had
    /// there before, if any, so that a delete and insert is an update.
    fn fresh_key(&self, side: Side, ident: &str, id: u8) -> String {
        if let Some(k) = self.keys[ix(side)].get(ident) {
            return k.clone();
        }
        let letter = if side == Side::A { "a" } else { "b" };
        format!("{letter}{id}")
    }

    /// Unlinked records that a run deletes as if they were not there: A's
    /// under a forced receive (which deletes what only A has).
    fn unread_overwrites(&self, st: &State, mode: Mode, force: bool) -> BTreeSet<String> {
        match mode {
            Mode::Receive if force => st.sides[0]
                .keys()
                .filter(|id| !st.links.contains_key(*id))
                .cloned()
                .collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Takes the sides as read back into the model, remembering keys.
    fn adopt(&mut self, now: [BTreeMap<String, Rec>; 2]) {
        for (i, side) in now.iter().enumerate() {
            for (id, r) in side {
                self.keys[i].insert(id.clone(), r.key.clone());
            }
        }
        self.model.sides = now;
    }

    async fn write(
        &mut self,
        side: Side,
        ident: &str,
        key: String,
        fields: Fields,
        ops: &[(u8, Val)],
    ) {
        self.clock += 1;
        let modified = self.kit.abilities.modified.then_some(EPOCH + self.clock);
        let mut list: Vec<(String, Option<String>)> = fields
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        // What the model holds as no value, the side holds as null or "".
        for (f, v) in ops {
            let name = FIELDS[*f as usize % FIELDS.len()];
            if !fields.contains_key(name) {
                let blank = (*v != Val::Null).then(String::new);
                list.push((name.to_owned(), blank));
            }
        }
        self.io(side).put(&key, &list, modified).await;
        self.keys[ix(side)].insert(ident.to_owned(), key.clone());
        let existed = self.model.sides[ix(side)].contains_key(ident);
        let touched: BTreeSet<String> = ops
            .iter()
            .map(|(f, _)| FIELDS[*f as usize % FIELDS.len()].to_owned())
            .collect();
        let entry = self
            .ledger
            .entry((ix(side), ident.to_owned()))
            .or_insert(Edit {
                version: None,
                touched: Some(BTreeSet::new()),
            });
        entry.version = Some(fields.clone());
        match (&mut entry.touched, existed && !ops.is_empty()) {
            (Some(t), true) => t.extend(touched),
            (t, _) => *t = None,
        }
        self.model.sides[ix(side)].insert(
            ident.to_owned(),
            Rec {
                key,
                fields,
                modified,
            },
        );
        self.edited_since = true;
    }

    async fn delete(&mut self, side: Side, ident: &str) {
        let Some(rec) = self.model.sides[ix(side)].remove(ident) else {
            return;
        };
        self.io(side).remove(&rec.key).await;
        self.ledger.insert(
            (ix(side), ident.to_owned()),
            Edit {
                version: None,
                touched: None,
            },
        );
        self.edited_since = true;
    }

    fn arm(&self, fault: Option<Fault>, stop: &StopSignal) {
        let mut plans = [Plan::default(), Plan::default()];
        match fault {
            None => {}
            Some(Fault::FailAfter { side, n }) => plans[ix(side)].fail_after = Some(n as usize),
            Some(Fault::ReadError { side, after }) => {
                plans[ix(side)].read_error_after = Some(after as usize)
            }
            Some(Fault::Stop { after }) => {
                for p in &mut plans {
                    p.stop_after = Some((after as usize, stop.clone()));
                }
            }
            Some(Fault::KillInApply { side }) => plans[ix(side)].kill_in_apply = true,
            Some(Fault::KillAfterCommit { side }) => plans[ix(side)].kill_after_commit = true,
        }
        for (f, p) in self.faulty.iter().zip(plans) {
            f.set_plan(p);
        }
    }

    fn committed(&self) -> [Committed; 2] {
        [self.faulty[0].committed(), self.faulty[1].committed()]
    }

    async fn conflicts(&self) -> Result<Vec<ConflictRow>, Failure> {
        self.store()
            .conflicts(&self.pair.name, false)
            .await
            .or_else(|e| fail("store", format!("listing conflicts: {e}")))
    }

    /// The identity a conflict is about.
    fn conflict_ident(&self, c: &ConflictRow) -> String {
        let fields = |r: &Option<Record>| {
            r.as_ref()
                .map(|r| Self::rec_of(r, self.kit.abilities.nulls).fields)
        };
        if self.cfg.by_email {
            let f = fields(&c.conflict.a)
                .or_else(|| fields(&c.conflict.b))
                .unwrap_or_default();
            let key = c
                .conflict
                .a_key
                .as_ref()
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default();
            self.ident(&key, &f)
        } else {
            c.conflict
                .a_key
                .as_ref()
                .or(c.conflict.b_key.as_ref())
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default()
        }
    }

    async fn sync(
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
                    return fail("run failed", format!("the run failed: {e}"));
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
        for i in 0..2 {
            checks::same_side(
                side_of(i),
                &now[i],
                &before.sides[i],
                "a failed run left it changed",
            )?;
        }
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
        for i in 0..2 {
            let was = checks::same_fields(&now[i], &before.sides[i]);
            let is = outcomes.iter().any(|o| match o {
                Outcome::Done(x) => checks::same_fields(&now[i], &x.state.sides[i]),
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
            for i in 0..2 {
                checks::same_side(
                    side_of(i),
                    &now[i],
                    &before.sides[i],
                    "a rolled back run left it changed",
                )?;
            }
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
        for i in 0..2 {
            if !protected(mode, force, i) {
                self.ledger.retain(|(s, id), _| {
                    *s != i
                        || now[i].get(id).map(|r| &r.fields)
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
        for i in 0..2 {
            checks::same_side(
                side_of(i),
                &now[i],
                &expected.state.sides[i],
                "diverged from the model",
            )?;
        }
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
        self.overwritten = self.unread_overwrites(before, mode, force);
        for (id, link) in &expected_links {
            if before.links.get(id) != Some(link) || !link.base.is_some() {
                match mode {
                    Mode::Send | Mode::Receive => self.one_way_base.insert(id.clone()),
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

    async fn undo(&mut self) -> Result<(), Failure> {
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
                for i in 0..2 {
                    checks::same_side(
                        side_of(i),
                        &now[i],
                        &last.before.sides[i],
                        "undo did not restore it",
                    )?;
                }
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

    async fn resolve(&mut self, nth: u8, take_a: bool) -> Result<(), Failure> {
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
        for i in 0..2 {
            checks::same_side(
                side_of(i),
                &now[i],
                &expected.sides[i],
                "a manual resolution diverged from the model",
            )?;
        }
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
