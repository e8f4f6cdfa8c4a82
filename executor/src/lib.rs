//! kiln-executor: Linux namespace sandboxes for RUN steps and for `kiln run`.
//!
//! It owns process isolation: namespaces, the mounts that make a root
//! filesystem a container, `pivot_root`, user switching and exit status.
//! It knows paths, not images: callers hand it a prepared root filesystem
//! (an overlay description or a directory) in a [`SandboxSpec`].
//!
//! It must not know about Dockerfiles, layers or the store, and it never
//! prints.
//!
//! kiln is multi-threaded, so sandboxes start from a re-executed helper:
//! the kiln binary calls [`maybe_run_helper`] first thing in `main`, and
//! [`Sandbox::spawn`] runs `<helper> __kiln-sandbox`. The helper unshares
//! the namespaces, forks the sandbox's pid 1, reports how it ended and
//! kills it if kiln goes away.

// Namespaces, mounts, fork and exec need raw system calls; every use
// carries a SAFETY comment.
#![allow(unsafe_code)]
#![deny(missing_docs)]

mod helper;
mod protocol;
mod sandbox;
pub mod spec;
pub mod user;

pub use sandbox::{Child, Sandbox, Signaller};
pub use spec::*;
pub use user::{ResolvedUser, UserError};

/// The first argument that makes the kiln binary act as the sandbox helper.
pub const HELPER_ARG: &str = "__kiln-sandbox";

/// Runs the sandbox helper if this process was started as one
/// (`argv[1] == HELPER_ARG`) and then exits; otherwise returns at once.
///
/// Call it first thing in `main`, before any thread exists: the helper
/// forks into new namespaces, which is only sound single-threaded.
pub fn maybe_run_helper() {
    if std::env::args_os().nth(1).is_some_and(|a| a == HELPER_ARG) {
        helper::run();
    }
}

/// Why a sandbox could not run a process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sandbox could not be set up (a mount, `pivot_root`, the working
    /// directory, ...); the message names the step and the path.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The process could not be executed. `errno` is `ENOENT` when the
    /// program does not exist (docker's exit 127) and `EACCES` when it is
    /// not executable (126).
    #[error("{message}")]
    Exec {
        /// `args[0]` as given.
        program: String,
        /// The errno of the failure.
        errno: i32,
        /// What went wrong, in runc's words.
        message: String,
    },
    /// The helper process could not be started or waited for.
    #[error("cannot run the sandbox helper: {0}")]
    Spawn(std::io::Error),
    /// The helper broke the protocol or died without reporting.
    #[error("sandbox helper: {0}")]
    Protocol(String),
    /// The spec's `USER` could not be resolved in the root filesystem.
    #[error(transparent)]
    User(#[from] UserError),
    /// [`Child::signal`] was given a number that is not a signal.
    #[error("invalid signal {0}")]
    InvalidSignal(i32),
}
