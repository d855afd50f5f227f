//! The model-based harness: random programs of edits, syncs and faults on
//! both sides of a pair, checked after every step against a reference
//! model and the promises of DESIGN.md ("What a sync promises").
//!
//! Each test drives one kind of pair for a number of sync rounds
//! (`TANDEM_MODEL_ROUNDS` overrides it, for a soak). A failure prints its
//! seed and the program shrunk to the fewest steps that still fail the
//! same check; `TANDEM_MODEL_SEED=<seed>` replays that world alone.
//! Failures of bugs still open are listed in `known.rs` and counted, not
//! failed, unless `TANDEM_MODEL_STRICT=1`.

mod checks;
mod faults;
mod known;
mod model;
mod program;
mod runner;
mod world;

mod pairs {
    pub mod file;
    pub mod memory;
    pub mod sheet;
}

use std::path::Path;

use pairs::file::{FileSide, Format, abilities, kit};
use runner::drive;
use serde_json::json;
use tandem_connector_file::FileConnector;
use tandem_core::engine::Endpoint;

/// A file side run by the file connector in process.
fn file(dir: &Path, name: &'static str, format: Format) -> FileSide {
    let side = FileSide::new(dir, name, format);
    let connector = FileConnector::from_config(json!({
        "path": side.path,
        "key": ["id"],
        "entity": "people",
    }))
    .expect("a file connector");
    side.with_endpoint(Endpoint::new(name, connector))
}

fn files(dir: &Path, a: Format, b: Format) -> world::Kit {
    kit(file(dir, "a", a), file(dir, "b", b))
}

#[test]
fn memory_memory() {
    drive(
        "memory_memory",
        |_, _| Box::pin(pairs::memory::kit()),
        program::Abilities {
            nulls: true,
            modified: true,
            kills: true,
        },
        1500,
    );
}

#[test]
fn csv_csv() {
    drive(
        "csv_csv",
        |_, dir| Box::pin(async move { files(&dir, Format::Csv, Format::Csv) }),
        abilities(Format::Csv, Format::Csv),
        300,
    );
}

#[test]
fn jsonl_jsonl() {
    drive(
        "jsonl_jsonl",
        |_, dir| Box::pin(async move { files(&dir, Format::Jsonl, Format::Jsonl) }),
        abilities(Format::Jsonl, Format::Jsonl),
        300,
    );
}

#[test]
fn csv_jsonl() {
    drive(
        "csv_jsonl",
        |_, dir| Box::pin(async move { files(&dir, Format::Csv, Format::Jsonl) }),
        abilities(Format::Csv, Format::Jsonl),
        300,
    );
}

/// The spreadsheet connector's plugin library, when it is built (this
/// binary links the file connector, and one test binary cannot link two).
fn sheet_plugin() -> Option<std::path::PathBuf> {
    let path = tandem_e2e::build_dir().join("libtandem_connector_spreadsheet.so");
    path.is_file().then_some(path)
}

/// A workbook (A, through the spreadsheet plugin) and a CSV file (B).
async fn sheet_csv_pair(dir: std::path::PathBuf) -> world::Kit {
    use tandem_core::plugin::{OpenContext, Plugin};
    let side = pairs::sheet::SheetSide::new(&dir, "a");
    let plugin = Plugin::load(&sheet_plugin().expect("the spreadsheet plugin"))
        .expect("load the spreadsheet plugin");
    let connector = plugin
        .open(
            json!({ "path": side.path, "key": ["id"], "sheets": [pairs::sheet::SHEET] }),
            OpenContext::new("a", &dir),
        )
        .await
        .expect("open the spreadsheet connector");
    let a = side.with_endpoint(Endpoint::new("a", connector));
    let b = file(&dir, "b", Format::Csv);
    world::Kit {
        a: Box::new(a),
        b: Box::new(b),
        a_entity: pairs::sheet::SHEET.into(),
        b_entity: "people".into(),
        abilities: abilities(Format::Csv, Format::Csv),
        // The spreadsheet source keeps no cursor: every read is a snapshot.
        cursors: [false, true],
    }
}

#[test]
fn sheet_csv() {
    if sheet_plugin().is_none() {
        println!(
            "skipping sheet_csv: the spreadsheet plugin is not built (cargo build --workspace)"
        );
        return;
    }
    drive(
        "sheet_csv",
        |_, dir| Box::pin(sheet_csv_pair(dir)),
        abilities(Format::Csv, Format::Csv),
        200,
    );
}
