//! The sandbox's mount namespace: the root filesystem, `/proc`, `/dev`,
//! `/sys`, masked and read-only kernel paths, the spec's extra mounts and
//! generated `/etc` files, then `pivot_root`.
//!
//! Every mount target inside the new root is resolved with
//! [`inroot::resolve`] and mounted through its `/proc/self/fd` path; after
//! a mount, the target is resolved again to reach the new mount (an fd
//! opened before still points at the directory underneath).

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use super::init::{Failure, errno_text};
use super::inroot::{self, Create, fd_path, file_type};
use crate::{EtcFile, MountKind, Network, Rootfs, SandboxSpec};

/// The largest mount data the legacy `mount(2)` accepts: one page, NUL
/// included.
const MAX_MOUNT_DATA: usize = 4095;

/// Character devices every sandbox gets, as in runc's defaults.
const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Hidden from the sandbox, as in Docker's and BuildKit's default spec.
const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Read-only in the sandbox, as in Docker's and BuildKit's default spec.
const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn fail(step: impl std::fmt::Display, e: Errno) -> Failure {
    Failure::Setup(format!("{step}: {}", errno_text(e)))
}

/// Builds the sandbox's root in a new mount namespace and makes it `/`.
pub(super) fn build_root(spec: &SandboxSpec) -> Result<(), Failure> {
    // SAFETY: a new mount namespace leaves fds and memory alone.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .map_err(|e| fail("unshare the mount namespace", e))?;
    // Nothing mounted from here on may propagate to the caller's namespace.
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(|e| fail("make / rprivate", e))?;

    let target = &spec.mount_point;
    let scratch = Scratch::new(target, &spec.etc_files)?;
    mount_rootfs(&spec.rootfs, target, &scratch)?;
    let root = rustix::fs::open(
        target,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(format_args!("open the root {}", target.display()), e))?;

    mount_proc(&root)?;
    mount_dev(&root)?;
    mount_sys(&root, spec.network)?;
    mask_paths(&root)?;
    for m in &spec.mounts {
        extra_mount(&root, &m.destination, &m.kind)?;
    }
    for (file, source) in spec.etc_files.iter().zip(&scratch.etc_files) {
        etc_file(&root, file, source)?;
    }
    drop(scratch);

    rustix::process::fchdir(&root).map_err(|e| fail("chdir to the new root", e))?;
    // Stack the old root on the new one and detach it: no directory needs
    // to exist for it, and nothing of the host stays reachable.
    rustix::process::pivot_root(".", ".").map_err(|e| fail("pivot_root", e))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH)
        .map_err(|e| fail("detach the old root", e))?;
    rustix::process::chdir("/").map_err(|e| fail("chdir /", e))?;
    Ok(())
}

/// Makes `/` read-only; runs after `pivot_root`, once every mount point
/// and the working directory exist.
pub(super) fn remount_root_readonly() -> Result<(), Failure> {
    rustix::mount::mount_remount("/", MountFlags::BIND | MountFlags::RDONLY, "")
        .map_err(|e| fail("remount / read-only", e))
}

/// A private tmpfs, mounted on the mount point before the root filesystem
/// covers it, holding the generated files and the empty lower directory.
struct Scratch {
    etc_files: Vec<OwnedFd>,
    empty_dir: OwnedFd,
}

impl Scratch {
    fn new(target: &Path, files: &[EtcFile]) -> Result<Scratch, Failure> {
        let bytes: usize = files.iter().map(|f| f.content.len()).sum();
        let data = format!("mode=700,size={}", bytes + (1 << 20));
        let label = target.display().to_string();
        mount_fs(
            "tmpfs",
            target,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            &data,
            &label,
        )?;
        let dir = rustix::fs::open(
            target,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail("open the scratch tmpfs", e))?;
        let mut etc_files = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let name = format!("etc{i}");
            let fd = rustix::fs::openat(
                &dir,
                name.as_str(),
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map_err(|e| fail(format_args!("create the content of {}", f.path), e))?;
            std::fs::File::from(fd)
                .write_all(f.content.as_bytes())
                .map_err(|e| Failure::Setup(format!("write the content of {}: {e}", f.path)))?;
            let fd = rustix::fs::openat(
                &dir,
                name.as_str(),
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| fail(format_args!("open the content of {}", f.path), e))?;
            etc_files.push(fd);
        }
        rustix::fs::mkdirat(&dir, "empty", Mode::from_raw_mode(0o755))
            .map_err(|e| fail("create the empty lower directory", e))?;
        let empty_dir = rustix::fs::openat(
            &dir,
            "empty",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail("open the empty lower directory", e))?;
        Ok(Scratch {
            etc_files,
            empty_dir,
        })
    }
}

