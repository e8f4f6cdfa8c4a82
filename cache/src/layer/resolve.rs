//! Resolving paths inside a root directory on directory fds, as if the
//! root were `/` (security.md R1), and the fd-relative helpers the applier
//! builds on.
//!
//! Parents are opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
//! the kernel resolves `..` and absolute symlinks against the root, so
//! `var/run -> /run` leads to `<root>/run` and nothing leads out. When a
//! directory is missing (and is to be created) or openat2 is unavailable
//! (old kernels, seccomp filters in nested CI containers), a walk opens
//! one component at a time with `O_NOFOLLOW` from the previous directory
//! fd, reads symlinks itself, restarts absolute ones at the root and keeps
//! a stack of fds for `..`, so no lookup ever goes above the root either.
//! Final components are always handled with `*at` calls on the parent fd
//! that do not follow symlinks.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, unlinkat};

/// Symlinks followed while resolving one path before giving up (ELOOP),
/// the kernel's own limit.
const MAX_SYMLINKS: u32 = 40;

pub(crate) const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// A root directory and a one-entry cache of the last parent resolved.
pub(crate) struct Root {
    fd: OwnedFd,
    use_openat2: bool,
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
}

impl Root {
    pub(crate) fn open(path: &Path) -> nix::Result<Root> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            use_openat2: true,
            cache: None,
        })
    }

    /// Makes every later resolution take the component walk.
    #[cfg(test)]
    pub(crate) fn without_openat2(mut self) -> Root {
        self.use_openat2 = false;
        self
    }

    /// Forgets the cached parent; called after anything was removed or
    /// replaced, since that can change what a path resolves to.
    pub(crate) fn invalidate(&mut self) {
        self.cache = None;
    }

    /// Opens the directory at `comps` (cleaned components) inside the root,
    /// following symlinks as if the root were `/`. With `create`, missing
    /// directories are made (0755, owned by 0:0).
    pub(crate) fn dir(&mut self, comps: &[&[u8]], create: bool) -> nix::Result<Rc<OwnedFd>> {
        let key = comps.join(&b'/');
        if let Some((cached, fd)) = &self.cache
            && *cached == key
        {
            return Ok(fd.clone());
        }
        let fd = Rc::new(self.resolve(&key, comps, create)?);
        self.cache = Some((key, fd.clone()));
        Ok(fd)
    }

    fn resolve(&mut self, joined: &[u8], comps: &[&[u8]], create: bool) -> nix::Result<OwnedFd> {
        if comps.is_empty() {
            return self.fd.try_clone().map_err(io_errno);
        }
        if self.use_openat2 {
            let how = OpenHow::new()
                .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            for _ in 0..4 {
                match openat2(self.fd.as_fd(), OsStr::from_bytes(joined), how) {
                    Ok(fd) => return Ok(fd),
                    // A concurrent rename raced the kernel's `..` check.
                    Err(Errno::EAGAIN) => continue,
                    Err(Errno::ENOENT) if create => break,
                    Err(Errno::ENOSYS | Errno::EPERM | Errno::EINVAL | Errno::E2BIG) => {
                        self.use_openat2 = false;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.walk(comps, create)
    }

    fn walk(&self, comps: &[&[u8]], create: bool) -> nix::Result<OwnedFd> {
        let walked = self.walk_path(comps, true, create.then_some(NewDir::ROOT))?;
        match walked.end {
            End::Dir => walked.into_dir(self),
            End::Missing(_) => Err(Errno::ENOENT),
            End::Leaf(_) | End::NotDir(_) => Err(Errno::ENOTDIR),
        }
    }

    /// The root directory's fd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Walks `comps` inside the root one component at a time, each opened
    /// with `O_NOFOLLOW` from the previous directory fd, reading symlinks
    /// itself (absolute ones restart at the root, `..` pops the stack of
    /// directories walked, never above the root). Unlike [`Root::dir`] it
    /// records the real name of every directory it entered and says how
    /// the path ends instead of failing when it is missing or not a
    /// directory. A final symlink is followed only with `follow_last`.
    /// With `create`, missing directories (the final component too) are
    /// made with that mode and owner.
    pub(crate) fn walk_path<C: AsRef<[u8]>>(
        &self,
        comps: &[C],
        follow_last: bool,
        create: Option<NewDir>,
    ) -> nix::Result<Walked> {
        let mut made = Vec::new();
        let walked = self.walk_creating(comps, follow_last, create, &mut made)?;
        // Times go on last: making a child changes its parent's mtime.
        if let Some(t) = create.and_then(|c| c.mtime) {
            let t = nix::sys::time::TimeSpec::new(t, 0);
            for fd in &made {
                nix::sys::stat::futimens(fd, &t, &t)?;
            }
        }
        Ok(walked)
    }

    /// [`Self::walk_path`], keeping in `made` the directories it made
    /// when they get a set mtime.
    fn walk_creating<C: AsRef<[u8]>>(
        &self,
        comps: &[C],
        follow_last: bool,
        create: Option<NewDir>,
        made: &mut Vec<OwnedFd>,
    ) -> nix::Result<Walked> {
        let mut stack: Vec<(OwnedFd, Vec<u8>)> = Vec::new();
        let mut queue: VecDeque<Vec<u8>> = comps.iter().map(|c| c.as_ref().to_vec()).collect();
        let mut links = 0;
        let mut retries = 0;
        while let Some(comp) = queue.pop_front() {
            match comp.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    // Popping past the root stays at the root.
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let last = queue.iter().all(|c| c.is_empty() || c == b".");
            let cur = stack.last().map_or(self.fd.as_fd(), |(f, _)| f.as_fd());
            let name = OsStr::from_bytes(&comp);
            if last && !follow_last {
                match stat_at(cur, name)? {
                    Some(st) if is_dir(&st) => {}
                    Some(_) => return Ok(Walked::new(stack, End::Leaf(comp))),
                    None if create.is_some() => {}
                    None => return Ok(Walked::new(stack, End::Missing(vec![comp]))),
                }
            }
            match openat(cur, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => stack.push((fd, comp)),
                Err(Errno::ELOOP | Errno::ENOTDIR) => match readlinkat(cur, name) {
                    Ok(target) => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(Errno::ELOOP);
                        }
                        let target = target.into_vec();
                        if target.starts_with(b"/") {
                            stack.clear();
                        }
                        for part in target.split(|b| *b == b'/').rev() {
                            queue.push_front(part.to_vec());
                        }
                    }
                    Err(Errno::EINVAL) if last => return Ok(Walked::new(stack, End::Leaf(comp))),
                    Err(Errno::EINVAL) => return Ok(Walked::new(stack, End::NotDir(comp))),
                    Err(e) => return Err(e),
                },
                Err(Errno::ENOENT) => {
                    let Some(new) = create else {
                        let mut rest = vec![comp];
                        rest.extend(queue);
                        return Ok(Walked::new(stack, End::Missing(rest)));
                    };
                    match mkdirat(cur, name, Mode::from_bits_truncate(0o700)) {
                        Ok(()) => {
                            let fd = openat(cur, name, DIR_FLAGS, Mode::empty())?;
                            // Explicit, so neither umask nor a setgid parent
                            // decides the owner and mode of implied parents.
                            fchown(
                                &fd,
                                Some(Uid::from_raw(new.uid)),
                                Some(Gid::from_raw(new.gid)),
                            )?;
                            fchmod(&fd, Mode::from_bits_truncate(new.mode))?;
                            if new.mtime.is_some() {
                                made.push(fd.try_clone().map_err(|_| Errno::EMFILE)?);
                            }
                            stack.push((fd, comp));
                        }
                        Err(Errno::EEXIST) if retries < 8 => {
                            retries += 1;
                            queue.push_front(comp);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Walked::new(stack, End::Dir))
    }
}

/// Mode and owner of the directories a creating walk makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewDir {
    /// Permission bits, set with `fchmod` (so not masked by the umask).
    pub(crate) mode: u32,
    /// Owner.
    pub(crate) uid: u32,
    /// Group.
    pub(crate) gid: u32,
    /// Modification time (Unix seconds), for reproducible builds; `None`:
    /// the time of making.
    pub(crate) mtime: Option<i64>,
}

impl NewDir {
    /// 0755, owned by 0:0: what implied parent directories get.
    pub(crate) const ROOT: NewDir = NewDir {
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: None,
    };
}

/// How a path walked by [`Root::walk_path`] ends.
#[derive(Debug)]
pub(crate) enum End {
    /// The whole path is a directory: the last one walked (the root when
    /// none was).
    Dir,
    /// The final component exists in the last directory walked and is not
    /// a directory (or is a symlink that was not to be followed).
    Leaf(Vec<u8>),
    /// The first of these components does not exist in the last directory
    /// walked; the others (unresolved, possibly with `..`) come after it.
    Missing(Vec<Vec<u8>>),
    /// This component of the last directory walked is neither a directory
    /// nor a symlink, yet the path goes on below it.
    NotDir(Vec<u8>),
}

/// The result of [`Root::walk_path`].
#[derive(Debug)]
pub(crate) struct Walked {
    /// Every directory entered, from the root down, with its real name.
    pub(crate) dirs: Vec<(OwnedFd, Vec<u8>)>,
    /// How the path ends.
    pub(crate) end: End,
}

impl Walked {
    fn new(dirs: Vec<(OwnedFd, Vec<u8>)>, end: End) -> Walked {
        Walked { dirs, end }
    }

    /// The real path of the last directory walked, relative to the root.
    pub(crate) fn names(&self) -> Vec<Vec<u8>> {
        self.dirs.iter().map(|(_, n)| n.clone()).collect()
    }

    /// The last directory walked (a new fd on the root when none was).
    pub(crate) fn into_dir(mut self, root: &Root) -> nix::Result<OwnedFd> {
        match self.dirs.pop() {
            Some((fd, _)) => Ok(fd),
            None => root.fd.try_clone().map_err(io_errno),
        }
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// `lstat` of `name` in `dir`; `None` if it does not exist.
pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<Option<FileStat>> {
    match fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// Names in the directory `dir`, without `.` and `..`. Opens `.` afresh
/// so the caller's fd keeps no directory-stream position.
pub(crate) fn list_names(dir: BorrowedFd<'_>) -> nix::Result<Vec<OsString>> {
    let mut d = Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    Ok(names)
}

/// Removes `name` in `dir` and, for a directory, everything below it,
/// never following a symlink. Iterative, so a deep tree cannot overflow
/// the stack; it holds one fd per level. Returns whether anything existed.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<bool> {
    let Some(st) = stat_at(dir, name)? else {
        return Ok(false);
    };
    if !is_dir(&st) {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
        return Ok(true);
    }
    struct Frame {
        fd: OwnedFd,
        names: Vec<OsString>,
        name: OsString,
    }
    let open = |parent: BorrowedFd<'_>, name: &OsStr| -> nix::Result<Frame> {
        let fd = openat(parent, name, DIR_FLAGS, Mode::empty())?;
        let names = list_names(fd.as_fd())?;
        Ok(Frame {
            fd,
            names,
            name: name.to_owned(),
        })
    };
    let mut stack = vec![open(dir, name)?];
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(true);
        };
        if let Some(child) = top.names.pop() {
            let parent = top.fd.as_fd();
            let next = match stat_at(parent, &child)? {
                None => None,
                Some(st) if is_dir(&st) => Some(open(parent, &child)?),
                Some(_) => {
                    unlinkat(parent, child.as_os_str(), UnlinkatFlags::NoRemoveDir)?;
                    None
                }
            };
            if let Some(frame) = next {
                stack.push(frame);
            }
            continue;
        }
        let Some(done) = stack.pop() else {
            return Ok(true);
        };
        drop(done.fd);
        let parent = stack.last().map_or(dir, |f| f.fd.as_fd());
        unlinkat(parent, done.name.as_os_str(), UnlinkatFlags::RemoveDir)?;
    }
}

/// A path naming `name` inside the directory open as `dir`, for the few
/// calls that have no fd-relative form (`lsetxattr`). The final component
/// is not followed by those calls; the magic link before it resolves to
/// exactly the directory the fd holds.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(name);
    p
}
