//! CSV: a row scanner on `csv_core` that knows where each row starts, and
//! a row encoder.

use std::fs::File;
use std::io::{BufRead, BufReader};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use tandem_core::{Error, Key, Name, Result, Value};

use super::{Fault, Scanner};
use crate::CONNECTOR;
use crate::config::Settings;
use crate::error::io_error;
use xxhash_rust::xxh3::Xxh3;

/// One CSV record's fields, as bytes; the buffers only grow.
struct Fields {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// How many fields the record has.
    len: usize,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            bytes: vec![0; 1024],
            ends: vec![0; 32],
            len: 0,
        }
    }
}

impl Fields {
    /// The `i`th field's bytes.
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends[..self.len].iter().map(move |&end| {
            let field = &self.bytes[start..end];
            start = end;
            field
        })
    }
}

/// Reads CSV records with their exact start offset and line.
pub(crate) struct CsvScanner {
    settings: Settings,
    reader: BufReader<File>,
    core: Reader,
    position: Position,
    columns: Vec<String>,
    data_start: u64,
    fields: Fields,
    /// Where each key column is among `columns`.
    key_at: Vec<usize>,
}

/// Where a scanner is in the file.
pub(crate) struct Position {
    /// Bytes consumed so far, from the start of the file.
    pub pos: u64,
    /// The 1-based line at `pos`.
    pub line: u64,
    /// Whether the first line end was CRLF, once one has been seen.
    pub crlf: Option<bool>,
    /// The last byte consumed.
    last: u8,
}

impl Position {
    pub fn new(pos: u64) -> Self {
        Position {
            pos,
            line: 1,
            crlf: None,
            last: 0,
        }
    }
}

/// Moves a position past consumed bytes.
pub(crate) fn consumed(p: &mut Position, bytes: &[u8]) {
    let Some(&last) = bytes.last() else { return };
    if p.crlf.is_none()
        && let Some(i) = bytes.iter().position(|&b| b == b'\n')
    {
        let before = if i == 0 { p.last } else { bytes[i - 1] };
        p.crlf = Some(before == b'\r');
    }
    p.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    p.pos += bytes.len() as u64;
    p.last = last;
}

impl CsvScanner {
    pub fn new(settings: &Settings, reader: BufReader<File>, bom: u64) -> Result<Self> {
        let core = ReaderBuilder::new()
            .delimiter(settings.delimiter)
            .quote(settings.quote)
            .build();
        let mut scanner = CsvScanner {
            settings: settings.clone(),
            reader,
            core,
            position: Position::new(bom),
            columns: settings.columns.clone().unwrap_or_default(),
            data_start: bom,
            fields: Fields::default(),
            key_at: Vec::new(),
        };
        if settings.header {
            scanner.read_header()?;
        }
        scanner.key_at = settings
            .key
            .iter()
            .map_while(|k| scanner.columns.iter().position(|c| c == k))
            .collect();
        if scanner.key_at.len() != settings.key.len() {
            scanner.key_at.clear();
        }
        Ok(scanner)
    }

    fn read_header(&mut self) -> Result<()> {
        let Some((_, line)) = self.read_record()? else {
            // An empty file: no header yet; the first commit writes it.
            self.data_start = self.position.pos;
            return Ok(());
        };
        let bad = |column: Option<String>, message: String| Error::BadRecord {
            connector: CONNECTOR.into(),
            location: self.settings.location(line, column.as_deref()),
            message,
        };
        let mut columns = Vec::with_capacity(self.fields.len);
        for (i, field) in self.fields.iter().enumerate() {
            let name = std::str::from_utf8(field).map_err(|_| {
                bad(
                    Some((i + 1).to_string()),
                    "header is not valid UTF-8".into(),
                )
            })?;
            if columns.iter().any(|c| c == name) {
                return Err(bad(
                    Some(name.to_owned()),
                    format!("column {name:?} appears twice in the header"),
                ));
            }
            columns.push(name.to_owned());
        }
        if let Some(k) = self.settings.key.iter().find(|k| !columns.contains(k)) {
            return Err(Error::config(
                CONNECTOR,
                format!(
                    "key: column {k:?} is not in the header of {}",
                    self.settings.shown()
                ),
            ));
        }
        self.columns = columns;
        self.skip_line_ends()?;
        self.data_start = self.position.pos;
        Ok(())
    }

    /// Skips line ends (and so blank lines) before a record.
    fn skip_line_ends(&mut self) -> Result<()> {
        loop {
            let buf = self
                .reader
                .fill_buf()
                .map_err(|e| io_error("reading", &self.settings.path, e))?;
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            let more = n == buf.len();
            consumed(&mut self.position, &buf[..n]);
            self.reader.consume(n);
            if !more {
                return Ok(());
            }
        }
    }

