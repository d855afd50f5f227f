//! What crossing the plugin boundary costs: a 1,000,000-record CSV to CSV
//! sync with the file connector linked directly, and the same connector
//! loaded from its cdylib through the host loader.
//!
//! `cargo bench -p tandem-e2e --bench boundary` (set `BOUNDARY_ROWS` for
//! another size). Prints the median of three runs of each variant, for the
//! initial sync (every record created) and a second sync with 1% changed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_connector_file::FileConnector;
use tandem_core::engine::{Endpoint, Engine, Mode, PairConfig, RunOptions};
use tandem_core::plugin::{Connector, OpenContext, Plugin};
use tandem_core::store::StateStore;

fn rows() -> usize {
    std::env::var("BOUNDARY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn write_source(path: &Path, n: usize, changed_every: Option<usize>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "id,name,email,amount").unwrap();
    for i in 0..n {
        let name = match changed_every {
            Some(k) if i % k == 0 => "changed",
            _ => "name",
        };
        writeln!(f, "{i},{name} {i},user{i}@example.org,{}", i % 997).unwrap();
    }
}

fn plugin_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    for dir in ["release", "release/deps"] {
        let p = target.join(dir).join("libtandem_connector_file.so");
        if p.exists() {
            return p;
        }
    }
    panic!("build the plugin first: cargo build --release -p tandem-connector-file");
}

async fn endpoint(linked: bool, plugin: &Plugin, name: &str, path: &Path) -> Endpoint {
    let config = serde_json::json!({ "path": path, "key": ["id"] });
    let context = OpenContext::new(name, "/");
    if linked {
        Endpoint::new(name, FileConnector::open(config, &context).unwrap())
    } else {
        let c = Arc::new(plugin.open(config, context).await.unwrap());
        Endpoint {
            name: name.into(),
            source: c.clone(),
            target: Some(c),
        }
    }
}

/// One initial sync and one 1%-changed sync; returns their durations.
async fn trial(linked: bool, plugin: &Plugin, n: usize) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    write_source(&a, n, None);
    let store = StateStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let engine = Engine::new(store);
    let mut pair = PairConfig::new("bench", "a", "b");
    pair.mode = Mode::Send;
    pair.batch_size = 5000;
    let (ea, eb) = (
        endpoint(linked, plugin, "a", &a).await,
        endpoint(linked, plugin, "b", &b).await,
    );
    let t = Instant::now();
    let r = engine
        .run(&pair, &ea, &eb, RunOptions::new())
        .await
        .unwrap();
    let initial = t.elapsed();
    assert_eq!(r.counts.created_b as usize, n);
    write_source(&a, n, Some(100));
    let t = Instant::now();
    let r = engine
        .run(&pair, &ea, &eb, RunOptions::new())
        .await
        .unwrap();
    let changed = t.elapsed();
    assert_eq!(r.counts.updated_b as usize, n.div_ceil(100));
    (initial, changed)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = rows();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plugin = Plugin::load(&plugin_path()).unwrap();
    let mut results = Vec::new();
    for linked in [true, false] {
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let (i, c) = rt.block_on(trial(linked, &plugin, n));
            first.push(i);
            second.push(c);
        }
        let label = if linked { "linked" } else { "plugin" };
        let (i, c) = (median(first), median(second));
        println!(
            "{label:>6}: {n} rows, initial sync {:.2} s, 1% changed sync {:.2} s",
            i.as_secs_f64(),
            c.as_secs_f64()
        );
        results.push((i, c));
    }
    let overhead = |p: Duration, l: Duration| (p.as_secs_f64() / l.as_secs_f64() - 1.0) * 100.0;
    println!(
        "plugin boundary overhead: initial {:+.1}%, 1% changed {:+.1}%",
        overhead(results[1].0, results[0].0),
        overhead(results[1].1, results[0].1)
    );
}
