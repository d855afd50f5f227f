//! What the CLI prints with `--json` and the API returns: one shape, built
//! in one place, so both show the same numbers.

pub mod calendar;
pub mod conflicts;
pub mod days;
pub mod history;
pub mod schedule;
pub mod status;
