//! Errors the host sorts by exit code: configuration and usage (2) versus run failures (1).

use std::fmt;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a run failed, a guard refused, or a check found problems.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or an invalid configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: conflicts are waiting for a person after a sync.
pub const EXIT_CONFLICTS: u8 = 3;
/// Exit code: the runs committed, but some records could not be read and
/// were held unchanged on both sides (run status `partial`).
pub const EXIT_PARTIAL: u8 = 4;

/// An invalid manifest, a missing secret, an unknown pair: the user fixes
/// the configuration or the command line. Exits with [`EXIT_USAGE`].
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A configuration error as an [`anyhow::Error`].
pub fn config_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ConfigError(message.into()))
}

/// The exit code an error calls for.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|e| {
        e.is::<ConfigError>()
            || matches!(
                e.downcast_ref::<tandem_core::Error>(),
                Some(tandem_core::Error::Config { .. } | tandem_core::Error::Plugin { .. })
            )
    });
    if usage { EXIT_USAGE } else { EXIT_FAILED }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn config_errors_exit_2_through_context() {
        let err = Err::<(), _>(config_error("bad key"))
            .context("loading the manifest")
            .unwrap_err();
        assert_eq!(exit_code(&err), EXIT_USAGE);
        let core = tandem_core::Error::config("pair p", "max_delete: too big");
        assert_eq!(exit_code(&anyhow::Error::new(core)), EXIT_USAGE);
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), EXIT_FAILED);
    }
}
