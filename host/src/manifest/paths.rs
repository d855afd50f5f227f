//! Where things named by relative paths are: plugin libraries and the SQLite store.

use std::path::{Path, PathBuf};

/// The places a library path is looked for, in order: an absolute path as
/// it is; a relative one in the manifest's folder, then in the folder of
/// the running `tandem` executable (so `cargo build` output works).
pub fn library_candidates(
    library: &str,
    manifest_dir: &Path,
    exe_dir: Option<&Path>,
) -> Vec<PathBuf> {
    let path = Path::new(library);
    if path.is_absolute() {
        return vec![path.to_path_buf()];
    }
    let mut out = vec![manifest_dir.join(path)];
    if let Some(exe_dir) = exe_dir {
        let beside = exe_dir.join(path);
        if !out.contains(&beside) {
            out.push(beside);
        }
    }
    out
}

/// The first candidate that is a file, or an error naming every path searched.
pub fn find_library(
    plugin: &str,
    library: &str,
    manifest_dir: &Path,
    exe_dir: Option<&Path>,
) -> Result<PathBuf, String> {
    let candidates = library_candidates(library, manifest_dir, exe_dir);
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let searched: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "plugin {plugin}: library {library:?} not found; searched {} (build it with `cargo build`)",
        searched.join(", ")
    ))
}

/// The folder of the running executable, if it can be found.
pub fn exe_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent().map(Path::to_path_buf)
}

/// A store URL with a relative SQLite path made relative to the manifest's
/// folder; other URLs, in-memory stores and absolute paths are unchanged.
pub fn store_url(url: &str, manifest_dir: &Path) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_owned();
    };
    let (file, query) = match rest.split_once('?') {
        Some((f, q)) => (f, Some(q)),
        None => (rest, None),
    };
    if file.is_empty() || file.starts_with(':') || Path::new(file).is_absolute() {
        return url.to_owned();
    }
    let joined = manifest_dir.join(file);
    match query {
        Some(q) => format!("sqlite://{}?{q}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_library_is_searched_beside_manifest_then_executable() {
        let manifest = tempfile::tempdir().unwrap();
        let exe = tempfile::tempdir().unwrap();
        let err = find_library("file", "libx.so", manifest.path(), Some(exe.path())).unwrap_err();
        assert!(
            err.starts_with("plugin file: library \"libx.so\" not found; searched "),
            "{err}"
        );
        assert!(
            err.contains(&manifest.path().join("libx.so").display().to_string()),
            "{err}"
        );
        assert!(
            err.contains(&exe.path().join("libx.so").display().to_string()),
            "{err}"
        );

        std::fs::write(exe.path().join("libx.so"), b"").unwrap();
        let found = find_library("file", "libx.so", manifest.path(), Some(exe.path())).unwrap();
        assert_eq!(found, exe.path().join("libx.so"));
        std::fs::write(manifest.path().join("libx.so"), b"").unwrap();
        let found = find_library("file", "libx.so", manifest.path(), Some(exe.path())).unwrap();
        assert_eq!(found, manifest.path().join("libx.so"));
    }

    #[test]
    fn sqlite_paths_are_relative_to_the_manifest() {
        let dir = Path::new("/srv/tandem");
        assert_eq!(
            store_url("sqlite://tandem.db", dir),
            "sqlite:///srv/tandem/tandem.db"
        );
        assert_eq!(
            store_url("sqlite:state/t.db?mode=rwc", dir),
            "sqlite:///srv/tandem/state/t.db?mode=rwc"
        );
        assert_eq!(store_url("sqlite:///var/t.db", dir), "sqlite:///var/t.db");
        assert_eq!(store_url("sqlite::memory:", dir), "sqlite::memory:");
        assert_eq!(store_url("postgres://u@h/db", dir), "postgres://u@h/db");
    }
}
