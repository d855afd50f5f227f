//! `tandem`: keeps two systems in step, with connectors loaded as plugins.
//!
//! Reads the manifest (`plugins.toml`), loads the connector libraries it
//! names, and runs and inspects syncs. See `tandem --help`.
#![warn(missing_docs)]

mod bus_error;
mod cli;
mod context;
mod daemon;
mod error;
mod manifest;
mod views;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc, built with `override`: it also replaces `malloc` and `free`
/// for the whole process, so the connector plugins (which allocate through
/// the C library) use it too. A run moves millions of small strings between
/// a plugin's threads and the host's; glibc's allocator spent more time on
/// them (freeing in another thread, consolidating) than the sync itself.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_huge_pages();
    // A store file that fails under its memory mapping exits 1, naming it.
    bus_error::exit_on_bus_error();
    // Usage errors exit 2 (clap's default), help and version 0.
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(error::EXIT_FAILED);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(error::exit_code(&e))
        }
    }
}

/// Turns transparent huge pages off for the process. mimalloc asks for them
/// on its arenas, and a run frees and reuses large buffers (batches, their
/// encodings) all the time: each time memory comes back from the kernel, a
/// huge page costs 2 MiB zeroed. A 1M-row load spent a third of its CPU
/// zeroing pages; without them it took 5.2 s instead of 6.4 s.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory
    // of the process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Logs to stderr: `RUST_LOG` when set, else warn (-v info, -vv debug, -vvv trace).
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
