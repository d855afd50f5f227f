//! The invariants checked after every step: sides against the model,
//! recorded conflicts, history counts, links against both sides, no run
//! left running, one run per pair at a time.

use std::collections::{BTreeMap, HashMap, HashSet};

use tandem_core::engine::{Mode, PairConfig, RunReport};
use tandem_core::store::{ConflictRow, ConflictStatus, RunStatus, Side, StateStore};
use tandem_core::{Error, Record, Result as CoreResult};

use crate::faults::Committed;
use crate::model::{Rec, Recorded};
use crate::world::{Failure, Kit, fail};

/// Whether two sides hold the same identities with the same fields.
pub fn same_fields(a: &BTreeMap<String, Rec>, b: &BTreeMap<String, Rec>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, r)| b.get(k).is_some_and(|o| o.fields == r.fields))
}

/// The first differences between two sides.
pub fn diff(now: &BTreeMap<String, Rec>, want: &BTreeMap<String, Rec>) -> String {
    let mut out = Vec::new();
    for (k, r) in now {
        match want.get(k) {
            None => out.push(format!("{k}: extra {:?}", r.fields)),
            Some(w) if w.fields != r.fields => out.push(format!(
                "{k}: holds {:?}, expected {:?}",
                r.fields, w.fields
            )),
            _ => {}
        }
    }
    for (k, w) in want {
        if !now.contains_key(k) {
            out.push(format!("{k}: missing {:?}", w.fields));
        }
    }
    out.truncate(6);
    out.join("; ")
}

pub fn same_side(
    side: Side,
    now: &BTreeMap<String, Rec>,
    want: &BTreeMap<String, Rec>,
    what: &str,
) -> Result<(), Failure> {
    if same_fields(now, want) {
        return Ok(());
    }
    let odd: Vec<String> = now
        .iter()
        .filter(|(k, r)| want.get(*k).is_none_or(|w| w.fields != r.fields))
        .map(|(k, _)| k)
        .chain(want.keys().filter(|k| !now.contains_key(*k)))
        .cloned()
        .collect();
    fail(what, format!("side {side:?}: {}", diff(now, want))).map_err(|f| f.about_all(odd))
}

/// Both sides against what they should hold.
pub fn same_sides(
    now: &[BTreeMap<String, Rec>; 2],
    want: &[BTreeMap<String, Rec>; 2],
    what: &str,
) -> Result<(), Failure> {
    same_side(Side::A, &now[0], &want[0], what)?;
    same_side(Side::B, &now[1], &want[1], what)
}

/// Marks the runs left running as owned by a process that is gone, as
/// they would be after a real kill (the engine tells a dead owner by its
/// pid).
pub async fn mark_dead(url: &str) -> Result<(), Failure> {
    use sea_orm::{ConnectionTrait, Database};
    let owner = tandem_core::store::owner();
    let host = owner.rsplit_once(':').map_or("localhost", |(h, _)| h);
    let db = Database::connect(url)
        .await
        .or_else(|e| fail("store", format!("opening the store: {e}")))?;
    db.execute_unprepared(&format!(
        "UPDATE runs SET owner = '{host}:4294967294' WHERE status IN ('running', 'stopping')"
    ))
    .await
    .or_else(|e| fail("store", format!("marking the killed run's owner dead: {e}")))?;
    db.close().await.ok();
    Ok(())
}

pub async fn none_running(store: &StateStore) -> Result<(), Failure> {
    let running = store
        .running_runs()
        .await
        .or_else(|e| fail("store", e.to_string()))?;
    if running.is_empty() {
        return Ok(());
    }
    fail(
        "run left running",
        format!(
            "runs {:?} are still running",
            running.iter().map(|r| r.id).collect::<Vec<_>>()
        ),
    )
}

fn wrote(r: &RunReport) -> bool {
    let c = &r.counts;
    c.created_a + c.created_b + c.updated_a + c.updated_b + c.deleted_a + c.deleted_b > 0
}

