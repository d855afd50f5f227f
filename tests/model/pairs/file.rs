//! File sides (CSV, JSON Lines). The harness edits the files as a person
//! would, with its own reader and writer (the `csv` crate, `serde_json`),
//! never through the connector that the engine runs on them.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tandem_core::engine::Endpoint;
use tandem_core::{Record, Value};

use crate::program::{Abilities, FIELDS};
use crate::world::{Kit, SideIo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

pub struct FileSide {
    pub path: PathBuf,
    format: Format,
    endpoint: Option<Endpoint>,
}

type Row = Vec<(String, Option<String>)>;

impl FileSide {
    pub fn new(dir: &Path, name: &'static str, format: Format) -> FileSide {
        let ext = match format {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        };
        FileSide {
            path: dir.join(format!("{name}.{ext}")),
            format,
            endpoint: None,
        }
    }

    /// The side with the connector the engine runs on it.
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> FileSide {
        self.endpoint = Some(endpoint);
        self
    }

    fn rows(&self) -> Vec<Row> {
        let Ok(text) = std::fs::read(&self.path) else {
            return Vec::new();
        };
        match self.format {
            Format::Csv => {
                let mut reader = csv::Reader::from_reader(text.as_slice());
                let headers = reader.headers().expect("a csv header").clone();
                reader
                    .records()
                    .map(|r| {
                        let r = r.expect("a csv row");
                        headers
                            .iter()
                            .zip(r.iter())
                            .map(|(h, v)| (h.to_owned(), (!v.is_empty()).then(|| v.to_owned())))
                            .collect()
                    })
                    .collect()
            }
            Format::Jsonl => String::from_utf8(text)
                .expect("utf-8 json lines")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).expect("a json line");
                    v.as_object()
                        .expect("a json object")
                        .iter()
                        .map(|(k, v)| {
                            let t = match v {
                                serde_json::Value::Null => None,
                                serde_json::Value::String(s) => Some(s.clone()),
                                other => Some(other.to_string()),
                            };
                            (k.clone(), t)
                        })
                        .collect()
                })
                .collect(),
        }
    }

    fn write_rows(&self, rows: &[Row]) {
        let mut out = Vec::new();
        match self.format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(&mut out);
                let header: Vec<&str> = std::iter::once("id").chain(FIELDS).collect();
                w.write_record(&header).expect("a header");
                for row in rows {
                    let cells: Vec<String> = header
                        .iter()
                        .map(|h| get(row, h).unwrap_or_default())
                        .collect();
                    w.write_record(&cells).expect("a row");
                }
                w.flush().expect("written");
            }
            Format::Jsonl => {
                for row in rows {
                    let obj: serde_json::Map<String, serde_json::Value> = row
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.clone().map_or(serde_json::Value::Null, Into::into),
                            )
                        })
                        .collect();
                    out.extend(serde_json::to_string(&obj).expect("json").as_bytes());
                    out.push(b'\n');
                }
            }
        }
        let tmp = self.path.with_extension("edit");
        std::fs::write(&tmp, out).expect("write the edited file");
        std::fs::rename(&tmp, &self.path).expect("replace the file");
    }
}

fn get(row: &Row, name: &str) -> Option<String> {
    row.iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.clone())
}

#[async_trait]
impl SideIo for FileSide {
    async fn put(&self, key: &str, fields: &[(String, Option<String>)], _modified: Option<i64>) {
        let mut rows = self.rows();
        let mut row: Row = vec![("id".to_owned(), Some(key.to_owned()))];
        row.extend(fields.iter().cloned());
        match rows
            .iter_mut()
            .find(|r| get(r, "id").as_deref() == Some(key))
        {
            Some(r) => *r = row,
            None => rows.push(row),
        }
        self.write_rows(&rows);
    }

    async fn remove(&self, key: &str) {
        let mut rows = self.rows();
        rows.retain(|r| get(r, "id").as_deref() != Some(key));
        self.write_rows(&rows);
    }

    async fn raw(&self) -> Vec<Record> {
        self.rows()
            .into_iter()
            .map(|row| {
                let mut r = Record::new(get(&row, "id").unwrap_or_default());
                for (k, v) in row {
                    r.set(k, v.map_or(Value::Null, Value::from));
                }
                r
            })
            .collect()
    }

    fn endpoint(&self) -> Endpoint {
        self.endpoint
            .clone()
            .expect("a file side with its connector")
    }
}

/// A pair of two file sides.
pub fn kit(a: FileSide, b: FileSide) -> Kit {
    let abilities = abilities(a.format, b.format);
    Kit {
        a: Box::new(a),
        b: Box::new(b),
        a_entity: "people".into(),
        b_entity: "people".into(),
        abilities,
        cursors: [true, true],
    }
}

pub fn abilities(a: Format, b: Format) -> Abilities {
    Abilities {
        nulls: a == Format::Jsonl && b == Format::Jsonl,
        modified: false,
        kills: true,
    }
}
