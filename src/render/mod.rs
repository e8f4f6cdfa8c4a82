//! How kiln shows things: Dockerfile diagnostics and build progress.

pub mod diagnostic;
pub mod plain;