/// Two runs of one pair at once: the second refuses (busy) or, having
/// waited, finds nothing to do. Returns the run that did the work.
pub fn exclusion(
    r1: CoreResult<RunReport>,
    r2: CoreResult<RunReport>,
) -> Result<CoreResult<RunReport>, Failure> {
    let busy = |r: &CoreResult<RunReport>| matches!(r, Err(Error::Busy { .. }));
    match (r1, r2) {
        (Ok(x), r) | (r, Ok(x)) if busy(&r) => Ok(Ok(x)),
        (Ok(x), Ok(y)) if !wrote(&y) => Ok(Ok(x)),
        (Ok(x), Ok(y)) if !wrote(&x) => Ok(Ok(y)),
        (Ok(x), Ok(y)) => fail(
            "exclusion",
            format!(
                "two runs of the pair at once both wrote: {:?} and {:?}",
                x.counts, y.counts
            ),
        ),
        (Err(e), r) | (r, Err(e)) if busy(&r) => Ok(Err(e)),
        (Err(e1 @ Error::Guard { .. }), Err(Error::Guard { .. })) => Ok(Err(e1)),
        (Ok(x), Err(e)) | (Err(e), Ok(x)) => fail(
            "exclusion",
            format!(
                "of two runs at once one wrote {:?} and the other failed: {e}",
                x.counts
            ),
        ),
        (Err(e1), Err(e2)) => fail(
            "exclusion",
            format!("two runs at once both failed: {e1}; {e2}"),
        ),
    }
}

/// The conflicts a run recorded are the ones the model expects, with
/// their losing versions.
pub fn recorded(
    rows: &[&ConflictRow],
    want: &[Recorded],
    ident: impl Fn(&ConflictRow) -> String,
    rec: impl Fn(&Record) -> Rec,
) -> Result<(), Failure> {
    let mut by_ident: HashMap<String, &ConflictRow> = HashMap::new();
    for r in rows {
        if by_ident.insert(ident(r), r).is_some() {
            return fail(
                "conflicts recorded",
                format!("{} recorded twice in one run", ident(r)),
            );
        }
    }
    for w in want {
        let Some(row) = by_ident.remove(&w.ident) else {
            // A conflict waiting for a person may have been queued by a run
            // that died after queuing it; the pending queue is checked apart.
            if !w.resolved {
                continue;
            }
            return fail(
                "conflicts recorded",
                format!(
                    "no conflict recorded for {} (resolved {}, loser {:?})",
                    w.ident, w.resolved, w.loser
                ),
            )
            .map_err(|f| f.about(&w.ident));
        };
        let resolved = row.status == ConflictStatus::Resolved;
        if resolved != w.resolved {
            return fail(
                "conflicts recorded",
                format!(
                    "the conflict of {} is {:?}, expected resolved {}",
                    w.ident, row.status, w.resolved
                ),
            )
            .map_err(|f| f.about(&w.ident));
        }
        if let Some(loser) = &w.loser {
            let got = row.loser.as_ref().map(|r| rec(r).fields);
            if got.as_ref() != loser.as_ref() {
                return fail(
                    "conflict loser",
                    format!(
                        "the conflict of {} records loser {got:?}, expected {loser:?}",
                        w.ident
                    ),
                )
                .map_err(|f| f.about(&w.ident));
            }
        }
    }
    if let Some((id, _)) = by_ident.into_iter().next() {
        return fail(
            "conflicts recorded",
            format!("a conflict of {id} was recorded that the model does not expect"),
        )
        .map_err(|f| f.about(id));
    }
    Ok(())
}

