//! Committing staged changes: rewrite the workbook into a temporary file
//! beside it, sheet by sheet, then replace it atomically.
//!
//! Other sheets keep their cell values (formulas become their last
//! computed values, error cells their text such as `#DIV/0!`); formatting,
//! column widths, comments, images, charts and defined names are not kept.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

use calamine::{Data, Range};
use rust_xlsxwriter::{Worksheet, XlsxError};
use tandem_core::{Error, Result};
use tempfile::NamedTempFile;

use crate::CONNECTOR;
use crate::config::{OnBadRecord, Settings, SheetSettings};
use crate::table::Table;
use crate::target::Staged;
use crate::workbook::Workbook;
use crate::write::{self, Formats};

/// The most columns a worksheet has.
const MAX_COLUMNS: u32 = 16_384;

/// Writes the workbook with the staged changes applied to one sheet,
/// atomically; leaves the file alone when nothing changes.
pub(crate) fn commit(settings: &Settings, sheet: &SheetSettings, staged: &Staged) -> Result<()> {
    let path = &settings.path;
    let mut existing = Workbook::open(settings)?;
    let names = existing
        .as_ref()
        .map(Workbook::sheet_names)
        .unwrap_or_default();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |what: String| {
        move |e: XlsxError| Error::other(CONNECTOR, format!("{}: {what}: {e}", path.display()))
    };
    let mut out = rust_xlsxwriter::Workbook::new();
    let formats = Formats::new();
    let mut changed = false;
    let mut wrote_target = false;
    for name in &names {
        let workbook = existing.as_mut().expect("a workbook with sheets");
        let range = workbook.range(path, name)?;
        let hidden = workbook.is_hidden(name);
        let ws = out
            .add_worksheet_with_constant_memory()
            .map_err(fail("creating a temporary sheet".into()))?;
        ws.set_name(name)
            .map_err(fail(format!("naming sheet {name:?}")))?;
        ws.set_hidden(hidden);
        if name == &sheet.name {
            let table = Table::parse(path, sheet, &range, &mut || workbook.merges(path, name))?;
            let mut job = SheetWrite::new(ws, &formats, settings, sheet, staged);
            changed |= job.write(&range, table)?;
            wrote_target = true;
        } else {
            copy_rows(ws, &range, &formats, None)
                .map_err(fail(format!("copying sheet {name:?}")))?;
        }
    }
    if !wrote_target {
        let ws = out
            .add_worksheet_with_constant_memory()
            .map_err(fail("creating a temporary sheet".into()))?;
        ws.set_name(&sheet.name)
            .map_err(fail(format!("naming sheet {:?}", sheet.name)))?;
        let mut job = SheetWrite::new(ws, &formats, settings, sheet, staged);
        changed |= job.write(&Range::empty(), None)?;
    }
    if !changed {
        return Ok(()); // Only deletes of keys the sheet does not have.
    }
    let tmp =
        NamedTempFile::new_in(dir).map_err(|e| io_error("creating a temporary file in", dir, e))?;
    out.save_to_writer(BufWriter::with_capacity(64 * 1024, tmp.as_file()))
        .map_err(fail("writing a temporary file".into()))?;
    finish(path, dir, tmp)
}

fn io_error(action: &str, path: &Path, source: io::Error) -> Error {
    Error::io(CONNECTOR, format!("{action} {}", path.display()), source)
}

/// Copies rows of a range as they are (to the end when `until` is `None`).
fn copy_rows(
    ws: &mut Worksheet,
    range: &Range<Data>,
    formats: &Formats,
    until: Option<u32>,
) -> Result<(), XlsxError> {
    let Some(start) = range.start() else {
        return Ok(());
    };
    for (i, cells) in range.rows().enumerate() {
        let row = start.0 + i as u32;
        if until.is_some_and(|u| row >= u) {
            break;
        }
        copy_row(ws, row, start.1, cells, formats)?;
    }
    Ok(())
}

/// Writes the cells of one row at `row`, the first at column `first_col`.
fn copy_row(
    ws: &mut Worksheet,
    row: u32,
    first_col: u32,
    cells: &[Data],
    formats: &Formats,
) -> Result<(), XlsxError> {
    for (j, cell) in cells.iter().enumerate() {
        write::cell(ws, row, (first_col + j as u32) as u16, cell, formats)?;
    }
    Ok(())
}

/// The rewrite of the sheet that the transaction changes.
struct SheetWrite<'a> {
    ws: &'a mut Worksheet,
    formats: &'a Formats,
    settings: &'a Settings,
    sheet: &'a SheetSettings,
    staged: &'a Staged,
    /// Which staged changes have been written.
    done: Vec<bool>,
}

