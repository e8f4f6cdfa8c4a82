//! `RUN --mount` in the worker: the key part each mount adds, the host
//! paths the sandbox binds, and the mount stubs removed from the layer.
//!
//! - A bind of the context shows what `.dockerignore` lets through without
//!   copying anything: a read-only overlay whose top layer holds a
//!   whiteout (a 0:0 character device) for each hidden entry, over the
//!   context directory. Directories on the way to a whiteout take the
//!   context's mode, owner and times, since overlayfs shows the top-most
//!   directory's. With nothing hidden the directory is bound as it is.
//! - A bind of a stage or image binds its snapshot (a read-only overlay of
//!   its layers, or its directory) at the source path resolved in that
//!   tree.
//! - A read-write bind gets a throwaway upper layer (a copy where overlayfs
//!   is not available): its writes never reach the context or a snapshot.
//! - A cache is a directory under `<store>/cache-mounts/`, named by the
//!   digest of its id (and of what a new one starts as), kept across
//!   builds and never part of a key. `locked` holds an `flock` on it for
//!   the step; `private` takes a fresh directory when another step holds
//!   it. A source path in a cache is resolved in the cache and bound by
//!   descriptor, so a step sharing the cache cannot redirect it.
//! - Targets the root filesystem lacked are created by the sandbox to
//!   mount on; when still empty after the step they are removed from the
//!   new layer, as BuildKit's `MountStubsCleaner` does.
//!
//! All mounts made here are in kiln's private mount namespace, which the
//! sandbox helper inherits, and are undone when the step ends.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kiln_cache::fsops::{self, CopyOptions, FileOwner};
use kiln_cache::{Active, Digest, Hasher, Snapshot, SnapshotterKind, View};
use kiln_executor::{Mount, MountKind};
use nix::fcntl::{Flock, FlockArg};
use tokio_util::sync::CancellationToken;

use super::mount::{MountGuard, bind_fd, overlay, tmpfs};
use super::{Output, RealWorker};
use crate::context::ContextIndex;
use crate::error::{Error, Result, io_err};
use crate::lower::context_pattern;
use crate::op::{CacheMount, CacheSharing, ExecOp, RunMountKind, SecretMount, Vertex};
use crate::schedule::Resolved;

/// Where cache mounts live, below the store root.
const CACHE_DIR: &str = "cache-mounts";

/// The mounts of one RUN, held for as long as it runs.
pub(super) struct Prepared {
    /// For the sandbox spec, in order.
    pub(super) mounts: Vec<Mount>,
    /// Mounts in kiln's namespace; undone on drop.
    guards: Vec<MountGuard>,
    /// `locked` and `private` caches in use.
    locks: Vec<Flock<fs::File>>,
    /// Secrets given as variables (`NAME=value`), for this step only.
    pub(super) env: Vec<String>,
}

impl Prepared {
    /// Undoes the mounts and releases the caches.
    pub(super) fn release(self) {
        let Prepared { guards, locks, .. } = self;
        drop(guards);
        drop(locks);
    }
}

fn not_found(source: &str, v: &Vertex) -> Error {
    Error::Source {
        message: format!(
            "failed to compute cache key: \"/{}\": not found",
            crate::context::clean_rel(source)
        ),
        lines: v.meta.lines,
    }
}

fn cache_err(e: fsops::Error) -> Error {
    Error::Cache(kiln_cache::Error::from(e))
}

