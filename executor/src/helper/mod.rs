//! The sandbox helper: the single-threaded process kiln re-executes to
//! start one sandbox.
//!
//! It unshares the pid, UTS, IPC, network and cgroup namespaces, forks the
//! sandbox's pid 1 (see [`init`]), then supervises it from the caller's
//! mount namespace: it forwards signals, kills the sandbox when kiln's
//! control pipe closes (even after kill -9 of kiln), and reports the
//! outcome on the status pipe.

mod init;
mod inroot;
mod mounts;

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{Mode, OFlags};
use rustix::io::{Errno, FdFlags};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::thread::UnshareFlags;

use crate::protocol::{CONTROL_FD, MAX_SPEC_BYTES, Report, SPEC_FD, STATUS_FD};
use crate::{Network, SandboxSpec};

/// Signals the helper passes on to the sandbox.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Runs the helper and exits; never returns.
pub(crate) fn run() -> ! {
    let Some(status) = take_fd(STATUS_FD) else {
        // Not started by Sandbox::spawn: nobody to report to.
        std::process::exit(2)
    };
    let status = File::from(status);
    let code = match supervise(&status) {
        Ok(()) => 0,
        Err(report) => {
            let _ = report.send(&status);
            1
        }
    };
    std::process::exit(code)
}

/// Adopts an fd that kiln placed at a fixed number, making it
/// close-on-exec; `None` if it is not open.
fn take_fd(n: i32) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(n, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the fd is open and nothing else in this process owns it: the
    // helper adopts each fixed number exactly once, at start-up.
    let fd = unsafe { OwnedFd::from_raw_fd(n) };
    rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC).ok()?;
    Some(fd)
}

fn protocol(message: impl Into<String>) -> Report {
    Report::Protocol(message.into())
}

fn supervise(status: &File) -> Result<(), Report> {
    let spec_fd = take_fd(SPEC_FD).ok_or_else(|| protocol("spec pipe (fd 3) is not open"))?;
    let control = take_fd(CONTROL_FD).ok_or_else(|| protocol("control pipe (fd 5) is not open"))?;
    ensure_single_threaded()?;

    let mut json = Vec::new();
    File::from(spec_fd)
        .take(MAX_SPEC_BYTES)
        .read_to_end(&mut json)
        .map_err(|e| protocol(format!("reading the spec: {e}")))?;
    let spec: SandboxSpec =
        serde_json::from_slice(&json).map_err(|e| protocol(format!("decoding the spec: {e}")))?;

    let devnull = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| setup("open /dev/null", e))?;

    // Block the signals before forking so that none is lost between fork
    // and the signalfd; the child unblocks them before exec.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    for sig in FORWARDED {
        mask.add(sig);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| setup("block signals", init::from_nix(e)))?;

    unshare_namespaces(spec.network)?;

    // The child writes a Report here if it fails before exec; a successful
    // exec closes it empty.
    let (exec_r, exec_w) = pipe_with(PipeFlags::CLOEXEC).map_err(|e| setup("pipe", e))?;

    // SAFETY: the helper is single-threaded (checked above), so the child
    // may do anything the parent could, including allocate.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(setup("fork the sandbox init", init::from_nix(e))),
        Ok(ForkResult::Child) => {
            drop((exec_r, control, devnull));
            init::run(&spec, exec_w)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(exec_w);
            // The sandbox owns the standard streams now; holding them would
            // keep kiln's readers from seeing end-of-file.
            for n in 0..=2 {
                // SAFETY: dup2 of a valid fd onto 0-2, which this process
                // does not use as Rust objects.
                unsafe { libc::dup2(devnull.as_raw_fd(), n) };
            }
            drop(devnull);
            let signals =
                SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
                    .map_err(|e| {
                        // SAFETY: kill of our own unreaped child.
                        unsafe { libc::kill(child.as_raw(), libc::SIGKILL) };
                        let _ = waitpid(child, None);
                        setup("signalfd", init::from_nix(e))
                    })?;
            watch(child, exec_r, control, signals, status);
            Ok(())
        }
    }
}

fn setup(step: &str, e: Errno) -> Report {
    Report::Setup(format!("{step}: {}", init::errno_text(e)))
}

fn ensure_single_threaded() -> Result<(), Report> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(|e| protocol(format!("reading /proc/self/task: {e}")))?
        .count();
    if threads != 1 {
        return Err(protocol(format!(
            "the helper has {threads} threads; maybe_run_helper must run before any thread starts"
        )));
    }
    Ok(())
}

