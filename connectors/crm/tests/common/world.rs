//! A pair between a CRM (side A) and a SQLite table (side B), run by the
//! engine with a SQLite state store, all in a temporary folder.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use serde_json::json;
use tandem_connector_crm::CrmConnector;
use tandem_connector_sql::SqlConnector;
use tandem_core::engine::{Endpoint, Engine, Mode, PairConfig, RunOptions, RunReport};
use tandem_core::store::{RunRow, StateStore};
use tandem_core::{Change, ReadRequest, Record, ResolverKind, Result, Source, Target, Value};

/// The SQL table of side B.
pub const TABLE: &str = "accounts";

/// The pair, its endpoints and the engine.
pub struct World {
    pub engine: Engine,
    pub crm: CrmConnector,
    pub sql: SqlConnector,
    pub a: Endpoint,
    pub b: Endpoint,
    pub pair: PairConfig,
    /// The CRM entity.
    pub entity: String,
    /// The key field, on both sides.
    pub key: String,
    _dir: tempfile::TempDir,
}

impl World {
    /// A two-way pair resolving conflicts by `newest`, between `entity` of
    /// the CRM and the table [`TABLE`] (created on the first write, keyed
    /// by `key`, with an `updated_at` cursor).
    pub async fn new(crm: CrmConnector, entity: &str, key: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&format!(
            "sqlite://{}",
            dir.path().join("tandem.db").display()
        ))
        .await
        .unwrap();
        let sql = SqlConnector::from_config(json!({
            "url": format!("sqlite://{}", dir.path().join("data.db").display()),
            "table": { TABLE: { "key": [key], "cursor": "updated_at", "create": true } },
        }))
        .unwrap();
        let mut pair = PairConfig::new("crm_sql", entity, TABLE);
        pair.mode = Mode::TwoWay;
        pair.resolver = ResolverKind::Newest;
        World {
            engine: Engine::new(store),
            a: Endpoint::new("crm", crm.clone()),
            b: Endpoint::new("sql", sql.clone()),
            crm,
            sql,
            pair,
            entity: entity.to_owned(),
            key: key.to_owned(),
            _dir: dir,
        }
    }

    /// Runs the pair once.
    pub async fn run(&self) -> Result<RunReport> {
        self.engine
            .run(&self.pair, &self.a, &self.b, RunOptions::new())
            .await
    }

    /// The last run in the history.
    pub async fn last_run(&self) -> RunRow {
        let (rows, _) = self
            .engine
            .store()
            .runs(Some("crm_sql"), 1, 1)
            .await
            .unwrap();
        rows.into_iter().next().expect("a run was recorded")
    }

    /// Writes rows to the SQL table (stamped now).
    pub async fn sql_put(&self, rows: &[(&str, &[(&str, &str)])]) {
        let changes = rows
            .iter()
            .map(|(key, fields)| {
                let mut r = Record::new(*key).with(self.key.as_str(), *key);
                for (n, v) in *fields {
                    r.set(*n, *v);
                }
                Change::Upsert(r)
            })
            .collect();
        let mut tx = self.sql.begin(TABLE).await.unwrap();
        tx.apply(changes).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// Every record of one side, by key.
    pub async fn rows(source: &dyn Source, entity: &str) -> BTreeMap<String, Record> {
        let stream = source.read(ReadRequest::full(entity)).await.unwrap();
        let batches: Vec<_> = stream.try_collect().await.unwrap();
        batches
            .into_iter()
            .flat_map(|b| b.changes)
            .filter_map(|c| match c {
                Change::Upsert(r) => Some((r.key.to_string(), r)),
                Change::Delete { .. } => None,
            })
            .collect()
    }

    /// The SQL side's records, by key.
    pub async fn sql_rows(&self) -> BTreeMap<String, Record> {
        World::rows(&self.sql, TABLE).await
    }

    /// The CRM side's records, by key.
    pub async fn crm_rows(&self) -> BTreeMap<String, Record> {
        World::rows(&self.crm, &self.entity).await
    }

    /// One field of every record of a side, by key, as text.
    pub fn column(rows: &BTreeMap<String, Record>, field: &str) -> BTreeMap<String, String> {
        rows.iter()
            .map(|(k, r)| {
                let v = r.get(field).cloned().unwrap_or(Value::Null);
                (k.clone(), v.to_string())
            })
            .collect()
    }

    /// Both sides hold the same keys with the same values of `fields`.
    pub async fn assert_in_step(&self, fields: &[&str]) {
        let (a, b) = (self.crm_rows().await, self.sql_rows().await);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "both sides hold the same keys"
        );
        for f in fields {
            assert_eq!(World::column(&a, f), World::column(&b, f), "field {f}");
        }
    }
}
