//! An SQLite store's file: found from its URL, and created whole, already in WAL mode.
//!
//! A new SQLite file starts in rollback mode and empty; the first
//! connection that asks for WAL writes the file's first page to say so.
//! When two processes create the store at once, one of them can read the
//! empty file and then find the other writing that page: its upgrade from
//! reading to writing is refused at once (`database is locked`: SQLite does
//! not wait on a lock it could deadlock on), or it waits for an exclusive
//! lock that the other process, now in WAL mode, holds a shared lock
//! against for as long as it runs. So a missing store file is made apart,
//! under a name of this process's own, switched to WAL there, and linked
//! into place only if no other process put one there first: every process
//! then opens a file that is in WAL mode already, and none changes its
//! mode.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sea_orm::sqlx::{ConnectOptions as _, Connection as _};

use super::codec::Context;
use crate::error::Result;

/// The file of the SQLite store at `url` (`sqlite:PATH`, `sqlite://PATH`,
/// with or without `?options`); `None` for an in-memory or a server store.
pub(super) fn path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
    if file.is_empty() || file.contains(":memory:") || query.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(file))
}

/// Creates the store file at `path` in WAL mode if there is none: made
/// under a name of its own, then hard-linked into place unless another
/// process linked its own first (either way, a whole file in WAL mode is
/// there). A file system without hard links leaves the creation to the
/// connection, as before.
pub(super) async fn create_in_wal_mode(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    // Of this process, and of this call: stores opened at once in one
    // process make their files apart too.
    static MADE: AtomicU64 = AtomicU64::new(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".new-{}-{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed)
    ));
    let fresh = PathBuf::from(name);
    let what = || format!("creating the store file {}", path.display());
    let made = async {
        let opts = SqliteConnectOptions::new()
            .filename(&fresh)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        // Asking for WAL writes the file's first page; closing the only
        // connection removes its empty WAL.
        opts.connect().await?.close().await
    }
    .await
    .ctx(what);
    if made.is_ok()
        && let Err(e) = std::fs::hard_link(&fresh, path)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        tracing::debug!("{}: {e}; the connection creates it", what());
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = fresh.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    made
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_of_each_store_url() {
        assert_eq!(path("sqlite:/x/tandem.db"), Some("/x/tandem.db".into()));
        assert_eq!(
            path("sqlite:///x/tandem.db?mode=rwc"),
            Some("/x/tandem.db".into())
        );
        assert_eq!(path("sqlite:state.db"), Some("state.db".into()));
        assert_eq!(path("sqlite::memory:"), None);
        assert_eq!(path("sqlite:file:x?mode=memory"), None);
        assert_eq!(path("postgres://h/db"), None);
    }

    #[tokio::test]
    async fn a_new_file_is_in_wal_mode_and_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tandem.db");
        create_in_wal_mode(&file).await.unwrap();
        let bytes = std::fs::read(&file).unwrap();
        // The file format's read and write versions: 2 is WAL.
        assert_eq!(bytes.get(18..20), Some(&[2u8, 2][..]));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["tandem.db"]);
        // An existing file is left as it is.
        std::fs::write(&file, b"x").unwrap();
        create_in_wal_mode(&file).await.unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }
}
