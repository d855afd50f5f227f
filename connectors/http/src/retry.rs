//! When to try again: exponential backoff with jitter, `Retry-After`, and
//! the bounds on attempts and total waiting.

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;

/// How a request is retried on throttling (429, 503), gateway errors (502,
/// 504) and dropped connections.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// How many times a request is sent at most (the first try included).
    pub max_attempts: u32,
    /// The first backoff when the server gives no `Retry-After`; it doubles
    /// with each attempt.
    pub base_delay: Duration,
    /// The longest single backoff without `Retry-After`.
    pub max_delay: Duration,
    /// The longest a request waits in total across its retries; a server
    /// asking for more is [`Error::Throttled`](tandem_core::Error::Throttled).
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Sets the number of attempts (at least one).
    pub fn attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first backoff.
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// Sets the total wait bound.
    pub fn max_total_wait(mut self, d: Duration) -> Self {
        self.max_total_wait = d;
        self
    }

    /// The backoff before attempt `attempt + 1` (after `attempt` failures,
    /// `attempt >= 1`): `base * 2^(attempt-1)`, capped, with "equal jitter"
    /// (a random point in the upper half), so that clients that were
    /// throttled together do not come back together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        let full = self.base_delay.saturating_mul(exp).min(self.max_delay);
        let half = full / 2;
        half + jitter(full - half)
    }

    /// The wait a server asked for, with up to 10% (at most 1 s) added, so
    /// that it is honoured and clients spread out.
    pub fn after(&self, asked: Duration) -> Duration {
        asked + jitter((asked / 10).min(Duration::from_secs(1)))
    }
}

/// A random duration in `0..=max`.
fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return max;
    }
    let nanos = rand::rng().random_range(0..=max.as_nanos().min(u64::MAX as u128) as u64);
    Duration::from_nanos(nanos)
}

/// Parses a `Retry-After` value given in seconds, possibly with decimals
/// (`"2"`, `"2.128"`). An HTTP date or anything else is `None` (the caller
/// then backs off on its own).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs.min(86_400.0)).ok()
    } else {
        None
    }
}

/// The retry and timeout settings a connector's configuration may carry as
/// its `http` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Seconds a whole request (connect, send, receive the body) may take.
    /// Default 60.
    pub timeout_seconds: f64,
    /// Seconds connecting may take. Default 10.
    pub connect_timeout_seconds: f64,
    /// How many times a request is sent at most. Default 8.
    pub max_attempts: u32,
    /// Seconds a request may wait in total for throttling to pass before the
    /// run fails as throttled. Default 300.
    pub max_wait_seconds: f64,
    /// Seconds of the first backoff when the server does not say how long to
    /// wait; doubles each attempt, at most 30. Default 0.5.
    pub backoff_seconds: f64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout_seconds: 60.0,
            connect_timeout_seconds: 10.0,
            max_attempts: 8,
            max_wait_seconds: 300.0,
            backoff_seconds: 0.5,
        }
    }
}

impl HttpSettings {
    /// Checks the settings; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("http.timeout_seconds", self.timeout_seconds),
            ("http.connect_timeout_seconds", self.connect_timeout_seconds),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name}: must be a positive number of seconds"));
            }
        }
        for (name, v) in [
            ("http.max_wait_seconds", self.max_wait_seconds),
            ("http.backoff_seconds", self.backoff_seconds),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name}: must be zero or more seconds"));
            }
        }
        if self.max_attempts == 0 {
            return Err("http.max_attempts: must be at least 1".into());
        }
        Ok(())
    }

    /// The retry policy these settings give.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            base_delay: secs(self.backoff_seconds),
            max_delay: Duration::from_secs(30),
            max_total_wait: secs(self.max_wait_seconds),
        }
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        secs(self.timeout_seconds)
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        secs(self.connect_timeout_seconds)
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_with_decimals() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 2.128 "),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("0.2"), Some(Duration::from_millis(200)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let p = RetryPolicy::default().base_delay(Duration::from_millis(100));
        for attempt in 1..=12 {
            let full = Duration::from_millis(100)
                .saturating_mul(2u32.pow(attempt - 1))
                .min(p.max_delay);
            let d = p.backoff(attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn asked_waits_are_honoured() {
        let p = RetryPolicy::default();
        let d = p.after(Duration::from_millis(200));
        assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(220));
    }

    #[test]
    fn settings_are_checked() {
        let bad = HttpSettings {
            timeout_seconds: 0.0,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().starts_with("http.timeout_seconds"));
        assert!(HttpSettings::default().check().is_ok());
    }
}
