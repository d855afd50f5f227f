//! The reference model: what both sides must hold after a sync, worked out
//! from the promises in DESIGN.md ("What a sync promises", the modes and the
//! resolvers), record by record over whole sides. It shares no code with
//! the engine: no classifier, no hashes, no streaming.

use std::collections::{BTreeMap, BTreeSet};

use tandem_core::ResolverKind;
use tandem_core::engine::Mode;
use tandem_core::store::Side;

/// A record's synced fields; a null field is absent.
pub type Fields = BTreeMap<String, String>;

/// One record on one side.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub key: String,
    pub fields: Fields,
    /// The modification time the side keeps, in seconds after an epoch.
    pub modified: Option<i64>,
}

/// A pair of records that a sync linked.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The content last synchronized; `None` for two records paired with
    /// different content, whose conflict waits for a person.
    pub base: Option<Fields>,
    /// A conflict of this record waits for a person.
    pub pending: bool,
}

/// Both sides and what the pair remembers, by identity: the key in a pair
/// matched by key, the normalized email in a pair matched by email.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub sides: [BTreeMap<String, Rec>; 2],
    pub links: BTreeMap<String, Link>,
    /// Whether a side's cursor is stored (its next read is incremental).
    pub cursor: [bool; 2],
}

/// What the model needs to know about the pair.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub resolver: ResolverKind,
    pub max_delete: f64,
    pub by_email: bool,
    /// Whether each side's source keeps cursors (else its every read is a
    /// snapshot).
    pub cursors: [bool; 2],
}

/// A conflict the sync must record.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub ident: String,
    /// `false`: pending for a person.
    pub resolved: bool,
    /// For a side taken whole: the losing version (`None`: a delete lost).
    pub loser: Option<Option<Fields>>,
}

/// What a sync must do.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A guard refuses it (for the reason given): nothing changes and the
    /// run is recorded failed.
    #[allow(dead_code)]
    Refused(String),
    Done(Expected),
}

impl Outcome {
    pub fn refused(&self) -> bool {
        matches!(self, Outcome::Refused(_))
    }
}

#[derive(Debug, Clone)]
pub struct Expected {
    pub state: State,
    pub conflicts: Vec<Recorded>,
    /// Changes written per side (upserts, deletes), as the model sees them.
    pub writes: [usize; 2],
}

fn ix(side: Side) -> usize {
    side as usize
}

fn same(a: Option<&Rec>, b: Option<&Rec>) -> bool {
    a.map(|r| &r.fields) == b.map(|r| &r.fields)
}

fn differs(now: Option<&Rec>, base: Option<&Fields>) -> bool {
    match (now, base) {
        (Some(r), Some(b)) => &r.fields != b,
        _ => true,
    }
}

/// The three-way merge of fields; `Err` names the fields both sides changed
/// differently, with the merge taking A's value for them.
fn merge(base: &Fields, a: &Fields, b: &Fields) -> (Fields, Vec<String>) {
    let names: BTreeSet<&String> = base.keys().chain(a.keys()).chain(b.keys()).collect();
    let mut out = Fields::new();
    let mut clash = Vec::new();
    for n in names {
        let (va, vb, v0) = (a.get(n), b.get(n), base.get(n));
        let v = match (va != v0, vb != v0) {
            (false, _) => vb,
            (true, true) if va != vb => {
                clash.push(n.clone());
                va
            }
            _ => va,
        };
        if let Some(v) = v {
            out.insert(n.clone(), v.clone());
        }
    }
    (out, clash)
}

enum Res {
    TakeA,
    TakeB,
    Merged(Fields),
    Defer,
}

