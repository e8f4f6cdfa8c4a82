//! Computing layer tars: from an overlayfs upperdir, or by comparing two
//! full trees (the copy snapshotter).
//!
//! Both walk depth-first with each directory's children sorted by the name
//! they get in the tar (directories with a trailing `/`, whiteouts with
//! their `.wh.` prefix), which makes the whole stream sorted by tar name in
//! byte order, parents first.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Stats;
use super::error::Error;
use super::tree::{self, Node, NodeKind, join};
use super::writer::TarOut;

const OPAQUE: &[u8] = b".wh..wh..opq";

pub(crate) fn diff_overlay<W: Write>(upper: &Path, out: W) -> Result<Stats, Error> {
    require_dir(upper)?;
    let mut w = TarOut::new(out);
    emit_tree(&mut w, upper, b"", Source::Overlay, false)?;
    w.finish()
}

pub(crate) fn diff_dirs<W: Write>(lower: &Path, upper: &Path, out: W) -> Result<Stats, Error> {
    require_dir(lower)?;
    require_dir(upper)?;
    let mut w = TarOut::new(out);
    compare(&mut w, lower, upper, b"")?;
    w.finish()
}

fn require_dir(path: &Path) -> Result<(), Error> {
    if tree::stat(path)?.is_dir() {
        Ok(())
    } else {
        Err(Error::Unsupported {
            path: path.to_path_buf(),
            reason: "not a directory".into(),
        })
    }
}

/// How to read the tree being emitted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// An overlayfs upperdir: 0:0 character devices are whiteouts and
    /// `trusted.overlay.opaque=y` marks opaque directories.
    Overlay,
    /// A plain tree whose every entry is new.
    Plain,
}

enum Item {
    Node(Node),
    /// A whiteout for the named sibling.
    Whiteout,
    /// The opaque marker of the directory being walked.
    Opaque,
}

