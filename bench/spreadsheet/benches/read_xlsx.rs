//! Reads a generated 100k-row x 10-column xlsx fully, in the same run and
//! on the same file, through the spreadsheet connector's `Source::read` and
//! through bare calamine (open, `worksheet_range`, visit every cell), and
//! reports both times and their ratio (target: at most 1.3).
//!
//! `cargo bench -p tandem-bench-spreadsheet --bench read_xlsx`; set
//! `TANDEM_BENCH_ROWS` for another size, `TANDEM_BENCH_ROUNDS` for more
//! rounds. The workbook is generated once (seed 42) under `target/`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use calamine::{Data, Reader, Xlsx, open_workbook};
use futures::TryStreamExt;
use tandem_bench_spreadsheet::{SHEET, generate};
use tandem_connector_spreadsheet::SpreadsheetConnector;
use tandem_core::{Change, ReadRequest, Source};

/// The ratio the connector must stay within.
const TARGET: f64 = 1.3;

fn main() {
    let rows: u32 = env("TANDEM_BENCH_ROWS", 100_000);
    let rounds: usize = env("TANDEM_BENCH_ROUNDS", 5);
    let path = workbook(rows);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "workbook: {} ({rows} rows x 10 columns, {:.1} MB)",
        path.display(),
        size as f64 / 1e6
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let connector = SpreadsheetConnector::from_config(serde_json::json!({
        "path": path,
        "key": ["id"],
    }))
    .unwrap();

    // One warm-up of each (page cache, allocator), then alternate.
    assert_eq!(bare(&path), u64::from(rows) * 10 + 10 - empty_notes(&path));
    assert_eq!(
        runtime.block_on(through_connector(&connector)),
        u64::from(rows)
    );
    let mut bare_times = Vec::new();
    let mut connector_times = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        black_box(bare(&path));
        bare_times.push(start.elapsed());
        let start = Instant::now();
        black_box(runtime.block_on(through_connector(&connector)));
        connector_times.push(start.elapsed());
    }
    let bare = median(&mut bare_times);
    let through = median(&mut connector_times);
    let ratio = through.as_secs_f64() / bare.as_secs_f64();
    println!(
        "bare calamine (open + worksheet_range + every cell): median {bare:.3?} of {rounds}, all {bare_times:.3?}"
    );
    println!(
        "connector Source::read (batches of 1000 records):    median {through:.3?} of {rounds}, all {connector_times:.3?}"
    );
    let verdict = if ratio <= TARGET { "within" } else { "OVER" };
    println!("ratio connector / bare: {ratio:.3} ({verdict} the target of {TARGET})");
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generated workbook, made once per size.
fn workbook(rows: u32) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("spreadsheet-{rows}x10-seed42.xlsx"));
    if !path.exists() {
        let start = Instant::now();
        let tmp = path.with_extension("tmp.xlsx");
        generate(&tmp, rows, 42).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        println!("generated in {:.2?}", start.elapsed());
    }
    path
}

/// Bare calamine: opens the workbook, loads the sheet and visits every
/// cell; returns how many cells hold something.
fn bare(path: &Path) -> u64 {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    let range = book.worksheet_range(SHEET).unwrap();
    let mut used = 0;
    for row in range.rows() {
        for cell in row {
            if !matches!(black_box(cell), Data::Empty) {
                used += 1;
            }
        }
    }
    used
}

/// How many cells of the note column are empty (for the sanity check).
fn empty_notes(path: &Path) -> u64 {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    let range = book.worksheet_range(SHEET).unwrap();
    range
        .rows()
        .filter(|r| matches!(r.get(9), Some(Data::Empty) | None))
        .count() as u64
}

/// The connector: a full read, every batch consumed; returns the records.
async fn through_connector(connector: &SpreadsheetConnector) -> u64 {
    let request = ReadRequest::full(SHEET).with_batch_size(1000);
    let mut stream = connector.read(request).await.unwrap();
    let mut records = 0;
    while let Some(batch) = stream.try_next().await.unwrap() {
        for change in batch.changes {
            let Change::Upsert(record) = change else {
                panic!("a full read yields upserts")
            };
            black_box(&record);
            records += 1;
        }
    }
    records
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
