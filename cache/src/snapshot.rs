//! Snapshots: root filesystems on disk. With the overlay snapshotter each
//! snapshot directory holds one layer in overlayfs form and a root
//! filesystem is a stack of them; with the copy snapshotter (for hosts
//! where overlayfs cannot be used) each snapshot is a whole tree.
//!
//! A snapshot is built in the process's temp directory and moved under
//! `snapshots/<id>/fs` in the same transaction that records it, so that an
//! interrupted build leaves garbage in `tmp/` and never a half snapshot.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::digest::Digest;
use crate::meta::SnapshotRow;

/// How root filesystems are stored and mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotterKind {
    /// One directory per layer, stacked with overlayfs.
    Overlay,
    /// One full tree per snapshot, copied for each step.
    Copy,
}

impl fmt::Display for SnapshotterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SnapshotterKind::Overlay => "overlay",
            SnapshotterKind::Copy => "copy",
        })
    }
}

impl FromStr for SnapshotterKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "overlay" | "overlayfs" => Ok(SnapshotterKind::Overlay),
            "copy" | "native" => Ok(SnapshotterKind::Copy),
            other => Err(format!(
                "unknown snapshotter {other:?} (want overlay or copy)"
            )),
        }
    }
}

/// OCI chain ID of a layer stack: the first diff ID, then
/// `sha256(parent + " " + diff_id)` for each layer above.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => *diff_id,
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
    }
}

/// How to see a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mountable {
    /// An overlay mount.
    Overlay {
        /// Read-only layers, top-most first (may be empty).
        lowers: Vec<PathBuf>,
        /// Writable layer.
        upper: PathBuf,
        /// overlayfs work directory.
        work: PathBuf,
    },
    /// A plain directory, used as is.
    Dir(PathBuf),
}

/// A read-only view of a committed snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Nothing at all (scratch).
    Empty,
    /// One directory holds everything (one overlay layer, or a copy tree).
    Dir(PathBuf),
    /// Several overlay layers, top-most first: mount them read-only.
    Layers(Vec<PathBuf>),
}

/// A committed snapshot with the layers below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The top row.
    pub row: SnapshotRow,
    /// Diff IDs bottom first, this snapshot's last.
    pub diff_ids: Vec<Digest>,
    /// Snapshot directories bottom first (`snapshots/<id>/fs`).
    pub dirs: Vec<PathBuf>,
}

impl Snapshot {
    /// The chain ID.
    pub fn chain_id(&self) -> Digest {
        self.row.chain_id
    }
}

/// A writable snapshot being built: a RUN or COPY step's working tree.
pub struct Active {
    pub(crate) kind: SnapshotterKind,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) parent: Option<Snapshot>,
}

impl Active {
    /// The parent, if any.
    pub fn parent(&self) -> Option<&Snapshot> {
        self.parent.as_ref()
    }

    /// The directory that receives the changes (overlay upperdir, or the
    /// whole tree for the copy snapshotter).
    pub fn upper(&self) -> PathBuf {
        self.dir.path().join("fs")
    }

    /// An empty directory for mounting the root filesystem on.
    pub fn mount_point(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// How to mount the working root filesystem.
    pub fn mountable(&self) -> Mountable {
        match self.kind {
            SnapshotterKind::Overlay => Mountable::Overlay {
                lowers: self
                    .parent
                    .as_ref()
                    .map(|p| p.dirs.iter().rev().cloned().collect())
                    .unwrap_or_default(),
                upper: self.upper(),
                work: self.dir.path().join("work"),
            },
            SnapshotterKind::Copy => Mountable::Dir(self.upper()),
        }
    }

    /// The parent's full tree for the copy snapshotter's diff.
    pub(crate) fn parent_tree(&self) -> Option<&Path> {
        self.parent
            .as_ref()
            .and_then(|p| p.dirs.last())
            .map(|p| p.as_path())
    }
}
