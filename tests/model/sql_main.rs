//! The model-based harness on SQL pairs: CSV ↔ SQLite, SQLite ↔
//! PostgreSQL, PostgreSQL ↔ MariaDB (see `main.rs` for the harness). A
//! binary of its own: one test binary cannot link two connector crates
//! (each exports the plugin descriptor symbol), so the CSV side here is the
//! file connector's plugin library, loaded as the host loads it (built by
//! `cargo build --workspace`; the pair is skipped, saying so, without it).

mod checks;
mod faults;
mod known;
mod model;
mod program;
mod runner;
mod world;

mod pairs {
    // Only CSV sides here.
    #[allow(dead_code)]
    pub mod file;
    pub mod sql;
}

use std::path::PathBuf;

use pairs::file::{FileSide, Format};
use pairs::sql::{Db, SqlSide};
use runner::drive;
use serde_json::json;
use tandem_core::engine::Endpoint;
use tandem_core::plugin::{OpenContext, Plugin};

/// The abilities of a pair with a SQL side B.
fn sql_abilities(nulls: bool) -> program::Abilities {
    program::Abilities {
        nulls,
        modified: false,
        kills: true,
    }
}

/// Whether the servers a pair needs are configured; says so when not.
fn servers(pair: &str, dbs: &[Db]) -> bool {
    let missing: Vec<_> = dbs.iter().filter(|d| d.server().is_none()).collect();
    if !missing.is_empty() {
        println!(
            "skipping {pair}: no server for {missing:?} (TANDEM_TEST_PG_URL, TANDEM_TEST_MYSQL_URL)"
        );
    }
    missing.is_empty()
}

/// The file connector's plugin library, when it is built.
fn file_plugin() -> Option<PathBuf> {
    let path = tandem_e2e::build_dir().join("libtandem_connector_file.so");
    path.is_file().then_some(path)
}

/// Two SQL sides.
async fn sql_pair(a: Db, b: Db, dir: PathBuf) -> world::Kit {
    world::Kit {
        a: Box::new(SqlSide::new(a, "a", &dir).await),
        b: Box::new(SqlSide::new(b, "b", &dir).await),
        a_entity: "people".into(),
        b_entity: "people".into(),
        abilities: sql_abilities(true),
        cursors: [false, false],
    }
}

/// A CSV file (A, through the plugin library) and a SQLite table (B).
async fn csv_sqlite_pair(dir: PathBuf) -> world::Kit {
    let side = FileSide::new(&dir, "a", Format::Csv);
    let plugin =
        Plugin::load(&file_plugin().expect("the file plugin")).expect("load the file plugin");
    let connector = plugin
        .open(
            json!({ "path": side.path, "key": ["id"], "entity": "people" }),
            OpenContext::new("a", &dir),
        )
        .await
        .expect("open the file connector");
    let a = side.with_endpoint(Endpoint::new("a", connector));
    world::Kit {
        a: Box::new(a),
        b: Box::new(SqlSide::new(Db::Sqlite, "b", &dir).await),
        a_entity: "people".into(),
        b_entity: "people".into(),
        abilities: sql_abilities(false),
        cursors: [true, false],
    }
}

#[test]
fn csv_sqlite() {
    if file_plugin().is_none() {
        println!("skipping csv_sqlite: the file plugin is not built (cargo build --workspace)");
        return;
    }
    drive(
        "csv_sqlite",
        |_, dir| Box::pin(csv_sqlite_pair(dir)),
        sql_abilities(false),
        300,
    );
}

#[test]
fn sqlite_sqlite() {
    drive(
        "sqlite_sqlite",
        |_, dir| Box::pin(sql_pair(Db::Sqlite, Db::Sqlite, dir)),
        sql_abilities(true),
        300,
    );
}

#[test]
fn sqlite_postgres() {
    if !servers("sqlite_postgres", &[Db::Postgres]) {
        return;
    }
    drive(
        "sqlite_postgres",
        |_, dir| Box::pin(sql_pair(Db::Sqlite, Db::Postgres, dir)),
        sql_abilities(true),
        200,
    );
}

#[test]
fn postgres_mariadb() {
    if !servers("postgres_mariadb", &[Db::Postgres, Db::Maria]) {
        return;
    }
    drive(
        "postgres_mariadb",
        |_, dir| Box::pin(sql_pair(Db::Postgres, Db::Maria, dir)),
        sql_abilities(true),
        200,
    );
}