/// The run's counts say what its targets committed.
pub fn counts(
    report: &RunReport,
    before: [Committed; 2],
    after: [Committed; 2],
) -> Result<(), Failure> {
    let c = &report.counts;
    let sides = [
        (c.created_a + c.updated_a, c.deleted_a),
        (c.created_b + c.updated_b, c.deleted_b),
    ];
    for (i, (upserts, deletes)) in sides.into_iter().enumerate() {
        let up = after[i].upserts - before[i].upserts;
        let del = after[i].deletes - before[i].deletes;
        if (up, del) != (upserts, deletes) {
            return fail(
                "history counts",
                format!(
                    "side {}: the run reports {upserts} upserts and {deletes} deletes; the target committed {up} and {del}",
                    if i == 0 { "A" } else { "B" }
                ),
            );
        }
    }
    Ok(())
}

/// The run is in history as completed, with the counts it reported.
pub async fn history(store: &StateStore, report: &RunReport) -> Result<(), Failure> {
    let id = report.run_id.unwrap_or_default();
    let row = store
        .run(id)
        .await
        .or_else(|e| fail("store", e.to_string()))?;
    match row {
        Some(r) if r.status == RunStatus::Completed && r.counts == report.counts => Ok(()),
        Some(r) => fail(
            "history counts",
            format!(
                "run {id} is recorded {:?} with {:?}; it reported {:?}",
                r.status, r.counts, report.counts
            ),
        ),
        None => fail("history counts", format!("run {id} is not in history")),
    }
}

/// Links match both sides: every link's keys exist where the mode read
/// them, with the hash of what is there; every record is linked once.
pub async fn links(
    store: &StateStore,
    pair: &PairConfig,
    mode: Mode,
    kit: &Kit,
    rows: &[ConflictRow],
) -> Result<(), Failure> {
    let links = store
        .load_links(&pair.name)
        .await
        .or_else(|e| fail("store", e.to_string()))?;
    let waiting: Vec<&ConflictRow> = rows
        .iter()
        .filter(|c| c.status == ConflictStatus::Pending)
        .collect();
    let pending: HashSet<i64> = waiting.iter().filter_map(|c| c.link_id).collect();
    let pending_a: HashSet<&str> = waiting
        .iter()
        .filter_map(|c| c.conflict.a_key.as_ref().map(|k| k.as_str()))
        .collect();
    let sides: Vec<Side> = match mode {
        Mode::TwoWay | Mode::Full => vec![Side::A, Side::B],
        Mode::Send => vec![Side::A],
        Mode::Receive => vec![Side::B],
    };
    for side in sides {
        let raw = match side {
            Side::A => kit.a.raw().await,
            Side::B => kit.b.raw().await,
        };
        let records: HashMap<String, Record> = raw
            .into_iter()
            .map(|r| (r.key.as_str().to_owned(), r))
            .collect();
        let mut seen = HashSet::new();
        for l in &links {
            let (key, hash) = match side {
                Side::A => (&l.a_key, l.hash_a),
                Side::B => (&l.b_key, l.hash_b),
            };
            let Some(key) = key else { continue };
            if !seen.insert(key.as_str().to_owned()) {
                return fail(
                    "links",
                    format!("two links hold key {key} on side {side:?}"),
                );
            }
            // A conflict first found when two records were paired names
            // its link by key.
            let a_key = l.a_key.as_ref().map(|k| k.as_str());
            if pending.contains(&l.id) || a_key.is_some_and(|k| pending_a.contains(k)) {
                continue;
            }
            let Some(r) = records.get(key.as_str()) else {
                return fail(
                    "links",
                    format!(
                        "link {} holds key {key} that side {side:?} does not have",
                        l.id
                    ),
                );
            };
            let canonical = match side {
                Side::A => pair.canonical_a(r.clone()),
                Side::B => pair.canonical_b(r.clone()),
            };
            if Some(canonical.content_hash()) != hash {
                return fail(
                    "links",
                    format!(
                        "link {} of {key} on side {side:?} holds a hash that is not the record's",
                        l.id
                    ),
                );
            }
        }
        if let Some(k) = records.keys().find(|k| !seen.contains(*k)) {
            return fail(
                "links",
                format!("record {k} on side {side:?} has no link after a {mode:?} run"),
            );
        }
    }
    Ok(())
}
