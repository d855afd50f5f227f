//! Serving a simulator on loopback, and stopping it when its handle drops.

use std::net::SocketAddr;

use axum::Router;
use tokio::sync::oneshot;

/// A simulator serving on `127.0.0.1`; it stops when this is dropped.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until Ctrl-C.
    pub async fn until_ctrl_c(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `router` on `127.0.0.1:port` (`0` picks a free port) in a task
/// of the current runtime. Only loopback: simulators are never reachable
/// from elsewhere.
pub async fn serve(router: Router, port: u16) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(Running {
        addr,
        shutdown: Some(tx),
    })
}