/// Mounts a filesystem; `label` names the target in errors (the target
/// itself is often a `/proc/self/fd` path).
fn mount_fs(
    source: &str,
    target: impl AsRef<Path>,
    fstype: &str,
    flags: MountFlags,
    data: &str,
    label: &str,
) -> Result<(), Failure> {
    let data = std::ffi::CString::new(data).map_err(|_| {
        Failure::Setup(format!(
            "mount {fstype} on {label}: options contain a nul byte"
        ))
    })?;
    rustix::mount::mount(source, target.as_ref(), fstype, flags, data.as_c_str())
        .map_err(|e| fail(format_args!("mount {fstype} on {label}"), e))
}

fn mount_rootfs(rootfs: &Rootfs, target: &Path, scratch: &Scratch) -> Result<(), Failure> {
    match rootfs {
        Rootfs::Dir(dir) => rustix::mount::mount_bind_recursive(dir, target).map_err(|e| {
            fail(
                format_args!("bind-mount root {} on {}", dir.display(), target.display()),
                e,
            )
        }),
        Rootfs::Overlay {
            lowerdirs,
            upperdir,
            workdir,
        } => mount_overlay(lowerdirs, upperdir, workdir, target, scratch),
    }
}

/// Rejects paths overlayfs would split or unescape.
fn overlay_path(p: &Path) -> Result<&[u8], Failure> {
    let b = p.as_os_str().as_bytes();
    if b.is_empty() || b.iter().any(|c| matches!(c, b',' | b':' | b'\\' | b'\0')) {
        return Err(Failure::Setup(format!(
            "overlay path {} is empty or contains ',', ':', '\\' or nul",
            p.display()
        )));
    }
    Ok(b)
}

/// The deepest directory holding all of `dirs` (their common parent).
fn common_parent(dirs: &[PathBuf]) -> Option<PathBuf> {
    let mut common = dirs.first()?.parent()?.to_path_buf();
    for d in &dirs[1..] {
        while !d.starts_with(&common) || d == &common {
            common = common.parent()?.to_path_buf();
        }
    }
    Some(common)
}

fn mount_overlay(
    lowerdirs: &[PathBuf],
    upperdir: &Path,
    workdir: &Path,
    target: &Path,
    scratch: &Scratch,
) -> Result<(), Failure> {
    let mut lowers: Vec<Vec<u8>> = Vec::new();
    if lowerdirs.is_empty() {
        lowers.push(fd_path(&scratch.empty_dir).into_bytes());
    } else {
        // Relative lowerdirs, resolved against our cwd at mount time, keep
        // long layer lists under the one-page limit (BuildKit's
        // compactLongOverlayMount).
        let base = common_parent(lowerdirs).filter(|c| c.as_os_str().len() > 1);
        if let Some(base) = &base {
            rustix::process::chdir(base)
                .map_err(|e| fail(format_args!("chdir to {}", base.display()), e))?;
        }
        for l in lowerdirs {
            overlay_path(l)?;
            let rel = base
                .as_ref()
                .and_then(|b| l.strip_prefix(b).ok())
                .unwrap_or(l);
            lowers.push(rel.as_os_str().as_bytes().to_vec());
        }
    }
    let upper = overlay_path(upperdir)?;
    let work = overlay_path(workdir)?;
    // With the index on, overlayfs ties the upper dir to the exact lower
    // dirs; kiln remounts uppers on other lower paths (as containerd does).
    let index_off = Path::new("/sys/module/overlay/parameters/index").exists();

    let mut data = b"lowerdir=".to_vec();
    data.extend_from_slice(&lowers.join(&b':'));
    data.extend_from_slice(b",upperdir=");
    data.extend_from_slice(upper);
    data.extend_from_slice(b",workdir=");
    data.extend_from_slice(work);
    if index_off {
        data.extend_from_slice(b",index=off");
    }
    let result = if data.len() <= MAX_MOUNT_DATA {
        let data = std::ffi::CString::new(data)
            .map_err(|_| Failure::Setup("overlay options contain a nul byte".to_string()))?;
        rustix::mount::mount(
            "overlay",
            target,
            "overlay",
            MountFlags::empty(),
            data.as_c_str(),
        )
        .map_err(|e| fail(format_args!("mount overlay on {}", target.display()), e))
    } else {
        overlay_with_fsconfig(&lowers, upper, work, index_off, target)
    };
    rustix::process::chdir("/").map_err(|e| fail("chdir /", e))?;
    result
}

