//! `FileConfig`: what the user writes, and its pure validation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use tandem_core::{Error, Result};

use crate::CONNECTOR;

/// The configuration of a file endpoint: one CSV or JSON Lines file holding
/// one entity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileConfig {
    /// The file. A relative path is resolved by the host against the
    /// manifest's directory.
    #[serde(deserialize_with = "de::path")]
    pub path: PathBuf,
    /// `"csv"` or `"jsonl"`. Default: from the extension (`.csv`, `.tsv`
    /// are CSV; `.jsonl`, `.ndjson` are JSON Lines).
    #[serde(default, deserialize_with = "de::format")]
    pub format: Option<Format>,
    /// The entity name that pairs refer to. Default: the file name without
    /// its extension.
    #[serde(default, deserialize_with = "de::entity")]
    pub entity: Option<String>,
    /// The key columns, in order (required, at least one). A record's key is
    /// made from their values; every row must have them, non-empty and
    /// unique.
    #[serde(deserialize_with = "de::key")]
    pub key: Vec<String>,
    /// CSV only: the field delimiter, one ASCII character. Default: `","`,
    /// or a tab for `.tsv` files.
    #[serde(default, deserialize_with = "de::delimiter")]
    pub delimiter: Option<char>,
    /// CSV only: whether the first row names the columns. Default: `true`.
    /// When `false`, `columns` names them and the file holds only data.
    #[serde(default, deserialize_with = "de::header")]
    pub header: Option<bool>,
    /// CSV only: the column names, in file order; required when `header =
    /// false`, not allowed otherwise.
    #[serde(default, deserialize_with = "de::columns")]
    pub columns: Option<Vec<String>>,
    /// CSV only: the quote character, one ASCII character. Default: `'"'`.
    #[serde(default, deserialize_with = "de::quote")]
    pub quote: Option<char>,
    /// What to do with a row that cannot be read (wrong number of fields,
    /// invalid UTF-8, not a JSON object, missing or duplicate key): `"fail"`
    /// stops the run with an error naming the file and line; `"skip"`
    /// reports the row in the run's errors and goes on. Default: `"fail"`.
    #[serde(default, deserialize_with = "de::on_bad_record")]
    pub on_bad_record: OnBadRecord,
    /// Whether a missing file is an empty entity that the first commit
    /// creates (`true`, the default) or an error (`false`).
    #[serde(default = "yes", deserialize_with = "de::create")]
    pub create: bool,
}

fn yes() -> bool {
    true
}

/// The format of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma (or otherwise) separated values, every value text.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
}

/// What to do with a row that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRecord {
    /// Stop with [`Error::BadRecord`] naming the file and line.
    #[default]
    Fail,
    /// Report the row in [`Batch::rejected`](tandem_core::Batch::rejected)
    /// and go on.
    Skip,
}

impl FileConfig {
    /// A configuration with every default: the format and entity from the
    /// file name.
    pub fn new(path: impl Into<PathBuf>, key: Vec<String>) -> Self {
        FileConfig {
            path: path.into(),
            format: None,
            entity: None,
            key,
            delimiter: None,
            header: None,
            columns: None,
            quote: None,
            on_bad_record: OnBadRecord::Fail,
            create: true,
        }
    }

