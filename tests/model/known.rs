//! Bugs the harness found that are still open: a failure that matches one
//! is counted and its seeds printed, not failed (TANDEM_MODEL_STRICT=1
//! fails them too). Each entry names the bug and the exact case it covers;
//! remove it once the bug is fixed.

use crate::program::Config;
use crate::world::Failure;

/// The open bug a failure is, if any: every record it is about must be
/// explained by one.
pub fn matches(cfg: &Config, f: &Failure) -> Option<&'static str> {
    // Issue 18, problem 10: two runs of one pair both start and write.
    if f.kind == "exclusion" {
        return Some("issue 18 #10: one run per pair can be bypassed");
    }
    if f.idents.is_empty() {
        return None;
    }
    let mut bug = None;
    for id in &f.idents {
        let tags = f.context.get(id).map(Vec::as_slice).unwrap_or_default();
        bug = Some(for_record(cfg, &f.kind, tags)?);
    }
    bug
}

fn for_record(cfg: &Config, kind: &str, tags: &[&str]) -> Option<&'static str> {
    let wrong_outcome = matches!(
        kind,
        "diverged from the model"
            | "silent loss"
            | "convergence"
            | "conflicts recorded"
            | "conflict loser"
            | "pending conflicts"
    );
    let tagged = |t: &str| tags.contains(&t);
    // Undo puts a link's hashes back but keeps the base record of the
    // undone run; the first sync after it merges against that base and
    // takes the undone fields for deletions by the other side.
    if wrong_outcome && tagged("first sync after an undo") {
        return Some("undo keeps the undone run's base record (found by this harness)");
    }
    // A send or receive run records a link without its base record
    // (hashes only); a later two-way run then merges against an empty
    // base, and edits of different fields on the two sides become a
    // conflict instead of merging.
    if wrong_outcome && tagged("one-way base") {
        return Some(
            "a one-way run leaves no base record, so later field merges fail (found by this harness)",
        );
    }
    // A send that reads B (matched by email, or forced to reload a B that
    // lost what was synced to it) moves B's cursor past B's own new and
    // changed records, which a send leaves alone. Later runs never see
    // them again: a two-way run never copies them to A, and a record with
    // the same email on A is created beside a new one instead of being
    // paired.
    if (wrong_outcome || (kind == "duplicate" && cfg.by_email))
        && tagged("skipped by a send that read B")
    {
        return Some(
            "a send that reads B moves B's cursor past B's own changes (found by this harness)",
        );
    }
    // A run killed after its targets committed but before the store
    // commit, resumed (on_crash = resume): the conflicts it resolved and
    // wrote are never recorded; the next run finds both sides alike and
    // settles them, and the losing version is gone.
    if wrong_outcome && tagged("a killed run resolved it and resumed") {
        return Some(
            "a resumed run loses the conflicts a killed run resolved (found by this harness)",
        );
    }
    // A send matched by key does not read B, so a record A sends that B
    // already held (unlinked) is journaled as created, with no
    // before-image: undoing the run, or rolling back a crash of it,
    // deletes B's record instead of putting it back.
    if matches!(
        kind,
        "undo did not restore it" | "a rolled back run left it changed" | "atomicity"
    ) && tagged("a send wrote over an unread record of B")
    {
        return Some(
            "a send's write over an unread B record has no before-image (found by this harness)",
        );
    }
    None
}
