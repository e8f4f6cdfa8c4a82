//! The sandbox's pid 1 between fork and exec: it builds the root, sets the
//! hostname and loopback, resolves the user, drops capabilities, switches
//! user, enters the working directory, closes every other fd and executes
//! the process. A failure is written to the exec pipe as a [`Report`] and
//! ends the child; a successful exec closes that pipe empty.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::{Gid, Uid};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::inroot::{self, Create, fd_path, file_type};
use super::mounts;
use crate::protocol::Report;
use crate::user::{self, MAX_USER_FILE_BYTES, ResolvedUser, UserError};
use crate::{Network, Process, SandboxSpec};

/// `PATH` when the spec's environment has none (runc's and Docker's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the child could not execute the process.
pub(super) type Failure = Report;

/// Docker's default capability set (`CapBnd: 00000000a80425fb`).
fn default_caps() -> CapabilitySet {
    CapabilitySet::CHOWN
        | CapabilitySet::DAC_OVERRIDE
        | CapabilitySet::FSETID
        | CapabilitySet::FOWNER
        | CapabilitySet::MKNOD
        | CapabilitySet::NET_RAW
        | CapabilitySet::SETGID
        | CapabilitySet::SETUID
        | CapabilitySet::SETFCAP
        | CapabilitySet::SETPCAP
        | CapabilitySet::NET_BIND_SERVICE
        | CapabilitySet::SYS_CHROOT
        | CapabilitySet::KILL
        | CapabilitySet::AUDIT_WRITE
}

/// An errno as text without Rust's "(os error N)" suffix, lower-case.
pub(super) fn errno_text(e: Errno) -> String {
    let text = std::io::Error::from_raw_os_error(e.raw_os_error()).to_string();
    let text = match text.rfind(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// nix's errno as rustix's.
pub(super) fn from_nix(e: nix::errno::Errno) -> Errno {
    Errno::from_raw_os_error(e as i32)
}

fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

fn fail(step: impl std::fmt::Display, e: Errno) -> Failure {
    Report::Setup(format!("{step}: {}", errno_text(e)))
}

/// Runs in the forked child; never returns.
pub(super) fn run(spec: &SandboxSpec, exec_w: OwnedFd) -> ! {
    // A panic must not print into the sandbox's stderr nor unwind into the
    // helper's code: it becomes a setup error like any other.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        prepare_and_exec(spec, &exec_w)
    }));
    let report = match outcome {
        Ok(Err(report)) => report,
        Ok(Ok(never)) => match never {},
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Report::Setup(format!("sandbox init panicked: {what}"))
        }
    };
    let _ = report.send(File::from(exec_w));
    // SAFETY: _exit skips the parent's atexit handlers and buffers, which
    // this forked copy must not run.
    unsafe { libc::_exit(1) }
}

fn prepare_and_exec(spec: &SandboxSpec, exec_w: &OwnedFd) -> Result<Infallible, Failure> {
    let kill = Some(rustix::process::Signal::KILL);
    rustix::process::set_parent_process_death_signal(kill)
        .map_err(|e| fail("set the parent-death signal", e))?;
    // Out of kiln's session and process group: a terminal's ^C reaches
    // kiln, which decides what the sandbox gets.
    nix::unistd::setsid().map_err(|e| fail("setsid", from_nix(e)))?;
    // Exact modes for everything we create; the process gets 022 back.
    rustix::process::umask(Mode::empty());

    mounts::build_root(spec)?;

    rustix::system::sethostname(spec.hostname.as_bytes())
        .map_err(|e| fail(format_args!("set hostname {:?}", spec.hostname), e))?;
    if spec.network == Network::None {
        loopback_up()?;
    }

    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail("open /", e))?;
    let passwd = read_user_file(&root, "/etc/passwd").map_err(Report::User)?;
    let group = read_user_file(&root, "/etc/group").map_err(Report::User)?;
    let user = user::resolve(&spec.process.user, &passwd, &group).map_err(Report::User)?;

    let cwd = working_dir(&root, &spec.process.cwd, &user)?;
    drop(root);
    if spec.readonly_rootfs {
        mounts::remount_root_readonly()?;
    }
    // As root, so that a directory the user cannot search still works, as
    // with runc.
    rustix::process::fchdir(&cwd)
        .map_err(|e| fail(format_args!("chdir to {}", spec.process.cwd), e))?;
    drop(cwd);

    drop_capabilities()?;
    switch_user(&user)?;
    // Changing credentials clears the parent-death signal.
    rustix::process::set_parent_process_death_signal(kill)
        .map_err(|e| fail("set the parent-death signal", e))?;

    close_other_fds(exec_w.as_raw_fd())?;
    reset_signals()?;
    rustix::process::umask(Mode::from_raw_mode(0o022));
    Err(exec(&spec.process))
}

fn loopback_up() -> Result<(), Failure> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| fail("open a socket to bring lo up", from_nix(e)))?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads into the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(fail("read the flags of lo", last_errno()));
    }
    // SAFETY: the union field SIOCGIFFLAGS filled in.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(fail("bring lo up", last_errno()));
    }
    Ok(())
}