/// Mounts overlayfs with one `lowerdir+` per layer (Linux 6.8+), for layer
/// lists too long for one page of mount data.
fn overlay_with_fsconfig(
    lowers: &[Vec<u8>],
    upper: &[u8],
    work: &[u8],
    index_off: bool,
    target: &Path,
) -> Result<(), Failure> {
    use rustix::mount::{
        FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, fsconfig_create,
        fsconfig_set_string, fsmount, fsopen, move_mount,
    };
    let step = |what: &str, e: Errno| {
        fail(
            format_args!(
                "mount overlay with {} lowerdirs on {} ({what}; the options exceed a page, so this needs Linux 6.8+)",
                lowers.len(),
                target.display()
            ),
            e,
        )
    };
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| step("fsopen", e))?;
    for l in lowers {
        fsconfig_set_string(&fs, "lowerdir+", l.as_slice())
            .map_err(|e| step(&format!("lowerdir+ {}", String::from_utf8_lossy(l)), e))?;
    }
    fsconfig_set_string(&fs, "upperdir", upper).map_err(|e| step("upperdir", e))?;
    fsconfig_set_string(&fs, "workdir", work).map_err(|e| step("workdir", e))?;
    if index_off {
        fsconfig_set_string(&fs, "index", "off").map_err(|e| step("index", e))?;
    }
    fsconfig_create(&fs).map_err(|e| step("create", e))?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| step("fsmount", e))?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| step("move_mount", e))
}

/// Resolves `path` in the root, creating it as a directory if missing.
fn dir_in_root(root: &OwnedFd, path: &str) -> Result<OwnedFd, Failure> {
    let fd = inroot::resolve(root, path, Create::Dir, None)
        .map_err(|e| fail(format_args!("resolve {path} in the root"), e))?;
    match file_type(&fd) {
        Ok(FileType::Directory) => Ok(fd),
        Ok(_) => Err(Failure::Setup(format!(
            "{path} in the root is not a directory"
        ))),
        Err(e) => Err(fail(format_args!("stat {path}"), e)),
    }
}

fn mount_id(fd: &OwnedFd) -> Option<u64> {
    let st = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID).ok()?;
    StatxFlags::from_bits_retain(st.stx_mask)
        .contains(StatxFlags::MNT_ID)
        .then_some(st.stx_mnt_id)
}

/// Resolves `path` again after something was mounted on `before`, and
/// checks that the result is that new mount.
fn reopen(root: &OwnedFd, path: &str, before: &OwnedFd) -> Result<OwnedFd, Failure> {
    let fd = inroot::resolve(root, path, Create::No, None)
        .map_err(|e| fail(format_args!("resolve {path} after mounting"), e))?;
    if let (Some(a), Some(b)) = (mount_id(before), mount_id(&fd))
        && a == b
    {
        return Err(Failure::Setup(format!(
            "{path} changed while it was being mounted"
        )));
    }
    Ok(fd)
}

fn bind(source: &str, target: &OwnedFd, what: &str) -> Result<(), Failure> {
    rustix::mount::mount_bind_recursive(source, fd_path(target).as_str())
        .map_err(|e| fail(format_args!("bind-mount {what}"), e))
}

/// Remounts the bind mount at `path` (just mounted on `before`) read-only.
fn make_readonly(
    root: &OwnedFd,
    path: &str,
    before: &OwnedFd,
    extra: MountFlags,
) -> Result<(), Failure> {
    let fd = reopen(root, path, before)?;
    rustix::mount::mount_remount(
        fd_path(&fd).as_str(),
        MountFlags::BIND | MountFlags::RDONLY | extra,
        "",
    )
    .map_err(|e| fail(format_args!("remount {path} read-only"), e))
}

