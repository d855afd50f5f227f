//! Whole snapshots encoded where the links lie.

use super::*;

fn row(id: i64, key: &str, hash: u64) -> LinkRow {
    LinkRow {
        id,
        a_key: Some(Key::from(key)),
        b_key: (id % 3 != 0).then(|| Key::from(format!("{key}-b"))),
        hash_a: Some(hash),
        hash_b: (id % 2 == 0).then_some(hash ^ 0xffff),
        disabled: id % 5 == 0,
        day: (id % 4 == 0).then(|| jiff::civil::date(2026, 1, 1 + (id % 28) as i8)),
    }
}

fn update(r: &LinkRow, new: bool) -> LinkUpdate {
    LinkUpdate {
        id: (!new).then_some(r.id),
        ..LinkUpdate::from(r)
    }
}

/// A whole snapshot encoded where the links lie decodes to the links a
/// delta applied to the base gives: removed ones gone, changed ones
/// replaced (the last change of a link wins), new ones numbered and in
/// id order, across parts.
#[test]
fn a_whole_snapshot_holds_the_base_with_the_commit_applied() {
    let base: Vec<LinkRow> = (1..=250_000)
        .filter(|i| i % 7 != 0)
        .map(|i| {
            row(
                i,
                &format!("k{i}"),
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            )
        })
        .collect();
    let removed: Vec<i64> = (1..=250_000).filter(|i| i % 11 == 0).collect();
    let mut updates = Vec::new();
    // Changes of existing links, one of them twice; a change of a link
    // whose id is a gap in the base; then new links.
    for i in (2..250_000).step_by(13) {
        updates.push(update(&row(i, &format!("k{i}"), 42), false));
    }
    updates.push(update(&row(26, "twice", 43), false));
    updates.push(update(&row(14, "gap", 44), false));
    let first_id = 300_000;
    for i in 0..60_000 {
        updates.push(update(&row(0, &format!("new{i}"), i), true));
    }
    let parts = encode_whole(&base, &removed, &updates, first_id).unwrap();
    assert_eq!(parts.len(), 3);
    let mut got = Vec::new();
    for (n, data) in &parts {
        let rows: Vec<LinkRow> = codec::decode("part", data).unwrap();
        assert_eq!(rows.len(), *n);
        got.extend(rows);
    }
    let mut want = base.clone();
    apply(
        &mut want,
        Delta {
            removed,
            rows: changed_rows(&updates, first_id),
        },
    );
    assert!(want.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(want.iter().find(|r| r.id == 26).unwrap().hash_a, Some(43));
    assert!(want.iter().any(|r| r.id == 14));
    assert_eq!(got, want);
    let empty = encode_whole(&[], &[], &[], 1).unwrap();
    assert_eq!(empty.len(), 1);
    assert!(
        codec::decode::<Vec<LinkRow>>("part", &empty[0].1)
            .unwrap()
            .is_empty()
    );
}
