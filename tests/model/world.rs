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

mod manual;
mod sync;

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
    /// Records a send matched by key wrote on B without reading B, until a
    /// run reads B again.
    sent_unread: BTreeSet<String>,
    /// Records a person wrote "" or null into since the last completed sync.
    blank_written: BTreeSet<String>,
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
            blank_written: BTreeSet::new(),
            sent_unread: BTreeSet::new(),
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
        let sent_unread = self.sent_unread.clone();
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
        // Records holding "" on a side, as the engine's hashes see them, or
        // that a person set a field of to "" or null.
        let mut blank = self.blank_written.clone();
        let result = self.run_step(op).await;
        if let Err(f) = &result {
            for side in [Side::A, Side::B] {
                for r in self.io(side).raw().await {
                    let held = r
                        .fields
                        .iter()
                        .any(|(n, v)| n != "id" && v.as_str() == Some(""));
                    let id = self.ident(r.key.as_str(), &Self::rec_of(&r, true).fields);
                    if held && f.idents.contains(&id) {
                        blank.insert(id);
                    }
                }
            }
        }
        result.map_err(|mut f| {
            for id in &f.idents {
                let tags = f.context.entry(id.clone()).or_default();
                if blank.contains(id) {
                    tags.push("a side holds \"\" in it");
                }
                if undone.contains(id) {
                    tags.push("first sync after an undo");
                }
                if one_way.contains(id) {
                    tags.push("one-way base");
                }
                if sent_unread.contains(id) {
                    tags.push("a send wrote it on B without reading B");
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
        if list
            .iter()
            .any(|(_, v)| v.as_deref().is_none_or(str::is_empty))
        {
            self.blank_written.insert(ident.to_owned());
        }
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
}