fn unshare_namespaces(network: Network) -> Result<(), Report> {
    let mut flags = UnshareFlags::NEWPID | UnshareFlags::NEWUTS | UnshareFlags::NEWIPC;
    if network == Network::None {
        flags |= UnshareFlags::NEWNET;
    }
    // SAFETY: only namespace flags: no fd table or fs state is unshared
    // behind Rust's back.
    match unsafe { rustix::thread::unshare_unsafe(flags | UnshareFlags::NEWCGROUP) } {
        Ok(()) => Ok(()),
        // Kernels without cgroup namespaces.
        Err(Errno::INVAL) => {
            // SAFETY: as above.
            unsafe { rustix::thread::unshare_unsafe(flags) }
                .map_err(|e| setup("unshare namespaces", e))
        }
        Err(e) => Err(setup("unshare namespaces", e)),
    }
}

/// Supervises the sandbox's pid 1 until it is gone, then reports.
fn watch(child: Pid, exec_r: OwnedFd, control: OwnedFd, signals: SignalFd, status: &File) {
    let mut exec_r = Some(File::from(exec_r));
    let mut failure = Vec::new();
    let mut started = false;
    let mut control = Some(File::from(control));
    let mut pending = Vec::new();
    let pid = child.as_raw();

    let exit = loop {
        let mut fds = vec![PollFd::new(&signals, PollFlags::IN)];
        if let Some(f) = &exec_r {
            fds.push(PollFd::new(f, PollFlags::IN));
        }
        if let Some(f) = &control {
            fds.push(PollFd::new(f, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => {
                // Cannot watch any more: do not leave the sandbox behind.
                kill(pid, libc::SIGKILL);
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        let mut i = 1;

        if exec_r.is_some() {
            if ready[i] && read_exec_pipe(&mut exec_r, &mut failure) && failure.is_empty() {
                started = true;
                let _ = Report::Started { pid }.send(status);
            }
            i += 1;
        }
        if control.is_some() && ready[i] && !read_control(&mut control, &mut pending, pid) {
            kill(pid, libc::SIGKILL);
        }

        let mut exited = None;
        while let Ok(Some(info)) = signals.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, code)) => exited = Some(Report::Exited(code)),
                    Ok(WaitStatus::Signaled(_, sig, _)) => {
                        exited = Some(Report::Signaled(sig as i32))
                    }
                    _ => {}
                }
            } else {
                kill(pid, signo);
            }
        }
        if let Some(report) = exited {
            break report;
        }
    };

    // The child is gone, so every write end of the exec pipe is closed:
    // read what is left of it.
    if let Some(mut f) = exec_r.take() {
        let _ = (&mut f)
            .take(crate::protocol::MAX_REPORT_BYTES)
            .read_to_end(&mut failure);
    }
    if !failure.is_empty() {
        let report = serde_json::from_slice::<Report>(&failure).unwrap_or_else(|_| {
            Report::Setup(String::from_utf8_lossy(&failure).trim().to_string())
        });
        let _ = report.send(status);
        return;
    }
    if !started {
        let _ = Report::Started { pid }.send(status);
    }
    let _ = exit.send(status);
}

/// Reads from the exec pipe; returns true when it reached end-of-file.
fn read_exec_pipe(pipe: &mut Option<File>, failure: &mut Vec<u8>) -> bool {
    let Some(f) = pipe.as_mut() else { return true };
    let mut buf = [0u8; 4096];
    match f.read(&mut buf) {
        Ok(0) | Err(_) => {
            *pipe = None;
            true
        }
        Ok(n) => {
            if failure.len() < crate::protocol::MAX_REPORT_BYTES as usize {
                failure.extend_from_slice(&buf[..n]);
            }
            false
        }
    }
}

/// Handles signal requests from kiln; returns false once kiln is gone.
fn read_control(control: &mut Option<File>, pending: &mut Vec<u8>, pid: i32) -> bool {
    let Some(f) = control.as_mut() else {
        return false;
    };
    let mut buf = [0u8; 512];
    match f.read(&mut buf) {
        Ok(0) | Err(_) => {
            *control = None;
            false
        }
        Ok(n) => {
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let sig = std::str::from_utf8(&line)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok());
                if let Some(sig) = sig.filter(|s| (1..=64).contains(s)) {
                    kill(pid, sig);
                }
            }
            if pending.len() > 64 {
                pending.clear();
            }
            true
        }
    }
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) on our own child, which stays unreaped (so its pid
    // cannot be reused) until waitpid in `watch` reports it.
    unsafe { libc::kill(pid, sig) };
}