    /// Reads the next record into `self.fields`; returns its start and line.
    fn read_record(&mut self) -> Result<Option<(u64, u64)>> {
        self.skip_line_ends()?;
        let (start, line) = (self.position.pos, self.position.line);
        let fields = &mut self.fields;
        let (mut nout, mut nend) = (0, 0);
        loop {
            let input = self
                .reader
                .fill_buf()
                .map_err(|e| io_error("reading", &self.settings.path, e))?;
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut fields.bytes[nout..], &mut fields.ends[nend..]);
            consumed(&mut self.position, &input[..nin]);
            self.reader.consume(nin);
            nout += o;
            nend += e;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let len = fields.bytes.len();
                    fields.bytes.resize(len * 2, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = fields.ends.len();
                    fields.ends.resize(len * 2, 0);
                }
                ReadRecordResult::Record => {
                    fields.len = nend;
                    return Ok(Some((start, line)));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Converts the fields of the record just read.
    fn convert(&self) -> std::result::Result<Vec<(Name, Value)>, Fault> {
        let found = self.fields.len;
        let expected = self.columns.len();
        if found != expected {
            let column = if found > expected {
                (expected + 1).to_string()
            } else {
                self.columns[found].clone()
            };
            return Err(Fault::new(
                Some(column),
                format!("wrong number of fields: expected {expected}, found {found}"),
            ));
        }
        let mut out = Vec::with_capacity(found);
        for (name, field) in self.columns.iter().zip(self.fields.iter()) {
            let text = std::str::from_utf8(field)
                .map_err(|_| Fault::new(Some(name.clone()), "value is not valid UTF-8"))?;
            let value = if text.is_empty() {
                Value::Null
            } else {
                Value::Text(text.into())
            };
            out.push((Name::from(name.as_str()), value));
        }
        Ok(out)
    }
}

impl Scanner for CsvScanner {
    fn columns(&self) -> Option<&[String]> {
        Some(&self.columns)
    }

    fn data_start(&self) -> u64 {
        self.data_start
    }

    fn crlf(&self) -> bool {
        self.position.crlf.unwrap_or(false)
    }

    fn advance(&mut self) -> Result<Option<(u64, u64)>> {
        self.read_record()
    }

    fn fields(&self) -> std::result::Result<Vec<(Name, Value)>, Fault> {
        self.convert()
    }

    fn quick(&self) -> Option<(Key, u64)> {
        let fields = &self.fields;
        if fields.len != self.columns.len() || self.key_at.is_empty() {
            return None;
        }
        // A row `convert` would reject is left to it.
        if (0..fields.len).any(|i| std::str::from_utf8(fields.get(i)).is_err()) {
            return None;
        }
        let key = self.key_cells()?;
        // The fields' bytes and where each ends: "ab","" and "a","b" differ.
        let used = fields.ends[fields.len - 1];
        let mut hasher = Xxh3::new();
        hasher.update(&fields.bytes[..used]);
        for &end in &fields.ends[..fields.len] {
            hasher.update(&(end as u32).to_le_bytes());
        }
        Some((key, hasher.digest()))
    }

    fn key(&self) -> Option<Key> {
        // A row with a field too many or too few may have its cells shifted
        // from where one was added or lost: only key columns that lead the
        // row (before any other column) are where the header says.
        let ragged = self.fields.len != self.columns.len();
        if ragged && self.key_at.iter().any(|&i| i >= self.key_at.len()) {
            return None;
        }
        self.key_cells()
    }
}

impl CsvScanner {
    /// The key from the key cells of the record just read, when each is
    /// there, valid UTF-8 and not empty.
    fn key_cells(&self) -> Option<Key> {
        if self.key_at.is_empty() {
            return None;
        }
        let mut parts = Vec::with_capacity(self.key_at.len());
        for &i in &self.key_at {
            if i >= self.fields.len {
                return None;
            }
            match std::str::from_utf8(self.fields.get(i)) {
                Ok(text) if !text.is_empty() => parts.push(text),
                _ => return None,
            }
        }
        Some(Key::composite(&parts))
    }
}

/// Encodes CSV rows with the configured delimiter and quote, quoting a
/// field only when it needs it.
pub(crate) struct CsvEncoder {
    delimiter: u8,
    quote: u8,
}

impl CsvEncoder {
    pub fn new(settings: &Settings) -> Self {
        CsvEncoder {
            delimiter: settings.delimiter,
            quote: settings.quote,
        }
    }

    /// One row of text cells, without a line end.
    pub fn cells<S: AsRef<str>>(&self, cells: &[S]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            let cell = cell.as_ref().as_bytes();
            // A row of one empty cell would read as a blank line, which is
            // skipped: quote it.
            let lone_empty = cells.len() == 1 && cell.is_empty();
            let needs_quotes = lone_empty
                || cell
                    .iter()
                    .any(|&b| b == self.delimiter || b == self.quote || b == b'\n' || b == b'\r');
            if needs_quotes {
                out.push(self.quote);
                for &b in cell {
                    if b == self.quote {
                        out.push(b);
                    }
                    out.push(b);
                }
                out.push(self.quote);
            } else {
                out.extend_from_slice(cell);
            }
        }
        out
    }

    /// One row following `columns`: a field's canonical text, empty for
    /// null or absent.
    pub fn row(&self, columns: &[String], fields: &[(Name, Value)]) -> Vec<u8> {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match fields.iter().find(|(n, _)| n == c) {
                None | Some((_, Value::Null)) => String::new(),
                Some((_, v)) => v.canonical(),
            })
            .collect();
        self.cells(&cells)
    }
}
