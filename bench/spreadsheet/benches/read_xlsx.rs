//! Reads a generated 100k-row x 10-column xlsx fully, in the same run and
//! on the same file, through the spreadsheet connector's `Source::read` and
//! through bare calamine (open, `worksheet_range`, visit every cell), and
//! reports both times and their ratio (target: at most 1.3).
//!
//! `cargo bench -p tandem-bench-spreadsheet --bench read_xlsx` (or
//! `bench/spreadsheet/run.sh`); set `TANDEM_BENCH_ROWS` for another size,
//! `TANDEM_BENCH_ROUNDS` for more rounds, `TANDEM_BENCH_FILE` to read
//! another workbook whose sheet `Data` has an `id` column. The workbook is
//! generated once (seed 42) under `target/bench-data/`.
//!
//! The connector converts rows to records on the consumer's thread while
//! the reading thread parses, so its wall time can beat bare calamine's
//! when a second core is free; its CPU time (all threads) is reported too.

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
    let path = match std::env::var_os("TANDEM_BENCH_FILE") {
        Some(file) => PathBuf::from(file),
        None => workbook(rows),
    };
    let size = std::fs::metadata(&path).unwrap().len();
    println!("workbook: {} ({:.1} MB)", path.display(), size as f64 / 1e6);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let connector = SpreadsheetConnector::from_config(serde_json::json!({
        "path": path,
        "key": ["id"],
    }))
    .unwrap();

    // One warm-up of each (page cache, allocator), then alternate.
    let cells = bare(&path);
    let records = runtime.block_on(through_connector(&connector));
    println!("{cells} cells that hold something, {records} records");
    assert!(records > 0 && cells > records, "the sheet was read");
    let mut bare_runs = Vec::new();
    let mut connector_runs = Vec::new();
    for _ in 0..rounds {
        bare_runs.push(measure(|| {
            black_box(bare(&path));
        }));
        connector_runs.push(measure(|| {
            black_box(runtime.block_on(through_connector(&connector)));
        }));
    }
    let bare = Summary::of(&bare_runs);
    let through = Summary::of(&connector_runs);
    println!(
        "{rounds} rounds, alternating; wall time, and CPU time of the whole process (all threads)"
    );
    println!("bare calamine (open + worksheet_range + every cell): {bare}");
    println!("connector Source::read (batches of 1000 records):    {through}");
    let wall = through.wall_median / bare.wall_median;
    let best = through.wall_min / bare.wall_min;
    let cpu = through.cpu_median / bare.cpu_median;
    let verdict = if wall <= TARGET { "within" } else { "OVER" };
    println!(
        "ratio connector / bare: wall median {wall:.3} ({verdict} the target of {TARGET}), \
         wall best {best:.3}, CPU median {cpu:.3}"
    );
}

/// One run: wall time and the process's CPU time.
struct Run {
    wall: Duration,
    cpu: Duration,
}

fn measure(work: impl FnOnce()) -> Run {
    let (wall, cpu) = (Instant::now(), cpu_time());
    work();
    Run {
        wall: wall.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
    }
}

/// The CPU time (user and system) of this process so far, from
/// `/proc/self/stat` (in clock ticks of 10 ms); zero where there is none.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Medians and bests of a series of runs, in seconds.
struct Summary {
    wall_median: f64,
    wall_min: f64,
    cpu_median: f64,
    walls: Vec<Duration>,
}

impl Summary {
    fn of(runs: &[Run]) -> Self {
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
        let mut cpus: Vec<Duration> = runs.iter().map(|r| r.cpu).collect();
        Summary {
            wall_median: median(&mut walls).as_secs_f64(),
            wall_min: walls[0].as_secs_f64(),
            cpu_median: median(&mut cpus).as_secs_f64().max(0.01),
            walls,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wall median {:.3}s best {:.3}s, CPU median {:.2}s; walls {:.3?}",
            self.wall_median, self.wall_min, self.cpu_median, self.walls
        )
    }
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
    let path = dir.join(format!("spreadsheet-{rows}x10-seed42-sst.xlsx"));
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
