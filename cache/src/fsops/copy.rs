//! The COPY copier: resolves the destination as fsutil's `Copy` does,
//! then copies each source tree with an iterative walk on directory fds.
//!
//! Source entries are `lstat`ed and opened with `O_NOFOLLOW` relative to
//! their parent's fd, and a directory is checked to be the one listed
//! (same device and inode) before its fd is used, so swapping a source
//! directory for a symlink mid-copy cannot lead out of the source root.
//! Destination entries are created with `O_EXCL`/`*at` calls that do not
//! follow symlinks; whatever non-directory sat at a file's path is
//! removed first, never written through.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{
    FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstat, futimens,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use xattr::FileExt;

use super::error::{Error, is_machine_errno};
use super::{
    Comps, CopyOptions, FileOwner, Stats, clean, make_dirs, open_beneath, open_root,
    resolve_target, show, show_with,
};
use crate::layer::resolve::{DIR_FLAGS, End, NewDir, Root, is_dir, list_names, proc_path, stat_at};

/// A path for messages, built only when one is needed.
type Shown<'a> = &'a dyn Fn() -> String;

/// How many of the deepest directory levels of a walk keep their fds.
const WINDOW: usize = 64;

/// One level in every `STRIDE` keeps its fd for as long as the walk is
/// below it, so climbing back reopens at most `STRIDE` levels by name
/// for every `WINDOW` levels climbed.
const STRIDE: usize = 256;

fn checkpoint(level: usize) -> bool {
    (level + 1).is_multiple_of(STRIDE)
}

pub(super) fn copy(
    src_root: &Path,
    sources: &[String],
    dest_root: &Path,
    dest: &str,
    opts: &CopyOptions,
    filter: Option<super::Filter<'_>>,
) -> Result<Stats, Error> {
    let src = open_root(src_root)?;
    let dst = open_root(dest_root)?;
    let (uid, gid) = match opts.owner {
        FileOwner::Keep => (0, 0),
        FileOwner::Set(u, g) => (u, g),
    };
    // Go's os.FileMode drops setuid, setgid and sticky from `--chmod`
    // when fsutil makes the parents.
    let new = NewDir {
        mode: opts.mode.map_or(0o755, |m| m.apply(0o755, true) & 0o777),
        uid,
        gid,
        mtime: None,
    };
    let comps = clean(dest);
    // The destination (with `/`) or its parent exists before the
    // destination is resolved, as in fsutil's `Copy`.
    let ensure = if dest.ends_with('/') {
        &comps[..]
    } else {
        comps.split_last().map_or(&comps[..0], |(_, p)| p)
    };
    make_dirs(&dst, ensure, new)?;
    let target = resolve_target(&dst, &comps)?;
    let mut copier = Copier {
        src: &src,
        dst: &dst,
        opts,
        filter,
        new,
        links: HashMap::new(),
        stats: Stats::default(),
        spath: Vec::new(),
        dpath: Vec::new(),
        top_len: 0,
    };
    for source in sources {
        // fsutil copies each source with a copier of its own: hardlinks
        // are kept within one source.
        copier.links.clear();
        copier.source(source, &target)?;
    }
    Ok(copier.stats)
}

struct Copier<'a> {
    src: &'a Root,
    dst: &'a Root,
    opts: &'a CopyOptions,
    /// Entries below the sources to leave out.
    filter: Option<super::Filter<'a>>,
    /// How implied directories are made.
    new: NewDir,
    /// (st_dev, st_ino) of multiply-linked sources to their first copy,
    /// relative to the destination's top directory.
    links: HashMap<(u64, u64), Comps>,
    stats: Stats,
    /// Real path of the source directory being copied, for messages.
    spath: Comps,
    /// Real path of the destination directory being written.
    dpath: Comps,
    /// Length of `dpath` at the top of the current source's copy.
    top_len: usize,
}

/// What a directory of the walk still has to copy.
struct Frame {
    /// Remaining names, in reverse order.
    names: Vec<OsString>,
    /// The source directory's stat, for its times once its children are
    /// written.
    st: FileStat,
}

