//! Row scanners and encoders for the two formats.
//!
//! A scanner reads a file row by row and says where each row starts (byte
//! offset and 1-based physical line), so that errors name the line and a
//! commit can copy untouched rows byte for byte.

pub(crate) mod csv;
pub(crate) mod jsonl;

use std::fs::File;
use std::io::{BufRead, BufReader};

use tandem_core::{Key, Name, Result, Value};

use crate::config::{Format, Settings};
use crate::error::io_error;

/// The UTF-8 byte order mark.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What is wrong with a row.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    /// The column (name, or 1-based number) where it is, if one.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Fault {
    pub fn new(column: Option<String>, message: impl Into<String>) -> Self {
        Fault {
            column,
            message: message.into(),
        }
    }
}

/// Reads a file row by row.
pub(crate) trait Scanner: Send {
    /// The columns: the CSV header (empty when the file has none yet) or the
    /// configured columns; `None` for JSON Lines.
    fn columns(&self) -> Option<&[String]>;

    /// The byte offset where the data rows start (after the BOM and header).
    fn data_start(&self) -> u64;

    /// Whether the file's lines end with CRLF, once a line end has been seen.
    fn crlf(&self) -> bool;

    /// Reads the next row without converting its fields: where it starts
    /// (byte offset, line), or `None` at the end of the file.
    fn advance(&mut self) -> Result<Option<(u64, u64)>>;

    /// The fields of the row [`Scanner::advance`] read, or what is wrong
    /// with it.
    fn fields(&self) -> std::result::Result<Vec<(Name, Value)>, Fault>;

    /// The key of the row [`Scanner::advance`] read and a hash of its
    /// bytes, found without converting the row; `None` when the format
    /// cannot tell them so (JSON Lines) or the row is not well formed (then
    /// [`Scanner::fields`] says what is wrong).
    fn quick(&self) -> Option<(Key, u64)> {
        None
    }

    /// The key of the row [`Scanner::advance`] read when its fields cannot
    /// be converted, read from the key cells alone; `None` when a key cell
    /// cannot be read for certain (missing, empty, itself invalid UTF-8, or
    /// possibly shifted in a CSV row with the wrong number of fields).
    fn key(&self) -> Option<Key>;
}

/// Opens a scanner on a file; reads the header of a CSV file.
pub(crate) fn open(settings: &Settings, file: File) -> Result<Box<dyn Scanner>> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let bom = skip_bom(&mut reader).map_err(|e| io_error("reading", &settings.path, e))?;
    Ok(match settings.format {
        Format::Csv => Box::new(csv::CsvScanner::new(settings, reader, bom)?),
        Format::Jsonl => Box::new(jsonl::JsonlScanner::new(settings, reader, bom)),
    })
}

/// Skips a UTF-8 BOM; returns how many bytes were skipped.
fn skip_bom(reader: &mut impl BufRead) -> std::io::Result<u64> {
    // A BOM split over two buffer fills is not worth handling: the buffer is
    // filled from the start of the file, and files are larger than 3 bytes or
    // have no BOM.
    let buf = reader.fill_buf()?;
    if buf.starts_with(BOM) {
        reader.consume(BOM.len());
        Ok(BOM.len() as u64)
    } else {
        Ok(0)
    }
}

/// Encodes rows in a file's format.
pub(crate) enum Encoder {
    /// CSV: values in the order of the columns.
    Csv(csv::CsvEncoder),
    /// JSON Lines: one object per line, fields in record order.
    Jsonl,
}

impl Encoder {
    /// An encoder for the settings' format.
    pub fn new(settings: &Settings) -> Self {
        match settings.format {
            Format::Csv => Encoder::Csv(csv::CsvEncoder::new(settings)),
            Format::Jsonl => Encoder::Jsonl,
        }
    }

    /// The bytes of one row, without a line end. CSV rows follow `columns`.
    pub fn row(&self, columns: &[String], fields: &[(Name, Value)]) -> Vec<u8> {
        match self {
            Encoder::Csv(e) => e.row(columns, fields),
            Encoder::Jsonl => jsonl::encode(fields),
        }
    }

    /// CSV: one row of text cells (a header), without a line end.
    pub fn cells(&self, cells: &[String]) -> Vec<u8> {
        match self {
            Encoder::Csv(e) => e.cells(cells),
            Encoder::Jsonl => Vec::new(),
        }
    }
}
