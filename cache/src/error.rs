//! The cache crate's one error type.

use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Something went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("store database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A blob the metadata names is not in the store.
    #[error("blob {0} is missing from the store")]
    BlobMissing(Digest),
    /// Content does not match its digest.
    #[error("content does not match its digest: expected {expected}, got {actual}")]
    Corrupt {
        /// The digest asked for.
        expected: Digest,
        /// The digest of what was there.
        actual: Digest,
    },
    /// A document over its size limit.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// What was read.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// An image name that is not a valid reference.
    #[error("invalid image name {name:?}: {reason}")]
    InvalidReference {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// No image of that name in the store.
    #[error("image {0} not found in the store")]
    ImageNotFound(String),
    /// A snapshot the metadata names is missing or incomplete.
    #[error("snapshot {0} is missing from the store")]
    SnapshotMissing(String),
    /// A JSON document that does not parse.
    #[error("invalid {what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The store was made with another snapshotter.
    #[error(
        "the store at {root} uses the {stored} snapshotter but {wanted} was asked for; use another --root"
    )]
    SnapshotterMismatch {
        /// The store root.
        root: PathBuf,
        /// What the store has.
        stored: String,
        /// What was asked for.
        wanted: String,
    },
    /// Building or applying a layer failed.
    #[error(transparent)]
    Layer(#[from] crate::layer::Error),
    // LAYER-VARIANT
    /// A COPY or WORKDIR file operation failed.
    #[error(transparent)]
    Fs(#[from] crate::fsops::Error),
    /// A root filesystem archive that cannot be imported.
    #[error("cannot import {0}")]
    Import(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Error {
    /// True when the failure is the machine's (disk, permissions, database)
    /// rather than the input's: the CLI maps these to its infrastructure
    /// exit code.
    pub fn is_infrastructure(&self) -> bool {
        match self {
            Error::Fs(e) => e.is_infrastructure(),
            _ => matches!(
                self,
                Error::Io { .. }
                    | Error::Db { .. }
                    | Error::BlobMissing(_)
                    | Error::Corrupt { .. }
                    | Error::SnapshotMissing(_)
                    | Error::SnapshotterMismatch { .. }
            ),
        }
    }
}
