//! Finding a sheet: which sheets are entities, loading one, and describing
//! its fields for discovery.

use std::collections::HashMap;

use calamine::{Data, Range};
use tandem_core::{EntitySchema, Error, FieldSchema, FieldType, Result, Value};

use crate::CONNECTOR;
use crate::config::{Settings, SheetSettings};
use crate::table::Table;
use crate::workbook::{Workbook, not_found};

/// How many rows discovery looks at to type the fields.
const SCHEMA_SAMPLE: u32 = 1000;

/// A sheet's table and cells.
pub(crate) struct Loaded {
    /// The sheet's settings.
    pub sheet: SheetSettings,
    /// Its header; `None` for a sheet with nothing at or below the header
    /// row.
    pub table: Option<Table>,
    /// Its cells.
    pub range: Range<Data>,
}

impl Settings {
    /// The settings of an entity, or [`Error::NotFound`] when the
    /// configuration does not make the sheet an entity.
    pub fn entity(&self, entity: &str) -> Result<SheetSettings> {
        self.sheet(entity).ok_or_else(|| not_found(entity))
    }

    /// Whether a sheet the workbook lacks is an empty entity: a sheet listed
    /// in `sheets` of a workbook that can be written.
    fn creates(&self, sheet: &str) -> bool {
        self.writable()
            && self
                .sheets
                .as_ref()
                .is_some_and(|l| l.iter().any(|s| s.name == sheet))
    }
}

/// Opens the workbook and loads one sheet's cells and header. A sheet that
/// is not there is empty when the first commit would create it, else
/// [`Error::NotFound`].
pub(crate) fn load(settings: &Settings, sheet: SheetSettings) -> Result<Loaded> {
    let empty = |sheet| Loaded {
        sheet,
        table: None,
        range: Range::empty(),
    };
    let Some(mut workbook) = Workbook::open(settings)? else {
        if settings.creates(&sheet.name) {
            return Ok(empty(sheet));
        }
        if settings.writable() {
            return Err(not_found(&sheet.name));
        }
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let context = format!("opening {}", settings.path.display());
        return Err(Error::io(CONNECTOR, context, missing));
    };
    if !workbook.sheet_names().contains(&sheet.name) {
        if settings.creates(&sheet.name) {
            return Ok(empty(sheet));
        }
        return Err(not_found(&sheet.name));
    }
    let path = &settings.path;
    let range = workbook.range(path, &sheet.name)?;
    let table = Table::parse(path, &sheet, &range, &mut || {
        workbook.merges(path, &sheet.name)
    })?;
    Ok(Loaded {
        sheet,
        table,
        range,
    })
}

/// Every entity with its fields: the header's columns, typed from the
/// values of the first rows.
pub(crate) fn discover(settings: &Settings) -> Result<Vec<EntitySchema>> {
    let present = match Workbook::open(settings)? {
        Some(workbook) => workbook.sheet_names(),
        None => Vec::new(),
    };
    let names: Vec<String> = match &settings.sheets {
        Some(list) => list
            .iter()
            .filter(|s| present.contains(&s.name) || settings.creates(&s.name))
            .map(|s| s.name.clone())
            .collect(),
        None => present,
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let loaded = load(settings, settings.entity(&name)?)?;
        let fields = match &loaded.table {
            Some(table) => fields(table, &loaded.range),
            None => Vec::new(),
        };
        let mut fields = fields;
        for key in loaded.sheet.key.iter().rev() {
            if !fields.iter().any(|f| &f.name == key) {
                let text = FieldSchema {
                    name: key.clone(),
                    kind: FieldType::Text,
                    nullable: false,
                };
                fields.insert(0, text);
            }
        }
        out.push(EntitySchema {
            name,
            key: loaded.sheet.key,
            fields,
        });
    }
    Ok(out)
}

/// The fields of a table, typed from its first rows (rows that cannot be
/// read are passed over).
fn fields(table: &Table, range: &Range<Data>) -> Vec<FieldSchema> {
    let mut kinds: Vec<(Option<FieldType>, bool)> = vec![(None, false); table.columns.len()];
    let mut seen = HashMap::new();
    let mut sampled = 0;
    for row in table.data_rows(range) {
        if sampled == SCHEMA_SAMPLE {
            break;
        }
        let Ok(Some(record)) = table.record(range, row, None, &mut seen) else {
            continue;
        };
        sampled += 1;
        for ((_, value), (kind, nullable)) in record.fields.iter().zip(&mut kinds) {
            *nullable |= value.is_null();
            *kind = widen(*kind, kind_of(value));
        }
    }
    table
        .columns
        .iter()
        .zip(kinds)
        .map(|(column, (kind, nullable))| FieldSchema {
            name: column.name.clone(),
            kind: kind.unwrap_or(FieldType::Unknown),
            nullable,
        })
        .collect()
}

fn kind_of(value: &Value) -> Option<FieldType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => FieldType::Bool,
        Value::Int(_) => FieldType::Int,
        Value::Float(_) => FieldType::Float,
        Value::Decimal(_) => FieldType::Decimal,
        Value::Text(_) => FieldType::Text,
        Value::Bytes(_) => FieldType::Bytes,
        Value::Date(_) => FieldType::Date,
        Value::DateTime(_) => FieldType::DateTime,
        Value::List(_) | Value::Map(_) => FieldType::Json,
    })
}

/// The type that holds values of both types: ints and floats are floats,
/// dates and date-times are date-times, other mixes are unknown.
fn widen(known: Option<FieldType>, next: Option<FieldType>) -> Option<FieldType> {
    use FieldType::{Date, DateTime, Float, Int};
    match (known, next) {
        (None, k) | (k, None) => k,
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(Int), Some(Float)) | (Some(Float), Some(Int)) => Some(Float),
        (Some(Date), Some(DateTime)) | (Some(DateTime), Some(Date)) => Some(DateTime),
        _ => Some(FieldType::Unknown),
    }
}
