//! Path resolution inside a root filesystem that symlinks cannot leave
//! (security.md R1): a component-by-component `O_NOFOLLOW` walk from a
//! directory fd, where `..` stops at the root and absolute symlinks restart
//! at the root, as if the tree were chrooted. Optionally creates what is
//! missing along the way.
//!
//! Symlink targets are read as text, never followed by the kernel, so
//! magic links such as `/proc/self/root` cannot lead out either. Callers
//! mount onto the returned `O_PATH` fd through `/proc/self/fd/N` (R2).

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

/// Symlinks followed per resolution before giving up, as the kernel does.
const MAX_SYMLINKS: usize = 40;

/// What to do when a component is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Create {
    /// Fail with `ENOENT`.
    No,
    /// Create missing directories, the last one included.
    Dir,
    /// Create missing directories and an empty file as the last component.
    File,
}

/// The file type of an fd.
pub(super) fn file_type(fd: impl AsFd) -> Result<FileType, Errno> {
    Ok(FileType::from_raw_mode(rustix::fs::fstat(fd)?.st_mode))
}

/// The `/proc/self/fd` path of `fd`, for syscalls that take paths.
pub(super) fn fd_path(fd: &OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
}

fn open_path(dir: &OwnedFd, name: &[u8]) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, Errno> {
    rustix::io::fcntl_dupfd_cloexec(fd, 0)
}

/// Resolves `path` inside `root` and returns an `O_PATH` fd to it. Created
/// directories get mode 0755 (files 0644) under the caller's umask and,
/// with `owner`, that uid and gid.
pub(super) fn resolve(
    root: &OwnedFd,
    path: &str,
    create: Create,
    owner: Option<(u32, u32)>,
) -> Result<OwnedFd, Errno> {
    let mut todo: VecDeque<Vec<u8>> = components(path.as_bytes()).collect();
    // The directories above `current`, so that `..` can go back up without
    // asking the kernel, which would not stop at our root.
    let mut above: Vec<OwnedFd> = Vec::new();
    let mut current = dup(root)?;
    let mut links = 0;

    while let Some(name) = todo.pop_front() {
        if name == b".." {
            current = match above.pop() {
                Some(parent) => parent,
                None => dup(root)?,
            };
            continue;
        }
        let fd = match open_path(&current, &name) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create != Create::No => {
                let last = todo.is_empty();
                let made = if last && create == Create::File {
                    rustix::fs::openat(
                        &current,
                        name.as_slice(),
                        OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::WRONLY
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )
                    .map(drop)
                } else {
                    rustix::fs::mkdirat(&current, name.as_slice(), Mode::from_raw_mode(0o755))
                };
                match made {
                    Ok(()) => {
                        if let Some((uid, gid)) = owner {
                            rustix::fs::chownat(
                                &current,
                                name.as_slice(),
                                Some(Uid::from_raw_unchecked(uid)),
                                Some(Gid::from_raw_unchecked(gid)),
                                AtFlags::SYMLINK_NOFOLLOW,
                            )?;
                        }
                    }
                    // Someone else made it meanwhile: look again.
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                open_path(&current, &name)?
            }
            Err(e) => return Err(e),
        };
        match file_type(&fd)? {
            FileType::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::LOOP);
                }
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
                let target = target.as_bytes();
                if target.first() == Some(&b'/') {
                    above.clear();
                    current = dup(root)?;
                }
                for c in components(target).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(c);
                }
            }
            FileType::Directory => above.push(std::mem::replace(&mut current, fd)),
            _ if todo.is_empty() => {
                above.push(std::mem::replace(&mut current, fd));
            }
            _ => return Err(Errno::NOTDIR),
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn open_dir(p: &std::path::Path) -> OwnedFd {
        rustix::fs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    fn real_path(fd: &OwnedFd) -> std::path::PathBuf {
        std::fs::read_link(fd_path(fd)).unwrap()
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink(format!("/../..{}", outside.display()), root.join("abs")).unwrap();
        symlink("../../../..", root.join("a/up")).unwrap();
        symlink("/proc/self/root", root.join("magic")).unwrap();
        let root_fd = open_dir(&root);

        let fd = resolve(&root_fd, "/abs", Create::Dir, None).unwrap();
        let got = real_path(&fd);
        assert!(got.starts_with(&root), "{got:?} escaped");
        assert!(root.join(outside.strip_prefix("/").unwrap()).is_dir());

        let fd = resolve(&root_fd, "a/up/a/b/../../..", Create::No, None).unwrap();
        assert_eq!(real_path(&fd), root);

        // The magic link is read as text: "/proc/self/root" inside the root.
        let err = resolve(&root_fd, "/magic/etc", Create::No, None).unwrap_err();
        assert_eq!(err, Errno::NOENT);
        let fd = resolve(&root_fd, "/magic/x", Create::Dir, None).unwrap();
        assert_eq!(real_path(&fd), root.join("proc/self/root/x"));
    }

    #[test]
    fn creates_files_and_reports_loops() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        symlink("loop", root.join("loop")).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        let root_fd = open_dir(root);
        assert_eq!(
            resolve(&root_fd, "/loop", Create::No, None).unwrap_err(),
            Errno::LOOP
        );
        assert_eq!(
            resolve(&root_fd, "/file/x", Create::Dir, None).unwrap_err(),
            Errno::NOTDIR
        );
        let fd = resolve(&root_fd, "/d/e/f.txt", Create::File, None).unwrap();
        assert_eq!(file_type(&fd).unwrap(), FileType::RegularFile);
        assert!(root.join("d/e/f.txt").is_file());
    }
}
