//! SQLite upserts through SQLite's own API: one prepared single-row
//! statement per batch, its values bound where they lie (no copy) and
//! stepped once per row, on the transaction's connection. (A multi-row
//! statement costs SQLite more per row than stepping a single-row one.)
//!
//! sqlx binds every text by copying it, and runs each statement on its
//! connection's worker thread; a load of a million rows spends more in
//! that than in SQLite. This is the path `sqlite3 .import` takes.

use std::ffi::{CStr, c_int};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sea_orm::sea_query::Value as SeaValue;

/// Why rows did not go in: SQLite's message and extended result code.
#[derive(Debug)]
pub(crate) struct LiteError {
    pub code: c_int,
    pub message: String,
}

impl std::fmt::Display for LiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

/// Whether every value of the rows can be bound here (the values the
/// connector makes for SQLite always can).
pub(crate) fn can_bind(rows: &[Vec<SeaValue>]) -> bool {
    rows.iter().flatten().all(|v| {
        matches!(
            v,
            SeaValue::BigInt(_)
                | SeaValue::Double(_)
                | SeaValue::Bool(_)
                | SeaValue::String(_)
                | SeaValue::Bytes(_)
        )
    })
}

/// A prepared statement, finalized when dropped.
struct Stmt(NonNull<ffi::sqlite3_stmt>);

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: made by `sqlite3_prepare_v3` and finalized once.
        unsafe { ffi::sqlite3_finalize(self.0.as_ptr()) };
    }
}

/// Runs `sql`, a statement of one row's placeholders, once for each row.
///
/// # Safety
/// `db` must be an open connection that no other thread uses during the
/// call (sqlx's locked handle guarantees it).
pub(crate) unsafe fn run_rows(
    db: NonNull<ffi::sqlite3>,
    sql: &str,
    rows: &[Vec<SeaValue>],
) -> Result<(), LiteError> {
    let db = db.as_ptr();
    let mut raw = ptr::null_mut();
    // SAFETY: `db` is open and ours for the call; the text and its length
    // are valid.
    let rc = unsafe {
        ffi::sqlite3_prepare_v3(
            db,
            sql.as_ptr().cast(),
            sql.len() as c_int,
            ffi::SQLITE_PREPARE_PERSISTENT as _,
            &mut raw,
            ptr::null_mut(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(unsafe { error(db, rc) });
    }
    let Some(stmt) = NonNull::new(raw).map(Stmt) else {
        return Ok(()); // Only a comment or white space.
    };
    let s = stmt.0.as_ptr();
    for row in rows {
        for (j, v) in row.iter().enumerate() {
            // SAFETY: `s` is a live statement; text and blob pointers stay
            // valid until the statement is finalized (`rows` outlives
            // `stmt`), so SQLite may use them in place.
            let rc = unsafe { bind(s, j as c_int + 1, v) };
            if rc != ffi::SQLITE_OK {
                return Err(unsafe { error(db, rc) });
            }
        }
        // SAFETY: `s` is a live statement with every parameter bound.
        let rc = unsafe { ffi::sqlite3_step(s) };
        let failed =
            (rc != ffi::SQLITE_DONE && rc != ffi::SQLITE_ROW).then(|| unsafe { error(db, rc) });
        // SAFETY: as above. A reset keeps the bindings, which the next row
        // replaces.
        unsafe { ffi::sqlite3_reset(s) };
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

/// Binds parameter `n` (from 1) to a value, in place (`SQLITE_STATIC`).
///
/// # Safety
/// `s` must be a live statement, and the value must outlive it or its next
/// binding of `n`.
unsafe fn bind(s: *mut ffi::sqlite3_stmt, n: c_int, v: &SeaValue) -> c_int {
    // SAFETY: guaranteed by the caller.
    unsafe {
        match v {
            SeaValue::BigInt(Some(i)) => ffi::sqlite3_bind_int64(s, n, *i),
            SeaValue::Double(Some(f)) => ffi::sqlite3_bind_double(s, n, *f),
            SeaValue::Bool(Some(b)) => ffi::sqlite3_bind_int64(s, n, *b as i64),
            SeaValue::String(Some(t)) => ffi::sqlite3_bind_text64(
                s,
                n,
                t.as_ptr().cast(),
                t.len() as u64,
                ffi::SQLITE_STATIC(),
                ffi::SQLITE_UTF8 as u8,
            ),
            SeaValue::Bytes(Some(b)) => ffi::sqlite3_bind_blob64(
                s,
                n,
                b.as_ptr().cast(),
                b.len() as u64,
                ffi::SQLITE_STATIC(),
            ),
            _ => ffi::sqlite3_bind_null(s, n),
        }
    }
}

/// The connection's last error.
///
/// # Safety
/// `db` must be an open connection.
unsafe fn error(db: *mut ffi::sqlite3, rc: c_int) -> LiteError {
    // SAFETY: `db` is open; the message is a NUL-terminated string SQLite
    // owns until the next call, copied here.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        if m.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(m).to_string_lossy().into_owned()
        }
    };
    let code = unsafe { ffi::sqlite3_extended_errcode(db) };
    LiteError {
        code: if code != 0 { code } else { rc },
        message,
    }
}
