//! `tandem daemon`: runs each pair's schedule and automatic triggers, polls
//! the pairs for elements waiting, and serves the HTTP API and the web UI.
//!
//! On SIGTERM or Ctrl-C it stops taking requests, asks its running syncs to
//! stop (each rolls its target back and is recorded `stopped`, as with
//! `tandem stop`), waits for them and exits 0.

mod api;
mod auth;
mod metrics;
mod openapi;
mod poll;
mod runner;
mod scheduler;
mod ui;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Notify;

pub use runner::{LiveRuns, StartError, Started, SyncRequest};

use crate::context::Context;
use crate::error::{EXIT_OK, config_error};
use crate::manifest::DEFAULT_LISTEN;

/// How long a shutdown waits for running syncs to roll back.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(120);

/// The daemon's shared state.
pub struct Daemon {
    /// The manifest, store and open endpoints.
    pub ctx: Arc<Context>,
    /// When the daemon started.
    pub started: jiff::Timestamp,
    /// Runs of this daemon that have not ended, by pair.
    pub live: LiveRuns,
    /// The last poll of each pair.
    pub polls: Mutex<HashMap<String, poll::PollState>>,
    /// How often pairs are polled.
    poll_interval: Mutex<Duration>,
    /// Pairs to poll now (`None`: all), and the signal to do it.
    poll_requests: Mutex<Option<Vec<String>>>,
    poll_now: Notify,
    /// The API tokens, resolved.
    pub tokens: auth::Tokens,
    /// Records applied by this daemon's runs, by pair (for metrics).
    pub applied: Mutex<HashMap<String, u64>>,
    shutting_down: AtomicBool,
    /// Wakes the loops when shutdown begins.
    pub shutdown: Notify,
}

impl Daemon {
    /// Whether shutdown has begun.
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The polling interval.
    pub fn poll_interval(&self) -> Duration {
        *self.poll_interval.lock().expect("poll interval poisoned")
    }

    /// Changes the polling interval (and polls now).
    pub fn set_poll_interval(&self, every: Duration) {
        *self.poll_interval.lock().expect("poll interval poisoned") = every;
        self.request_poll(None);
    }

    /// Asks the poller to poll a pair (or every pair) now.
    pub fn request_poll(&self, pair: Option<&str>) {
        {
            let mut req = self.poll_requests.lock().expect("poll requests poisoned");
            match (pair, req.as_mut()) {
                (None, _) => *req = Some(Vec::new()),
                (Some(p), Some(list)) if !list.is_empty() => list.push(p.to_owned()),
                (Some(_), Some(_)) => {} // every pair already
                (Some(p), None) => *req = Some(vec![p.to_owned()]),
            }
        }
        self.poll_now.notify_one();
    }

    /// Takes the pending poll request: `Some(empty)` is every pair.
    fn take_poll_request(&self) -> Option<Vec<String>> {
        self.poll_requests
            .lock()
            .expect("poll requests poisoned")
            .take()
    }
}

/// Runs the daemon until SIGTERM or Ctrl-C.
pub async fn run(ctx: Context, listen: Option<String>) -> anyhow::Result<u8> {
    let listen = listen
        .or_else(|| ctx.manifest.daemon.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let addr: SocketAddr = listen.parse().map_err(|_| {
        config_error(format!(
            "--listen {listen:?}: expected an address and port, e.g. 127.0.0.1:7420"
        ))
    })?;
    let tokens = auth::Tokens::resolve(&ctx.manifest.daemon.tokens)?;
    let store = ctx.store().await?;
    let poll_interval = match store.setting(poll::INTERVAL_SETTING).await? {
        Some(secs) => secs
            .parse()
            .map(Duration::from_secs)
            .unwrap_or(ctx.manifest.daemon.poll_interval),
        None => ctx.manifest.daemon.poll_interval,
    };
    let daemon = Arc::new(Daemon {
        ctx: Arc::new(ctx),
        started: jiff::Timestamp::now(),
        live: LiveRuns::default(),
        polls: Mutex::new(HashMap::new()),
        poll_interval: Mutex::new(poll_interval),
        poll_requests: Mutex::new(Some(Vec::new())),
        poll_now: Notify::new(),
        tokens,
        applied: Mutex::new(HashMap::new()),
        shutting_down: AtomicBool::new(false),
        shutdown: Notify::new(),
    });
    if daemon.tokens.is_empty() {
        tracing::warn!(
            "no API tokens: every /api request is refused; add [daemon.tokens.NAME] to the manifest"
        );
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    eprintln!(
        "tandem daemon: listening on http://{bound} ({} pairs, polling every {})",
        daemon.ctx.manifest.pairs.len(),
        crate::manifest::duration_text(poll_interval)
    );
    let poller = tokio::spawn(poll::run(daemon.clone()));
    let scheduler = tokio::spawn(scheduler::run(daemon.clone()));
    let app = api::router(daemon.clone());
    let server_daemon = daemon.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        wait_for_signal().await;
        eprintln!("tandem daemon: shutting down; running syncs stop and roll back");
        server_daemon.shutting_down.store(true, Ordering::SeqCst);
        server_daemon.shutdown.notify_waiters();
        server_daemon.live.stop_all();
    });
    server.await.context("serving http")?;
    daemon.shutting_down.store(true, Ordering::SeqCst);
    daemon.live.stop_all();
    if !daemon.wait_idle(SHUTDOWN_WAIT).await {
        eprintln!("tandem daemon: runs still rolling back after {SHUTDOWN_WAIT:?}; exiting");
    }
    poller.abort();
    scheduler.abort();
    eprintln!("tandem daemon: stopped");
    Ok(EXIT_OK)
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
