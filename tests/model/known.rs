//! Bugs the harness found that are still open: a failure that matches one
//! is counted and its seeds printed, not failed (TANDEM_MODEL_STRICT=1
//! fails them too). Each entry names the bug and the exact case it covers;
//! remove it once the bug is fixed.

use crate::program::Config;
use crate::world::Failure;

/// The open bug a failure is, if any: every record it is about must be
/// explained by one.
pub fn matches(cfg: &Config, f: &Failure) -> Option<&'static str> {
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

fn for_record(_cfg: &Config, kind: &str, tags: &[&str]) -> Option<&'static str> {
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
    // Undo gives a restored link the base from before the run only where
    // the sides were in step then; a record changed on both sides before
    // the undone run (merged by it) gets an empty base, and the first
    // sync after the undo calls the two sides' edits of different fields
    // a conflict instead of merging them.
    if wrong_outcome && tagged("first sync after an undo") {
        return Some(
            "undo leaves an empty base for a record both sides had changed (found by this harness)",
        );
    }
    // A send or receive run of a pair configured one-way records a link
    // without its base record (hashes only); a two-way run of the pair
    // (`--mode two_way`) then merges against an empty base, and edits of
    // different fields on the two sides become a conflict instead of
    // merging.
    if wrong_outcome && tagged("one-way base") {
        return Some(
            "a one-way pair's runs keep no base record, so a later two-way run does not merge (found by this harness)",
        );
    }
    // Undo puts records and links back as before the run but leaves the
    // conflicts the run queued pending: the records stay held for a person
    // (a later send or sync leaves them alone, and receive does not count
    // their local changes as unsent) though the restored links know of no
    // conflict.
    if (wrong_outcome || kind == "atomicity" || kind == "refusal")
        && tagged("an undone run queued its conflict")
    {
        return Some("undo leaves the undone run's conflicts pending (found by this harness)");
    }
    // A run killed after it queued a conflict for a person (conflicts are
    // kept before the targets commit) but before its store commit leaves
    // the conflict pending with no link when the records were first
    // paired: nothing holds them, the next run syncs them as new, and the
    // conflict stays pending.
    if wrong_outcome && tagged("a killed run queued its conflict") {
        return Some(
            "a conflict queued by a killed run holds nothing when its link was never committed (found by this harness)",
        );
    }
    // A forced send that reads B restores what B changed or lost only
    // where this run read A's record too: A is read from its cursor, so a
    // record A did not change is not there to restore from, and B keeps
    // its own change.
    if (wrong_outcome || kind == "atomicity") && tagged("a forced send restores B's change") {
        return Some(
            "a forced send does not restore B's change to a record A did not change (found by this harness)",
        );
    }
    // A send matched by key does not read B and keeps B's cursor where it
    // was; on a file side that cursor is a picture of the rows it read, in
    // which the rows the send wrote are missing. A person deleting such a
    // row on B is never seen by a later two-way run: A keeps it.
    if wrong_outcome && tagged("a send wrote it on B without reading B") {
        return Some(
            "a file side's cursor misses the rows a send wrote there; deleting one is never synced (found by this harness)",
        );
    }
    // A person's resolution writes the losing side through its target,
    // outside a run: a file side's cursor (a picture of the rows it read)
    // is not told, so an edit that puts the row back to what the cursor
    // saw is taken for no change and never synced.
    if wrong_outcome && tagged("a manual resolution wrote it") {
        return Some(
            "a manual resolution's write is not marked in a file side's cursor (found by this harness)",
        );
    }
    // A forced receive deletes what only A has (unlinked) and journals
    // the delete with no before-image, as if the record were created:
    // undoing the run, or rolling back a crash of it, leaves A's record
    // deleted instead of putting it back.
    if matches!(
        kind,
        "undo did not restore it" | "a rolled back run left it changed" | "atomicity"
    ) && tagged("written over with no before-image")
    {
        return Some(
            "a forced receive journals no before-image for what only A had (found by this harness)",
        );
    }
    None
}
