//! In-root file operations for COPY and WORKDIR: source pattern
//! expansion, the copy itself, directory creation and small reads and
//! writes, on trees that are not trusted (security.md R1, R2).
//!
//! The solver mounts the destination root filesystem at `dest_root` and
//! the source (the build context, or another stage's root filesystem) at
//! `src_root`. Every path is cleaned lexically first (a leading `/` and
//! `..` cannot climb above the root), then resolved one component at a
//! time on directory fds with `O_NOFOLLOW`, symlinks being read and
//! resolved against the tree's own root (`crate::layer::resolve`), so no
//! symlink in either tree leads out of it. Inside a copied directory
//! every entry is handled with `*at` calls on its parent's fd and
//! symlinks are copied, never followed.
//!
//! The copy follows BuildKit's (`tonistiigi/fsutil/copy`), see
//! semantics.md §4 and §5:
//!
//! - A directory source copies its contents (CP-1). The destination is a
//!   directory if `dest` ends in `/` or resolves (through symlinks, in
//!   root: CP-8) to one; otherwise a non-directory source is written at
//!   exactly that path, sources being copied in turn (CP-3).
//! - Missing parent directories are created 0755 root:root, or with the
//!   `--chown` owner and the `--chmod` permission bits (CH-1). A
//!   destination directory that already exists keeps its owner and mode,
//!   and one created for a directory source does not take the source
//!   directory's (CP-6); either takes the source directory's times, as
//!   fsutil does.
//! - Each copied entry keeps its mode bits (setuid, setgid, sticky
//!   included), nanosecond atime and mtime and extended attributes
//!   (`security.capability` too; never overlayfs's own, nor
//!   `security.selinux`, a host label); its owner is the source's
//!   ([`FileOwner::Keep`]) or the one given; `--chmod` replaces the mode
//!   of every file and directory. Hardlinks within one source are kept.
//!   Sockets become empty regular files (CP-9); fifos and devices are
//!   recreated, except 0:0 character devices: those are overlayfs
//!   whiteouts, markers rather than files (LAY-3), and are skipped.
//! - A named source that is a symlink is followed in its root (SYM-1,
//!   SYM-2); symlinks inside a copied directory are copied as symlinks.
//! - A file replaces a file or symlink; a file onto a directory and a
//!   directory onto a non-directory are errors.
//!
//! Extended attributes that cannot be set for a reason that is not the
//! machine's (a filesystem or file type that refuses them) are skipped,
//! as BuildKit's file backend does.
//!
//! Walks are iterative: a deep tree costs heap, not stack. Directory fds
//! are kept for the 64 deepest levels plus one level in every 256, and
//! reopened by name (checked by inode) when the walk climbs back, so
//! depth does not exhaust file descriptors either: a 10,000-level tree
//! takes about 100 per tree. File data is
//! copied with `copy_file_range` (reflinks on btrfs and XFS) in constant
//! memory.

mod copy;
mod mode;

pub use mode::Chmod;
mod error;
mod pattern;

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, unlinkat};

pub use error::Error;
use pattern::{Pattern, has_wildcard};

use crate::layer::resolve::{End, NewDir, Root, is_dir as stat_is_dir, list_names, stat_at};

/// Whose files a copy makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOwner {
    /// Keep each source file's uid and gid (`COPY --from` without
    /// `--chown`).
    Keep,
    /// Give every copied file this uid and gid.
    Set(u32, u32),
}

/// How [`copy`] treats owners and modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// Owner of the copied files and of the directories created for them.
    pub owner: FileOwner,
    /// `--chmod`: the mode of every copied file and directory, and (its
    /// permission bits) of created parents.
    pub mode: Option<Chmod>,
}

/// What a [`copy`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Non-directory entries written: files, symlinks, hardlinks, devices
    /// and fifos.
    pub files: u64,
    /// Regular file payload bytes copied.
    pub bytes: u64,
}

/// Path components, cleaned or resolved, as raw bytes.
type Comps = Vec<Vec<u8>>;

/// Splits a path into components, dropping empty and `.` ones and
/// resolving `..` lexically, never above the root.
fn clean(path: &str) -> Comps {
    let mut out: Comps = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            comp => out.push(comp.as_bytes().to_vec()),
        }
    }
    out
}

