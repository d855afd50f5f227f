//! Reading an xlsx sheet cell by cell with calamine's cell reader, so that
//! memory holds one row and a few batches, whatever the sheet's size.

use std::fs::File;
use std::io::BufReader;

use calamine::{Data, Xlsx, XlsxCellReader};
use std::sync::Arc;

use tandem_core::Result;

use crate::config::{Settings, SheetSettings};
use crate::source::RowSender;
use crate::table::{Table, blank_header};
use crate::workbook::xlsx_error;

type Book = Xlsx<BufReader<File>>;

/// How a scan of the sheet ended.
enum Scan {
    /// Every row was read (or the reader went away).
    Done,
    /// A cell holds data under a blank header cell in this column.
    BlankHeader(u32),
}

/// Streams the rows of an xlsx sheet below its header into `out`, telling
/// `out` when the header has been read.
pub(crate) fn xlsx(
    settings: &Settings,
    mut book: Book,
    sheet: &SheetSettings,
    out: &mut RowSender,
) -> Result<()> {
    let path = &settings.path;
    let scanned = {
        let mut reader = book
            .worksheet_cells_reader(&sheet.name)
            .map_err(|e| xlsx_error(e, path, &sheet.name))?;
        scan(&mut reader, settings, sheet, out)?
    };
    match scanned {
        Scan::Done => Ok(()),
        Scan::BlankHeader(col) => {
            let mut merges = || {
                book.merge_cells_by_sheet_name(&sheet.name)
                    .map_err(|e| xlsx_error(e, path, &sheet.name))
            };
            Err(blank_header(path, sheet, col, &mut merges))
        }
    }
}

/// The state of a scan: the header once read, and the row being gathered.
struct Rows<'s> {
    settings: &'s Settings,
    sheet: &'s SheetSettings,
    /// `None` until the header row is passed; then the table, if the header
    /// names any column.
    table: Option<Option<Arc<Table>>>,
}

fn scan(
    reader: &mut XlsxCellReader<'_, BufReader<File>>,
    settings: &Settings,
    sheet: &SheetSettings,
    out: &mut RowSender,
) -> Result<Scan> {
    let header_row = sheet.header_row - 1;
    let mut rows = Rows {
        settings,
        sheet,
        table: None,
    };
    let mut cells: Vec<Data> = Vec::new();
    let mut current: Option<u32> = None;
    loop {
        let next = reader
            .next_cell()
            .map_err(|e| xlsx_error(e, &settings.path, &sheet.name))?;
        let next_row = next.as_ref().map(|c| c.get_position().0);
        if let Some(row) = current
            && next_row != Some(row)
        {
            match rows.finish(row, &mut cells, out)? {
                Some(Scan::Done) => return Ok(Scan::Done),
                Some(blank) => return Ok(blank),
                None => {}
            }
            // Keep the row's width; clear what the record did not take.
            cells.iter_mut().for_each(|c| *c = Data::Empty);
            current = None;
        }
        let Some(cell) = next else { break };
        let (row, col) = cell.get_position();
        if row < header_row {
            continue;
        }
        if rows.table.is_none() && row > header_row {
            rows.header(&[], out)?; // No header row at all.
        }
        current = Some(row);
        let col = col as usize;
        if cells.len() <= col {
            cells.resize(col + 1, Data::Empty);
        }
        cells[col] = Data::from(cell.get_value().clone());
    }
    if rows.table.is_none() {
        rows.header(&[], out)?;
    }
    Ok(Scan::Done)
}

impl Rows<'_> {
    /// Reads the header row's cells and, when it names columns, tells `out`
    /// the read is ready.
    fn header(&mut self, cells: &[Data], out: &mut RowSender) -> Result<()> {
        let table = Table::from_header(&self.settings.path, self.sheet, cells)?.map(Arc::new);
        if let Some(table) = &table {
            out.ready(table);
        }
        self.table = Some(table);
        Ok(())
    }

    /// Handles a gathered row: the header, or a record. `Some` ends the
    /// scan.
    fn finish(
        &mut self,
        row: u32,
        cells: &mut [Data],
        out: &mut RowSender,
    ) -> Result<Option<Scan>> {
        if row == self.sheet.header_row - 1 {
            self.header(cells, out)?;
            return Ok(None);
        }
        let table = match &self.table {
            Some(Some(table)) => table,
            // No column is named: any cell that holds something is data
            // under a blank header.
            _ => {
                let blank = cells.iter().position(|c| !crate::cells::is_blank(c));
                return Ok(blank.map(|col| Scan::BlankHeader(col as u32)));
            }
        };
        if let Some(col) = table.unnamed(cells) {
            return Ok(Some(Scan::BlankHeader(col)));
        }
        Ok((!out.row(row, cells, 0)).then_some(Scan::Done))
    }
}
