//! How fast the connector alone writes and reads: N records of 6 fields
//! upserted in batches in one transaction, then read back in full.
//!
//! ```text
//! cargo run --release -p tandem-connector-sql --example write_speed -- URL [ROWS]
//! ```
//! URL is a database with no `customers` table (it is created).

use std::time::Instant;

use futures::TryStreamExt;
use tandem_connector_sql::SqlConnector;
use tandem_core::{Change, ReadRequest, Record, Source, Target};

/// The allocator the `tandem` binary runs its plugins with (mimalloc, also
/// replacing `malloc`), so that the figures are the connector's as a sync
/// runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> tandem_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: write_speed URL [ROWS]");
    let rows: usize = args
        .next()
        .map_or(1_000_000, |r| r.parse().expect("ROWS is a number"));
    let connector = SqlConnector::from_config(serde_json::json!({
        "url": url,
        "table": { "customers": { "key": ["id"], "create": true } },
    }))?;
    let record = |i: usize| {
        Record::new(format!("c{i:08}"))
            .with("id", format!("c{i:08}"))
            .with("name", format!("Name {i}"))
            .with("email", format!("n{i}@example.com"))
            .with("city", "Aarhus")
            .with("amount", (i as i64) * 7 - 1000)
            .with("score", i as f64 / 3.0)
    };
    let start = Instant::now();
    let mut tx = connector.begin("customers").await?;
    for chunk in (0..rows).collect::<Vec<_>>().chunks(10_000) {
        let changes = chunk.iter().map(|&i| Change::Upsert(record(i))).collect();
        tx.apply(changes).await?;
    }
    tx.commit().await?;
    println!(
        "wrote {rows} rows in {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    let request = ReadRequest::full("customers").with_batch_size(10_000);
    let read: usize = connector
        .read(request)
        .await?
        .map_ok(|b| b.changes.len())
        .try_fold(0, |n, m| async move { Ok(n + m) })
        .await?;
    println!("read {read} rows in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