/// Reads `/etc/passwd` or `/etc/group` of the new root: regular files
/// only, at most [`MAX_USER_FILE_BYTES`]; a missing file reads as empty.
fn read_user_file(root: &OwnedFd, path: &str) -> Result<String, UserError> {
    let read_err = |e: Errno| UserError::Read {
        path: path.to_string(),
        message: errno_text(e),
    };
    let fd = match inroot::resolve(root, path, Create::No, None) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(String::new()),
        Err(e) => return Err(read_err(e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(read_err)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(UserError::NotRegular(path.to_string()));
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_USER_FILE_BYTES {
        return Err(UserError::TooLarge(path.to_string()));
    }
    // Reopen the checked O_PATH fd for reading: no second path lookup.
    let file = rustix::fs::open(
        fd_path(&fd).as_str(),
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(read_err)?;
    let mut bytes = Vec::new();
    File::from(file)
        .take(MAX_USER_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UserError::Read {
            path: path.to_string(),
            message: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_USER_FILE_BYTES {
        return Err(UserError::TooLarge(path.to_string()));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Resolves the working directory in the root, creating what is missing
/// owned by the user (as BuildKit's executor does).
fn working_dir(root: &OwnedFd, cwd: &str, user: &ResolvedUser) -> Result<OwnedFd, Failure> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    let fd = inroot::resolve(root, cwd, Create::Dir, Some((user.uid, user.gid)))
        .map_err(|e| fail(format_args!("create working directory {cwd}"), e))?;
    match file_type(&fd) {
        Ok(FileType::Directory) => Ok(fd),
        Ok(_) => Err(Report::Setup(format!(
            "working directory {cwd} is not a directory"
        ))),
        Err(e) => Err(fail(format_args!("stat working directory {cwd}"), e)),
    }
}

fn drop_capabilities() -> Result<(), Failure> {
    let keep = default_caps();
    for bit in 0..64u32 {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        if keep.contains(cap) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            // Past the kernel's last capability.
            Ok(()) | Err(Errno::INVAL) => {}
            Err(e) => {
                return Err(fail(
                    format_args!("drop capability {bit} from the bounding set"),
                    e,
                ));
            }
        }
    }
    match rustix::thread::clear_ambient_capability_set() {
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => return Err(fail("clear the ambient capabilities", e)),
    }
    // A non-root user loses the permitted and effective sets at setuid.
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: keep,
            permitted: keep,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(|e| fail("set capabilities", e))
}

fn switch_user(user: &ResolvedUser) -> Result<(), Failure> {
    // The primary group leads the list, as BuildKit's ensureAdditionalGids.
    let mut groups = vec![Gid::from_raw(user.gid)];
    for &g in &user.additional_gids {
        if !groups.contains(&Gid::from_raw(g)) {
            groups.push(Gid::from_raw(g));
        }
    }
    nix::unistd::setgroups(&groups).map_err(|e| {
        fail(
            format_args!("setgroups {:?}", user.additional_gids),
            from_nix(e),
        )
    })?;
    nix::unistd::setgid(Gid::from_raw(user.gid))
        .map_err(|e| fail(format_args!("setgid {}", user.gid), from_nix(e)))?;
    nix::unistd::setuid(Uid::from_raw(user.uid))
        .map_err(|e| fail(format_args!("setuid {}", user.uid), from_nix(e)))
}

/// Closes every fd above 2 except `keep` (the close-on-exec exec pipe).
fn close_other_fds(keep: i32) -> Result<(), Failure> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Report::Setup(format!("list /proc/self/fd: {e}")))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds.into_iter().filter(|&fd| fd > 2 && fd != keep) {
        // SAFETY: no Rust object in this process owns these fds any more
        // (every OwnedFd of the set-up is dropped); EBADF for the directory
        // stream read_dir already closed is harmless.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Signals ignored or blocked in the helper would stay so across exec.
fn reset_signals() -> Result<(), Failure> {
    // The kernel's struct sigaction; all zero is SIG_DFL with no flags.
    let default = [0u64; 8];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction installing SIG_DFL from a zeroed buffer as
        // large as any architecture's struct sigaction. The raw syscall
        // also reaches the signals glibc keeps for itself (32, 33), which
        // an inherited SIG_IGN would otherwise leave ignored.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| fail("unblock signals", from_nix(e)))
}

fn is_executable(path: &str) -> bool {
    match rustix::fs::stat(path) {
        Ok(st) => {
            FileType::from_raw_mode(st.st_mode) != FileType::Directory && st.st_mode & 0o111 != 0
        }
        Err(_) => false,
    }
}

/// Executes the process; returns only on failure.
fn exec(process: &Process) -> Failure {
    let program = process.args[0].clone();
    let exec_error = |errno: Errno, message: String| Report::Exec {
        program: program.clone(),
        errno: errno.raw_os_error(),
        message,
    };
    let cstrings = |v: &[String]| -> Option<Vec<CString>> {
        v.iter().map(|s| CString::new(s.as_bytes()).ok()).collect()
    };
    let (Some(argv), Some(envp)) = (cstrings(&process.args), cstrings(&process.env)) else {
        return exec_error(
            Errno::INVAL,
            "argument or environment contains a nul byte".into(),
        );
    };

    let path = if program.contains('/') {
        program.clone()
    } else {
        let search = process
            .env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        let found = search
            .split(':')
            .map(|dir| if dir.is_empty() { "." } else { dir })
            .map(|dir| format!("{dir}/{program}"))
            .find(|candidate| is_executable(candidate));
        match found {
            Some(p) => p,
            None => {
                return exec_error(
                    Errno::NOENT,
                    format!("exec: {program:?}: executable file not found in $PATH"),
                );
            }
        }
    };
    let Ok(cpath) = CString::new(path.as_bytes()) else {
        return exec_error(
            Errno::INVAL,
            format!("exec {path:?}: path contains a nul byte"),
        );
    };
    match nix::unistd::execve(&cpath, &argv, &envp) {
        Err(e) => {
            let e = from_nix(e);
            exec_error(e, format!("exec {path}: {}", errno_text(e)))
        }
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_lower_case_without_suffix() {
        assert_eq!(errno_text(Errno::NOENT), "no such file or directory");
        assert_eq!(errno_text(Errno::ACCESS), "permission denied");
    }

    #[test]
    fn default_caps_match_docker() {
        assert_eq!(default_caps().bits(), 0xa80425fb);
    }
}