/// A path inside a tree as shown in messages: `/a/b`.
fn show<C: AsRef<[u8]>>(comps: &[C]) -> String {
    if comps.is_empty() {
        return "/".into();
    }
    let mut out = String::new();
    for c in comps {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(c.as_ref()));
    }
    out
}

/// `comps` plus one more name, as shown in messages.
fn show_with<C: AsRef<[u8]>>(comps: &[C], name: &[u8]) -> String {
    let mut s = show(comps);
    if !s.ends_with('/') {
        s.push('/');
    }
    s.push_str(&String::from_utf8_lossy(name));
    s
}

/// A root-relative path as the API returns it: `a/b`, `.` for the root.
fn rel_string(comps: &[Vec<u8>]) -> Result<String, Error> {
    if comps.is_empty() {
        return Ok(".".into());
    }
    let joined = comps.join(&b'/');
    String::from_utf8(joined).map_err(|e| Error::NonUtf8 {
        path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn open_root(path: &Path) -> Result<Root, Error> {
    Root::open(path).map_err(|e| Error::os("open root", path.display().to_string(), e))
}

/// Opens the directory `comps` inside `root`, creating it and its missing
/// parents with `new`'s mode and owner; symlinks on the way are followed
/// inside the root. A non-directory in the way is an error naming it.
fn make_dirs(root: &Root, comps: &[Vec<u8>], new: NewDir) -> Result<OwnedFd, Error> {
    let walked = root
        .walk_path(comps, true, Some(new))
        .map_err(|e| Error::os("mkdir", show(comps), e))?;
    match &walked.end {
        End::Dir => walked
            .into_dir(root)
            .map_err(|e| Error::os("open directory", show(comps), e)),
        End::Leaf(name) | End::NotDir(name) => Err(Error::NotADirectory {
            path: show_with(&walked.names(), name),
        }),
        End::Missing(_) => Err(Error::os("mkdir", show(comps), Errno::ENOENT)),
    }
}

/// Resolves `comps` inside `root` through every symlink, the last
/// component's too. A missing tail is appended to the real path of what
/// exists (lexically), as containerd's `RootPath` does.
fn resolve_target(root: &Root, comps: &[Vec<u8>]) -> Result<Comps, Error> {
    let walked = root
        .walk_path(comps, true, None)
        .map_err(|e| Error::os("resolve", show(comps), e))?;
    let mut names = walked.names();
    match walked.end {
        End::Dir => {}
        End::Leaf(name) => names.push(name),
        End::Missing(rest) => {
            for comp in rest {
                match comp.as_slice() {
                    b"" | b"." => {}
                    b".." => {
                        names.pop();
                    }
                    _ => names.push(comp),
                }
            }
        }
        End::NotDir(name) => {
            return Err(Error::NotADirectory {
                path: show_with(&names, &name),
            });
        }
    }
    Ok(names)
}

/// Expands one COPY source pattern inside `root`: leading `/` and `..`
/// clamped to the root (CP-5), Go `filepath.Match` wildcards per path
/// segment (`*`, `?`, `[...]` with ranges and `^` negation, `\` escapes;
/// `*`/`?` never match `/`), resolved in-root.
///
/// Returns the matching paths relative to root (`.` for the root
/// itself), `Some(vec![])` for a wildcard that matches nothing (not an
/// error, CP-4), `None` when a literal path (or the directory before a
/// wildcard segment) is missing.
///
/// A literal path is returned as named (the copy follows it if it is a
/// symlink, and names the copy after it); it counts as missing if it is a
/// symlink to nothing. With wildcards, the part before the first wildcard
/// segment is resolved through symlinks and matches are returned under
/// its real path, in BuildKit's walk order (sorted component by
/// component). Segments from the first wildcard on are matched against
/// directory entries, and only real directories are entered below them,
/// not symlinks to directories, as BuildKit's `filepath.Walk` does. A
/// match whose name is not UTF-8 is an error.
pub fn expand(root: &Path, pattern: &str) -> Result<Option<Vec<String>>, Error> {
    let comps = clean(pattern);
    let r = open_root(root)?;
    let Some(first) = comps.iter().position(|c| has_wildcard(c)) else {
        let walked = r
            .walk_path(&comps, true, None)
            .map_err(|e| Error::os("resolve source", show(&comps), e))?;
        return Ok(match walked.end {
            End::Dir | End::Leaf(_) => Some(vec![rel_string(&comps)?]),
            End::Missing(_) | End::NotDir(_) => None,
        });
    };
    let mut segments = Vec::with_capacity(comps.len() - first);
    for seg in &comps[first..] {
        let parsed = std::str::from_utf8(seg).ok().and_then(Pattern::parse);
        match parsed {
            Some(p) => segments.push(p),
            None => {
                return Err(Error::Pattern {
                    pattern: pattern.to_string(),
                });
            }
        }
    }
    let walked = r
        .walk_path(&comps[..first], true, None)
        .map_err(|e| Error::os("resolve source", show(&comps[..first]), e))?;
    if !matches!(walked.end, End::Dir) {
        return Ok(None);
    }
    let base_names = walked.names();
    let base = walked
        .into_dir(&r)
        .map_err(|e| Error::os("open directory", show(&base_names), e))?;
    // Paths below `base`, one level per segment; each level keeps the
    // order of the previous one, so the result is in depth-first order.
    let mut current: Vec<Comps> = vec![Vec::new()];
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let mut next = Vec::new();
        for below in &current {
            let dir = match open_beneath(base.as_fd(), below) {
                Ok(fd) => fd,
                // Gone or replaced since it was listed.
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => {
                    let mut p = base_names.clone();
                    p.extend(below.iter().cloned());
                    return Err(Error::os("open directory", show(&p), e));
                }
            };
            let mut names = list_names(dir.as_fd()).map_err(|e| {
                let mut p = base_names.clone();
                p.extend(below.iter().cloned());
                Error::os("read directory", show(&p), e)
            })?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                if !seg.matches(&String::from_utf8_lossy(name.as_bytes())) {
                    continue;
                }
                if !last {
                    let st = stat_at(dir.as_fd(), &name).map_err(|e| {
                        let mut p = base_names.clone();
                        p.extend(below.iter().cloned());
                        Error::os("stat", show_with(&p, name.as_bytes()), e)
                    })?;
                    if !st.as_ref().is_some_and(stat_is_dir) {
                        continue;
                    }
                }
                let mut p = below.clone();
                p.push(name.as_bytes().to_vec());
                next.push(p);
            }
        }
        current = next;
    }
    current
        .into_iter()
        .map(|below| {
            let mut p = base_names.clone();
            p.extend(below);
            rel_string(&p)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Opens the directories `comps` one below the other from `dir`, each with
/// `O_NOFOLLOW`: for paths known to be real.
fn open_beneath(dir: std::os::fd::BorrowedFd<'_>, comps: &[Vec<u8>]) -> nix::Result<OwnedFd> {
    let mut cur = dir
        .try_clone_to_owned()
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)))?;
    for c in comps {
        cur = openat(
            &cur,
            OsStr::from_bytes(c),
            crate::layer::resolve::DIR_FLAGS,
            Mode::empty(),
        )?;
    }
    Ok(cur)
}

/// In-root resolution of a relative path, following symlinks inside the
/// root (the final component too when `follow_last`); returns the real
/// path relative to root (`.` for the root itself), `None` if missing.
pub fn real_path(root: &Path, rel: &str, follow_last: bool) -> Result<Option<String>, Error> {
    let comps = clean(rel);
    let r = open_root(root)?;
    let walked = r
        .walk_path(&comps, follow_last, None)
        .map_err(|e| Error::os("resolve", show(&comps), e))?;
    let mut names = walked.names();
    match walked.end {
        End::Dir => {}
        End::Leaf(name) => names.push(name),
        End::Missing(_) | End::NotDir(_) => return Ok(None),
    }
    rel_string(&names).map(Some)
}

/// COPY: copies each of `sources` (paths relative to `src_root`, as
/// [`expand`] returns them) into `dest_root` at `dest` (absolute path
/// inside `dest_root`; a trailing `/` means "into this directory"), with
/// Docker/BuildKit semantics (see the module documentation), returning
/// what was written.
///
/// On an error the destination is left partly written: the caller copies
/// into a snapshot it discards on failure.
pub fn copy(
    src_root: &Path,
    sources: &[String],
    dest_root: &Path,
    dest: &str,
    opts: &CopyOptions,
) -> Result<Stats, Error> {
    copy::copy(src_root, sources, dest_root, dest, opts, None)
}

/// Which source entries a filtered copy takes: called with each entry's
/// real path relative to the source root (`a/b/c`, no leading `./`);
/// `false` skips the entry, and for a directory everything below it.
pub type Filter<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// [`copy`], taking only the entries below the sources that `filter`
/// accepts (`.dockerignore`, `COPY --exclude`). The sources themselves are
/// not filtered: the caller chose them.
pub fn copy_filtered(
    src_root: &Path,
    sources: &[String],
    dest_root: &Path,
    dest: &str,
    opts: &CopyOptions,
    filter: Filter<'_>,
) -> Result<Stats, Error> {
    copy::copy(src_root, sources, dest_root, dest, opts, Some(filter))
}

/// WORKDIR: creates `path` (absolute, inside root) and missing parents,
/// 0755, owned by `owner`; existing directories keep their owner and mode
/// (WD-1); an existing non-directory is an error. Symlinks on the way are
/// followed inside the root. `mtime` (Unix seconds, from
/// `SOURCE_DATE_EPOCH`) stamps the directories it makes.
pub fn mkdir_all(
    root: &Path,
    path: &str,
    owner: (u32, u32),
    mtime: Option<i64>,
) -> Result<(), Error> {
    let r = open_root(root)?;
    let new = NewDir {
        mode: 0o755,
        uid: owner.0,
        gid: owner.1,
        mtime,
    };
    make_dirs(&r, &clean(path), new).map(drop)
}

/// Opens a regular file inside `root` for reading (in-root resolution,
/// symlinks followed inside the root); `Ok(None)` if it is missing or not
/// a regular file. Used to read ADD sources.
pub fn open_file(root: &Path, path: &str) -> Result<Option<File>, Error> {
    Ok(open_regular(root, path)?.map(|(fd, _)| File::from(fd)))
}

fn open_regular(root: &Path, path: &str) -> Result<Option<(OwnedFd, String)>, Error> {
    let comps = clean(path);
    let r = open_root(root)?;
    let walked = r
        .walk_path(&comps, true, None)
        .map_err(|e| Error::os("resolve", show(&comps), e))?;
    let names = walked.names();
    let End::Leaf(name) = &walked.end else {
        return Ok(None);
    };
    let name = name.clone();
    let shown = show_with(&names, &name);
    let dir = walked
        .into_dir(&r)
        .map_err(|e| Error::os("open directory", show(&names), e))?;
    let name = OsStr::from_bytes(&name);
    match stat_at(dir.as_fd(), name).map_err(|e| Error::os("stat", &shown, e))? {
        Some(st) if is_reg(st.st_mode) => {}
        _ => return Ok(None),
    }
    // O_NONBLOCK: should it have become a fifo since, opening must not hang.
    let fd = match openat(
        &dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ELOOP) => return Ok(None),
        Err(e) => return Err(Error::os("open", &shown, e)),
    };
    let st = fstat(&fd).map_err(|e| Error::os("stat", &shown, e))?;
    if !is_reg(st.st_mode) {
        return Ok(None);
    }
    Ok(Some((fd, shown)))
}

