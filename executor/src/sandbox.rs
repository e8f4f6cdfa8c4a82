//! kiln's side of a sandbox: starting the helper with its pipes, handing it
//! the spec, and following its reports until the process ends.
//!
//! kiln is multi-threaded, so it never forks into namespaces itself: it
//! starts `<helper> __kiln-sandbox` (the kiln binary re-executed) with
//! `std::process::Command`, and the single-threaded helper does the rest.

use std::fs::File;
use std::io::{BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use std::sync::Arc;

use rustix::pipe::{PipeFlags, pipe_with};

use crate::protocol::{CONTROL_FD, Report, SPEC_FD, STATUS_FD};
use crate::{Error, ExitStatus, HELPER_ARG, SandboxSpec, Stdio};

/// Starts sandboxes through a helper binary.
#[derive(Debug, Clone)]
pub struct Sandbox {
    helper: PathBuf,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A sandbox starter that re-executes the running binary, which must
    /// call [`crate::maybe_run_helper`] first thing in `main`.
    pub fn new() -> Self {
        Self::with_helper(PathBuf::from("/proc/self/exe"))
    }

    /// A sandbox starter using another binary as the helper; it must call
    /// [`crate::maybe_run_helper`] first thing in `main`.
    pub fn with_helper(path: PathBuf) -> Self {
        Sandbox { helper: path }
    }

    /// Starts the process described by `spec` and returns once it has been
    /// executed inside its sandbox. Setup failures come back as
    /// [`Error::Setup`], [`Error::User`] or [`Error::Exec`]; nothing is left
    /// running after an error.
    pub fn spawn(&self, spec: &SandboxSpec) -> Result<Child, Error> {
        check_spec(spec)?;
        let json = serde_json::to_vec(spec)
            .map_err(|e| Error::Protocol(format!("encoding the spec: {e}")))?;

        let (spec_r, spec_w) = cloexec_pipe()?;
        let (status_r, status_w) = cloexec_pipe()?;
        let (control_r, control_w) = cloexec_pipe()?;
        // Keep the helper's ends away from 0-2 so that Command's stdio set-up
        // cannot clobber them when kiln runs with a closed standard stream.
        let spec_r = above_stdio(spec_r)?;
        let status_w = above_stdio(status_w)?;
        let control_r = above_stdio(control_r)?;
        let sources = [
            spec_r.as_raw_fd(),
            status_w.as_raw_fd(),
            control_r.as_raw_fd(),
        ];

        let mut cmd = Command::new(&self.helper);
        cmd.arg(HELPER_ARG)
            .env_clear()
            .current_dir("/")
            .stdin(std_stdio(spec.process.stdio.stdin))
            .stdout(std_stdio(spec.process.stdio.stdout))
            .stderr(std_stdio(spec.process.stdio.stderr));
        // SAFETY: the closure runs in the forked child before exec and only
        // makes async-signal-safe calls (fcntl, dup2) on fds that stay open
        // in kiln until `spawn` returns; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || place_fds(sources));
        }
        let mut helper = cmd.spawn().map_err(Error::Spawn)?;
        drop((spec_r, status_w, control_r));

        let mut status = BufReader::new(File::from(status_r));
        let control = File::from(control_w);
        // A helper that dies early closes the pipe; its report says why.
        let _ = File::from(spec_w).write_all(&json);

        let outcome = match Report::receive(&mut status) {
            Ok(Some(Report::Started { pid })) => Ok(pid),
            Ok(Some(Report::Exited(_) | Report::Signaled(_))) => {
                Err(Error::Protocol("exit status before start".to_string()))
            }
            Ok(Some(report)) => Err(report_error(report)),
            Ok(None) => Err(early_exit(&mut helper)),
            Err(e) => Err(Error::Protocol(e)),
        };
        match outcome {
            Ok(pid) => Ok(Child {
                helper: Some(helper),
                status,
                control: Signaller {
                    control: Arc::new(control),
                },
                waited: false,
                pid,
            }),
            Err(e) => {
                drop(control);
                let _ = helper.wait();
                Err(e)
            }
        }
    }
}

/// A running sandboxed process.
///
/// Dropping a `Child` that was not waited for kills the sandbox and reaps
/// the helper.
#[derive(Debug)]
pub struct Child {
    helper: Option<std::process::Child>,
    status: BufReader<File>,
    control: Signaller,
    pid: i32,
    waited: bool,
}

