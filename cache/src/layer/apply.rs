//! Applying an untrusted OCI layer tar to a directory, confined to it.
//!
//! Every entry path is cleaned lexically (leading `/` and `..` cannot
//! climb above the root), its parent is resolved inside the root on fds
//! (see `resolve`), and the final component is created with `*at` calls
//! on that parent fd: `O_CREAT | O_EXCL | O_NOFOLLOW` for file contents,
//! `AT_SYMLINK_NOFOLLOW` for owner, mode and times. Whatever already sits
//! at a path is removed first (never written through), except that an
//! existing directory stays and takes the entry's metadata.
//!
//! Directory mtimes are set at the end, after their children. Hardlink
//! entries only link: the header metadata of a hardlink describes the
//! shared inode, which its first entry already set.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmodat, futimens, makedev, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};
use xattr::FileExt;

use super::error::Error;
use super::reader::{Entry, Kind, TarReader};
use super::resolve::{DIR_FLAGS, Root, is_dir, list_names, proc_path, remove_at, stat_at};
use super::tree::is_overlay_xattr;
use super::{ApplyMode, Stats};

const OPAQUE: &[u8] = b".wh..wh..opq";
const WHITEOUT_PREFIX: &[u8] = b".wh.";

pub(crate) fn apply<R: Read>(tar: R, root: &Path, mode: ApplyMode) -> Result<Stats, Error> {
    let dir = Root::open(root).map_err(|e| Error::io("open root", root, e.into()))?;
    apply_with(tar, root, dir, mode)
}

pub(crate) fn apply_with<R: Read>(
    tar: R,
    root: &Path,
    dir: Root,
    mode: ApplyMode,
) -> Result<Stats, Error> {
    run(tar, root, dir, mode, None)
}

/// How an archive is unpacked somewhere inside a root (ADD).
pub(crate) struct Extract {
    /// Cleaned components of the destination directory.
    pub(crate) prefix: Vec<Vec<u8>>,
    /// `--chown`: the owner of every entry.
    pub(crate) owner: Option<(u32, u32)>,
}

/// ADD of a local archive: entries land below `dest` (resolved inside
/// `root`, so symlinks in the image are followed within it); the
/// archive's own root entry never changes the destination directory
/// (semantics.md ADD-2).
pub(crate) fn extract<R: Read>(
    tar: R,
    root: &Path,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> Result<Stats, Error> {
    let dir = Root::open(root).map_err(|e| Error::io("open root", root, e.into()))?;
    let prefix = clean(dest.as_bytes())
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    run(
        tar,
        root,
        dir,
        ApplyMode::Merged,
        Some(Extract { prefix, owner }),
    )
}

fn run<R: Read>(
    tar: R,
    root: &Path,
    dir: Root,
    mode: ApplyMode,
    extract: Option<Extract>,
) -> Result<Stats, Error> {
    let mut applier = Applier {
        extract,
        root: dir,
        root_path: root.to_path_buf(),
        mode,
        seen: HashSet::new(),
        dir_times: Vec::new(),
        stats: Stats::default(),
        buf: vec![0; COPY_BUFFER],
    };
    let mut reader = TarReader::new(tar);
    while let Some(mut entry) = reader.next_entry()? {
        if let Some(x) = &applier.extract {
            if clean(&entry.path).is_empty() {
                continue;
            }
            entry.path = join_prefix(&x.prefix, &entry.path);
            if entry.kind == Kind::Hardlink {
                entry.link = join_prefix(&x.prefix, &entry.link);
            }
            if let Some((uid, gid)) = x.owner {
                entry.uid = uid;
                entry.gid = gid;
            }
        }
        applier.entry(&entry, &mut reader)?;
    }
    applier.set_dir_times()?;
    reader.finish()?;
    Ok(applier.stats)
}

fn join_prefix(prefix: &[Vec<u8>], path: &[u8]) -> Vec<u8> {
    let mut out = prefix.join(&b'/');
    for c in clean(path) {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    out
}

struct Applier {
    /// Unpacking an ADD archive rather than applying a layer.
    extract: Option<Extract>,
    root: Root,
    root_path: PathBuf,
    mode: ApplyMode,
    /// Merged mode: every path this layer created, so an opaque marker
    /// only removes what lower layers put there.
    seen: HashSet<Vec<u8>>,
    dir_times: Vec<(Vec<u8>, (i64, u32))>,
    stats: Stats,
    /// Reused for every file's contents: fewer, larger writes than
    /// `io::copy`'s 8 KiB, in constant memory.
    buf: Vec<u8>,
}

const COPY_BUFFER: usize = 256 << 10;

fn copy(from: &mut impl Read, to: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        // Fill the buffer as far as the source allows before writing.
        let mut filled = 0;
        while filled < buf.len() {
            match from.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..filled])?;
        total += filled as u64;
    }
}