/// The key parts of a RUN's mounts, in mount order: for a bind of the
/// context the digest of the source path as `.dockerignore` shows it; for
/// a bind of a stage or an image, and for a cache's base, that root
/// filesystem's chain ID (its identity, owners and times included:
/// content digests of the context leave owners out, which a bind shows).
pub(super) fn mount_keys(
    e: &ExecOp,
    inputs: &[Arc<Resolved<Output>>],
    input_ids: &[Digest],
    v: &Vertex,
) -> Result<Vec<Digest>> {
    let mut keys = Vec::new();
    for m in &e.mounts {
        let input = match &m.kind {
            RunMountKind::Bind { input, source, .. } => {
                if let Some(Output::Context(idx)) = inputs.get(*input).map(|r| &r.output) {
                    match idx.sources.get(&context_pattern(source)) {
                        Some(Some(d)) => keys.push(*d),
                        _ => return Err(not_found(source, v)),
                    }
                    continue;
                }
                *input
            }
            RunMountKind::Cache(CacheMount {
                base: Some(input), ..
            }) => *input,
            // A secret's value stays out of keys, as in BuildKit.
            RunMountKind::Cache(_) | RunMountKind::Tmpfs { .. } | RunMountKind::Secret(_) => {
                continue;
            }
        };
        let id = input_ids.get(input).copied().ok_or_else(|| {
            Error::Usage(format!("internal error: mount input {input} is missing"))
        })?;
        keys.push(id);
    }
    Ok(keys)
}

/// Turns a chown-free clone or copy error into the crate's.
fn layer_err(e: kiln_cache::layer::Error) -> Error {
    Error::Cache(kiln_cache::Error::from(e))
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| io_err(p, e))
}

/// Copies a directory's mode, owner and times onto another.
fn copy_attrs(from: &fs::Metadata, to: &Path) -> Result<()> {
    // chown first: it clears setuid and setgid.
    std::os::unix::fs::lchown(to, Some(from.uid()), Some(from.gid())).map_err(|e| io_err(to, e))?;
    fs::set_permissions(to, fs::Permissions::from_mode(from.mode() & 0o7777))
        .map_err(|e| io_err(to, e))?;
    set_times(from, to)
}

fn set_times(from: &fs::Metadata, to: &Path) -> Result<()> {
    use nix::sys::time::TimeSpec;
    let atime = TimeSpec::new(from.atime(), from.atime_nsec());
    let mtime = TimeSpec::new(from.mtime(), from.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        to,
        &atime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| io_err(to, e.into()))
}

/// The entries below the context directory `real` (relative to the
/// context root, `""` for the root) that `.dockerignore` hides, relative
/// to `real`. A hidden directory is one entry: nothing below it shows.
fn hidden_entries(idx: &ContextIndex, real: &str) -> Result<Vec<String>> {
    let mut hidden = Vec::new();
    let mut stack = vec![real.to_string()];
    while let Some(dir) = stack.pop() {
        let full = idx.root.join(&dir);
        let rd = fs::read_dir(&full).map_err(|e| io_err(&full, e))?;
        let mut names: Vec<(String, bool)> = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| io_err(&full, e))?;
            let is_dir = entry
                .file_type()
                .map_err(|e| io_err(entry.path(), e))?
                .is_dir();
            names.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        names.sort();
        for (name, is_dir) in names.into_iter().rev() {
            let path = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if !idx.visible(&path) {
                let rel = path
                    .strip_prefix(real)
                    .map(|r| r.trim_start_matches('/'))
                    .unwrap_or(&path);
                hidden.push(rel.to_string());
            } else if is_dir {
                stack.push(path);
            }
        }
    }
    Ok(hidden)
}

/// Makes the overlay layer that hides `hidden` (paths relative to the
/// source directory `src`) at `layer`.
fn whiteout_layer(src: &Path, hidden: &[String], layer: &Path) -> Result<()> {
    mkdir(layer)?;
    let mut dirs: Vec<String> = vec![String::new()];
    for h in hidden {
        let mut parent = String::new();
        let parts: Vec<&str> = h.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            parent = if parent.is_empty() {
                (*part).to_string()
            } else {
                format!("{parent}/{part}")
            };
            if !dirs.contains(&parent) {
                mkdir(&layer.join(&parent))?;
                dirs.push(parent.clone());
            }
        }
        let at = layer.join(h);
        nix::sys::stat::mknod(
            &at,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            nix::sys::stat::makedev(0, 0),
        )
        .map_err(|e| io_err(&at, e.into()))?;
    }
    // Deepest first, so that setting a directory's times is not undone by
    // work below it.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.split('/').count() + usize::from(!d.is_empty())));
    for d in dirs {
        let from = src.join(&d);
        let md = fs::symlink_metadata(&from).map_err(|e| io_err(&from, e))?;
        copy_attrs(&md, &layer.join(&d))?;
    }
    Ok(())
}

