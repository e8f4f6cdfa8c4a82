//! kiln-executor: Linux namespace sandboxes for RUN steps and for `kiln run`.
//!
//! It owns process isolation: namespaces, the mounts that make a root
//! filesystem a container, `pivot_root`, user switching and exit status.
//! It knows paths, not images: callers hand it a prepared root filesystem
//! (an overlay description or a directory) in a [`SandboxSpec`].
//!
//! It must not know about Dockerfiles, layers or the store, and it never
//! prints.

pub mod spec;

pub use spec::*;
