//! `SpreadsheetConfig`: what the user writes, and its pure validation.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tandem_core::{Error, Result};

use crate::CONNECTOR;

/// The configuration of a spreadsheet endpoint: one workbook, each sheet an
/// entity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SpreadsheetConfig {
    /// The workbook: `.xlsx`, `.xlsm`, `.xls` or `.ods` (the extension says
    /// which). Only `.xlsx` can be written. A relative path is resolved by the
    /// host against the manifest's directory.
    #[serde(deserialize_with = "named::path")]
    pub path: PathBuf,
    /// The key columns of every sheet, in order (a sheet in `sheets` may name
    /// its own). Required unless every sheet in `sheets` names its key. A
    /// record's key is made from their values; every row must have them,
    /// non-empty and unique within its sheet.
    #[serde(default, deserialize_with = "named::key")]
    pub key: Option<Vec<String>>,
    /// Only these sheets are entities: a list of sheet names
    /// (`["Orders", "Customers"]`) or a table of sheet names with their own
    /// settings (`{ Orders = { key = ["order_no"] } }`). A listed sheet that
    /// an `.xlsx` workbook lacks (or the workbook itself, before the first
    /// commit) is an empty entity that the first commit creates. Default:
    /// every sheet of the workbook.
    #[serde(default, deserialize_with = "named::sheets")]
    pub sheets: Option<Vec<SheetConfig>>,
    /// The 1-based row that names the columns; the records are the rows
    /// below it, and the rows above it are left alone. Default: `1`.
    #[serde(default = "first_row", deserialize_with = "named::header_row")]
    pub header_row: u32,
    /// What to do with a row that cannot be read (a cell holding an error
    /// such as `#DIV/0!`, a missing or duplicate key): `"fail"` stops the
    /// run with an error naming the sheet and cell (`Sheet1!C7`); `"skip"`
    /// reports the row in the run's errors and goes on. Default: `"fail"`.
    #[serde(default, deserialize_with = "named::on_bad_record")]
    pub on_bad_record: OnBadRecord,
}

fn first_row() -> u32 {
    1
}

/// The settings of one sheet listed in `sheets`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SheetConfig {
    /// The sheet's name, as the workbook's tab shows it.
    #[serde(skip)]
    pub name: String,
    /// The key columns of this sheet. Default: the top-level `key`.
    #[serde(default, deserialize_with = "named::key")]
    pub key: Option<Vec<String>>,
    /// The 1-based header row of this sheet. Default: the top-level
    /// `header_row`.
    #[serde(default, deserialize_with = "named::sheet_header_row")]
    pub header_row: Option<u32>,
}

impl SheetConfig {
    /// A listed sheet with the top-level settings.
    pub fn new(name: impl Into<String>) -> Self {
        SheetConfig {
            name: name.into(),
            key: None,
            header_row: None,
        }
    }
}

/// What to do with a row that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRecord {
    /// Stop with [`Error::BadRecord`] naming the sheet and cell.
    #[default]
    Fail,
    /// Report the row in [`Batch::rejected`](tandem_core::Batch::rejected)
    /// and go on.
    Skip,
}

/// The format of a workbook, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Office Open XML (`.xlsx`): read and written.
    Xlsx,
    /// Office Open XML with macros (`.xlsm`): read only, since writing
    /// would drop the macros.
    Xlsm,
    /// Excel 97-2003 (`.xls`): read only.
    Xls,
    /// OpenDocument (`.ods`): read only.
    Ods,
}

impl Format {
    /// Whether the workbook is Office Open XML (xlsx, xlsm), which is read
    /// cell by cell.
    pub fn is_ooxml(self) -> bool {
        matches!(self, Format::Xlsx | Format::Xlsm)
    }
}

impl SpreadsheetConfig {
    /// A configuration with every default and one key for every sheet.
    pub fn new(path: impl Into<PathBuf>, key: Vec<String>) -> Self {
        SpreadsheetConfig {
            path: path.into(),
            key: Some(key),
            sheets: None,
            header_row: 1,
            on_bad_record: OnBadRecord::Fail,
        }
    }

    /// Checks the configuration and fills in the defaults. Pure: no I/O.
    pub(crate) fn resolve(&self) -> Result<Settings> {
        let err = |message: String| Err(Error::config(CONNECTOR, message));
        if self.path.as_os_str().is_empty() {
            return err("path: must not be empty".into());
        }
        let extension = self.path.extension().and_then(|e| e.to_str());
        let format = match extension.map(str::to_ascii_lowercase).as_deref() {
            Some("xlsx") => Format::Xlsx,
            Some("xlsm") => Format::Xlsm,
            Some("xls") => Format::Xls,
            Some("ods") => Format::Ods,
            _ => {
                return err(format!(
                    "path: {} is not a workbook this connector reads; \
                     the extension must be .xlsx, .xlsm, .xls or .ods",
                    self.path.display()
                ));
            }
        };
        if let Some(key) = &self.key {
            check_names("key", key)?;
        }
        check_row("header_row", self.header_row)?;
        let sheets = match &self.sheets {
            None if self.key.is_none() => {
                return err(
                    "key: required (or list the sheets in `sheets`, each with its key)".into(),
                );
            }
            None => None,
            Some(list) if list.is_empty() => {
                return err("sheets: list at least one sheet, or leave it out for all".into());
            }
            Some(list) => {
                let mut out: Vec<SheetSettings> = Vec::with_capacity(list.len());
                for sheet in list {
                    check_sheet_name(&sheet.name)?;
                    if out.iter().any(|s| s.name.eq_ignore_ascii_case(&sheet.name)) {
                        return err(format!("sheets: {:?} is listed twice", sheet.name));
                    }
                    let setting = format!("sheets.{}", sheet.name);
                    let key = match (&sheet.key, &self.key) {
                        (Some(own), _) => {
                            check_names(&format!("{setting}.key"), own)?;
                            own.clone()
                        }
                        (None, Some(key)) => key.clone(),
                        (None, None) => {
                            return err(format!(
                                "{setting}.key: required, since there is no top-level key"
                            ));
                        }
                    };
                    let header_row = sheet.header_row.unwrap_or(self.header_row);
                    check_row(&format!("{setting}.header_row"), header_row)?;
                    out.push(SheetSettings {
                        name: sheet.name.clone(),
                        key,
                        header_row,
                    });
                }
                Some(out)
            }
        };
        Ok(Settings {
            path: self.path.clone(),
            format,
            key: self.key.clone(),
            header_row: self.header_row,
            sheets,
            on_bad_record: self.on_bad_record,
        })
    }
}

