//! Committing staged changes: rewrite the file into a temporary file beside
//! it, copying untouched rows byte for byte, then replace it atomically.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use tandem_core::{Error, Key, Result};
use tempfile::NamedTempFile;

use crate::config::{Format, OnBadRecord, Settings};
use crate::error::io_error;
use crate::format::{BOM, Encoder};
use crate::rows::Rows;
use crate::target::Staged;

/// What becomes of one row of the file.
enum Action {
    /// Copied as it is.
    Copy,
    /// Replaced by the staged record at this position.
    Replace(usize),
    /// Left out (deleted, or a duplicate of a replaced key).
    Drop,
}

/// Writes the file with the staged changes applied, atomically.
pub(crate) fn commit(settings: &Settings, staged: &Staged) -> Result<()> {
    let rows = Rows::open(settings)?;
    if rows.is_none() && staged.changes.iter().all(|(_, r)| r.is_none()) {
        return Ok(()); // Only deletes, and no file to delete from.
    }
    let path = &settings.path;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if rows.is_none() {
        // A new file: its folder may not exist yet either.
        std::fs::create_dir_all(dir).map_err(|e| io_error("creating the folder", dir, e))?;
    }
    let prefix = temp_prefix(path);
    remove_leftovers(dir, &prefix);
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| io_error("creating a temporary file in", dir, e))?;
    let mut job = Rewrite {
        settings,
        staged,
        out: Out::new(BufWriter::with_capacity(64 * 1024, tmp.as_file())),
        encoder: Encoder::new(settings),
        columns: settings.columns.clone().unwrap_or_default(),
        padding: Vec::new(),
        done: vec![false; staged.changes.len()],
        changed: false,
    };
    match rows {
        Some(rows) => job.existing(rows)?,
        None => job.header(&[])?,
    }
    job.append()?;
    job.out
        .w
        .flush()
        .map_err(|e| io_error("writing a temporary file for", path, e))?;
    if !job.changed {
        return Ok(()); // Nothing to change: leave the file alone.
    }
    drop(job);
    finish(path, dir, tmp)
}

/// The name prefix of this file's temporary files: `.NAME.tandem-`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tandem-")
}

