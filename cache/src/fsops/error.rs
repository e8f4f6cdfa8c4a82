//! The error type of the in-root file operations.

use std::io;

/// Everything that can go wrong in a COPY or WORKDIR file operation.
///
/// Paths are shown as they are inside their tree (`/etc/passwd`), except
/// the tree roots themselves, which are shown as given.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, e.g. "create file".
        op: &'static str,
        /// The path it was done to.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// A source to copy does not exist (or is a symlink to nothing).
    #[error("{path}: not found")]
    NotFound {
        /// The source path as named.
        path: String,
    },
    /// A directory was to be created or entered where a non-directory is.
    #[error("mkdir {path}: not a directory")]
    NotADirectory {
        /// The non-directory in the way.
        path: String,
    },
    /// A directory was to be copied onto an existing non-directory.
    #[error("cannot copy to non-directory: {path}")]
    CopyToNonDirectory {
        /// The existing non-directory.
        path: String,
    },
    /// A non-directory was to be copied onto an existing directory.
    #[error("cannot replace to directory {path} with file")]
    ReplaceDirectory {
        /// The existing directory.
        path: String,
    },
    /// A source pattern that is not a valid Go `filepath.Match` pattern.
    #[error("invalid source pattern {pattern:?}: syntax error in pattern")]
    Pattern {
        /// The pattern as given.
        pattern: String,
    },
    /// A file over the size limit of a bounded read.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// A wildcard matched a name that is not UTF-8, which sources cannot
    /// carry.
    #[error("{path:?}: file name is not valid UTF-8")]
    NonUtf8 {
        /// The path, with invalid bytes replaced.
        path: String,
    },
    /// A directory was replaced by something else while it was copied.
    #[error("{path} changed while it was being copied")]
    Changed {
        /// The directory.
        path: String,
    },
}

impl Error {
    pub(crate) fn os(op: &'static str, path: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: io::Error::from(errno),
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The operating-system error behind this error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when the machine failed (no space, quota, I/O error, read-only
    /// or exhausted file system, no memory or descriptors, permission
    /// denied to kiln itself) rather than the input: a missing source, a
    /// non-directory in the way, a symlink loop or a bad pattern are the
    /// Dockerfile's or the tree's fault.
    pub fn is_infrastructure(&self) -> bool {
        self.raw_os_error().is_some_and(is_machine_errno)
    }
}

/// Errors that say something about the machine, not about the trees.
pub(crate) fn is_machine_errno(errno: i32) -> bool {
    matches!(
        errno,
        libc::ENOSPC
            | libc::EDQUOT
            | libc::EIO
            | libc::EROFS
            | libc::EFBIG
            | libc::ENOMEM
            | libc::EMFILE
            | libc::ENFILE
            | libc::EPERM
            | libc::EACCES
            | libc::ESTALE
            | libc::EUCLEAN
            | libc::ENODEV
            | libc::ENXIO
            | libc::ENOTCONN
            | libc::ETIMEDOUT
    )
}
