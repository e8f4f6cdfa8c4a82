//! kiln-solver: from a Dockerfile to an image.
//!
//! It owns lowering (typed instructions to a content-addressed op graph
//! plus the image config), cache keys, the parallel scheduler, the worker
//! that runs ops (RUN in a sandbox, COPY and WORKDIR on snapshots) and the
//! progress events a build emits.
//!
//! It must not print (progress is events the CLI renders), must not parse
//! command lines, and only `lower/` may look at the parser's types.

#![deny(missing_docs)]

mod build;
pub mod context;
pub mod dockerignore;
mod error;
pub mod git;
pub mod lower;
pub mod op;
pub mod progress;
pub mod remote;
pub mod schedule;
pub mod secrets;
pub mod worker;

pub use build::{BuildRequest, BuildResult, build};
pub use error::{Error, ErrorClass, Result};
