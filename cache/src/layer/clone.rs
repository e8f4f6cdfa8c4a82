//! `cp -a` for the copy snapshotter: a full copy of a tree with every
//! file type, owner, mode bit, xattr, hardlink and nanosecond time.
//!
//! File data goes through `std::io::copy` between two `File`s, which on
//! Linux uses `copy_file_range` (a reflink on btrfs and XFS). Owners are
//! set before modes (chown clears setuid/setgid), xattrs after both
//! (chown drops `security.capability`), times last, and a directory's
//! times after its children.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, lchown};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use nix::sys::stat::{Mode, SFlag, mknod};
use xattr::FileExt;

use super::Stats;
use super::error::Error;
use super::tree::{self, Node, NodeKind};

pub(crate) fn clone_tree(src: &Path, dst: &Path) -> Result<Stats, Error> {
    let root = tree::stat(src)?;
    if !root.is_dir() {
        return Err(Error::Unsupported {
            path: src.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    match fs::DirBuilder::new().mode(0o700).create(dst) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dst.is_dir() => {}
        Err(e) => return Err(Error::io("create directory", dst, e)),
    }
    let mut cloner = Cloner {
        links: HashMap::new(),
        stats: Stats::default(),
    };
    cloner.dir_metadata(src, dst, &root)?;
    cloner.copy_dir(src, dst)?;
    set_times(dst, &root)?;
    Ok(cloner.stats)
}

struct Cloner {
    /// (st_dev, st_ino) of multiply-linked sources to their first copy.
    links: HashMap<(u64, u64), PathBuf>,
    stats: Stats,
}

impl Cloner {
    fn copy_dir(&mut self, src: &Path, dst: &Path) -> Result<(), Error> {
        for node in tree::list(src)? {
            let from = src.join(&node.name);
            let to = dst.join(&node.name);
            if node.kind != NodeKind::Dir && node.nlink > 1 {
                if let Some(first) = self.links.get(&(node.dev, node.ino)) {
                    fs::hard_link(first, &to).map_err(|e| Error::io("create hardlink", &to, e))?;
                    self.stats.entries += 1;
                    continue;
                }
                self.links.insert((node.dev, node.ino), to.clone());
            }
            match node.kind {
                NodeKind::Dir => {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&to)
                        .map_err(|e| Error::io("create directory", &to, e))?;
                    self.dir_metadata(&from, &to, &node)?;
                    self.copy_dir(&from, &to)?;
                    set_times(&to, &node)?;
                }
                NodeKind::Regular => self.copy_file(&from, &to, &node)?,
                NodeKind::Symlink => {
                    let target =
                        fs::read_link(&from).map_err(|e| Error::io("read symlink", &from, e))?;
                    std::os::unix::fs::symlink(&target, &to)
                        .map_err(|e| Error::io("create symlink", &to, e))?;
                    lchown(&to, Some(node.uid), Some(node.gid))
                        .map_err(|e| Error::io("change owner of", &to, e))?;
                    copy_xattrs_path(&from, &to)?;
                    set_times(&to, &node)?;
                }
                NodeKind::Char | NodeKind::Block | NodeKind::Fifo | NodeKind::Socket => {
                    let kind = match node.kind {
                        NodeKind::Char => SFlag::S_IFCHR,
                        NodeKind::Block => SFlag::S_IFBLK,
                        NodeKind::Fifo => SFlag::S_IFIFO,
                        _ => SFlag::S_IFSOCK,
                    };
                    mknod(&to, kind, Mode::from_bits_truncate(0o600), node.rdev)
                        .map_err(|e| Error::io("create node", &to, e.into()))?;
                    lchown(&to, Some(node.uid), Some(node.gid))
                        .map_err(|e| Error::io("change owner of", &to, e))?;
                    // Not a symlink: we just made it.
                    fs::set_permissions(&to, fs::Permissions::from_mode(node.mode))
                        .map_err(|e| Error::io("change mode of", &to, e))?;
                    copy_xattrs_path(&from, &to)?;
                    set_times(&to, &node)?;
                }
            }
            self.stats.entries += 1;
        }
        Ok(())
    }

    fn copy_file(&mut self, from: &Path, to: &Path, node: &Node) -> Result<(), Error> {
        let mut input = tree::open_read(from).map_err(|e| Error::io("open", from, e))?;
        let mut output = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(to)
            .map_err(|e| Error::io("create file", to, e))?;
        let copied = io::copy(&mut input, &mut output).map_err(|e| Error::io("copy", from, e))?;
        self.stats.bytes += copied;
        std::os::unix::fs::fchown(&output, Some(node.uid), Some(node.gid))
            .map_err(|e| Error::io("change owner of", to, e))?;
        output
            .set_permissions(fs::Permissions::from_mode(node.mode))
            .map_err(|e| Error::io("change mode of", to, e))?;
        for (name, value) in tree::xattrs(from)? {
            set_xattr_file(&output, &name, &value).map_err(|e| Error::io("set xattr on", to, e))?;
        }
        filetime::set_file_handle_times(
            &output,
            Some(FileTime::from_unix_time(node.atime.0, nanos(node.atime.1))),
            Some(FileTime::from_unix_time(node.mtime.0, nanos(node.mtime.1))),
        )
        .map_err(|e| Error::io("set times of", to, e))
    }

    fn dir_metadata(&mut self, from: &Path, to: &Path, node: &Node) -> Result<(), Error> {
        lchown(to, Some(node.uid), Some(node.gid))
            .map_err(|e| Error::io("change owner of", to, e))?;
        fs::set_permissions(to, fs::Permissions::from_mode(node.mode))
            .map_err(|e| Error::io("change mode of", to, e))?;
        copy_xattrs_path(from, to)
    }
}

fn set_xattr_file(file: &File, name: &std::ffi::OsStr, value: &[u8]) -> io::Result<()> {
    match file.set_xattr(name, value) {
        Err(e) if tree::unsupported(&e) => Ok(()),
        other => other,
    }
}

fn copy_xattrs_path(from: &Path, to: &Path) -> Result<(), Error> {
    for (name, value) in tree::xattrs(from)? {
        match xattr::set(to, &name, &value) {
            Ok(()) => {}
            Err(e) if tree::unsupported(&e) => {}
            Err(e) => return Err(Error::io("set xattr on", to, e)),
        }
    }
    Ok(())
}

fn set_times(path: &Path, node: &Node) -> Result<(), Error> {
    filetime::set_symlink_file_times(
        path,
        FileTime::from_unix_time(node.atime.0, nanos(node.atime.1)),
        FileTime::from_unix_time(node.mtime.0, nanos(node.mtime.1)),
    )
    .map_err(|e| Error::io("set times of", path, e))
}

fn nanos(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}