fn mount_proc(root: &OwnedFd) -> Result<(), Failure> {
    let proc = dir_in_root(root, "/proc")?;
    mount_fs(
        "proc",
        fd_path(&proc),
        "proc",
        MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV,
        "",
        "/proc",
    )
}

fn mount_dev(root: &OwnedFd) -> Result<(), Failure> {
    let under = dir_in_root(root, "/dev")?;
    mount_fs(
        "tmpfs",
        fd_path(&under),
        "tmpfs",
        MountFlags::NOSUID | MountFlags::STRICTATIME,
        "mode=755,size=65536k",
        "/dev",
    )?;
    let dev = reopen(root, "/dev", &under)?;

    for (name, major, minor) in DEVICES {
        let made = rustix::fs::mknodat(
            &dev,
            name,
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(major, minor),
        );
        match made {
            Ok(()) => {}
            // No CAP_MKNOD (nested in a container): bind the host's node.
            Err(Errno::PERM) => {
                let f = rustix::fs::openat(
                    &dev,
                    name,
                    OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o666),
                )
                .map_err(|e| fail(format_args!("create /dev/{name}"), e))?;
                let host = format!("/dev/{name}");
                rustix::mount::mount_bind(host.as_str(), fd_path(&f).as_str())
                    .map_err(|e| fail(format_args!("bind-mount {host} on /dev/{name}"), e))?;
            }
            Err(e) => return Err(fail(format_args!("mknod /dev/{name}"), e)),
        }
    }
    for (name, target) in DEV_LINKS {
        rustix::fs::symlinkat(target, &dev, name)
            .map_err(|e| fail(format_args!("symlink /dev/{name}"), e))?;
    }
    let subdir = |name: &str, mode: u32| -> Result<OwnedFd, Failure> {
        rustix::fs::mkdirat(&dev, name, Mode::from_raw_mode(mode))
            .map_err(|e| fail(format_args!("mkdir /dev/{name}"), e))?;
        rustix::fs::openat(
            &dev,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(format_args!("open /dev/{name}"), e))
    };
    let noexec = MountFlags::NOSUID | MountFlags::NOEXEC;
    let pts = subdir("pts", 0o755)?;
    mount_fs(
        "devpts",
        fd_path(&pts),
        "devpts",
        noexec,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
        "/dev/pts",
    )?;
    let shm = subdir("shm", 0o1777)?;
    mount_fs(
        "shm",
        fd_path(&shm),
        "tmpfs",
        noexec | MountFlags::NODEV,
        "mode=1777,size=65536k",
        "/dev/shm",
    )?;
    let mqueue = subdir("mqueue", 0o755)?;
    mount_fs(
        "mqueue",
        fd_path(&mqueue),
        "mqueue",
        noexec | MountFlags::NODEV,
        "",
        "/dev/mqueue",
    )?;
    Ok(())
}

fn mount_sys(root: &OwnedFd, network: Network) -> Result<(), Failure> {
    let sys = dir_in_root(root, "/sys")?;
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
    match network {
        Network::None => mount_fs(
            "sysfs",
            fd_path(&sys),
            "sysfs",
            flags | MountFlags::RDONLY,
            "",
            "/sys",
        ),
        // sysfs shows the network devices of the mounter's namespace; with
        // the host's network, show the host's /sys, read-only. A plain
        // (not recursive) bind leaves no writable submount behind.
        Network::Host => {
            rustix::mount::mount_bind("/sys", fd_path(&sys).as_str())
                .map_err(|e| fail("bind-mount the host's /sys on /sys", e))?;
            make_readonly(root, "/sys", &sys, flags)
        }
    }
}