/// The resolvers as DESIGN.md and their docs describe them.
fn decide(kind: ResolverKind, a: Option<&Rec>, b: Option<&Rec>, base: Option<&Fields>) -> Res {
    let newest = || match (a, b) {
        (Some(_), None) => Res::TakeA,
        (None, Some(_)) => Res::TakeB,
        (Some(a), Some(b)) => match (a.modified, b.modified) {
            (Some(x), Some(y)) if x > y => Res::TakeA,
            (Some(x), Some(y)) if y > x => Res::TakeB,
            (Some(_), None) => Res::TakeA,
            (None, Some(_)) => Res::TakeB,
            _ => Res::Defer,
        },
        (None, None) => Res::Defer,
    };
    match kind {
        ResolverKind::AWins => Res::TakeA,
        ResolverKind::BWins => Res::TakeB,
        ResolverKind::Manual => Res::Defer,
        ResolverKind::Newest => newest(),
        ResolverKind::FieldMerge => match (a, b, base) {
            (Some(a), Some(b), Some(base)) => {
                let (mut m, clash) = merge(base, &a.fields, &b.fields);
                let a_newer = match (a.modified, b.modified) {
                    (Some(x), Some(y)) => x >= y,
                    (None, Some(_)) => false,
                    _ => true,
                };
                let from = if a_newer { a } else { b };
                for f in clash {
                    match from.fields.get(&f) {
                        Some(v) => m.insert(f, v.clone()),
                        None => m.remove(&f),
                    };
                }
                Res::Merged(m)
            }
            _ => newest(),
        },
    }
}

/// A sync in progress: the state it builds and what it records.
struct Run<'a> {
    before: &'a State,
    out: State,
    s: Settings,
    conflicts: Vec<Recorded>,
    deletes: [usize; 2],
    writes: [usize; 2],
}

impl Run<'_> {
    /// Writes `rec` (or deletes) on `side`. `counted`: the engine sends the
    /// delete even though the side may not hold the record.
    fn put(&mut self, side: Side, id: &str, rec: Option<&Rec>, counted: bool) {
        let map = &mut self.out.sides[ix(side)];
        match rec {
            Some(r) => {
                let key = map
                    .get(id)
                    .map_or_else(|| r.key.clone(), |old| old.key.clone());
                map.insert(id.to_owned(), Rec { key, ..r.clone() });
                self.writes[ix(side)] += 1;
            }
            None => {
                if map.remove(id).is_some() || counted {
                    self.deletes[ix(side)] += 1;
                    self.writes[ix(side)] += 1;
                }
            }
        }
    }

    fn link(&mut self, id: &str, base: Option<&Rec>) {
        match base {
            Some(r) => {
                self.out.links.insert(
                    id.to_owned(),
                    Link {
                        base: Some(r.fields.clone()),
                        pending: false,
                    },
                );
            }
            None => {
                self.out.links.remove(id);
            }
        }
    }

    /// A conflict, decided by the pair's resolver.
    fn conflict(&mut self, id: &str, a: Option<&Rec>, b: Option<&Rec>, base: Option<&Fields>) {
        let fields = |r: Option<&Rec>| r.map(|r| r.fields.clone());
        let (resolved, loser) = match decide(self.s.resolver, a, b, base) {
            Res::TakeA => {
                self.put(Side::B, id, a, false);
                self.link(id, a);
                (true, Some(fields(b)))
            }
            Res::TakeB => {
                self.put(Side::A, id, b, false);
                self.link(id, b);
                (true, Some(fields(a)))
            }
            Res::Merged(m) => {
                let rec = Rec {
                    key: id.to_owned(),
                    fields: m,
                    modified: None,
                };
                self.put(Side::A, id, Some(&rec), false);
                self.put(Side::B, id, Some(&rec), false);
                self.link(id, Some(&rec));
                (true, None)
            }
            Res::Defer => {
                self.out.links.insert(
                    id.to_owned(),
                    Link {
                        base: base.cloned(),
                        pending: true,
                    },
                );
                (false, None)
            }
        };
        self.conflicts.push(Recorded {
            ident: id.to_owned(),
            resolved,
            loser,
        });
    }

    fn two_way(&mut self, id: &str, a: Option<&Rec>, b: Option<&Rec>, base: Option<&Fields>) {
        match (differs(a, base), differs(b, base)) {
            (false, false) => {}
            (true, false) => {
                self.put(Side::B, id, a, false);
                self.link(id, a);
            }
            (false, true) => {
                self.put(Side::A, id, b, false);
                self.link(id, b);
            }
            (true, true) if same(a, b) => self.link(id, a),
            (true, true) => {
                if let (Some(ra), Some(rb), Some(base)) = (a, b, base) {
                    let (m, clash) = merge(base, &ra.fields, &rb.fields);
                    if clash.is_empty() {
                        let rec = Rec {
                            fields: m,
                            ..ra.clone()
                        };
                        self.put(Side::A, id, Some(&rec), false);
                        self.put(Side::B, id, Some(&rec), false);
                        self.link(id, Some(&rec));
                        return;
                    }
                }
                self.conflict(id, a, b, base);
            }
        }
    }

    /// One way from `src`; `restore`: the destination's own changes are
    /// replaced (a forced receive). `dst_read`: the destination is read.
    #[allow(clippy::too_many_arguments)]
    fn one_way(
        &mut self,
        id: &str,
        src: Side,
        s: Option<&Rec>,
        d: Option<&Rec>,
        base: Option<&Fields>,
        restore: bool,
        dst_read: bool,
    ) {
        let dst = src.other();
        if differs(s, base) {
            match s {
                Some(_) => self.put(dst, id, s, false),
                None if d.is_some() || !dst_read => self.put(dst, id, None, true),
                None => {}
            }
            self.link(id, s);
        } else if restore && differs(d, base) {
            self.put(dst, id, s, false);
            self.link(id, s);
        }
    }
}

