//! The error type of the layer module.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while writing, applying or cloning layers.
///
/// Paths inside a tar are shown as they were cleaned (relative to the
/// root); filesystem paths are shown as given.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on a named path failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was being done, e.g. "create file".
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading the layer tar stream failed.
    #[error("read layer tar at byte {offset}: {source}")]
    Read {
        /// Byte offset in the stream where the read failed.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the layer tar stream failed.
    #[error("write layer tar entry {path:?}: {source}")]
    Write {
        /// The entry being written.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The tar stream is not a well-formed archive.
    #[error("malformed layer tar at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset of the offending header.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A PAX or GNU extension record is larger than kiln accepts.
    #[error(
        "tar extension header at byte {offset} holds {size} bytes, over the limit of {limit} bytes"
    )]
    ExtensionTooLarge {
        /// Byte offset of the extension header.
        offset: u64,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A tar entry is valid tar but cannot be applied safely or at all.
    #[error("tar entry {path:?}: {reason}")]
    Entry {
        /// The entry's path as cleaned.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A directory tree holds something a layer cannot express.
    #[error("{path:?}: {reason}")]
    Unsupported {
        /// The offending file.
        path: PathBuf,
        /// What kiln cannot handle about it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn entry(path: &[u8], reason: impl Into<String>) -> Self {
        Error::Entry {
            path: String::from_utf8_lossy(path).into_owned(),
            reason: reason.into(),
        }
    }

    /// The operating-system error behind this error, if there is one
    /// (for example to tell ENOSPC apart).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Read { source, .. } | Error::Write { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }
}
