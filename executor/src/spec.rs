//! What a sandbox is asked to be: a root filesystem, a process and the
//! namespaces around it. The caller fills it in; the helper carries it out.
//!
//! The spec travels from kiln to the re-exec'd helper as JSON, so every type
//! here is plain data with no host state (no fds, no pids).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything the helper needs to start one sandboxed process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The root filesystem the process sees as `/`.
    pub rootfs: Rootfs,
    /// An empty directory on the host where the helper mounts the root
    /// filesystem inside its private mount namespace before `pivot_root`.
    pub mount_point: PathBuf,
    /// The process to run as pid 1 of a new pid namespace.
    pub process: Process,
    /// Hostname inside the new UTS namespace.
    pub hostname: String,
    /// Network namespace choice.
    pub network: Network,
    /// Extra mounts, applied in order after `/proc`, `/dev` and `/sys`.
    pub mounts: Vec<Mount>,
    /// Generated files (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`)
    /// bind-mounted read-only over the rootfs.
    pub etc_files: Vec<EtcFile>,
    /// Mount the root filesystem read-only.
    pub readonly_rootfs: bool,
}

/// The root filesystem of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rootfs {
    /// An overlay the helper mounts itself, so that it disappears with the
    /// sandbox's mount namespace. `lowerdirs` are ordered top-most first, as
    /// overlayfs wants them; an empty list means an empty base.
    Overlay {
        /// Read-only layers, top-most first.
        lowerdirs: Vec<PathBuf>,
        /// Where writes go.
        upperdir: PathBuf,
        /// overlayfs work directory, on the same filesystem as `upperdir`.
        workdir: PathBuf,
    },
    /// A plain directory (the copy snapshotter), bind-mounted as the root.
    Dir(PathBuf),
}

/// The process to execute inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// argv; `args[0]` without a `/` is looked up in the `PATH` of `env`
    /// inside the sandbox.
    pub args: Vec<String>,
    /// The exact environment, `KEY=value` strings.
    pub env: Vec<String>,
    /// Working directory inside the sandbox; created if missing.
    pub cwd: String,
    /// Docker `USER` syntax: `""` (root), `name`, `uid`, `name:group`,
    /// `uid:gid`. Resolved against the sandbox's own `/etc/passwd` and
    /// `/etc/group`, never through the host's NSS.
    pub user: String,
    /// What stdin, stdout and stderr are connected to.
    pub stdio: StdioSpec,
}

/// Where the three standard streams of the process go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdioSpec {
    /// Standard input.
    pub stdin: Stdio,
    /// Standard output.
    pub stdout: Stdio,
    /// Standard error.
    pub stderr: Stdio,
}

/// One standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stdio {
    /// `/dev/null`.
    Null,
    /// The caller's own stream.
    Inherit,
    /// A pipe the caller reads or writes through [`crate::Child`].
    Piped,
}

/// Network namespace mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// A new network namespace with only loopback, brought up.
    None,
    /// The host's network namespace (an entitlement the caller checks).
    Host,
}

/// An extra mount inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Absolute path inside the sandbox; resolved inside the root (symlinks
    /// never lead out of it) and created if missing.
    pub destination: String,
    /// What is mounted.
    pub kind: MountKind,
}

/// The kinds of extra mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountKind {
    /// A host file or directory.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Mount it read-only.
        readonly: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Size limit in bytes; `None` for the kernel default.
        size: Option<u64>,
    },
}

/// A generated file bind-mounted read-only at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcFile {
    /// Absolute path inside the sandbox, e.g. `/etc/hosts`.
    pub path: String,
    /// File content.
    pub content: String,
    /// If the rootfs lacks the file: create an empty one to mount over
    /// (containers) or skip it (build steps, whose writes become layers).
    pub create_missing: bool,
}

/// How the sandboxed process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// Normal exit with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The code a shell would report: the exit code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }

    /// True for `Exited(0)`.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}