impl Child {
    /// The write end of the process's stdin, if the spec asked for a pipe.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.helper.as_mut().and_then(|h| h.stdin.take())
    }

    /// The read end of the process's stdout, if the spec asked for a pipe.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.helper.as_mut().and_then(|h| h.stdout.take())
    }

    /// The read end of the process's stderr, if the spec asked for a pipe.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.helper.as_mut().and_then(|h| h.stderr.take())
    }

    /// The process's pid in kiln's pid namespace (it is pid 1 inside).
    pub fn pid(&self) -> u32 {
        self.pid.unsigned_abs()
    }

    /// Sends `sig` to the sandboxed process. `SIGKILL` ends the whole
    /// sandbox. As for any pid 1, a signal the process has no handler for
    /// (other than `SIGKILL`) is ignored by the kernel, as in `docker run`
    /// without `--init`. Signalling a process that already ended does
    /// nothing.
    pub fn signal(&self, sig: i32) -> Result<(), Error> {
        self.control.signal(sig)
    }

    /// A handle that can signal the sandbox from another thread while
    /// [`Child::wait`] blocks (for cancellation).
    pub fn signaller(&self) -> Signaller {
        self.control.clone()
    }

    /// Waits for the process to end and returns how it ended. Take and
    /// drain piped stdout and stderr first (or from other threads), or a
    /// chatty process blocks on a full pipe.
    pub fn wait(mut self) -> Result<ExitStatus, Error> {
        let outcome = loop {
            match Report::receive(&mut self.status) {
                Ok(Some(Report::Exited(code))) => break Ok(ExitStatus::Exited(code)),
                Ok(Some(Report::Signaled(sig))) => break Ok(ExitStatus::Signaled(sig)),
                Ok(Some(Report::Started { .. })) => continue,
                Ok(Some(report)) => break Err(report_error(report)),
                Ok(None) => {
                    break Err(match self.helper.as_mut() {
                        Some(helper) => early_exit(helper),
                        None => Error::Protocol("helper already reaped".to_string()),
                    });
                }
                Err(e) => break Err(Error::Protocol(e)),
            }
        };
        self.waited = true;
        if let Some(mut helper) = self.helper.take() {
            helper.wait().map_err(Error::Spawn)?;
        }
        outcome
    }
}

/// Sends signals to one sandbox; clones share the same control pipe.
#[derive(Debug, Clone)]
pub struct Signaller {
    control: Arc<File>,
}

impl Signaller {
    /// Same as [`Child::signal`].
    pub fn signal(&self, sig: i32) -> Result<(), Error> {
        if !(1..=64).contains(&sig) {
            return Err(Error::InvalidSignal(sig));
        }
        match (&*self.control).write_all(format!("{sig}\n").as_bytes()) {
            // The helper is gone, so the sandbox is too.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(Error::Protocol(format!("signalling the sandbox: {e}"))),
            Ok(()) => Ok(()),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.waited {
            return;
        }
        // Signallers may keep the control pipe open, so end-of-file cannot
        // be relied on here: ask for SIGKILL explicitly.
        let _ = self.control.signal(libc::SIGKILL);
        if let Some(mut helper) = self.helper.take() {
            let _ = helper.wait();
        }
    }
}

fn check_spec(spec: &SandboxSpec) -> Result<(), Error> {
    let process = &spec.process;
    if process.args.is_empty() || process.args[0].is_empty() {
        return Err(Error::Setup("no program to run: args is empty".to_string()));
    }
    let nul = |s: &String| s.contains('\0');
    if let Some(a) = process.args.iter().find(|a| nul(a)) {
        return Err(Error::Setup(format!("argument {a:?} contains a nul byte")));
    }
    // The name only: the value may be a secret.
    if let Some(e) = process.env.iter().find(|e| nul(e)) {
        let name = e.split(['=', '\0']).next().unwrap_or_default();
        return Err(Error::Setup(format!(
            "environment variable {name:?} contains a nul byte"
        )));
    }
    Ok(())
}

fn std_stdio(s: Stdio) -> std::process::Stdio {
    match s {
        Stdio::Null => std::process::Stdio::null(),
        Stdio::Inherit => std::process::Stdio::inherit(),
        Stdio::Piped => std::process::Stdio::piped(),
    }
}

fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::Spawn(e.into()))
}

fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Error> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| Error::Spawn(e.into()))
}

/// Runs in the forked child: puts `sources` on fds 3, 4 and 5 without
/// close-on-exec. Everything else kiln has open is close-on-exec.
fn place_fds(sources: [i32; 3]) -> std::io::Result<()> {
    let mut parked = [-1; 3];
    // Park every source above the target range first, so that moving one
    // onto 3..=5 cannot clobber another that still sits there.
    for (slot, &fd) in parked.iter_mut().zip(&sources) {
        // SAFETY: fcntl on an fd number we own; async-signal-safe.
        let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *slot = r;
    }
    for (&fd, target) in parked.iter().zip([SPEC_FD, STATUS_FD, CONTROL_FD]) {
        // SAFETY: dup2 onto a fixed number; the parked copies are
        // close-on-exec and vanish at exec. async-signal-safe.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn report_error(report: Report) -> Error {
    match report {
        Report::Setup(m) => Error::Setup(m),
        Report::Exec {
            program,
            errno,
            message,
        } => Error::Exec {
            program,
            errno,
            message,
        },
        Report::User(e) => Error::User(e),
        Report::Protocol(m) => Error::Protocol(m),
        other => Error::Protocol(format!("unexpected report {other:?}")),
    }
}

fn early_exit(helper: &mut std::process::Child) -> Error {
    match helper.wait() {
        Ok(status) => Error::Protocol(format!("sandbox helper ended without a report ({status})")),
        Err(e) => Error::Spawn(e),
    }
}