/// Splits a tar path into components, dropping empty and `.` ones and
/// resolving `..` lexically, never above the root.
pub(crate) fn clean(path: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            comp => out.push(comp),
        }
    }
    out
}

impl Applier {
    fn entry<R: Read>(&mut self, entry: &Entry, reader: &mut TarReader<R>) -> Result<(), Error> {
        let comps = clean(&entry.path);
        let rel = comps.join(&b'/');
        if comps.iter().any(|c| c.contains(&0)) {
            return Err(Error::entry(&rel, "path contains a NUL byte"));
        }
        let Some((name, parent)) = comps.split_last() else {
            // The root itself: kiln owns the root directory's metadata.
            return if entry.kind == Kind::Dir {
                Ok(())
            } else {
                Err(Error::entry(&entry.path, "entry names the root"))
            };
        };
        if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(parent, target, &rel);
        }
        let name = OsStr::from_bytes(name);
        let dir = self
            .root
            .dir(parent, true)
            .map_err(|e| self.err("resolve parent of", &rel, e))?;
        let dir = dir.as_fd();
        match entry.kind {
            Kind::Regular => {
                self.clear(dir, name, &rel)?;
                let fd = openat(
                    dir,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| self.err("create file", &rel, e))?;
                let mut file = File::from(fd);
                let written = copy(&mut reader.payload(), &mut file, &mut self.buf)
                    .map_err(|e| Error::io("write file", self.path(&rel), e))?;
                self.stats.bytes += written;
                self.fd_metadata(file.as_fd(), entry, &rel)?;
                futimens(&file, &time(entry.mtime), &time(entry.mtime))
                    .map_err(|e| self.err("set times of", &rel, e))?;
            }
            Kind::Dir => {
                let existing = stat_at(dir, name).map_err(|e| self.err("stat", &rel, e))?;
                if !existing.as_ref().is_some_and(is_dir) {
                    self.clear(dir, name, &rel)?;
                    nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o700))
                        .map_err(|e| self.err("create directory", &rel, e))?;
                }
                let fd = openat(dir, name, DIR_FLAGS, Mode::empty())
                    .map_err(|e| self.err("open directory", &rel, e))?;
                self.fd_metadata(fd.as_fd(), entry, &rel)?;
                self.dir_times.push((rel.clone(), entry.mtime));
            }
            Kind::Symlink => {
                self.clear(dir, name, &rel)?;
                symlinkat(OsStr::from_bytes(&entry.link), dir, name)
                    .map_err(|e| self.err("create symlink", &rel, e))?;
                self.at_metadata(dir, name, entry, &rel, false)?;
            }
            Kind::Hardlink => self.hardlink(dir, name, entry, &rel)?,
            Kind::Char | Kind::Block | Kind::Fifo => {
                self.clear(dir, name, &rel)?;
                let kind = match entry.kind {
                    Kind::Char => SFlag::S_IFCHR,
                    Kind::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = makedev(u64::from(entry.dev.0), u64::from(entry.dev.1));
                mknodat(dir, name, kind, Mode::from_bits_truncate(0o600), dev)
                    .map_err(|e| self.err("create device node", &rel, e))?;
                self.at_metadata(dir, name, entry, &rel, true)?;
            }
        }
        if self.mode == ApplyMode::Merged {
            self.remember(&rel);
        }
        self.stats.entries += 1;
        Ok(())
    }

    fn whiteout(&mut self, parent: &[&[u8]], target: &[u8], rel: &[u8]) -> Result<(), Error> {
        if target == &OPAQUE[WHITEOUT_PREFIX.len()..] {
            return self.opaque(parent, rel);
        }
        if target.starts_with(WHITEOUT_PREFIX) {
            // Other `.wh..wh.*` names are aufs bookkeeping (hardlink
            // directories and the like), ignored as Docker does.
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(Error::entry(rel, "whiteout names no file"));
        }
        let name = OsStr::from_bytes(target);
        match self.mode {
            ApplyMode::Overlay => {
                let dir = self
                    .root
                    .dir(parent, true)
                    .map_err(|e| self.err("resolve parent of", rel, e))?;
                self.clear(dir.as_fd(), name, rel)?;
                mknodat(
                    dir.as_fd(),
                    name,
                    SFlag::S_IFCHR,
                    Mode::empty(),
                    makedev(0, 0),
                )
                .map_err(|e| self.err("create whiteout", rel, e))?;
            }
            ApplyMode::Merged => {
                let dir = match self.root.dir(parent, false) {
                    Ok(dir) => dir,
                    // Nothing there, so nothing to delete.
                    Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
                    Err(e) => return Err(self.err("resolve parent of", rel, e)),
                };
                self.clear(dir.as_fd(), name, rel)?;
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    fn opaque(&mut self, parent: &[&[u8]], rel: &[u8]) -> Result<(), Error> {
        match self.mode {
            ApplyMode::Overlay => {
                let dir = self
                    .root
                    .dir(parent, true)
                    .map_err(|e| self.err("resolve", rel, e))?;
                fd_set_xattr(dir.as_fd(), OsStr::new("trusted.overlay.opaque"), b"y")
                    .map_err(|e| Error::io("mark opaque", self.path(rel), e))?;
            }
            ApplyMode::Merged => {
                let dir = match self.root.dir(parent, false) {
                    Ok(dir) => dir,
                    Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
                    Err(e) => return Err(self.err("resolve", rel, e)),
                };
                let prefix = parent.join(&b'/');
                let names = list_names(dir.as_fd()).map_err(|e| self.err("list", &prefix, e))?;
                for child in names {
                    let mut child_rel = prefix.clone();
                    if !child_rel.is_empty() {
                        child_rel.push(b'/');
                    }
                    child_rel.extend_from_slice(child.as_bytes());
                    if !self.seen.contains(&child_rel) {
                        self.clear(dir.as_fd(), &child, &child_rel)?;
                    }
                }
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    fn hardlink(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry: &Entry,
        rel: &[u8],
    ) -> Result<(), Error> {
        let target = clean(&entry.link);
        let target_rel = target.join(&b'/');
        let Some((target_name, target_parent)) = target.split_last() else {
            return Err(Error::entry(rel, "hardlink has no target"));
        };
        let target_name = OsStr::from_bytes(target_name);
        let missing = || {
            Error::entry(
                rel,
                format!(
                    "hardlink target {:?} does not exist in this {}",
                    String::from_utf8_lossy(&target_rel),
                    match self.mode {
                        ApplyMode::Overlay => "layer",
                        ApplyMode::Merged => "root",
                    }
                ),
            )
        };
        let target_dir = match self.root.dir(target_parent, false) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(missing()),
            Err(e) => return Err(self.err("resolve hardlink target", &target_rel, e)),
        };
        let Some(target_st) = stat_at(target_dir.as_fd(), target_name)
            .map_err(|e| self.err("stat hardlink target", &target_rel, e))?
        else {
            return Err(missing());
        };
        if is_dir(&target_st) {
            return Err(Error::entry(rel, "hardlink target is a directory"));
        }
        if let Some(st) = stat_at(dir, name).map_err(|e| self.err("stat", rel, e))? {
            if st.st_dev == target_st.st_dev && st.st_ino == target_st.st_ino {
                return Ok(());
            }
            self.clear(dir, name, rel)?;
        }
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
        linkat(target_dir.as_fd(), target_name, dir, name, AtFlags::empty())
            .map_err(|e| self.err("create hardlink", rel, e))
    }

    /// Removes whatever is at `name` (a directory with its contents).
    fn clear(&mut self, dir: BorrowedFd<'_>, name: &OsStr, rel: &[u8]) -> Result<(), Error> {
        if remove_at(dir, name).map_err(|e| self.err("remove", rel, e))? {
            self.root.invalidate();
        }
        Ok(())
    }

    /// Owner, mode and xattrs through an fd opened on the object itself.
    fn fd_metadata(&self, fd: BorrowedFd<'_>, entry: &Entry, rel: &[u8]) -> Result<(), Error> {
        // chown first: it clears setuid/setgid bits and file capabilities.
        fchown(
            fd,
            Some(Uid::from_raw(entry.uid)),
            Some(Gid::from_raw(entry.gid)),
        )
        .map_err(|e| self.err("change owner of", rel, e))?;
        let file = File::from(
            fd.try_clone_to_owned()
                .map_err(|e| Error::io("duplicate descriptor of", self.path(rel), e))?,
        );
        file.set_permissions(std::fs::Permissions::from_mode(entry.mode))
            .map_err(|e| Error::io("change mode of", self.path(rel), e))?;
        for (key, value) in layer_xattrs(entry) {
            match file.set_xattr(OsStr::from_bytes(key), value) {
                Ok(()) => {}
                Err(e) if super::tree::unsupported(&e) => {}
                Err(e) => return Err(Error::io("set xattr on", self.path(rel), e)),
            }
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of `name` in `dir`, never following
    /// it if it is a symlink.
    fn at_metadata(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry: &Entry,
        rel: &[u8],
        chmod: bool,
    ) -> Result<(), Error> {
        fchownat(
            dir,
            name,
            Some(Uid::from_raw(entry.uid)),
            Some(Gid::from_raw(entry.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.err("change owner of", rel, e))?;
        if chmod {
            let mode = Mode::from_bits_truncate(entry.mode);
            match fchmodat(dir, name, mode, FchmodatFlags::NoFollowSymlink) {
                Ok(()) => {}
                // An older libc without fchmodat2: the node was just made
                // by us and is not a symlink, so following is harmless.
                Err(Errno::EOPNOTSUPP | Errno::ENOSYS) => {
                    fchmodat(dir, name, mode, FchmodatFlags::FollowSymlink)
                        .map_err(|e| self.err("change mode of", rel, e))?;
                }
                Err(e) => return Err(self.err("change mode of", rel, e)),
            }
        }
        let mut xattrs = layer_xattrs(entry).peekable();
        if xattrs.peek().is_some() {
            let path = proc_path(dir, name);
            for (key, value) in xattrs {
                match xattr::set(&path, OsStr::from_bytes(key), value) {
                    Ok(()) => {}
                    Err(e) if super::tree::unsupported(&e) => {}
                    // Linux refuses user.* xattrs on symlinks and devices.
                    Err(e)
                        if e.raw_os_error() == Some(libc::EPERM) && key.starts_with(b"user.") => {}
                    Err(e) => return Err(Error::io("set xattr on", self.path(rel), e)),
                }
            }
        }
        let t = time(entry.mtime);
        utimensat(dir, name, &t, &t, UtimensatFlags::NoFollowSymlink)
            .map_err(|e| self.err("set times of", rel, e))
    }

    fn set_dir_times(&mut self) -> Result<(), Error> {
        for (rel, mtime) in std::mem::take(&mut self.dir_times) {
            let comps = clean(&rel);
            let Some((name, parent)) = comps.split_last() else {
                continue;
            };
            let name = OsStr::from_bytes(name);
            let dir = match self.root.dir(parent, false) {
                Ok(dir) => dir,
                // Removed or replaced by a later entry.
                Err(Errno::ENOENT | Errno::ENOTDIR) => continue,
                Err(e) => return Err(self.err("resolve", &rel, e)),
            };
            let st = stat_at(dir.as_fd(), name).map_err(|e| self.err("stat", &rel, e))?;
            if st.as_ref().is_some_and(is_dir) {
                let t = time(mtime);
                utimensat(dir.as_fd(), name, &t, &t, UtimensatFlags::NoFollowSymlink)
                    .map_err(|e| self.err("set times of", &rel, e))?;
            }
        }
        Ok(())
    }

    fn remember(&mut self, rel: &[u8]) {
        let mut path = rel;
        while self.seen.insert(path.to_vec()) {
            match path.iter().rposition(|b| *b == b'/') {
                Some(i) => path = &path[..i],
                None => break,
            }
        }
    }

    fn path(&self, rel: &[u8]) -> PathBuf {
        self.root_path.join(OsStr::from_bytes(rel))
    }

    fn err(&self, op: &'static str, rel: &[u8], e: Errno) -> Error {
        Error::io(op, self.path(rel), io::Error::from(e))
    }
}

/// The entry's xattrs minus overlayfs's own, which a layer must never be
/// able to set (they would redirect lookups or hide lower files).
fn layer_xattrs(entry: &Entry) -> impl Iterator<Item = (&[u8], &[u8])> {
    entry
        .xattrs
        .iter()
        .filter(|(k, _)| !k.is_empty() && !is_overlay_xattr(k))
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
}

fn fd_set_xattr(fd: BorrowedFd<'_>, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let owned: OwnedFd = fd.try_clone_to_owned()?;
    File::from(owned).set_xattr(name, value)
}

fn time((secs, nanos): (i64, u32)) -> TimeSpec {
    // Times before the epoch cannot be set on most filesystems; clamp.
    if secs < 0 {
        TimeSpec::new(0, 0)
    } else {
        TimeSpec::new(secs, i64::from(nanos.min(999_999_999)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn entry(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, link: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(1);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        if kind != tar::EntryType::Regular {
            h.set_size(0);
        }
        h.set_cksum();
        let data: &[u8] = if kind == tar::EntryType::Regular {
            b"x"
        } else {
            b""
        };
        b.append(&h, data).unwrap();
    }

    /// The component walk used when openat2 is unavailable confines
    /// paths exactly as openat2 does.
    #[test]
    #[allow(clippy::print_stdout)]
    fn component_walk_stays_in_root() {
        if !nix::unistd::geteuid().is_root() {
            println!("skipped: needs root (chown)");
            return;
        }
        use tar::EntryType::{Directory, Link, Regular, Symlink};
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let canary = tmp.path().join("canary");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&canary).unwrap();
        let canary_s = canary.to_str().unwrap().to_string();
        let climb = "../".repeat(10) + canary_s.trim_start_matches('/');
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, Symlink, "evil", "/");
        entry(&mut b, Regular, "evil/etc/x", "");
        entry(&mut b, Symlink, "abs", &canary_s);
        entry(&mut b, Regular, "abs/p1", "");
        entry(&mut b, Symlink, "rel", &climb);
        entry(&mut b, Regular, "rel/p2", "");
        entry(&mut b, Directory, "var/", "");
        entry(&mut b, Symlink, "var/run", "/run");
        entry(&mut b, Regular, "var/run/x", "");
        entry(&mut b, Link, "var/run/y", "var/run/x");
        entry(&mut b, Symlink, "chain", "evil/var/run");
        entry(&mut b, Regular, "chain/z", "");
        let tar = b.into_inner().unwrap();

        let dir = Root::open(&root).unwrap().without_openat2();
        apply_with(tar.as_slice(), &root, dir, ApplyMode::Merged).unwrap();
        assert_eq!(std::fs::read_dir(&canary).unwrap().count(), 0);
        let inside = root.join(canary_s.trim_start_matches('/'));
        assert!(root.join("etc/x").is_file());
        assert!(inside.join("p1").is_file());
        assert!(inside.join("p2").is_file());
        assert!(root.join("run/x").is_file());
        assert!(root.join("run/z").is_file());
        let ino = |p: &str| std::fs::metadata(root.join(p)).unwrap().ino();
        assert_eq!(ino("run/x"), ino("run/y"));

        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, Symlink, "l1", "l2");
        entry(&mut b, Symlink, "l2", "l1");
        entry(&mut b, Regular, "l1/x", "");
        let tar = b.into_inner().unwrap();
        let dir = Root::open(&root).unwrap().without_openat2();
        let err = apply_with(tar.as_slice(), &root, dir, ApplyMode::Merged).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
    }

    #[test]
    fn clean_paths() {
        let c = |p: &str| clean(p.as_bytes()).join(&b'/');
        assert_eq!(c("a/b/c"), b"a/b/c");
        assert_eq!(c("/a//b/./c/"), b"a/b/c");
        assert_eq!(c("../../etc/passwd"), b"etc/passwd");
        assert_eq!(c("a/../../b"), b"b");
        assert_eq!(c("./"), b"");
        assert_eq!(c(".."), b"");
    }
}
