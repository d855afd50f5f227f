//! The pairs the harness drives, each built fresh for one world.

pub mod file;
pub mod memory;