impl Copier<'_> {
    fn source(&mut self, source: &str, target: &[Vec<u8>]) -> Result<(), Error> {
        let comps = clean(source);
        let mut walked = self
            .src
            .walk_path(&comps, true, None)
            .map_err(|e| Error::os("resolve source", show(&comps), e))?;
        self.spath = walked.names();
        let base = comps.last().cloned().unwrap_or_else(|| b".".to_vec());
        let dest_is_dir = self.dest_state(target)?;
        let end = std::mem::replace(&mut walked.end, End::Dir);
        match end {
            End::Dir => {
                let sfd = walked
                    .into_dir(self.src)
                    .map_err(|e| Error::os("open source", show(&self.spath), e))?;
                let st = fstat(&sfd).map_err(|e| Error::os("stat", show(&self.spath), e))?;
                if dest_is_dir.is_none() {
                    make_dirs(self.dst, target, self.new)?;
                }
                let dfd = self.top_dir(target)?;
                self.dpath = target.to_vec();
                self.top_len = self.dpath.len();
                self.tree(sfd, st, dfd)
            }
            End::Leaf(name) => {
                let sdir = walked
                    .into_dir(self.src)
                    .map_err(|e| Error::os("open source", show(&self.spath), e))?;
                let sname = OsStr::from_bytes(&name);
                let st = stat_at(sdir.as_fd(), sname)
                    .map_err(|e| Error::os("stat", show_with(&self.spath, &name), e))?
                    .ok_or_else(|| Error::NotFound { path: show(&comps) })?;
                let mut dest_path = target.to_vec();
                if dest_is_dir == Some(true) {
                    dest_path.push(base);
                }
                let Some((dname, dparent)) = dest_path.split_last() else {
                    return Err(Error::ReplaceDirectory { path: "/".into() });
                };
                let ddir = make_dirs(self.dst, dparent, self.new)?;
                self.dpath = dparent.to_vec();
                self.top_len = self.dpath.len();
                self.leaf(
                    sdir.as_fd(),
                    sname,
                    &st,
                    ddir.as_fd(),
                    OsStr::from_bytes(dname),
                    ddir.as_fd(),
                )
            }
            End::Missing(_) | End::NotDir(_) => Err(Error::NotFound { path: show(&comps) }),
        }
    }

    /// Whether the resolved destination is a directory (`Some(true)`),
    /// something else, or missing (`None`), looked at afresh for each
    /// source since an earlier one may have created it.
    fn dest_state(&self, target: &[Vec<u8>]) -> Result<Option<bool>, Error> {
        let walked = self
            .dst
            .walk_path(target, true, None)
            .map_err(|e| Error::os("resolve", show(target), e))?;
        match &walked.end {
            End::Dir => Ok(Some(true)),
            End::Leaf(_) => Ok(Some(false)),
            End::Missing(_) => Ok(None),
            End::NotDir(name) => Err(Error::NotADirectory {
                path: show_with(&walked.names(), name),
            }),
        }
    }

    /// The directory a directory source is copied into: it must exist
    /// (as a directory) by now.
    fn top_dir(&self, target: &[Vec<u8>]) -> Result<OwnedFd, Error> {
        let Some((name, parent)) = target.split_last() else {
            return self
                .dst
                .fd()
                .try_clone_to_owned()
                .map_err(|e| Error::io("open root", "/", e));
        };
        let pfd = make_dirs(self.dst, parent, self.new)?;
        let name = OsStr::from_bytes(name);
        match stat_at(pfd.as_fd(), name).map_err(|e| Error::os("stat", show(target), e))? {
            Some(st) if is_dir(&st) => openat(&pfd, name, DIR_FLAGS, Mode::empty())
                .map_err(|e| Error::os("open directory", show(target), e)),
            Some(_) => Err(Error::CopyToNonDirectory { path: show(target) }),
            // Removed since it was made: make it again.
            None => make_dirs(self.dst, target, self.new),
        }
    }

    /// Copies the contents of the source directory `sfd` into `dfd`, then
    /// gives `dfd` the source directory's times.
    fn tree(&mut self, sfd: OwnedFd, st: FileStat, dfd: OwnedFd) -> Result<(), Error> {
        let mut schain = Chain::new(sfd.as_fd());
        let mut dchain = Chain::new(dfd.as_fd());
        let dtop = dchain.base;
        let names = self.list(sfd.as_fd(), &|| show(&self.spath))?;
        let mut frames = vec![Frame { names, st }];
        while let Some(frame) = frames.last_mut() {
            let Some(name) = frame.names.pop() else {
                let st = frame.st;
                frames.pop();
                let ddir = dchain.top().map_err(|e| self.reopen_err(e, &self.dpath))?;
                futimens(ddir, &atime(&st), &mtime(&st))
                    .map_err(|e| Error::os("set times of", show(&self.dpath), e))?;
                if !frames.is_empty() {
                    schain.pop();
                    dchain.pop();
                    self.spath.pop();
                    self.dpath.pop();
                }
                continue;
            };
            if let Some(keep) = self.filter {
                let rel = show_with(&self.spath, name.as_bytes());
                if !keep(rel.trim_start_matches('/')) {
                    continue;
                }
            }
            let sdir = schain.top().map_err(|e| self.reopen_err(e, &self.spath))?;
            let ddir = dchain.top().map_err(|e| self.reopen_err(e, &self.dpath))?;
            let Some(st) = stat_at(sdir, &name)
                .map_err(|e| Error::os("stat", show_with(&self.spath, name.as_bytes()), e))?
            else {
                // Removed from the source while it was copied.
                return Err(Error::NotFound {
                    path: show_with(&self.spath, name.as_bytes()),
                });
            };
            if is_dir(&st) {
                let (child_src, child_dst) = self.enter_dir(sdir, ddir, &name, &st)?;
                let names = self.list(child_src.as_fd(), &|| {
                    show_with(&self.spath, name.as_bytes())
                })?;
                let dst_id = fstat(&child_dst)
                    .map(|d| (d.st_dev, d.st_ino))
                    .map_err(|e| Error::os("stat", show_with(&self.dpath, name.as_bytes()), e))?;
                let bytes = name.as_bytes().to_vec();
                schain.push(bytes.clone(), child_src, (st.st_dev, st.st_ino));
                dchain.push(bytes.clone(), child_dst, dst_id);
                self.spath.push(bytes.clone());
                self.dpath.push(bytes);
                frames.push(Frame { names, st });
            } else {
                self.leaf(sdir, &name, &st, ddir, &name, dtop)?;
            }
        }
        Ok(())
    }

    fn reopen_err(&self, e: Reopen, path: &[Vec<u8>]) -> Error {
        match e {
            Reopen::Os(e) => Error::os("reopen directory", show(path), e),
            Reopen::Changed => Error::Changed { path: show(path) },
        }
    }

    /// The names in the source directory `dir` (shown as `shown`), in
    /// reverse byte order: popped from the end, they come sorted.
    fn list(&self, dir: BorrowedFd<'_>, shown: Shown<'_>) -> Result<Vec<OsString>, Error> {
        let mut names = list_names(dir).map_err(|e| Error::os("read directory", shown(), e))?;
        names.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
        Ok(names)
    }

    /// Opens the source directory `name` and makes (or reuses) the
    /// destination directory of that name, giving it the source's owner,
    /// mode and xattrs (its times come after its children).
    fn enter_dir(
        &self,
        sdir: BorrowedFd<'_>,
        ddir: BorrowedFd<'_>,
        name: &OsStr,
        st: &FileStat,
    ) -> Result<(OwnedFd, OwnedFd), Error> {
        let sshown = || show_with(&self.spath, name.as_bytes());
        let dshown = || show_with(&self.dpath, name.as_bytes());
        let child_src = match openat(sdir, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENOTDIR | Errno::ENOENT) => {
                return Err(Error::Changed { path: sshown() });
            }
            Err(e) => return Err(Error::os("open directory", sshown(), e)),
        };
        let now = fstat(&child_src).map_err(|e| Error::os("stat", sshown(), e))?;
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
            return Err(Error::Changed { path: sshown() });
        }
        match stat_at(ddir, name).map_err(|e| Error::os("stat", dshown(), e))? {
            Some(d) if is_dir(&d) => {}
            Some(_) => return Err(Error::CopyToNonDirectory { path: dshown() }),
            None => mkdirat(ddir, name, Mode::from_bits_truncate(0o700))
                .map_err(|e| Error::os("create directory", dshown(), e))?,
        }
        let child_dst = openat(ddir, name, DIR_FLAGS, Mode::empty())
            .map_err(|e| Error::os("open directory", dshown(), e))?;
        let xattrs =
            read_xattrs(sdir, name).map_err(|e| Error::io("read xattrs of", sshown(), e))?;
        let file = File::from(child_dst);
        self.fd_metadata(&file, st, &xattrs, &dshown)?;
        Ok((child_src, OwnedFd::from(file)))
    }

    /// Copies one non-directory `sname` of `sdir` to `dname` of `ddir`.
    /// `top` is the directory this source's copy started in, which
    /// hardlinks are found from.
    fn leaf(
        &mut self,
        sdir: BorrowedFd<'_>,
        sname: &OsStr,
        st: &FileStat,
        ddir: BorrowedFd<'_>,
        dname: &OsStr,
        top: BorrowedFd<'_>,
    ) -> Result<(), Error> {
        let (spath, dpath) = (&self.spath, &self.dpath);
        // Built only for messages: paths can be thousands of levels deep.
        let sshown = || show_with(spath, sname.as_bytes());
        let dshown = || show_with(dpath, dname.as_bytes());
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFCHR && st.st_rdev == 0 {
            // An overlayfs whiteout seen through no overlay (no device has
            // number 0:0): a marker, not a file (semantics.md LAY-3), which
            // overlayfs would refuse to create anyway.
            return Ok(());
        }
        match stat_at(ddir, dname).map_err(|e| Error::os("stat", dshown(), e))? {
            Some(d) if is_dir(&d) => return Err(Error::ReplaceDirectory { path: dshown() }),
            Some(_) => unlinkat(ddir, dname, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| Error::os("remove", dshown(), e))?,
            None => {}
        }
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some((fname, fparent)) = self.links.get(&key).and_then(|f| f.split_last()) {
                let pfd = open_beneath(top, fparent)
                    .map_err(|e| Error::os("open hardlink target of", dshown(), e))?;
                linkat(
                    &pfd,
                    OsStr::from_bytes(fname),
                    ddir,
                    dname,
                    AtFlags::empty(),
                )
                .map_err(|e| Error::os("create hardlink", dshown(), e))?;
                self.stats.files += 1;
                return Ok(());
            }
            let mut rel = self.dpath[self.top_len.min(self.dpath.len())..].to_vec();
            rel.push(dname.as_bytes().to_vec());
            self.links.insert(key, rel);
        }
        let xattrs =
            read_xattrs(sdir, sname).map_err(|e| Error::io("read xattrs of", sshown(), e))?;
        match kind {
            SFlag::S_IFREG => {
                let mut input = open_source_file(sdir, sname, st, &sshown)?;
                let mut output = create_file(ddir, dname, &dshown)?;
                let copied = io::copy(&mut input, &mut output)
                    .map_err(|e| Error::io("copy to", dshown(), e))?;
                self.stats.bytes += copied;
                self.fd_metadata(&output, st, &xattrs, &dshown)?;
                futimens(&output, &atime(st), &mtime(st))
                    .map_err(|e| Error::os("set times of", dshown(), e))?;
            }
            SFlag::S_IFSOCK => {
                // fsutil clears the socket type bits before mknod, which
                // leaves an empty regular file.
                let output = create_file(ddir, dname, &dshown)?;
                self.fd_metadata(&output, st, &xattrs, &dshown)?;
                futimens(&output, &atime(st), &mtime(st))
                    .map_err(|e| Error::os("set times of", dshown(), e))?;
            }
            SFlag::S_IFLNK => {
                let target = match readlinkat(sdir, sname) {
                    Ok(t) => t,
                    // No longer a symlink, or gone.
                    Err(Errno::EINVAL | Errno::ENOENT) => {
                        return Err(Error::Changed { path: sshown() });
                    }
                    Err(e) => return Err(Error::os("read symlink", sshown(), e)),
                };
                symlinkat(target.as_os_str(), ddir, dname)
                    .map_err(|e| Error::os("create symlink", dshown(), e))?;
                self.at_metadata(ddir, dname, st, &xattrs, false, &dshown)?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let rdev = if kind == SFlag::S_IFIFO {
                    0
                } else {
                    st.st_rdev
                };
                mknodat(ddir, dname, kind, Mode::from_bits_truncate(0o600), rdev)
                    .map_err(|e| Error::os("create node", dshown(), e))?;
                self.at_metadata(ddir, dname, st, &xattrs, true, &dshown)?;
            }
            _ => {
                return Err(Error::os("copy", sshown(), Errno::EINVAL));
            }
        }
        self.stats.files += 1;
        Ok(())
    }

    fn owner(&self, st: &FileStat) -> (Uid, Gid) {
        let (u, g) = match self.opts.owner {
            FileOwner::Keep => (st.st_uid, st.st_gid),
            FileOwner::Set(u, g) => (u, g),
        };
        (Uid::from_raw(u), Gid::from_raw(g))
    }

    fn mode(&self, st: &FileStat) -> Mode {
        let mode = match self.opts.mode {
            Some(m) => m.apply(st.st_mode, is_dir(st)),
            None => st.st_mode,
        };
        Mode::from_bits_truncate(mode & 0o7777)
    }

    /// Owner, mode and xattrs through an fd on the object itself (times
    /// are the caller's: directories get theirs after their children).
    fn fd_metadata(
        &self,
        file: &File,
        st: &FileStat,
        xattrs: &[(OsString, Vec<u8>)],
        shown: Shown<'_>,
    ) -> Result<(), Error> {
        // chown first: it clears setuid, setgid and file capabilities.
        let (uid, gid) = self.owner(st);
        fchown(file, Some(uid), Some(gid)).map_err(|e| Error::os("change owner of", shown(), e))?;
        fchmod(file, self.mode(st)).map_err(|e| Error::os("change mode of", shown(), e))?;
        for (key, value) in xattrs {
            tolerate(file.set_xattr(key, value))
                .map_err(|e| Error::io("set xattr on", shown(), e))?;
        }
        Ok(())
    }

    /// Owner, mode (unless a symlink), xattrs and times of `name` in
    /// `dir`, never following it.
    fn at_metadata(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        st: &FileStat,
        xattrs: &[(OsString, Vec<u8>)],
        chmod: bool,
        shown: Shown<'_>,
    ) -> Result<(), Error> {
        let (uid, gid) = self.owner(st);
        fchownat(
            dir,
            name,
            Some(uid),
            Some(gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::os("change owner of", shown(), e))?;
        if chmod {
            let mode = self.mode(st);
            match fchmodat(dir, name, mode, FchmodatFlags::NoFollowSymlink) {
                Ok(()) => {}
                // A libc without fchmodat2: the node was just made here and
                // is not a symlink, so following is harmless.
                Err(Errno::EOPNOTSUPP | Errno::ENOSYS) => {
                    fchmodat(dir, name, mode, FchmodatFlags::FollowSymlink)
                        .map_err(|e| Error::os("change mode of", shown(), e))?;
                }
                Err(e) => return Err(Error::os("change mode of", shown(), e)),
            }
        }
        if !xattrs.is_empty() {
            let path = proc_path(dir, name);
            for (key, value) in xattrs {
                tolerate(xattr::set(&path, key, value))
                    .map_err(|e| Error::io("set xattr on", shown(), e))?;
            }
        }
        utimensat(
            dir,
            name,
            &atime(st),
            &mtime(st),
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| Error::os("set times of", shown(), e))
    }
}

