//! Options every `tandem-sim` subcommand takes, and how they set a
//! simulator's failure switches.

use std::time::Duration;

use crate::{Faults, Tokens};

/// Options shared by every simulator command.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The port to listen on (127.0.0.1 only); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Answer every Nth request with 429.
    #[arg(long, value_name = "N")]
    pub throttle_every: Option<u64>,
    /// The Retry-After of 429 and 503 answers, in seconds (decimals allowed).
    #[arg(long, value_name = "SECONDS", default_value = "1")]
    pub retry_after: String,
    /// Issued tokens stop working after this many requests.
    #[arg(long, value_name = "N")]
    pub token_requests: Option<u64>,
    /// Issued tokens stop working after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub token_seconds: Option<f64>,
    /// The client id the token endpoint accepts.
    #[arg(long, default_value = crate::oauth::CLIENT_ID)]
    pub client_id: String,
    /// The client secret the token endpoint accepts.
    #[arg(long, default_value = crate::oauth::CLIENT_SECRET)]
    pub client_secret: String,
}

impl Common {
    /// Sets the switches these options ask for.
    pub fn apply(&self, faults: &Faults, tokens: &Tokens) {
        faults.retry_after(Some(&self.retry_after));
        if let Some(n) = self.throttle_every {
            faults.throttle_every(n);
        }
        tokens.add_client(&self.client_id, &self.client_secret);
        tokens.max_uses(self.token_requests);
        tokens.lifetime(
            self.token_seconds
                .and_then(|s| Duration::try_from_secs_f64(s).ok()),
        );
    }
}

/// Prints where a simulator listens and serves until Ctrl-C.
pub async fn announce(name: &str, running: crate::Running, notes: &[String]) {
    println!("tandem-sim {name} listening on {}", running.url());
    for note in notes {
        println!("  {note}");
    }
    running.until_ctrl_c().await;
}