/// Checks a list of column names: not empty, no empty name, no repeat.
fn check_names(setting: &str, names: &[String]) -> Result<()> {
    let err = |message: String| Err(Error::config(CONNECTOR, format!("{setting}: {message}")));
    if names.is_empty() {
        return err("at least one column is needed".into());
    }
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return err("a column name must not be empty".into());
        }
        if names[..i].contains(name) {
            return err(format!("{name:?} is listed twice"));
        }
    }
    Ok(())
}

/// The most rows a worksheet has.
pub(crate) const MAX_ROWS: u32 = 1_048_576;

fn check_row(setting: &str, row: u32) -> Result<()> {
    if (1..=MAX_ROWS).contains(&row) {
        Ok(())
    } else {
        let message = format!("{setting}: must be a row number from 1 to {MAX_ROWS}, not {row}");
        Err(Error::config(CONNECTOR, message))
    }
}

/// A sheet name Excel accepts: 1 to 31 characters, none of `[]:*?/\`, not
/// starting or ending with an apostrophe.
fn check_sheet_name(name: &str) -> Result<()> {
    let problem = if name.trim().is_empty() {
        Some("a sheet name must not be empty")
    } else if name.chars().count() > 31 {
        Some("a sheet name has at most 31 characters")
    } else if name.contains(['[', ']', ':', '*', '?', '/', '\\']) {
        Some("a sheet name cannot hold any of [ ] : * ? / \\")
    } else if name.starts_with('\'') || name.ends_with('\'') {
        Some("a sheet name cannot start or end with an apostrophe")
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::config(CONNECTOR, format!("sheets: {name:?}: {p}"))),
        None => Ok(()),
    }
}

/// A checked configuration with its defaults filled in.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub path: PathBuf,
    pub format: Format,
    pub key: Option<Vec<String>>,
    pub header_row: u32,
    pub sheets: Option<Vec<SheetSettings>>,
    pub on_bad_record: OnBadRecord,
}

/// What one sheet is read with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SheetSettings {
    pub name: String,
    pub key: Vec<String>,
    /// 1-based.
    pub header_row: u32,
}

impl Settings {
    /// The settings of a sheet, or `None` when it is not an entity by the
    /// configuration (not listed in `sheets`).
    pub fn sheet(&self, name: &str) -> Option<SheetSettings> {
        match (&self.sheets, &self.key) {
            (Some(list), _) => list.iter().find(|s| s.name == name).cloned(),
            (None, Some(key)) => Some(SheetSettings {
                name: name.to_owned(),
                key: key.clone(),
                header_row: self.header_row,
            }),
            (None, None) => None,
        }
    }

    /// Whether this workbook can be written.
    pub fn writable(&self) -> bool {
        self.format == Format::Xlsx
    }
}

/// Field deserializers that name the setting in their errors, since serde's
/// own type errors do not say which key they are about.
mod named {
    use super::*;

    macro_rules! named {
        ($($name:ident: $ty:ty),* $(,)?) => {$(
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                <$ty>::deserialize(d)
                    .map_err(|e| de::Error::custom(format!("{}: {e}", stringify!($name))))
            }
        )*};
    }

    named! {
        path: PathBuf,
        key: Option<Vec<String>>,
        header_row: u32,
        on_bad_record: OnBadRecord,
    }

    pub fn sheet_header_row<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        <Option<u32>>::deserialize(d).map_err(|e| de::Error::custom(format!("header_row: {e}")))
    }

    /// `sheets`: a list of names, or a table of names to [`SheetConfig`]s.
    pub fn sheets<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<SheetConfig>>, D::Error> {
        struct Sheets;

        impl<'de> Visitor<'de> for Sheets {
            type Value = Vec<SheetConfig>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of sheet names, or a table of sheet names to sheet settings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    out.push(SheetConfig::new(name));
                }
                Ok(out)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let mut sheet: SheetConfig = map
                        .next_value()
                        .map_err(|e| de::Error::custom(format!("{name}: {e}")))?;
                    sheet.name = name;
                    out.push(sheet);
                }
                Ok(out)
            }
        }

        d.deserialize_any(Sheets)
            .map(Some)
            .map_err(|e| de::Error::custom(format!("sheets: {e}")))
    }
}

#[cfg(test)]
mod tests;