    /// Checks the configuration and fills in the defaults. Pure: no I/O.
    pub(crate) fn resolve(&self) -> Result<Settings> {
        let err = |message: String| Err(Error::config(CONNECTOR, message));
        let extension = self
            .path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match (self.format, extension.as_deref()) {
            (Some(f), _) => f,
            (None, Some("csv" | "tsv")) => Format::Csv,
            (None, Some("jsonl" | "ndjson")) => Format::Jsonl,
            (None, _) => {
                return err(format!(
                    "format: cannot tell the format of {} from its extension; \
                     set format = \"csv\" or \"jsonl\"",
                    self.path.display()
                ));
            }
        };
        let entity = match &self.entity {
            Some(e) if e.trim().is_empty() => return err("entity: must not be empty".into()),
            Some(e) => e.clone(),
            None => match self.path.file_stem().and_then(|s| s.to_str()) {
                Some(stem) if !stem.is_empty() => stem.to_owned(),
                _ => {
                    return err(format!(
                        "entity: cannot take the entity name from {}; set entity",
                        self.path.display()
                    ));
                }
            },
        };
        if self.path.as_os_str().is_empty() {
            return err("path: must not be empty".into());
        }
        check_names("key", &self.key)?;
        if format == Format::Jsonl {
            for (name, set) in [
                ("delimiter", self.delimiter.is_some()),
                ("header", self.header.is_some()),
                ("columns", self.columns.is_some()),
                ("quote", self.quote.is_some()),
            ] {
                if set {
                    return err(format!("{name}: only applies to csv files"));
                }
            }
        }
        let tsv = extension.as_deref() == Some("tsv");
        let delimiter = ascii(
            "delimiter",
            self.delimiter.unwrap_or(if tsv { '\t' } else { ',' }),
        )?;
        let quote = ascii("quote", self.quote.unwrap_or('"'))?;
        if delimiter == quote {
            return err("delimiter: must differ from quote".into());
        }
        let header = self.header.unwrap_or(true);
        match (&self.columns, header) {
            (None, false) => return err("columns: required when header = false".into()),
            (Some(_), true) => {
                return err("columns: only allowed with header = false; \
                            with a header row the file names its columns"
                    .into());
            }
            (Some(columns), false) => {
                check_names("columns", columns)?;
                if let Some(k) = self.key.iter().find(|k| !columns.contains(k)) {
                    return err(format!("key: {k:?} is not one of columns"));
                }
            }
            (None, true) => {}
        }
        Ok(Settings {
            path: self.path.clone(),
            format,
            entity,
            key: self.key.clone(),
            delimiter,
            quote,
            header,
            columns: self.columns.clone(),
            on_bad_record: self.on_bad_record,
            create: self.create,
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
        if name.is_empty() {
            return err("a column name must not be empty".into());
        }
        if names[..i].contains(name) {
            return err(format!("{name:?} is listed twice"));
        }
    }
    Ok(())
}

/// A delimiter or quote: one ASCII character that is not a line break.
fn ascii(setting: &str, c: char) -> Result<u8> {
    match u8::try_from(c) {
        Ok(b) if b.is_ascii() && b != b'\n' && b != b'\r' => Ok(b),
        _ => Err(Error::config(
            CONNECTOR,
            format!("{setting}: must be one ASCII character other than a line break, not {c:?}"),
        )),
    }
}

/// A checked configuration with its defaults filled in.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub path: PathBuf,
    pub format: Format,
    pub entity: String,
    pub key: Vec<String>,
    pub delimiter: u8,
    pub quote: u8,
    pub header: bool,
    pub columns: Option<Vec<String>>,
    pub on_bad_record: OnBadRecord,
    pub create: bool,
}

impl Settings {
    /// `path:line`, the location of a row.
    pub fn location(&self, line: u64, column: Option<&str>) -> String {
        match column {
            Some(c) => format!("{}:{line}, column {c}", self.path.display()),
            None => format!("{}:{line}", self.path.display()),
        }
    }

    /// The path, for messages.
    pub fn shown(&self) -> std::path::Display<'_> {
        Path::display(&self.path)
    }
}

/// Field deserializers that name the setting in their errors, since serde's
/// own type errors do not say which key they are about.
mod de {
    use super::*;

    macro_rules! named {
        ($($name:ident: $ty:ty),* $(,)?) => {$(
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                <$ty>::deserialize(d)
                    .map_err(|e| serde::de::Error::custom(format!("{}: {e}", stringify!($name))))
            }
        )*};
    }

    named! {
        path: PathBuf,
        format: Option<Format>,
        entity: Option<String>,
        key: Vec<String>,
        delimiter: Option<char>,
        header: Option<bool>,
        columns: Option<Vec<String>>,
        quote: Option<char>,
        on_bad_record: OnBadRecord,
        create: bool,
    }
}

#[cfg(test)]
mod tests;
