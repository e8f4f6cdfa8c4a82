//! OCI layer tarballs: writing them from changed trees, applying them to
//! directories.
//!
//! Layers are uncompressed OCI layer tars
//! (`application/vnd.oci.image.layer.v1.tar`); the caller hashes the bytes
//! written or read to get the layer digest.
//!
//! # Tar format written
//!
//! The same tree always gives the same bytes:
//!
//! - Entries are sorted by their tar name in byte order, where directory
//!   names end in `/` (as they do in the tar). This is a depth-first walk
//!   with siblings sorted by that name, so parents always come first.
//! - GNU headers. Mode (with setuid, setgid and sticky), uid, gid, size,
//!   link target and device numbers are recorded; uname and gname are
//!   empty; atime and ctime are not recorded.
//! - mtime is whole seconds: sub-second parts are truncated and no PAX
//!   time records are written (as moby does), so a layer does not carry
//!   an extra header per file. Applying honours PAX `mtime` records with
//!   fractions written by other tools.
//! - Names and link targets over 100 bytes use GNU `L`/`K` records.
//! - Extended attributes are PAX `SCHILY.xattr.<name>` records, sorted by
//!   name, except overlayfs's own (`trusted.overlay.*`, `user.overlay.*`)
//!   and `security.selinux` (a host label, which would make layers differ
//!   between hosts).
//! - A second path to an inode already written becomes a hardlink entry to
//!   the first path.
//! - Whiteouts (`.wh.<name>`) and opaque markers (`<dir>/.wh..wh..opq`)
//!   are empty regular files with mode 0, owner 0:0 and mtime 0.
//! - Sockets are skipped.
//!
//! # Applying
//!
//! [`apply`] never uses the `tar` crate's `unpack`. It frames the stream
//! itself with `tar::Header` parsing every header, caps PAX and GNU
//! long-name records at 1 MiB, resolves every parent inside the root on
//! directory fds (`openat2(RESOLVE_IN_ROOT)`, or a component walk with
//! `O_NOFOLLOW` where openat2 is unavailable) and creates each final
//! component with `*at` calls that do not follow symlinks. Memory does not
//! grow with file sizes; it grows with the number of directories (their
//! mtimes are set last) and, in [`ApplyMode::Merged`], the number of
//! entries (paths this layer created survive its own opaque markers).
//! GNU sparse entries are refused. After the end-of-archive marker the
//! rest of the stream is read and discarded, so a hashing reader sees all
//! of it.

mod apply;
mod clone;
mod diff;
mod error;
mod reader;
pub(crate) mod resolve;
mod tree;
mod writer;

use std::io::{Read, Write};
use std::path::Path;

pub use error::Error;

/// How [`apply`] treats whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Unpack into an initially empty layer directory for overlayfs:
    /// `.wh.<name>` becomes a 0:0 character device `<name>`, and
    /// `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory.
    /// Hardlink targets must be in the same layer.
    Overlay,
    /// Apply onto a full root filesystem: `.wh.<name>` removes `<name>`
    /// recursively, `.wh..wh..opq` removes the directory's children that
    /// existed before this layer (not those this layer added).
    Merged,
}

/// What a call wrote, applied or copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries written or applied (files, directories, links, devices,
    /// whiteouts; not the PAX and GNU records that describe them).
    pub entries: u64,
    /// Regular file payload bytes.
    pub bytes: u64,
}

/// Applies the uncompressed layer tar `tar` to the directory `root`.
///
/// Nothing outside `root` is created, modified or followed, whatever the
/// tar holds; a hostile entry makes this return an error naming it. On an
/// error the root is left partly applied: callers apply into a temporary
/// snapshot and discard it on failure.
pub fn apply(tar: impl Read, root: &Path, mode: ApplyMode) -> Result<Stats, Error> {
    apply::apply(tar, root, mode)
}

/// Unpacks an (uncompressed) tar archive below `dest` inside `root`, as
/// ADD does with a local archive: missing parents are made, the archive's
/// root entry leaves `dest` alone, `owner` (from `--chown`) replaces every
/// entry's owner, and paths resolve inside `root`.
pub fn extract(
    tar: impl Read,
    root: &Path,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> Result<Stats, Error> {
    apply::extract(tar, root, dest, owner)
}

/// Writes to `out` the layer tar of the changes an overlayfs upperdir
/// records: 0:0 character devices become `.wh.<name>`, opaque directories
/// get a `<dir>/.wh..wh..opq` entry, and overlay xattrs are dropped.
///
/// The overlay must be mounted with `redirect_dir=off` and `metacopy=off`
/// (the kernel defaults); an upperdir using either is refused, since its
/// contents are then not the change itself.
pub fn diff_overlay(upper: &Path, out: impl Write) -> Result<Stats, Error> {
    diff::diff_overlay(upper, out)
}

/// Writes to `out` the layer tar that turns the tree `lower` into the tree
/// `upper`: entries new or changed in `upper` (type, mode, owner, size,
/// mtime in ns, link target, device number, xattrs; equal size and mtime
/// count as equal contents, which are not read), and a whiteout for each
/// deleted path (one `.wh.<dir>` for a deleted directory, nothing below
/// it). Unchanged directories above a change are written before it.
///
/// A new path that is a hardlink to an unchanged file becomes a regular
/// file in the layer, since its first path is not in this tar.
pub fn diff_dirs(lower: &Path, upper: &Path, out: impl Write) -> Result<Stats, Error> {
    diff::diff_dirs(lower, upper, out)
}

/// Copies the tree `src` to `dst` like `cp -a`: every file type
/// (sockets included), owners, modes, xattrs, hardlinks and nanosecond
/// atimes and mtimes; symlinks are copied, never followed. `dst` is
/// created if missing and should be empty.
pub fn clone_tree(src: &Path, dst: &Path) -> Result<Stats, Error> {
    clone::clone_tree(src, dst)
}