impl RealWorker {
    /// Sets up the mounts of a RUN under the scratch directory `dir`.
    pub(super) fn prepare_mounts(
        &self,
        e: &ExecOp,
        inputs: &[Arc<Resolved<Output>>],
        dir: &Path,
        v: &Vertex,
        cancel: &CancellationToken,
    ) -> Result<Prepared> {
        let mut p = Prepared {
            mounts: Vec::new(),
            guards: Vec::new(),
            locks: Vec::new(),
            env: Vec::new(),
        };
        for (i, m) in e.mounts.iter().enumerate() {
            let work = dir.join(format!("m{i}"));
            mkdir(&work)?;
            let kind = match &m.kind {
                RunMountKind::Secret(s) => match self.secret(s, &m.target, &work, &mut p, v)? {
                    Some(kind) => kind,
                    None => continue,
                },
                RunMountKind::Tmpfs { size } => MountKind::Tmpfs { size: *size },
                RunMountKind::Bind {
                    input,
                    source,
                    readonly,
                } => {
                    let source_path = match inputs.get(*input).map(|r| &r.output) {
                        Some(Output::Context(idx)) => {
                            self.bind_context(idx, source, *readonly, &work, &mut p, v)?
                        }
                        Some(Output::Fs(s)) => {
                            self.bind_snapshot(s.as_ref(), source, *readonly, &work, &mut p, v)?
                        }
                        None => {
                            return Err(Error::Usage(format!(
                                "internal error: mount input {input} is missing"
                            )));
                        }
                    };
                    MountKind::Bind {
                        source: source_path,
                        readonly: *readonly,
                    }
                }
                RunMountKind::Cache(c) => {
                    let base = c
                        .base
                        .map(|i| inputs.get(i).and_then(|r| r.output.snapshot().cloned()));
                    let source = self.bind_cache(c, base.as_ref(), &work, &mut p, v, cancel)?;
                    MountKind::Bind {
                        source,
                        readonly: c.readonly,
                    }
                }
            };
            p.mounts.push(Mount {
                destination: m.target.clone(),
                kind,
            });
        }
        Ok(p)
    }

    /// A secret: its variable added to `p.env`, and the read-only file
    /// to bind at `target` (none when the target is empty or the secret
    /// is optional and missing). The file lives in a tmpfs mounted at
    /// `work`, so its bytes never reach a disk.
    fn secret(
        &self,
        s: &SecretMount,
        target: &str,
        work: &Path,
        p: &mut Prepared,
        v: &Vertex,
    ) -> Result<Option<MountKind>> {
        let Some(value) = self.secrets.get(&s.id) else {
            if s.required {
                return Err(Error::Source {
                    message: format!("secret {}: not found", s.id),
                    lines: v.meta.lines,
                });
            }
            return Ok(None);
        };
        if let Some(name) = &s.env {
            let text = std::str::from_utf8(value)
                .ok()
                .filter(|t| !t.contains('\0'))
                .ok_or_else(|| Error::Source {
                    message: format!(
                        "secret {} is not text without NUL bytes, so it cannot be the variable {name}",
                        s.id
                    ),
                    lines: v.meta.lines,
                })?;
            p.env.push(format!("{name}={text}"));
        }
        if target.is_empty() {
            return Ok(None);
        }
        // Room for the file, however small the page size.
        p.guards.push(tmpfs(work, value.len() as u64 + 64 * 1024)?);
        let file = work.join("secret");
        let mut opts = fs::OpenOptions::new();
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .write(true)
            .create_new(true)
            .open(&file)
            .map_err(|e| io_err(&file, e))?;
        std::io::Write::write_all(&mut f, value).map_err(|e| io_err(&file, e))?;
        // chown first: it clears set-id bits a mode may ask for.
        std::os::unix::fs::fchown(&f, Some(s.uid), Some(s.gid)).map_err(|e| io_err(&file, e))?;
        f.set_permissions(fs::Permissions::from_mode(s.mode & 0o7777))
            .map_err(|e| io_err(&file, e))?;
        Ok(Some(MountKind::Bind {
            source: file,
            readonly: true,
        }))
    }

