//! Classifies 1,000,000 linked records against their base, with 1% changed
//! on each side: on A 8k updates, 1k inserts and 1k deletes; on B 10k
//! updates, 1k of them on records A also changed (conflicts). A is streamed
//! as a full read (so its deletes are found by absence), B prefetched.
//!
//! Prints the peak resident set size at the end (`VmHWM`).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use tandem_core::engine::{Classifier, LinkIndex, Mode, PairConfig};
use tandem_core::store::{LinkRow, Side};
use tandem_core::{Record, ResolverKind};

const N: u32 = 1_000_000;

fn record(i: u32, name: &str) -> Record {
    Record::new(format!("k{i:07}"))
        .with("id", format!("k{i:07}"))
        .with("name", name)
        .with("email", format!("user{i}@example.org"))
        .with("amount", i64::from(i % 997))
}

fn links() -> Vec<LinkRow> {
    (0..N)
        .map(|i| {
            let h = record(i, "base").content_hash();
            let key = format!("k{i:07}");
            LinkRow {
                id: i64::from(i) + 1,
                a_key: Some(key.clone().into()),
                b_key: Some(key.into()),
                hash_a: Some(h),
                hash_b: Some(h),
                disabled: false,
                day: None,
            }
        })
        .collect()
}

fn classify(pair: &PairConfig, index: &LinkIndex) -> u64 {
    let mut c = Classifier::new(
        pair,
        index,
        &ResolverKind::Manual,
        Mode::TwoWay,
        false,
        Side::B,
        HashMap::new(),
    );
    // B: 10k updates: i % 1000 in 500..509 (9k) and i % 1000 == 0 (1k, also changed on A).
    for i in (0..N).filter(|i| (500..509).contains(&(i % 1000)) || i % 1000 == 0) {
        c.prefetched(record(i, "b-edit"));
    }
    c.end_prefetch(false);
    let bases: HashMap<i64, Record> = c
        .base_ids_needed()
        .into_iter()
        .map(|id| (id, record(id as u32 - 1, "base")))
        .collect();
    c.set_bases(bases);
    // A: a full read; 8k updates (i % 1000 < 8), 1k deletes (i % 1000 == 999,
    // absent from the read) and 1k inserts.
    let mut decided = 0u64;
    for i in 0..N {
        if i % 1000 == 999 {
            continue;
        }
        c.streamed(record(i, if i % 1000 < 8 { "a-edit" } else { "base" }));
        if i % 1000 == 0 {
            decided += c.drain_decisions().len() as u64;
        }
    }
    for i in 0..1000 {
        c.streamed(record(N + i, "inserted"));
    }
    c.finish(true);
    decided += c.drain_decisions().len() as u64;
    black_box(c.counts());
    decided
}

fn bench(crit: &mut Criterion) {
    let pair = PairConfig::new("bench", "people", "people");
    let index = LinkIndex::new(links());
    let decided = classify(&pair, &index);
    eprintln!("decisions per run: {decided}");
    let mut group = crit.benchmark_group("classify");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("1m_linked_1pct_changed", |b| {
        b.iter(|| classify(&pair, &index))
    });
    group.bench_function("index_1m_links", |b| {
        b.iter(|| LinkIndex::new(links()).len())
    });
    group.finish();
}

fn peak_rss() {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        {
            eprintln!("{line}");
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    peak_rss();
}