/// Emits every entry below `dir` under the tar prefix `prefix` (empty or
/// ending in `/`).
fn emit_tree<W: Write>(
    w: &mut TarOut<W>,
    dir: &Path,
    prefix: &[u8],
    source: Source,
    opaque: bool,
) -> Result<(), Error> {
    let mut items: Vec<(Vec<u8>, Item)> = Vec::new();
    if opaque {
        items.push((OPAQUE.to_vec(), Item::Opaque));
    }
    for node in tree::list(dir)? {
        match node.kind {
            NodeKind::Socket => {}
            NodeKind::Char if source == Source::Overlay && node.rdev == 0 => {
                items.push((join(b".wh.", node.name_bytes()), Item::Whiteout));
            }
            _ => items.push((sort_key(&node), Item::Node(node))),
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, item) in items {
        match item {
            Item::Whiteout | Item::Opaque => w.whiteout(&join(prefix, &key))?,
            Item::Node(node) => {
                let path = dir.join(&node.name);
                let rel = join(prefix, node.name_bytes());
                let xattrs = tree::xattrs(&path)?;
                let opaque = match source {
                    Source::Overlay => check_overlay(&path, &node, &xattrs)?,
                    Source::Plain => false,
                };
                let target = match node.kind {
                    NodeKind::Symlink => Some(tree::link_target(&path)?),
                    _ => None,
                };
                w.node(&rel, &node, &path, &xattrs, target.as_deref())?;
                if node.is_dir() {
                    let mut sub = rel;
                    sub.push(b'/');
                    emit_tree(w, &path, &sub, source, opaque)?;
                }
            }
        }
    }
    Ok(())
}

/// Refuses overlay features whose upperdir content is not the change
/// itself, and reports whether a directory is opaque.
fn check_overlay(path: &Path, node: &Node, xattrs: &[(OsString, Vec<u8>)]) -> Result<bool, Error> {
    let mut opaque = false;
    for (name, value) in xattrs {
        let unsupported = |what: &str, option: &str| Error::Unsupported {
            path: path.to_path_buf(),
            reason: format!("overlay {what} cannot be turned into a layer; mount with {option}"),
        };
        match name.as_bytes() {
            b"trusted.overlay.opaque" => opaque = node.is_dir() && value.as_slice() == b"y",
            b"trusted.overlay.redirect" => {
                return Err(unsupported("redirect", "redirect_dir=off"));
            }
            b"trusted.overlay.metacopy" => {
                return Err(unsupported("metacopy file", "metacopy=off"));
            }
            _ => {}
        }
    }
    Ok(opaque)
}

/// A child's position among its siblings: its tar name component.
fn sort_key(node: &Node) -> Vec<u8> {
    let mut key = node.name_bytes().to_vec();
    if node.is_dir() {
        key.push(b'/');
    }
    key
}

enum Change {
    /// New, or changed in a way that replaces the whole entry.
    Emit(Node),
    /// A directory in both trees: compare what is inside.
    Both { lower: Node, upper: Node },
    /// Gone from the upper tree.
    Deleted,
}

/// Emits what differs below the directories `lower` and `upper`.
fn compare<W: Write>(
    w: &mut TarOut<W>,
    lower: &Path,
    upper: &Path,
    prefix: &[u8],
) -> Result<(), Error> {
    let mut lowers: HashMap<OsString, Node> = tree::list(lower)?
        .into_iter()
        .filter(|n| n.kind != NodeKind::Socket)
        .map(|n| (n.name.clone(), n))
        .collect();
    let mut items: Vec<(Vec<u8>, Change)> = Vec::new();
    for node in tree::list(upper)? {
        if node.kind == NodeKind::Socket {
            continue;
        }
        match lowers.remove(&node.name) {
            None => items.push((sort_key(&node), Change::Emit(node))),
            Some(old) if old.is_dir() && node.is_dir() => items.push((
                sort_key(&node),
                Change::Both {
                    lower: old,
                    upper: node,
                },
            )),
            Some(old) => {
                if changed(&old, &node, &lower.join(&old.name), &upper.join(&node.name))? {
                    items.push((sort_key(&node), Change::Emit(node)));
                }
            }
        }
    }
    for name in lowers.into_keys() {
        items.push((join(b".wh.", name.as_bytes()), Change::Deleted));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));

    for (key, change) in items {
        match change {
            Change::Deleted => w.whiteout(&join(prefix, &key))?,
            Change::Emit(node) => {
                let path = upper.join(&node.name);
                let rel = join(prefix, node.name_bytes());
                let xattrs = tree::xattrs(&path)?;
                let target = match node.kind {
                    NodeKind::Symlink => Some(tree::link_target(&path)?),
                    _ => None,
                };
                w.node(&rel, &node, &path, &xattrs, target.as_deref())?;
                if node.is_dir() {
                    let mut sub = rel;
                    sub.push(b'/');
                    emit_tree(w, &path, &sub, Source::Plain, false)?;
                }
            }
            Change::Both {
                lower: old,
                upper: node,
            } => {
                let lpath = lower.join(&old.name);
                let upath = upper.join(&node.name);
                let rel = join(prefix, node.name_bytes());
                let xattrs = tree::xattrs(&upath)?;
                let differs =
                    !same_meta(&old, &node) || !same_xattrs(&tree::xattrs(&lpath)?, &xattrs);
                if differs {
                    w.node(&rel, &node, &upath, &xattrs, None)?;
                } else {
                    w.push_pending(rel.clone(), node, xattrs);
                }
                let mut sub = rel.clone();
                sub.push(b'/');
                compare(w, &lpath, &upath, &sub)?;
                w.pop_pending(&rel);
            }
        }
    }
    Ok(())
}

/// Type, mode, owner and mtime (ns); for regular files also the size,
/// for devices the device number.
fn same_meta(a: &Node, b: &Node) -> bool {
    a.kind == b.kind
        && a.mode == b.mode
        && a.uid == b.uid
        && a.gid == b.gid
        && a.mtime == b.mtime
        && match a.kind {
            NodeKind::Regular => a.size == b.size,
            NodeKind::Char | NodeKind::Block => a.rdev == b.rdev,
            _ => true,
        }
}

fn same_xattrs(a: &[(OsString, Vec<u8>)], b: &[(OsString, Vec<u8>)]) -> bool {
    let layer = |x: &&(OsString, Vec<u8>)| tree::is_layer_xattr(x.0.as_bytes());
    a.iter().filter(layer).eq(b.iter().filter(layer))
}

/// Whether a non-directory (or a type change) differs. Equal size and
/// mtime count as equal contents: nothing is read.
fn changed(old: &Node, new: &Node, old_path: &Path, new_path: &Path) -> Result<bool, Error> {
    if !same_meta(old, new) {
        return Ok(true);
    }
    if new.kind == NodeKind::Symlink && tree::link_target(old_path)? != tree::link_target(new_path)?
    {
        return Ok(true);
    }
    Ok(!same_xattrs(
        &tree::xattrs(old_path)?,
        &tree::xattrs(new_path)?,
    ))
}
