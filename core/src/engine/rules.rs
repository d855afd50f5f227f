//! The rules that decide one-way changes and apply a conflict's resolution.

use super::classify::Now;
use super::decision::{BaseChange, Category, Decision, Write};
use super::index::LinkIndex;
use crate::record::Record;
use crate::resolve::Resolution;
use crate::store::Side;

pub(super) fn present(n: Now<'_>) -> Option<&Record> {
    match n {
        Now::Same(r) => r,
        Now::Changed(r, _) => Some(r),
        Now::Gone => None,
    }
}

pub(super) fn stored_hash(links: &LinkIndex, i: u32, side: Side) -> Option<u64> {
    let row = links.row(i);
    match side {
        Side::A => row.hash_a,
        Side::B => row.hash_b,
    }
}

/// One-way: `src` is authoritative, `dst` receives. With `restore`, the
/// destination's own changes are replaced by the source's version.
pub(super) fn one_way(d: &mut Decision, src: Now<'_>, dst: Now<'_>, src_side: Side, restore: bool) {
    let dst_side = src_side.other();
    let dst_key = match dst_side {
        Side::A => d.a_key.clone(),
        Side::B => d.b_key.clone(),
    };
    let (changed_src, changed_dst) = match src_side {
        Side::A => (Category::ChangedA, Category::ChangedB),
        Side::B => (Category::ChangedB, Category::ChangedA),
    };
    let mut write = None;
    match (src, dst) {
        (Now::Changed(r, h), _) => {
            d.category = changed_src;
            write = Some(Write::Upsert(r.clone()));
            d.base = BaseChange::Set {
                hash_a: h,
                hash_b: h,
                record: r.clone(),
            };
        }
        (Now::Gone, Now::Gone) => {
            d.category = Category::Deleted;
            d.base = BaseChange::Remove;
        }
        (Now::Gone, _) => {
            d.category = Category::Deleted;
            write = dst_key.map(Write::Delete);
            d.base = BaseChange::Remove;
        }
        (Now::Same(_), Now::Same(_)) => {}
        (Now::Same(r), Now::Changed(..)) | (Now::Same(r), Now::Gone) => {
            d.category = if matches!(dst, Now::Gone) {
                Category::Deleted
            } else {
                changed_dst
            };
            if let (true, Some(r)) = (restore, r) {
                let h = r.content_hash();
                write = Some(Write::Upsert(r.clone()));
                d.base = BaseChange::Set {
                    hash_a: h,
                    hash_b: h,
                    record: r.clone(),
                };
            }
        }
    }
    match dst_side {
        Side::A => d.write_a = write,
        Side::B => d.write_b = write,
    }
}

pub(super) fn apply_resolution(
    d: &mut Decision,
    resolution: &Resolution,
    a: Option<&Record>,
    b: Option<&Record>,
) {
    let take = |d: &mut Decision, winner: Option<&Record>, to: Side| {
        let key = match to {
            Side::A => d.a_key.clone(),
            Side::B => d.b_key.clone(),
        };
        let write = match winner {
            Some(r) => {
                let h = r.content_hash();
                d.base = BaseChange::Set {
                    hash_a: h,
                    hash_b: h,
                    record: r.clone(),
                };
                Some(Write::Upsert(r.clone()))
            }
            None => {
                d.base = BaseChange::Remove;
                key.map(Write::Delete)
            }
        };
        match to {
            Side::A => d.write_a = write,
            Side::B => d.write_b = write,
        }
    };
    match resolution {
        Resolution::TakeA => take(d, a, Side::B),
        Resolution::TakeB => take(d, b, Side::A),
        Resolution::Merged(m) => {
            let h = m.content_hash();
            d.write_a = Some(Write::Upsert(m.clone()));
            d.write_b = Some(Write::Upsert(m.clone()));
            d.base = BaseChange::Set {
                hash_a: h,
                hash_b: h,
                record: m.clone(),
            };
        }
        Resolution::Skip | Resolution::Defer => {}
    }
}
