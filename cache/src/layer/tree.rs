//! Reading directory trees for the differs and the cloner: per-directory
//! listings with `lstat` metadata, link targets and extended attributes.
//!
//! These walk snapshot trees kiln owns and that nothing modifies while they
//! are read (the step that wrote them has ended), so plain paths are used;
//! symlinks are never followed because every name is `lstat`ed and every
//! file is opened with `O_NOFOLLOW`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat, lstat};

use super::error::Error;

/// The type of a file in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Regular,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

/// One directory entry and its `lstat` metadata.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: OsString,
    pub(crate) kind: NodeKind,
    /// Permission bits including setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
    pub(crate) atime: (i64, i64),
    pub(crate) rdev: u64,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) nlink: u64,
}

impl Node {
    pub(crate) fn from_stat(name: OsString, st: &FileStat) -> Node {
        let kind = match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFDIR => NodeKind::Dir,
            SFlag::S_IFLNK => NodeKind::Symlink,
            SFlag::S_IFCHR => NodeKind::Char,
            SFlag::S_IFBLK => NodeKind::Block,
            SFlag::S_IFIFO => NodeKind::Fifo,
            SFlag::S_IFSOCK => NodeKind::Socket,
            _ => NodeKind::Regular,
        };
        Node {
            name,
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (st.st_mtime, st.st_mtime_nsec),
            atime: (st.st_atime, st.st_atime_nsec),
            rdev: st.st_rdev,
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
        }
    }

    pub(crate) fn name_bytes(&self) -> &[u8] {
        self.name.as_bytes()
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind == NodeKind::Dir
    }
}

/// `lstat` of one path, as a node named after its last component.
pub(crate) fn stat(path: &Path) -> Result<Node, Error> {
    let st = lstat(path).map_err(|e| Error::io("stat", path, e.into()))?;
    let name = path.file_name().unwrap_or(OsStr::new("")).to_owned();
    Ok(Node::from_stat(name, &st))
}

/// The entries of `dir` (without `.` and `..`), sorted by name bytes.
/// Reading does not update the directory's atime where permitted.
pub(crate) fn list(dir: &Path) -> Result<Vec<Node>, Error> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut d = match Dir::open(dir, flags | OFlag::O_NOATIME, Mode::empty()) {
        Err(Errno::EPERM) => Dir::open(dir, flags, Mode::empty()),
        other => other,
    }
    .map_err(|e| Error::io("read directory", dir, e.into()))?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e.into()))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    let mut nodes = Vec::with_capacity(names.len());
    for name in names {
        let st = fstatat(&d, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| Error::io("stat", dir.join(&name), e.into()))?;
        nodes.push(Node::from_stat(name, &st));
    }
    nodes.sort_by(|a, b| a.name_bytes().cmp(b.name_bytes()));
    Ok(nodes)
}

/// The target of the symlink at `path`, as raw bytes.
pub(crate) fn link_target(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read_link(path)
        .map(|t| t.into_os_string().into_vec())
        .map_err(|e| Error::io("read symlink", path, e))
}

/// All extended attributes of `path` (not following a final symlink),
/// sorted by name.
pub(crate) fn xattrs(path: &Path) -> Result<Vec<(OsString, Vec<u8>)>, Error> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list xattrs of", path, e)),
    };
    let mut out = Vec::new();
    for name in names {
        match xattr::get(path, &name) {
            Ok(Some(value)) => out.push((name, value)),
            // Removed between list and get: it no longer exists.
            Ok(None) => {}
            Err(e) => return Err(Error::io("read xattr of", path, e)),
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Opens a file of a tree for reading without following a final symlink
/// and, where permitted, without updating its atime (a read must not
/// change the tree being copied or diffed).
pub(crate) fn open_read(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |flags| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | flags)
            .open(path)
    };
    match open(libc::O_NOATIME) {
        // O_NOATIME needs ownership or CAP_FOWNER.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        other => other,
    }
}

/// Whether an xattr error only says the filesystem has no xattrs there.
pub(crate) fn unsupported(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

/// Whether an xattr belongs to overlayfs itself rather than to the file.
pub(crate) fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Whether an xattr is written into layers. Overlay bookkeeping never is,
/// and neither is `security.selinux`: it is the host's label, not image
/// content, and would make layers differ between hosts.
pub(crate) fn is_layer_xattr(name: &[u8]) -> bool {
    !is_overlay_xattr(name) && name != b"security.selinux"
}

/// Joins a tar path prefix (empty or ending in `/`) and a name.
pub(crate) fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + name.len() + 1);
    out.extend_from_slice(prefix);
    out.extend_from_slice(name);
    out
}