/// Removes temporary files a killed process left beside the file (a commit
/// that died before its rename). Commits to one file run one at a time.
fn remove_leftovers(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Syncs the temporary file, gives it the original's permissions, renames
/// it over the original and syncs the directory.
fn finish(path: &Path, dir: &Path, tmp: NamedTempFile) -> Result<()> {
    let writing = |e| io_error("writing a temporary file for", path, e);
    match std::fs::metadata(path) {
        Ok(meta) => tmp
            .as_file()
            .set_permissions(meta.permissions())
            .map_err(writing)?,
        Err(_) => default_permissions(tmp.as_file()).map_err(writing)?,
    }
    tmp.as_file().sync_all().map_err(writing)?;
    tandem_core::fault::point("file.before_rename");
    tmp.persist(path)
        .map_err(|e| io_error("replacing", path, e.error))?;
    tandem_core::fault::point("file.after_rename");
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

/// One commit's rewrite of the file.
struct Rewrite<'a, W: Write> {
    settings: &'a Settings,
    staged: &'a Staged,
    out: Out<W>,
    encoder: Encoder,
    /// CSV: the columns rows are written with, new ones included.
    columns: Vec<String>,
    /// CSV: what an untouched row gets for the new columns.
    padding: Vec<u8>,
    /// Which staged changes have been written.
    done: Vec<bool>,
    /// Whether the new file differs from the old one.
    changed: bool,
}

impl<W: Write> Rewrite<'_, W> {
    fn io(&self, e: io::Error) -> Error {
        io_error("rewriting", &self.settings.path, e)
    }

    /// Writes what comes before the first row (BOM, header, blank lines);
    /// CSV columns that records bring are added to the header.
    fn header(&mut self, prefix: &[u8]) -> Result<()> {
        let csv = self.settings.format == Format::Csv;
        let needs_header = csv && self.settings.header && self.columns.is_empty();
        let added = if csv && self.settings.header {
            new_columns(self.staged, &self.columns)
        } else {
            Vec::new()
        };
        let written = if needs_header {
            // No header yet: it is written from the records' fields.
            let line = self.encoder.cells(&added);
            self.out.bytes(prefix).and_then(|()| {
                self.out.at_line_start |= prefix == BOM;
                self.out.line(&line)
            })
        } else if added.is_empty() {
            self.out.bytes(prefix)
        } else {
            let mut extra = vec![self.settings.delimiter];
            extra.extend(self.encoder.cells(&added));
            self.padding = vec![self.settings.delimiter; added.len()];
            self.out.bytes(&with_cells(prefix, &extra))
        };
        written.map_err(|e| self.io(e))?;
        self.changed |= needs_header || !added.is_empty();
        self.columns.extend(added);
        Ok(())
    }

    /// Streams the existing file through, row by row: a row runs from its
    /// start to the next row's start (its line end and any blank lines).
    fn existing(&mut self, mut rows: Rows) -> Result<()> {
        let file = File::open(&self.settings.path).map_err(|e| self.io(e))?;
        let mut raw = BufReader::with_capacity(64 * 1024, file);
        if let Some(columns) = rows.scanner().columns() {
            self.columns = columns.to_vec();
        }
        let mut prefix = vec![0; rows.scanner().data_start() as usize];
        raw.read_exact(&mut prefix).map_err(|e| self.io(e))?;
        self.out.crlf = rows.scanner().crlf();
        self.header(&prefix)?;
        let mut pending: Option<(u64, Action)> = None;
        loop {
            let row = rows.next_row()?;
            self.out.crlf = rows.scanner().crlf();
            if let Some((start, action)) = pending.take() {
                let len = row.as_ref().map(|r| r.start - start);
                self.finish_row(&mut raw, len, action)?;
            }
            let Some(row) = row else { return Ok(()) };
            let action = match row.outcome {
                Ok(record) => self.action(&record.key),
                Err(bad) if self.settings.on_bad_record == OnBadRecord::Fail => {
                    return Err(bad.to_error(self.settings));
                }
                // A duplicate of a key whose change is written goes; other
                // bad rows stay as they are, whatever their key.
                Err(bad) => match bad.key.as_ref().and_then(|k| self.staged.position(k)) {
                    Some(i) if bad.duplicate && self.done[i] => Action::Drop,
                    _ => Action::Copy,
                },
            };
            pending = Some((row.start, action));
        }
    }

    fn action(&mut self, key: &Key) -> Action {
        match self.staged.position(key) {
            None => Action::Copy,
            Some(i) if self.done[i] => Action::Drop,
            Some(i) => {
                self.done[i] = true;
                match self.staged.changes[i].1 {
                    Some(_) => Action::Replace(i),
                    None => Action::Drop,
                }
            }
        }
    }

    /// Writes one row of `len` bytes (to the end of the file for `None`).
    fn finish_row(
        &mut self,
        raw: &mut BufReader<File>,
        len: Option<u64>,
        action: Action,
    ) -> Result<()> {
        let written = match action {
            Action::Copy if self.padding.is_empty() => self.out.copy(raw, len),
            Action::Copy => read_range(raw, len)
                .and_then(|row| self.out.bytes(&with_cells(&row, &self.padding))),
            Action::Drop => {
                self.changed = true;
                skip(raw, len)
            }
            Action::Replace(i) => {
                self.changed = true;
                let line = self.encode(i);
                skip(raw, len).and_then(|()| self.out.line(&line))
            }
        };
        written.map_err(|e| self.io(e))
    }

    /// Appends the staged records that replaced no row, in staging order.
    fn append(&mut self) -> Result<()> {
        for i in 0..self.staged.changes.len() {
            if self.done[i] || self.staged.changes[i].1.is_none() {
                continue;
            }
            let line = self.encode(i);
            self.changed = true;
            self.out.line(&line).map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    fn encode(&self, i: usize) -> Vec<u8> {
        match &self.staged.changes[i].1 {
            Some(record) => self.encoder.row(&self.columns, &record.fields),
            None => Vec::new(),
        }
    }
}

/// The fields of the staged records that are not columns yet, in order.
fn new_columns(staged: &Staged, columns: &[String]) -> Vec<String> {
    let mut added: Vec<String> = Vec::new();
    for (_, record) in &staged.changes {
        for (name, _) in record.iter().flat_map(|r| &r.fields) {
            if !columns.iter().chain(&added).any(|c| c == name) {
                added.push(name.to_string());
            }
        }
    }
    added
}

/// A row with `extra` bytes inserted before its line end(s).
fn with_cells(row: &[u8], extra: &[u8]) -> Vec<u8> {
    let body = row.len()
        - row
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
    let mut out = Vec::with_capacity(row.len() + extra.len());
    out.extend_from_slice(&row[..body]);
    out.extend_from_slice(extra);
    out.extend_from_slice(&row[body..]);
    out
}

/// Reads `len` bytes, or to the end for `None`.
fn read_range(raw: &mut BufReader<File>, len: Option<u64>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match len {
        Some(len) => raw.take(len).read_to_end(&mut buf)?,
        None => raw.read_to_end(&mut buf)?,
    };
    Ok(buf)
}

/// Skips `len` bytes; `None` (the rest of the file) needs nothing.
fn skip(raw: &mut BufReader<File>, len: Option<u64>) -> io::Result<()> {
    match len {
        Some(len) => raw.seek_relative(len as i64),
        None => Ok(()),
    }
}

/// The temporary file being written, knowing whether it is at a line start.
struct Out<W: Write> {
    w: W,
    at_line_start: bool,
    crlf: bool,
}

impl<W: Write> Out<W> {
    fn new(w: W) -> Self {
        Out {
            w,
            at_line_start: true,
            crlf: false,
        }
    }

    fn bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(&last) = bytes.last() {
            self.at_line_start = matches!(last, b'\n' | b'\r');
        }
        self.w.write_all(bytes)
    }

    /// One line: a line end first if the output is mid-line (a last row
    /// without one), then the bytes and a line end like the file's.
    fn line(&mut self, bytes: &[u8]) -> io::Result<()> {
        let eol: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        if !self.at_line_start {
            self.bytes(eol)?;
        }
        self.bytes(bytes)?;
        self.bytes(eol)
    }

    /// Copies `len` bytes (to the end for `None`) from the original.
    fn copy(&mut self, raw: &mut BufReader<File>, len: Option<u64>) -> io::Result<()> {
        let mut left = len.unwrap_or(u64::MAX);
        while left > 0 {
            let buf = raw.fill_buf()?;
            if buf.is_empty() {
                if len.is_some() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file changed while it was rewritten",
                    ));
                }
                break;
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            self.bytes(&buf[..n])?;
            raw.consume(n);
            left -= n as u64;
        }
        Ok(())
    }
}