    /// A bind of the context directory or file `source`, as
    /// `.dockerignore` shows it.
    fn bind_context(
        &self,
        idx: &ContextIndex,
        source: &str,
        readonly: bool,
        work: &Path,
        p: &mut Prepared,
        v: &Vertex,
    ) -> Result<PathBuf> {
        let real = fsops::real_path(&idx.root, source, true)
            .map_err(cache_err)?
            .ok_or_else(|| not_found(source, v))?;
        let real = if real == "." { String::new() } else { real };
        if !real.is_empty() && !idx.visible(&real) {
            return Err(not_found(source, v));
        }
        let host = idx.root.join(&real);
        let md = fs::symlink_metadata(&host).map_err(|e| io_err(&host, e))?;
        if !md.is_dir() {
            if readonly {
                return Ok(host);
            }
            let copy = work.join("file");
            fs::copy(&host, &copy).map_err(|e| io_err(&copy, e))?;
            return Ok(copy);
        }
        let hidden = if idx.included.is_some() {
            hidden_entries(idx, &real)?
        } else {
            Vec::new()
        };
        if hidden.is_empty() && readonly {
            return Ok(host);
        }
        if self.store.snapshotter() == SnapshotterKind::Copy {
            // No overlayfs here: a private copy of what shows.
            let copy = work.join("copy");
            mkdir(&copy)?;
            let opts = CopyOptions {
                owner: FileOwner::Keep,
                mode: None,
            };
            let keep = |path: &str| idx.visible(path);
            let from = if real.is_empty() {
                ".".to_string()
            } else {
                real
            };
            fsops::copy_filtered(&idx.root, &[from], &copy, "/", &opts, &keep)
                .map_err(cache_err)?;
            copy_attrs(&md, &copy)?;
            return Ok(copy);
        }
        let mut lowers = Vec::new();
        if !hidden.is_empty() {
            let layer = work.join("hide");
            whiteout_layer(&host, &hidden, &layer)?;
            lowers.push(layer);
        }
        lowers.push(host);
        self.mount_view(&lowers, readonly, work, p)
    }

    /// An overlay of `lowers` (top-most first) at `<work>/mnt`, with a
    /// throwaway upper layer unless `readonly`.
    fn mount_view(
        &self,
        lowers: &[PathBuf],
        readonly: bool,
        work: &Path,
        p: &mut Prepared,
    ) -> Result<PathBuf> {
        let target = work.join("mnt");
        mkdir(&target)?;
        let guard = if readonly {
            overlay(lowers, None, &target)?
        } else {
            let upper = work.join("upper");
            let ovl_work = work.join("work");
            mkdir(&upper)?;
            mkdir(&ovl_work)?;
            overlay(lowers, Some((&upper, &ovl_work)), &target)?
        };
        p.guards.push(guard);
        Ok(target)
    }

