//! Opening a workbook with calamine, and turning its failures into errors
//! that name the file.

use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::path::Path;

use calamine::{Data, Dimensions, Ods, OdsError, Range, Reader, Xls, XlsError, Xlsx, XlsxError};
use tandem_core::{Error, Result};

use crate::CONNECTOR;
use crate::config::{Format, Settings};

type Source = BufReader<File>;

/// An open workbook of any format the connector reads.
pub(crate) enum Workbook {
    Xlsx(Xlsx<Source>),
    Xls(Xls<Source>),
    Ods(Ods<Source>),
}

/// A failure of calamine's, by what the user does about it.
enum Failure {
    Password,
    NotFound,
    Io(std::io::Error),
    Other(String),
}

impl From<XlsxError> for Failure {
    fn from(e: XlsxError) -> Self {
        match e {
            XlsxError::Password => Failure::Password,
            XlsxError::WorksheetNotFound(_) => Failure::NotFound,
            XlsxError::Io(e) => Failure::Io(e),
            e => Failure::Other(e.to_string()),
        }
    }
}

impl From<XlsError> for Failure {
    fn from(e: XlsError) -> Self {
        match e {
            XlsError::Password => Failure::Password,
            XlsError::WorksheetNotFound(_) => Failure::NotFound,
            XlsError::Io(e) => Failure::Io(e),
            e => Failure::Other(e.to_string()),
        }
    }
}

impl From<OdsError> for Failure {
    fn from(e: OdsError) -> Self {
        match e {
            OdsError::Password => Failure::Password,
            OdsError::WorksheetNotFound(_) => Failure::NotFound,
            OdsError::Io(e) => Failure::Io(e),
            e => Failure::Other(e.to_string()),
        }
    }
}

impl Failure {
    /// The error, naming the file and, for a sheet, the sheet.
    fn into_error(self, path: &Path, sheet: Option<&str>) -> Error {
        let shown = path.display();
        match (self, sheet) {
            (Failure::Password, _) => Error::other(
                CONNECTOR,
                format!(
                    "{shown}: the workbook is password-protected (encrypted); \
                     save it without a password to sync it"
                ),
            ),
            (Failure::NotFound, Some(sheet)) => not_found(sheet),
            (Failure::Io(e), _) => Error::io(CONNECTOR, format!("reading {shown}"), e),
            (Failure::NotFound, None) => {
                Error::other(CONNECTOR, format!("{shown}: a sheet is missing"))
            }
            (Failure::Other(message), Some(sheet)) => Error::other(
                CONNECTOR,
                format!(
                    "{shown}: cannot read sheet {sheet:?}, the workbook may be corrupt: {message}"
                ),
            ),
            (Failure::Other(message), None) => Error::other(
                CONNECTOR,
                format!(
                    "{shown}: cannot open the workbook, it is corrupt or not a workbook: {message}"
                ),
            ),
        }
    }
}

/// The error for a sheet that is not an entity.
pub(crate) fn not_found(sheet: &str) -> Error {
    Error::NotFound {
        connector: CONNECTOR.into(),
        entity: sheet.to_owned(),
    }
}

impl Workbook {
    /// Opens the workbook; `None` when the file does not exist.
    pub fn open(settings: &Settings) -> Result<Option<Workbook>> {
        let path = &settings.path;
        let file = match File::open(path) {
            Ok(file) => BufReader::with_capacity(64 * 1024, file),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::io(
                    CONNECTOR,
                    format!("opening {}", path.display()),
                    e,
                ));
            }
        };
        let opened = match settings.format {
            Format::Xlsx | Format::Xlsm => {
                Xlsx::new(file).map(Workbook::Xlsx).map_err(Failure::from)
            }
            Format::Xls => Xls::new(file).map(Workbook::Xls).map_err(Failure::from),
            Format::Ods => Ods::new(file).map(Workbook::Ods).map_err(Failure::from),
        };
        opened.map(Some).map_err(|f| f.into_error(path, None))
    }

    /// The names of the worksheets, in workbook order (chart sheets and
    /// other kinds are left out).
    pub fn sheet_names(&self) -> Vec<String> {
        let metadata = match self {
            Workbook::Xlsx(w) => w.sheets_metadata(),
            Workbook::Xls(w) => w.sheets_metadata(),
            Workbook::Ods(w) => w.sheets_metadata(),
        };
        metadata
            .iter()
            .filter(|s| s.typ == calamine::SheetType::WorkSheet)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Whether a sheet is hidden.
    pub fn is_hidden(&self, sheet: &str) -> bool {
        let metadata = match self {
            Workbook::Xlsx(w) => w.sheets_metadata(),
            Workbook::Xls(w) => w.sheets_metadata(),
            Workbook::Ods(w) => w.sheets_metadata(),
        };
        metadata
            .iter()
            .any(|s| s.name == sheet && s.visible != calamine::SheetVisible::Visible)
    }

    /// A sheet's cells, with absolute positions.
    pub fn range(&mut self, path: &Path, sheet: &str) -> Result<Range<Data>> {
        let range = match self {
            Workbook::Xlsx(w) => w.worksheet_range(sheet).map_err(Failure::from),
            Workbook::Xls(w) => w.worksheet_range(sheet).map_err(Failure::from),
            Workbook::Ods(w) => w.worksheet_range(sheet).map_err(Failure::from),
        };
        range.map_err(|f| f.into_error(path, Some(sheet)))
    }

    /// A sheet's merged regions. OpenDocument merges are not reported by
    /// calamine: there, a merged header shows as a blank header cell.
    pub fn merges(&mut self, path: &Path, sheet: &str) -> Result<Vec<Dimensions>> {
        let merges = match self {
            Workbook::Xlsx(w) => w.merge_cells_by_sheet_name(sheet).map_err(Failure::from),
            Workbook::Xls(w) => w.merge_cells_by_sheet_name(sheet).map_err(Failure::from),
            Workbook::Ods(_) => Ok(Vec::new()),
        };
        merges.map_err(|f| f.into_error(path, Some(sheet)))
    }
}

/// An xlsx error while reading a sheet, naming the file and sheet.
pub(crate) fn xlsx_error(e: XlsxError, path: &Path, sheet: &str) -> Error {
    Failure::from(e).into_error(path, Some(sheet))
}