/// Reads a regular file inside root (in-root resolution), at most `limit`
/// bytes (larger = error); `Ok(None)` if missing or not a regular file.
/// Used for /etc/passwd and /etc/group.
pub fn read_file(root: &Path, path: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
    let Some((fd, shown)) = open_regular(root, path)? else {
        return Ok(None);
    };
    let st = fstat(&fd).map_err(|e| Error::os("stat", &shown, e))?;
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > limit {
        return Err(Error::TooLarge { path: shown, limit });
    }
    let mut data = Vec::new();
    File::from(fd)
        .take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| Error::io("read", &shown, e))?;
    if data.len() as u64 > limit {
        return Err(Error::TooLarge { path: shown, limit });
    }
    Ok(Some(data))
}

fn is_reg(mode: u32) -> bool {
    SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFREG
}

/// Writes a new regular file (COPY heredoc `COPY <<EOF /path`), creating
/// parents (0755, root); replaces an existing file. Like a copy
/// destination, `path` is resolved through symlinks inside the root; an
/// existing directory there is an error.
pub fn write_file(
    root: &Path,
    path: &str,
    data: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> Result<(), Error> {
    let comps = clean(path);
    let r = open_root(root)?;
    if let Some((_, parent)) = comps.split_last() {
        make_dirs(&r, parent, NewDir::ROOT)?;
    }
    let target = resolve_target(&r, &comps)?;
    let Some((name, parent)) = target.split_last() else {
        return Err(Error::ReplaceDirectory { path: "/".into() });
    };
    let shown = show(&target);
    let dir = make_dirs(&r, parent, NewDir::ROOT)?;
    let name = OsStr::from_bytes(name);
    match stat_at(dir.as_fd(), name).map_err(|e| Error::os("stat", &shown, e))? {
        Some(st) if stat_is_dir(&st) => return Err(Error::ReplaceDirectory { path: shown }),
        Some(_) => unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)
            .map_err(|e| Error::os("remove", &shown, e))?,
        None => {}
    }
    let fd = openat(
        &dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| Error::os("create file", &shown, e))?;
    let mut file = File::from(fd);
    std::io::Write::write_all(&mut file, data).map_err(|e| Error::io("write", &shown, e))?;
    // chown before chmod: chown clears setuid and setgid.
    fchown(
        &file,
        Some(Uid::from_raw(owner.0)),
        Some(Gid::from_raw(owner.1)),
    )
    .map_err(|e| Error::os("change owner of", &shown, e))?;
    nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(mode & 0o7777))
        .map_err(|e| Error::os("change mode of", &shown, e))
}