    /// A bind of `source` in a stage's or an image's root filesystem.
    fn bind_snapshot(
        &self,
        snap: Option<&Snapshot>,
        source: &str,
        readonly: bool,
        work: &Path,
        p: &mut Prepared,
        v: &Vertex,
    ) -> Result<PathBuf> {
        let view = self.store.view(snap);
        let copy_only = self.store.snapshotter() == SnapshotterKind::Copy;
        let root = match view {
            View::Dir(d) if readonly || copy_only => d,
            View::Empty if readonly || copy_only => {
                let empty = work.join("empty");
                mkdir(&empty)?;
                empty
            }
            View::Dir(d) => self.mount_view(&[d], false, work, p)?,
            View::Empty => self.mount_view(&[], false, work, p)?,
            View::Layers(layers) => self.mount_view(&layers, readonly, work, p)?,
        };
        let real = fsops::real_path(&root, source, true)
            .map_err(cache_err)?
            .ok_or_else(|| not_found(source, v))?;
        let host = if real == "." {
            root.clone()
        } else {
            root.join(&real)
        };
        if readonly || !copy_only {
            return Ok(host);
        }
        // The copy snapshotter's trees are the snapshots themselves: a
        // writable bind gets a copy.
        let copy = work.join("copy");
        let md = fs::symlink_metadata(&host).map_err(|e| io_err(&host, e))?;
        if md.is_dir() {
            kiln_cache::layer::clone_tree(&host, &copy).map_err(layer_err)?;
        } else {
            fs::copy(&host, &copy).map_err(|e| io_err(&copy, e))?;
        }
        Ok(copy)
    }

    /// The directory of a cache mount (made on first use), with its lock
    /// taken as its sharing asks, and the host path to bind.
    fn bind_cache(
        &self,
        c: &CacheMount,
        base: Option<&Option<Snapshot>>,
        work: &Path,
        p: &mut Prepared,
        v: &Vertex,
        cancel: &CancellationToken,
    ) -> Result<PathBuf> {
        // BuildKit's namespaced id; a cache that starts from a stage, or
        // with a given owner and mode, is another cache.
        let mut h = Hasher::new();
        h.field(format!("/{}", c.id).as_bytes());
        if c.uid.is_some() || c.gid.is_some() || c.mode.is_some() {
            h.field(
                format!(
                    "owner={}:{}:{:o}",
                    c.uid.unwrap_or(0),
                    c.gid.unwrap_or(0),
                    c.mode.unwrap_or(0o755)
                )
                .as_bytes(),
            );
        }
        if let Some(b) = base {
            let from = b
                .as_ref()
                .map_or_else(String::new, |s| s.chain_id().to_string());
            h.field(format!("from={from}").as_bytes());
        }
        let name = h.finish().hex();
        let caches = self.store.root().join(CACHE_DIR);
        if !caches.is_dir() {
            mkdir(&caches)?;
            fs::set_permissions(&caches, fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err(&caches, e))?;
        }
        let mut dir = caches.join(&name);
        match c.sharing {
            CacheSharing::Shared => {}
            CacheSharing::Locked => p.locks.push(
                lock(&caches.join(format!("{name}.lock")), true, cancel)?.ok_or(Error::Canceled)?,
            ),
            CacheSharing::Private => {
                match lock(&caches.join(format!("{name}.lock")), false, cancel)? {
                    Some(l) => p.locks.push(l),
                    None => {
                        // In use: this step gets a directory of its own.
                        dir = work.join("private");
                    }
                }
            }
        }
        if !dir.is_dir() {
            let fresh = work.join("new");
            mkdir(&fresh)?;
            if let Some(Some(s)) = base {
                self.seed(s, &fresh, work)?;
            }
            let uid = c.uid.unwrap_or(0);
            let gid = c.gid.unwrap_or(0);
            std::os::unix::fs::lchown(&fresh, Some(uid), Some(gid))
                .map_err(|e| io_err(&fresh, e))?;
            fs::set_permissions(
                &fresh,
                fs::Permissions::from_mode(c.mode.unwrap_or(0o755) & 0o7777),
            )
            .map_err(|e| io_err(&fresh, e))?;
            match fs::rename(&fresh, &dir) {
                Ok(()) => {}
                // Another step made it meanwhile: use that one.
                Err(_) if dir.is_dir() => {}
                Err(e) => return Err(io_err(&dir, e)),
            }
        }
        if c.source == "." {
            return Ok(dir);
        }
        let fd = fsops::open_in_root(&dir, &c.source)
            .map_err(cache_err)?
            .ok_or_else(|| Error::Source {
                message: format!(
                    "cache mount source \"/{}\": not found in the cache",
                    c.source
                ),
                lines: v.meta.lines,
            })?;
        let is_dir = nix::sys::stat::fstat(&fd)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .map_err(|e| io_err(dir.join(&c.source), e.into()))?;
        let target = work.join("src");
        if is_dir {
            mkdir(&target)?;
        } else {
            fs::write(&target, b"").map_err(|e| io_err(&target, e))?;
        }
        p.guards.push(bind_fd(&fd, &target, false)?);
        Ok(target)
    }