impl<'a> SheetWrite<'a> {
    fn new(
        ws: &'a mut Worksheet,
        formats: &'a Formats,
        settings: &'a Settings,
        sheet: &'a SheetSettings,
        staged: &'a Staged,
    ) -> Self {
        let done = vec![false; staged.changes.len()];
        SheetWrite {
            ws,
            formats,
            settings,
            sheet,
            staged,
            done,
        }
    }

    fn fail(&self, e: XlsxError) -> Error {
        let message = format!(
            "{}: writing sheet {:?}: {e}",
            self.settings.path.display(),
            self.sheet.name
        );
        Error::other(CONNECTOR, message)
    }

    /// Writes the rows above the header as they are, the header (with the
    /// fields that records bring added at the right), the rows below with
    /// the staged changes applied (blank rows are dropped), then the new
    /// records. Returns whether anything changed.
    fn write(&mut self, range: &Range<Data>, table: Option<Table>) -> Result<bool> {
        let header_row = self.sheet.header_row - 1;
        copy_rows(self.ws, range, self.formats, Some(header_row)).map_err(|e| self.fail(e))?;
        let mut changed = false;
        let mut columns: Vec<(String, u32)> = match &table {
            Some(t) => t.columns.iter().map(|c| (c.name.clone(), c.col)).collect(),
            None => self.sheet.key.iter().cloned().zip(0..).collect(),
        };
        let mut next_col = columns.iter().map(|(_, c)| c + 1).max().unwrap_or(0);
        for (_, record) in &self.staged.changes {
            for (name, _) in record.iter().flat_map(|r| &r.fields) {
                if !columns.iter().any(|(n, _)| n == name) {
                    columns.push((name.to_string(), next_col));
                    next_col += 1;
                    changed = true;
                }
            }
        }
        if next_col > MAX_COLUMNS {
            let message = format!(
                "sheet {:?} would need {next_col} columns, more than {MAX_COLUMNS}",
                self.sheet.name
            );
            return Err(Error::other(CONNECTOR, message));
        }
        for (name, col) in &columns {
            self.ws
                .write_string(header_row, *col as u16, name)
                .map(drop)
                .map_err(|e| self.fail(e))?;
        }
        let columns: HashMap<&str, u16> = columns
            .iter()
            .map(|(n, c)| (n.as_str(), *c as u16))
            .collect();
        let mut out_row = header_row + 1;
        if let Some(table) = &table {
            let first_col = range.start().map_or(0, |s| s.1);
            let mut seen = HashMap::new();
            for row in table.data_rows(range) {
                let position = match table.record(range, row, None, &mut seen) {
                    Ok(None) => continue,
                    Ok(Some(record)) => self.staged.position(&record.key),
                    Err(bad) if self.settings.on_bad_record == OnBadRecord::Fail => {
                        return Err(bad.to_error(&self.settings.path));
                    }
                    // A bad row stays as it is, unless it repeats a key whose
                    // change was written.
                    Err(bad) => match bad.key.as_ref().and_then(|k| self.staged.position(k)) {
                        Some(i) if self.done[i] => {
                            changed = true;
                            continue;
                        }
                        _ => None,
                    },
                };
                match position {
                    None => {
                        let cells = Table::row(range, row);
                        copy_row(self.ws, out_row, first_col, cells, self.formats)
                            .map_err(|e| self.fail(e))?;
                    }
                    Some(i) => {
                        self.done[i] = true;
                        changed = true;
                        if !self.record(out_row, i, &columns)? {
                            continue; // Deleted.
                        }
                    }
                }
                out_row += 1;
            }
        }
        for i in 0..self.staged.changes.len() {
            if !self.done[i] && self.record(out_row, i, &columns)? {
                changed = true;
                out_row += 1;
            }
        }
        Ok(changed)
    }

    /// Writes staged change `i` at `row` when it is an upsert; returns
    /// whether it was one.
    fn record(&mut self, row: u32, i: usize, columns: &HashMap<&str, u16>) -> Result<bool> {
        self.done[i] = true;
        let Some(record) = &self.staged.changes[i].1 else {
            return Ok(false);
        };
        for (name, value) in &record.fields {
            let col = columns[name.as_str()];
            write::value(self.ws, row, col, value, self.formats).map_err(|e| self.fail(e))?;
        }
        Ok(true)
    }
}

/// Syncs the temporary file, gives it the original's permissions, renames
/// it over the original and syncs the directory.
fn finish(path: &Path, dir: &Path, tmp: NamedTempFile) -> Result<()> {
    let writing = |e| io_error("writing a temporary file for", path, e);
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(writing)?;
    } else {
        default_permissions(tmp.as_file()).map_err(writing)?;
    }
    tmp.as_file().sync_all().map_err(writing)?;
    tmp.persist(path)
        .map_err(|e| io_error("replacing", path, e.error))?;
    sync_dir(dir).map_err(|e| io_error("syncing the directory of", path, e))
}

#[cfg(unix)]
fn default_permissions(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions(_: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) -> io::Result<()> {
    Ok(())
}