/// Whether `path` inside root resolves (in-root, through symlinks) to a
/// directory.
pub fn is_dir(root: &Path, path: &str) -> Result<bool, Error> {
    let comps = clean(path);
    let r = open_root(root)?;
    let walked = r
        .walk_path(&comps, true, None)
        .map_err(|e| Error::os("resolve", show(&comps), e))?;
    Ok(matches!(walked.end, End::Dir))
}

/// Where a mount target resolves inside `root` (through symlinks, in
/// root, the last component too, as a sandbox resolves it), and how many
/// of its trailing components do not exist there: the directories (or
/// file) a sandbox creates to mount on. The path is relative to the root
/// (`.` for the root); a missing tail is appended lexically. A
/// non-directory in the way gives the path up to it and no missing part.
pub fn resolve_missing(root: &Path, path: &str) -> Result<(String, usize), Error> {
    let comps = clean(path);
    let r = open_root(root)?;
    let walked = r
        .walk_path(&comps, true, None)
        .map_err(|e| Error::os("resolve", show(&comps), e))?;
    let mut names = walked.names();
    let mut existing = names.len();
    match walked.end {
        End::Dir => {}
        End::Leaf(name) => {
            names.push(name);
            existing += 1;
        }
        End::NotDir(name) => {
            names.push(name);
            existing += 1;
        }
        End::Missing(rest) => {
            for comp in rest {
                match comp.as_slice() {
                    b"" | b"." => {}
                    b".." => {
                        names.pop();
                        existing = existing.min(names.len());
                    }
                    _ => names.push(comp),
                }
            }
        }
    }
    Ok((rel_string(&names)?, names.len() - existing))
}