    /// Fills a new cache directory with a root filesystem (`from=`).
    fn seed(&self, s: &Snapshot, fresh: &Path, work: &Path) -> Result<()> {
        let _guard;
        let src = match self.store.view(Some(s)) {
            View::Dir(d) => d,
            View::Empty => return Ok(()),
            View::Layers(layers) => {
                let target = work.join("seed");
                mkdir(&target)?;
                _guard = overlay(&layers, None, &target)?;
                target
            }
        };
        fs::remove_dir(fresh).map_err(|e| io_err(fresh, e))?;
        kiln_cache::layer::clone_tree(&src, fresh).map_err(layer_err)?;
        Ok(())
    }

    /// The paths a RUN's mount targets will create in its root filesystem
    /// (the parent of `active`): real paths relative to the root, deepest
    /// first.
    pub(super) fn mount_stubs(
        &self,
        active: &Active,
        e: &ExecOp,
        work: &Path,
    ) -> Result<Vec<String>> {
        if e.mounts.is_empty() {
            return Ok(Vec::new());
        }
        let _guard;
        let root = match self.store.snapshotter() {
            SnapshotterKind::Copy => active.upper(),
            SnapshotterKind::Overlay => match self.store.view(active.parent()) {
                View::Dir(d) => d,
                View::Empty => {
                    let empty = work.join("stub-root");
                    mkdir(&empty)?;
                    empty
                }
                View::Layers(layers) => {
                    let target = work.join("stub-root");
                    mkdir(&target)?;
                    _guard = overlay(&layers, None, &target)?;
                    target
                }
            },
        };
        let mut stubs: Vec<String> = Vec::new();
        for m in e.mounts.iter().filter(|m| !m.target.is_empty()) {
            let (real, missing) = fsops::resolve_missing(&root, &m.target).map_err(cache_err)?;
            let comps: Vec<&str> = real.split('/').filter(|c| *c != ".").collect();
            for k in 0..missing {
                let path = comps[..comps.len() - k].join("/");
                if !path.is_empty() && !stubs.contains(&path) {
                    stubs.push(path);
                }
            }
        }
        stubs.sort_by_key(|s| std::cmp::Reverse(s.split('/').count()));
        Ok(stubs)
    }
}

/// Removes the mount stubs that are still empty from a finished step's
/// tree (its overlay upper layer, or its whole tree).
pub(super) fn remove_stubs(tree: &Path, stubs: &[String]) -> Result<()> {
    for s in stubs {
        fsops::remove_stub(tree, s).map_err(cache_err)?;
    }
    Ok(())
}

/// Takes the exclusive lock of a cache: waiting for it (`wait`, checking
/// for cancellation; `None` once canceled), or trying once (`None` when
/// another step holds it).
fn lock(path: &Path, wait: bool, cancel: &CancellationToken) -> Result<Option<Flock<fs::File>>> {
    loop {
        let file = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(Some(l)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => return Ok(None),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                if cancel.is_cancelled() {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, e)) => return Err(io_err(path, e.into())),
        }
    }
}