fn mask_paths(root: &OwnedFd) -> Result<(), Failure> {
    for path in MASKED {
        let fd = match inroot::resolve(root, path, Create::No, None) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => continue,
            Err(e) => return Err(fail(format_args!("resolve {path}"), e)),
        };
        let ty = file_type(&fd).map_err(|e| fail(format_args!("stat {path}"), e))?;
        if ty == FileType::Directory {
            mount_fs(
                "tmpfs",
                fd_path(&fd),
                "tmpfs",
                MountFlags::RDONLY,
                "size=0",
                path,
            )?;
        } else {
            rustix::mount::mount_bind("/dev/null", fd_path(&fd).as_str())
                .map_err(|e| fail(format_args!("mask {path}"), e))?;
        }
    }
    for path in READONLY {
        let fd = match inroot::resolve(root, path, Create::No, None) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => continue,
            Err(e) => return Err(fail(format_args!("resolve {path}"), e)),
        };
        bind(&fd_path(&fd), &fd, path)?;
        make_readonly(
            root,
            path,
            &fd,
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        )?;
    }
    Ok(())
}

fn extra_mount(root: &OwnedFd, destination: &str, kind: &MountKind) -> Result<(), Failure> {
    if inroot_is_root(destination) {
        return Err(Failure::Setup(format!(
            "mount destination {destination:?} is the root"
        )));
    }
    match kind {
        MountKind::Tmpfs { size } => {
            let target = dir_in_root(root, destination)?;
            let data = size.map(|s| format!("size={s}")).unwrap_or_default();
            mount_fs(
                "tmpfs",
                fd_path(&target),
                "tmpfs",
                MountFlags::NOSUID,
                &data,
                destination,
            )
        }
        MountKind::Bind { source, readonly } => {
            let src = rustix::fs::open(source, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| fail(format_args!("open bind source {}", source.display()), e))?;
            let src_dir = file_type(&src)
                .map_err(|e| fail(format_args!("stat bind source {}", source.display()), e))?
                == FileType::Directory;
            let create = if src_dir { Create::Dir } else { Create::File };
            let target = inroot::resolve(root, destination, create, None)
                .map_err(|e| fail(format_args!("resolve {destination} in the root"), e))?;
            let dst_dir = file_type(&target)
                .map_err(|e| fail(format_args!("stat {destination}"), e))?
                == FileType::Directory;
            if src_dir != dst_dir {
                return Err(Failure::Setup(format!(
                    "cannot bind-mount {} on {destination}: one is a directory, the other is not",
                    source.display()
                )));
            }
            bind(
                &fd_path(&src),
                &target,
                &format!("{} on {destination}", source.display()),
            )?;
            if *readonly {
                make_readonly(root, destination, &target, MountFlags::empty())?;
            }
            Ok(())
        }
    }
}

fn inroot_is_root(path: &str) -> bool {
    path.split('/').all(|c| c.is_empty() || c == ".")
}

fn etc_file(root: &OwnedFd, file: &EtcFile, source: &OwnedFd) -> Result<(), Failure> {
    let path = file.path.as_str();
    let create = if file.create_missing {
        Create::File
    } else {
        Create::No
    };
    let target = match inroot::resolve(root, path, create, None) {
        Ok(fd) => fd,
        // Build steps only cover files the image has: a created stub would
        // end up in the layer.
        Err(Errno::NOENT) if !file.create_missing => return Ok(()),
        Err(e) => return Err(fail(format_args!("resolve {path} in the root"), e)),
    };
    if file_type(&target).map_err(|e| fail(format_args!("stat {path}"), e))? == FileType::Directory
    {
        return Err(Failure::Setup(format!("{path} in the root is a directory")));
    }
    rustix::mount::mount_bind(fd_path(source).as_str(), fd_path(&target).as_str())
        .map_err(|e| fail(format_args!("bind-mount the generated {path}"), e))?;
    make_readonly(root, path, &target, MountFlags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_parent_of_layers() {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            common_parent(&p(&["/s/l/1/fs", "/s/l/2/fs"])),
            Some(PathBuf::from("/s/l"))
        );
        assert_eq!(
            common_parent(&p(&["/s/l/1", "/s/l/2"])),
            Some(PathBuf::from("/s/l"))
        );
        assert_eq!(common_parent(&p(&["/s/l/1"])), Some(PathBuf::from("/s/l")));
        assert_eq!(
            common_parent(&p(&["/a/x", "/b/y"])),
            Some(PathBuf::from("/"))
        );
        assert_eq!(common_parent(&p(&["/a/x", "/a"])), Some(PathBuf::from("/")));
    }
}