/// Removes a mount stub: the empty directory, or empty regular file, at
/// `path` inside `root`, where a sandbox made it to mount on. Nothing on
/// the way is followed: a symlink (or anything but a directory) in place
/// of a parent, a directory that is no longer empty, or a file with
/// content, leaves everything as it is. The parent keeps its access and
/// modification times. Returns whether the stub was removed.
pub fn remove_stub(root: &Path, path: &str) -> Result<bool, Error> {
    let comps = clean(path);
    let Some((name, parents)) = comps.split_last() else {
        return Ok(false);
    };
    let r = open_root(root)?;
    let parent = match open_beneath(r.fd(), parents) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(false),
        Err(e) => return Err(Error::os("open directory", show(parents), e)),
    };
    let shown = show(&comps);
    let name = OsStr::from_bytes(name);
    let Some(st) = stat_at(parent.as_fd(), name).map_err(|e| Error::os("stat", &shown, e))? else {
        return Ok(false);
    };
    let flags = if stat_is_dir(&st) {
        let dir = match openat(
            &parent,
            name,
            crate::layer::resolve::DIR_FLAGS,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(false),
            Err(e) => return Err(Error::os("open directory", &shown, e)),
        };
        let names = list_names(dir.as_fd()).map_err(|e| Error::os("read directory", &shown, e))?;
        if !names.is_empty() {
            return Ok(false);
        }
        UnlinkatFlags::RemoveDir
    } else if is_reg(st.st_mode) && st.st_size == 0 {
        UnlinkatFlags::NoRemoveDir
    } else {
        return Ok(false);
    };
    let times = fstat(&parent).map_err(|e| Error::os("stat", show(parents), e))?;
    match unlinkat(&parent, name, flags) {
        Ok(()) => {}
        // Filled or replaced meanwhile: no longer a stub.
        Err(Errno::ENOENT | Errno::ENOTEMPTY | Errno::EEXIST | Errno::EISDIR | Errno::ENOTDIR) => {
            return Ok(false);
        }
        Err(e) => return Err(Error::os("remove", &shown, e)),
    }
    let atime = nix::sys::time::TimeSpec::new(times.st_atime, times.st_atime_nsec);
    let mtime = nix::sys::time::TimeSpec::new(times.st_mtime, times.st_mtime_nsec);
    nix::sys::stat::futimens(&parent, &atime, &mtime)
        .map_err(|e| Error::os("restore the times of", show(parents), e))?;
    Ok(true)
}

