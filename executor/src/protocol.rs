//! The wire format between kiln and its sandbox helper: the fd numbers the
//! helper finds its pipes on and the JSON lines it reports on the status
//! pipe.
//!
//! kiln → helper: the [`crate::SandboxSpec`] as one JSON document on
//! [`SPEC_FD`], closed after writing; signal numbers, one per line, on
//! [`CONTROL_FD`], whose end-of-file means "kill the sandbox".
//! helper → kiln: [`Report`]s, one JSON object per line, on [`STATUS_FD`].

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use crate::user::UserError;

/// The helper reads the spec from this fd.
pub(crate) const SPEC_FD: i32 = 3;
/// The helper writes [`Report`]s to this fd.
pub(crate) const STATUS_FD: i32 = 4;
/// The helper reads signal requests from this fd; kiln alone holds the
/// write end, so end-of-file means kiln is gone or wants the sandbox dead.
pub(crate) const CONTROL_FD: i32 = 5;

/// The largest spec the helper accepts; specs are a few KiB.
pub(crate) const MAX_SPEC_BYTES: u64 = 64 << 20;
/// The longest report line kiln accepts.
pub(crate) const MAX_REPORT_BYTES: u64 = 1 << 20;

/// One line on the status pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Report {
    /// The process was executed; `pid` is its pid in kiln's pid namespace.
    Started {
        /// Host pid of the sandbox's pid 1.
        pid: i32,
    },
    /// The sandbox could not be set up.
    Setup(String),
    /// The process could not be executed.
    Exec {
        /// `args[0]`.
        program: String,
        /// The errno of the failure.
        errno: i32,
        /// What to show.
        message: String,
    },
    /// `USER` could not be resolved.
    User(UserError),
    /// The helper itself failed (bad fds, bad spec, ...).
    Protocol(String),
    /// The process exited with this code.
    Exited(i32),
    /// The process was killed by this signal.
    Signaled(i32),
}

impl Report {
    /// Writes the report as one line. Errors are the caller's to ignore:
    /// kiln may already be gone.
    pub(crate) fn send(&self, mut out: impl Write) -> io::Result<()> {
        let mut line = serde_json::to_vec(self).map_err(io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line)
    }

    /// Reads the next report; `None` at end-of-file.
    pub(crate) fn receive(input: &mut impl BufRead) -> Result<Option<Report>, String> {
        let mut line = Vec::new();
        let n = Read::take(&mut *input, MAX_REPORT_BYTES)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading the status pipe: {e}"))?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return Err("truncated or oversized status line".to_string());
        }
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| format!("malformed status line: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_as_lines() {
        let reports = [
            Report::Started { pid: 42 },
            Report::Exec {
                program: "x".into(),
                errno: 2,
                message: "exec: \"x\": executable file not found in $PATH".into(),
            },
            Report::User(UserError::NoUser("ghost".into())),
            Report::Signaled(9),
        ];
        let mut buf = Vec::new();
        for r in &reports {
            r.send(&mut buf).unwrap();
        }
        let mut input = io::Cursor::new(buf);
        for r in &reports {
            assert_eq!(Report::receive(&mut input).unwrap().as_ref(), Some(r));
        }
        assert_eq!(Report::receive(&mut input).unwrap(), None);
        let mut bad = io::Cursor::new(b"{\"Exited\":1}".to_vec());
        assert!(Report::receive(&mut bad).is_err());
    }
}