/// What a sync in `mode` may do to `st`: every outcome the promises allow,
/// the likeliest first.
///
/// Where the engine checks a sample or a cursor's view rather than the
/// whole side, more than one outcome is allowed:
/// - a send matched by key does not read B, but refuses (or, forced,
///   reloads B) when B lost what was synced to it, judged from a few of
///   the linked records: certain when B holds none of them, possible
///   when it lacks some;
/// - receive may count as unsent a local change that a pending conflict
///   holds anyway.
pub fn sync(st: &State, mode: Mode, force: bool, s: Settings) -> Vec<Outcome> {
    if mode == Mode::Send && !s.by_email && !st.links.is_empty() {
        let held = st
            .links
            .keys()
            .filter(|id| st.sides[1].contains_key(*id))
            .count();
        let gone = "side B no longer holds what was synced to it".to_owned();
        return match (held, force) {
            (0, false) => vec![Outcome::Refused(gone)],
            (0, true) => vec![plan(st, mode, force, s, true)],
            (n, false) if n < st.links.len() => {
                vec![plan(st, mode, force, s, false), Outcome::Refused(gone)]
            }
            (n, true) if n < st.links.len() => {
                vec![
                    plan(st, mode, force, s, false),
                    plan(st, mode, force, s, true),
                ]
            }
            _ => vec![plan(st, mode, force, s, false)],
        };
    }
    let first = plan(st, mode, force, s, false);
    if mode == Mode::Receive && !force && !first.refused() {
        let held = st
            .links
            .iter()
            .any(|(id, l)| l.pending && differs(st.sides[0].get(id), l.base.as_ref()));
        if held {
            return vec![
                first,
                Outcome::Refused("unsent changes held by a conflict".into()),
            ];
        }
    }
    vec![first]
}

