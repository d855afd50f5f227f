//! `tandem daemon` in a sandbox: started on a free port, killed when
//! dropped (a panicking test leaves no process behind), and a small JSON
//! client for its API.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Sandbox, tandem_bin};

/// A running daemon; killed on drop unless it has exited.
pub struct DaemonProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: std::path::PathBuf,
}

/// A free port on the loopback interface (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl DaemonProcess {
    /// Starts `tandem daemon --listen 127.0.0.1:PORT` in the sandbox, with
    /// no `TANDEM_` variables but `env`, and waits for `/healthz`.
    pub fn start(s: &Sandbox, env: &[(&str, &str)]) -> DaemonProcess {
        let port = free_port();
        let log = s.path().join("daemon.log");
        let mut cmd = Command::new(tandem_bin());
        cmd.args(["daemon", "--listen", &format!("127.0.0.1:{port}"), "-v"])
            .current_dir(s.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TANDEM_") || k == "RUST_LOG")
        {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().expect("tandem daemon starts");
        let mut d = DaemonProcess {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = ureq::get(&format!("{}/healthz", d.url))
                .timeout(Duration::from_secs(2))
                .call()
                && r.status() == 200
            {
                return d;
            }
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "the daemon exited ({status}) before it answered:\n{}",
                    d.log()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the daemon did not answer /healthz within 30 s:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the daemon wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit code.
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status.code();
            }
            if start.elapsed() > limit {
                panic!(
                    "the daemon did not exit within {limit:?} of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Calls the API: `(status, body as JSON or as a string)`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.url, method, path, token, body)
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP request: `(status, body)`; a body that is not JSON comes back
/// as a JSON string.
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = ureq::request(method, &format!("{base}{path}")).timeout(Duration::from_secs(120));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}