/// Opens a source file for reading without following a symlink, without
/// blocking should it have become a fifo, and without updating its atime
/// where permitted; it must still be the file that was `lstat`ed.
fn open_source_file(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    st: &FileStat,
    shown: Shown<'_>,
) -> Result<File, Error> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match openat(dir, name, flags | OFlag::O_NOATIME, Mode::empty()) {
        // O_NOATIME needs ownership or CAP_FOWNER.
        Err(Errno::EPERM) => openat(dir, name, flags, Mode::empty()),
        other => other,
    };
    let fd = match fd {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOENT) => {
            return Err(Error::Changed { path: shown() });
        }
        Err(e) => return Err(Error::os("open", shown(), e)),
    };
    let now = fstat(&fd).map_err(|e| Error::os("stat", shown(), e))?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(Error::Changed { path: shown() });
    }
    Ok(File::from(fd))
}

fn create_file(dir: BorrowedFd<'_>, name: &OsStr, shown: Shown<'_>) -> Result<File, Error> {
    openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map(File::from)
    .map_err(|e| Error::os("create file", shown(), e))
}

/// The xattrs of `name` in `dir` (not following it) that a copy carries:
/// not overlayfs's own, which would redirect lookups or hide files in
/// the destination, nor `security.selinux`, the host's label.
fn read_xattrs(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let path = proc_path(dir, name);
    let names = match xattr::list(&path) {
        Ok(names) => names,
        Err(e) if !machine(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for key in names {
        let k = key.as_bytes();
        if k.starts_with(b"trusted.overlay.")
            || k.starts_with(b"user.overlay.")
            || k == b"security.selinux"
        {
            continue;
        }
        match xattr::get(&path, &key) {
            Ok(Some(value)) => out.push((key, value)),
            Ok(None) => {}
            Err(e) if !machine(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn machine(e: &io::Error) -> bool {
    // EPERM is what Linux says for user.* xattrs on symlinks and devices,
    // and for some security.* names: the file's nature, not the machine.
    e.raw_os_error()
        .is_some_and(|n| n != libc::EPERM && n != libc::EACCES && is_machine_errno(n))
}

/// Setting an xattr: only the machine's failures count (BuildKit's file
/// backend ignores every xattr error).
fn tolerate(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if machine(&e) => Err(e),
        _ => Ok(()),
    }
}

fn atime(st: &FileStat) -> TimeSpec {
    TimeSpec::new(st.st_atime, st.st_atime_nsec)
}

fn mtime(st: &FileStat) -> TimeSpec {
    TimeSpec::new(st.st_mtime, st.st_mtime_nsec)
}

/// Why a directory of a [`Chain`] could not be reopened.
enum Reopen {
    Os(Errno),
    /// It is not the directory that was walked into.
    Changed,
}

impl From<Errno> for Reopen {
    fn from(e: Errno) -> Self {
        Reopen::Os(e)
    }
}

/// One directory of a [`Chain`].
struct Level {
    name: Vec<u8>,
    fd: Option<OwnedFd>,
    /// (st_dev, st_ino), to check a reopened directory.
    id: (u64, u64),
}

/// The directories from a walk's top down to where it is, holding fds
/// only for the deepest [`WINDOW`] levels and one level in every
/// [`STRIDE`]: the others are reopened by name (`O_NOFOLLOW`, checked by
/// inode) when the walk climbs back to them.
struct Chain<'a> {
    base: BorrowedFd<'a>,
    levels: Vec<Level>,
}

impl<'a> Chain<'a> {
    fn new(base: BorrowedFd<'a>) -> Self {
        Chain {
            base,
            levels: Vec::new(),
        }
    }

    fn push(&mut self, name: Vec<u8>, fd: OwnedFd, id: (u64, u64)) {
        self.levels.push(Level {
            name,
            fd: Some(fd),
            id,
        });
        let n = self.levels.len();
        if n > WINDOW && !checkpoint(n - 1 - WINDOW) {
            self.levels[n - 1 - WINDOW].fd = None;
        }
    }

    fn pop(&mut self) {
        self.levels.pop();
    }

    /// The deepest directory's fd, reopening it (and the levels above it
    /// back to one with an fd) if needed.
    fn top(&mut self) -> Result<BorrowedFd<'_>, Reopen> {
        let n = self.levels.len();
        if n == 0 {
            return Ok(self.base);
        }
        let mut i = n;
        while i > 0 && self.levels[i - 1].fd.is_none() {
            i -= 1;
        }
        for j in i..n {
            let (above, below) = self.levels.split_at_mut(j);
            let parent = match above.last() {
                None => self.base,
                Some(level) => match &level.fd {
                    Some(fd) => fd.as_fd(),
                    None => return Err(Reopen::Os(Errno::EBADF)),
                },
            };
            let level = &mut below[0];
            let fd = match openat(
                parent,
                OsStr::from_bytes(&level.name),
                DIR_FLAGS,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Err(Reopen::Changed),
                Err(e) => return Err(e.into()),
            };
            let st = fstat(&fd)?;
            if (st.st_dev, st.st_ino) != level.id {
                return Err(Reopen::Changed);
            }
            level.fd = Some(fd);
            // The level above was reopened only to reach this one.
            if j > i
                && j - 1 + WINDOW < n
                && !checkpoint(j - 1)
                && let Some(above) = above.last_mut()
            {
                above.fd = None;
            }
        }
        match &self.levels[n - 1].fd {
            Some(fd) => Ok(fd.as_fd()),
            None => Err(Reopen::Os(Errno::EBADF)),
        }
    }
}
