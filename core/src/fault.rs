//! Deterministic fault injection for crash tests.
//!
//! With `TANDEM_FAULT=point[:n]` in the environment, the process aborts
//! (as a SIGKILL would end it, with no cleanup) the `n`th time (default 1)
//! it passes [`point`] with that name. Points are named by the code that
//! passes them, such as `engine.batch_applied` or `file.before_rename`.
//! Without the variable, a point costs one relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Fault {
    point: String,
    at: u64,
    seen: AtomicU64,
}

fn configured() -> Option<&'static Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let spec = std::env::var("TANDEM_FAULT").ok()?;
            let (point, at) = match spec.rsplit_once(':') {
                Some((p, n)) => (p.to_owned(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Fault {
                point,
                at,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Passes a named fault point: aborts the process if `TANDEM_FAULT` says so.
pub fn point(name: &str) {
    if let Some(f) = configured()
        && f.point == name
        && f.seen.fetch_add(1, Ordering::SeqCst) + 1 == f.at
    {
        eprintln!("tandem: fault injected at {name}:{}", f.at);
        std::process::abort();
    }
}
