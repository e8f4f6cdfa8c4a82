//! The solver's one error type, with the class the CLI turns into an exit
//! code: a failed step, bad input, or broken infrastructure.

use std::path::PathBuf;

use kiln_parser::Span;

/// What kind of failure, for exit codes a CI can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A build step ran and failed (exit 1).
    Step,
    /// The Dockerfile, context or options are wrong (exit 2).
    Input,
    /// The store, sandbox or machine failed (exit 3): worth a retry.
    Infrastructure,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Parse(#[from] kiln_parser::Error),
    /// The Dockerfile parses but asks for something wrong or unsupported;
    /// `span` points at it.
    #[error("{message}")]
    Dockerfile {
        /// What is wrong.
        message: String,
        /// Where.
        span: Span,
        /// The instruction's lines.
        lines: (usize, usize),
    },
    /// Bad options or inputs outside the Dockerfile (missing context,
    /// unknown target…).
    #[error("{0}")]
    Usage(String),
    /// A path of the build context that a COPY names is not there.
    #[error("{message}")]
    Source {
        /// What is wrong, BuildKit-style.
        message: String,
        /// The step's lines.
        lines: Option<(usize, usize)>,
    },
    /// A RUN exited non-zero or could not start its program.
    #[error("process {command:?} did not complete successfully: exit code: {code}")]
    StepFailed {
        /// The command as a string.
        command: String,
        /// Its exit code (128 + signal when killed).
        code: i32,
        /// The step's name.
        step: String,
        /// The step's lines.
        lines: Option<(usize, usize)>,
        /// The last lines of its output.
        tail: Vec<String>,
    },
    /// A RUN's program could not be executed.
    #[error("failed to run {program:?}: {message}")]
    Exec {
        /// The program.
        program: String,
        /// Why (not found, not executable).
        message: String,
        /// The step's lines.
        lines: Option<(usize, usize)>,
    },
    /// The store failed.
    #[error(transparent)]
    Cache(#[from] kiln_cache::Error),
    /// The sandbox could not be set up.
    #[error("sandbox: {0}")]
    Sandbox(kiln_executor::Error),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Mounting a root filesystem failed.
    #[error("mount {target}: {source}")]
    Mount {
        /// Where.
        target: PathBuf,
        /// What the OS said.
        source: nix::Error,
    },
    /// Downloading an ADD URL failed: unreachable host, an error status or
    /// a broken transfer. `url` has no userinfo.
    #[error("{url}: {message}")]
    Network {
        /// The URL, credentials removed.
        url: String,
        /// What went wrong.
        message: String,
        /// The step's lines.
        lines: Option<(usize, usize)>,
    },
    /// A download's content is not what `ADD --checksum` pinned.
    #[error("digest mismatch for {url}: {actual} (expected: {expected})")]
    ChecksumMismatch {
        /// The URL, credentials removed.
        url: String,
        /// The `--checksum` value.
        expected: kiln_cache::Digest,
        /// The digest of what the server sent.
        actual: kiln_cache::Digest,
        /// The step's lines.
        lines: Option<(usize, usize)>,
    },
    /// Stopped because another step failed or the user interrupted.
    #[error("canceled")]
    Canceled,
}

impl Error {
    /// The exit-code class.
    pub fn class(&self) -> ErrorClass {
        match self {
            // A pinned checksum that no longer matches is the step's
            // failure: retrying will not fix it.
            Error::StepFailed { .. } | Error::Exec { .. } | Error::ChecksumMismatch { .. } => {
                ErrorClass::Step
            }
            Error::Parse(_) | Error::Dockerfile { .. } | Error::Usage(_) | Error::Source { .. } => {
                ErrorClass::Input
            }
            Error::Cache(e) if !e.is_infrastructure() => ErrorClass::Input,
            Error::Cache(_)
            | Error::Sandbox(_)
            | Error::Io { .. }
            | Error::Mount { .. }
            | Error::Network { .. } => ErrorClass::Infrastructure,
            Error::Canceled => ErrorClass::Step,
        }
    }

    /// Lines of the Dockerfile the error is about, if any.
    pub fn lines(&self) -> Option<(usize, usize)> {
        match self {
            Error::Parse(e) => Some(e.lines),
            Error::Dockerfile { lines, .. } => Some(*lines),
            Error::Source { lines, .. }
            | Error::StepFailed { lines, .. }
            | Error::Exec { lines, .. }
            | Error::Network { lines, .. }
            | Error::ChecksumMismatch { lines, .. } => *lines,
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}