/// Opens `path` inside `root` (in-root resolution, symlinks followed
/// inside the root, the last one too) as an `O_PATH` descriptor, `None`
/// if it is missing. Mounting `/proc/self/fd/N` of it binds exactly what
/// was resolved, whatever the tree does to its path afterwards.
pub fn open_in_root(root: &Path, path: &str) -> Result<Option<OwnedFd>, Error> {
    let comps = clean(path);
    let r = open_root(root)?;
    let walked = r
        .walk_path(&comps, true, None)
        .map_err(|e| Error::os("resolve", show(&comps), e))?;
    let names = walked.names();
    let leaf = match &walked.end {
        End::Dir => None,
        End::Leaf(name) => Some(name.clone()),
        End::Missing(_) | End::NotDir(_) => return Ok(None),
    };
    let dir = walked
        .into_dir(&r)
        .map_err(|e| Error::os("open directory", show(&names), e))?;
    let Some(name) = leaf else {
        return Ok(Some(dir));
    };
    match openat(
        &dir,
        OsStr::from_bytes(&name),
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(Error::os("open", show_with(&names, &name), e)),
    }
}

#[cfg(test)]
mod mount_stub_tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn missing_parts_of_mount_targets() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("f"), "x").unwrap();
        symlink("/a", root.join("link")).unwrap();
        symlink("../../../..", root.join("a/up")).unwrap();
        let r = |p: &str| resolve_missing(root, p).unwrap();
        assert_eq!(r("/a/b"), ("a/b".into(), 0));
        assert_eq!(r("/a/b/c/d"), ("a/b/c/d".into(), 2));
        assert_eq!(r("/ctx"), ("ctx".into(), 1));
        // Symlinks resolve inside the root, never above it.
        assert_eq!(r("/link/b/new"), ("a/b/new".into(), 1));
        assert_eq!(r("/a/up/etc/x"), ("etc/x".into(), 2));
        assert_eq!(r("/f"), ("f".into(), 0));
        assert_eq!(r("/f/x"), ("f".into(), 0));
        assert_eq!(r("/"), (".".into(), 0));
    }

    #[test]
    fn stubs_go_only_when_empty_and_reached_without_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("p/empty")).unwrap();
        fs::create_dir_all(root.join("p/full")).unwrap();
        fs::write(root.join("p/full/x"), "x").unwrap();
        fs::write(root.join("p/emptyfile"), "").unwrap();
        fs::write(root.join("p/file"), "data").unwrap();
        fs::create_dir(outside.path().join("victim")).unwrap();
        symlink(outside.path(), root.join("escape")).unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000, 5);
        filetime::set_file_times(root.join("p"), old, old).unwrap();

        assert!(remove_stub(root, "/p/empty").unwrap());
        assert!(!root.join("p/empty").exists());
        let md = fs::metadata(root.join("p")).unwrap();
        assert_eq!(filetime::FileTime::from_last_modification_time(&md), old);
        assert!(!remove_stub(root, "/p/full").unwrap());
        assert!(remove_stub(root, "/p/emptyfile").unwrap());
        assert!(!remove_stub(root, "/p/file").unwrap());
        assert!(!remove_stub(root, "/p/missing").unwrap());
        assert!(!remove_stub(root, "/escape/victim").unwrap());
        assert!(outside.path().join("victim").is_dir());
        assert!(!remove_stub(root, "/").unwrap());
    }

    #[test]
    fn opens_in_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("/etc", root.join("sel")).unwrap();
        assert!(open_in_root(root, "a/b").unwrap().is_some());
        assert!(open_in_root(root, "sel").unwrap().is_none());
        assert!(open_in_root(root, "missing").unwrap().is_none());
    }
}