/// One outcome; `reload`: a send reads B in full and restores what it lacks.
fn plan(st: &State, mode: Mode, force: bool, s: Settings, reload: bool) -> Outcome {
    let (a_side, b_side) = (&st.sides[0], &st.sides[1]);
    let b_read = mode != Mode::Send || s.by_email || reload;
    // Receive keeps A as a replica of B: A's unsent changes need force.
    if mode == Mode::Receive && !force {
        let mut unsent = 0;
        let ids: BTreeSet<&String> = a_side.keys().chain(st.links.keys()).collect();
        for id in ids {
            let a = a_side.get(id.as_str());
            match st.links.get(id.as_str()) {
                Some(l) if l.pending => {}
                Some(l) if differs(a, l.base.as_ref()) => unsent += 1,
                Some(_) => {}
                None => unsent += 1,
            }
        }
        if unsent > 0 {
            return Outcome::Refused(format!("{unsent} unsent local changes on A"));
        }
    }
    let mut run = Run {
        before: st,
        out: st.clone(),
        s,
        conflicts: Vec::new(),
        deletes: [0, 0],
        writes: [0, 0],
    };
    let ids: BTreeSet<String> = a_side
        .keys()
        .chain(b_side.keys())
        .chain(st.links.keys())
        .cloned()
        .collect();
    for id in &ids {
        let (a, b) = (a_side.get(id), b_side.get(id));
        match run.before.links.get(id) {
            Some(l) if l.pending => {
                // Held until a person resolves it or both sides agree.
                if same(a, b) {
                    run.link(id, a);
                }
            }
            Some(l) => {
                let base = l.base.as_ref();
                match mode {
                    // A forced send that reads B makes B a replica of A:
                    // what B changed or lost is restored.
                    Mode::Send => run.one_way(id, Side::A, a, b, base, force && b_read, b_read),
                    Mode::Receive => run.one_way(id, Side::B, b, a, base, force, true),
                    _ => run.two_way(id, a, b, base),
                }
            }
            None => match (a, b, mode) {
                (None, None, _) => {}
                (Some(_), None, Mode::Receive) => {
                    if force {
                        run.put(Side::A, id, None, false);
                    }
                }
                (Some(_), None, _) => {
                    run.put(Side::B, id, a, false);
                    run.link(id, a);
                }
                (None, Some(_), Mode::Send) => {}
                (None, Some(_), _) => {
                    run.put(Side::A, id, b, false);
                    run.link(id, b);
                }
                (Some(_), Some(_), _) if same(a, b) => run.link(id, a),
                (Some(_), Some(_), Mode::Send) => {
                    run.put(Side::B, id, a, false);
                    run.link(id, a);
                }
                (Some(_), Some(_), Mode::Receive) => {
                    run.put(Side::A, id, b, false);
                    run.link(id, b);
                }
                (Some(_), Some(_), _) => run.conflict(id, a, b, None),
            },
        }
    }
    if !force {
        let linked = st.links.len();
        for (side, read) in [(Side::A, true), (Side::B, b_read)] {
            let snapshot = !s.cursors[ix(side)]
                || !st.cursor[ix(side)]
                || mode == Mode::Full
                || reload
                || (mode == Mode::Receive && side == Side::B);
            if read && snapshot && st.sides[ix(side)].is_empty() && linked > 0 {
                return Outcome::Refused(format!("side {side:?} is empty (empty-side guard)"));
            }
        }
        for side in [Side::A, Side::B] {
            let d = run.deletes[ix(side)];
            if linked > 0 && d as f64 * 100.0 > s.max_delete * linked as f64 {
                return Outcome::Refused(format!(
                    "{d} deletes of {linked} on {side:?} (max_delete)"
                ));
            }
        }
    }
    run.out.cursor[0] = s.cursors[0];
    if b_read {
        run.out.cursor[1] = s.cursors[1];
    }
    Outcome::Done(Expected {
        state: run.out,
        conflicts: run.conflicts,
        writes: run.writes,
    })
}

/// A person takes one side of a pending conflict: its version (or its
/// delete) goes to the other side. Returns the new state and the loser.
pub fn resolve(st: &State, id: &str, take: Side) -> (State, Option<Fields>) {
    let mut out = st.clone();
    let winner = st.sides[ix(take)].get(id).cloned();
    let loser = st.sides[ix(take.other())].get(id).map(|r| r.fields.clone());
    let other = &mut out.sides[ix(take.other())];
    match &winner {
        Some(w) => {
            let key = other
                .get(id)
                .map_or_else(|| w.key.clone(), |r| r.key.clone());
            other.insert(id.to_owned(), Rec { key, ..w.clone() });
            out.links.insert(
                id.to_owned(),
                Link {
                    base: Some(w.fields.clone()),
                    pending: false,
                },
            );
        }
        None => {
            other.remove(id);
            out.links.remove(id);
        }
    }
    (out, loser)
}
