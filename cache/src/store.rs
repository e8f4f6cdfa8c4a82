//! The store under `--root`: the one handle the rest of kiln holds. It
//! ties the content store, the metadata database and the snapshots
//! together and keeps their invariants: a snapshot row exists only for a
//! complete directory, an image row only for stored blobs.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::content::{ContentStore, sync_dir};
use crate::digest::Digest;
use crate::error::{Error, Result, io_err};
use crate::image::{
    History, ImageConfig, LAYER_TAR, LayerDesc, build_manifest, manifest_parts, parse_manifest,
};
use crate::layer::{self, ApplyMode};
use crate::meta::{LayerRow, Meta, TagRow};
use crate::reference::ImageName;
use crate::snapshot::{Active, Snapshot, SnapshotterKind, View, chain_id};

/// An image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// Manifest digest.
    pub manifest_digest: Digest,
    /// Config digest: the image ID.
    pub config_digest: Digest,
    /// The config.
    pub config: ImageConfig,
    /// The layer blobs, bottom first.
    pub layers: Vec<LayerDesc>,
}

/// The digests that identify a stored image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageId {
    /// Manifest digest.
    pub manifest: Digest,
    /// Config digest (what `docker images` calls IMAGE ID).
    pub config: Digest,
    /// Manifest size in bytes.
    pub manifest_size: u64,
}

/// A line of `kiln images`.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The tag row.
    pub tag: TagRow,
    /// Parsed name.
    pub name: ImageName,
    /// Sum of the layer sizes.
    pub size: u64,
    /// The config's `created`, if any.
    pub created: Option<String>,
}

/// The store.
pub struct Store {
    root: PathBuf,
    content: ContentStore,
    meta: Meta,
    kind: SnapshotterKind,
    tmp: tempfile::TempDir,
    _root_lock: Flock<File>,
    _tmp_lock: Flock<File>,
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| io_err(p, e))
}

impl Store {
    /// Opens the store at `root`, creating it if needed. `wanted` forces a
    /// snapshotter for a new store; an existing store keeps the one it was
    /// made with.
    pub fn open(root: &Path, wanted: Option<SnapshotterKind>) -> Result<Store> {
        mkdir(root)?;
        let root = fs::canonicalize(root).map_err(|e| io_err(root, e))?;
        for sub in ["blobs/sha256", "snapshots", "tmp"] {
            mkdir(&root.join(sub))?;
        }
        // Every kiln process holds a shared lock on the store for its life;
        // a future `kiln prune` takes it exclusively.
        let lock_path = root.join("lock");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        let root_lock = Flock::lock(lock_file, FlockArg::LockShared)
            .map_err(|(_, e)| io_err(&lock_path, e.into()))?;
        sweep_tmp(&root.join("tmp"));
        let (tmp, tmp_lock) = process_tmp(&root.join("tmp"))?;
        let meta = Meta::open(&root.join("meta.db"))?;
        let kind = match meta.setting("snapshotter")? {
            Some(stored) => {
                let stored: SnapshotterKind =
                    stored.parse().map_err(|_| Error::SnapshotterMismatch {
                        root: root.clone(),
                        stored: stored.clone(),
                        wanted: "a known one".to_string(),
                    })?;
                if let Some(w) = wanted
                    && w != stored
                {
                    return Err(Error::SnapshotterMismatch {
                        root: root.clone(),
                        stored: stored.to_string(),
                        wanted: w.to_string(),
                    });
                }
                stored
            }
            None => {
                let chosen = wanted.unwrap_or_else(|| detect_snapshotter(tmp.path()));
                meta.setting_or_insert("snapshotter", &chosen.to_string())?
                    .parse()
                    .unwrap_or(chosen)
            }
        };
        Ok(Store {
            content: ContentStore::new(root.join("blobs/sha256"), tmp.path().to_path_buf()),
            root,
            meta,
            kind,
            tmp,
            _root_lock: root_lock,
            _tmp_lock: tmp_lock,
        })
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blobs.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The metadata database.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The snapshotter in use.
    pub fn snapshotter(&self) -> SnapshotterKind {
        self.kind
    }

    /// A fresh directory in this process's temp area, removed on drop and
    /// swept after a crash.
    pub fn temp_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("t")
            .tempdir_in(self.tmp.path())
            .map_err(|e| io_err(self.tmp.path(), e))
    }

    fn snapshot_dir(&self, id: i64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string()).join("fs")
    }

    /// The committed snapshot with this chain ID, with its whole stack.
    pub fn snapshot(&self, chain: &Digest) -> Result<Option<Snapshot>> {
        let Some(top) = self.meta.snapshot_by_chain(chain)? else {
            return Ok(None);
        };
        let mut rows = vec![top];
        let mut next = top.parent;
        while let Some(id) = next {
            let row = self
                .meta
                .snapshot(id)?
                .ok_or_else(|| Error::SnapshotMissing(format!("#{id}")))?;
            next = row.parent;
            rows.push(row);
        }
        rows.reverse();
        let dirs: Vec<PathBuf> = rows.iter().map(|r| self.snapshot_dir(r.id)).collect();
        if let Some(missing) = dirs.iter().find(|d| !d.is_dir()) {
            return Err(Error::SnapshotMissing(missing.display().to_string()));
        }
        Ok(Some(Snapshot {
            row: top,
            diff_ids: rows.iter().map(|r| r.diff_id).collect(),
            dirs,
        }))
    }

    /// How to look at a snapshot read-only.
    pub fn view(&self, s: Option<&Snapshot>) -> View {
        let Some(s) = s else {
            return View::Empty;
        };
        match self.kind {
            SnapshotterKind::Copy => View::Dir(s.dirs.last().cloned().unwrap_or_default()),
            SnapshotterKind::Overlay if s.dirs.len() == 1 => View::Dir(s.dirs[0].clone()),
            SnapshotterKind::Overlay => View::Layers(s.dirs.iter().rev().cloned().collect()),
        }
    }

    /// Starts a writable snapshot on top of `parent`.
    pub fn prepare(&self, parent: Option<&Snapshot>) -> Result<Active> {
        let dir = self.temp_dir()?;
        let fs_dir = dir.path().join("fs");
        match (self.kind, parent) {
            (SnapshotterKind::Copy, Some(p)) => {
                let src = p
                    .dirs
                    .last()
                    .ok_or_else(|| Error::SnapshotMissing("empty chain".into()))?;
                layer::clone_tree(src, &fs_dir)?;
            }
            _ => mkdir(&fs_dir)?,
        }
        mkdir(&dir.path().join("rootfs"))?;
        if self.kind == SnapshotterKind::Overlay {
            mkdir(&dir.path().join("work"))?;
        }
        Ok(Active {
            kind: self.kind,
            dir,
            parent: parent.cloned(),
        })
    }

    /// Turns a finished writable snapshot into a layer blob and a
    /// committed snapshot. The caller must have unmounted it.
    pub fn commit(&self, active: Active) -> Result<Snapshot> {
        let mut w = self.content.writer()?;
        match active.kind {
            SnapshotterKind::Overlay => {
                layer::diff_overlay(&active.upper(), &mut w)?;
            }
            SnapshotterKind::Copy => {
                let empty;
                let lower = match active.parent_tree() {
                    Some(p) => p.to_path_buf(),
                    None => {
                        empty = self.temp_dir()?;
                        empty.path().to_path_buf()
                    }
                };
                layer::diff_dirs(&lower, &active.upper(), &mut w)?;
            }
        }
        let diff_id = self.commit_plain_layer(w)?;
        self.place(active.parent.as_ref(), &diff_id, &active.upper())
    }

    /// Stores an uncompressed layer tar: its blob is its diff ID.
    fn commit_plain_layer(&self, w: crate::content::BlobWriter) -> Result<Digest> {
        let (diff_id, size) = w.commit(None)?;
        self.meta.put_layer(&LayerRow {
            diff_id,
            blob: diff_id,
            media_type: LAYER_TAR.to_string(),
            size,
        })?;
        Ok(diff_id)
    }

    /// Moves a finished tree into `snapshots/<id>/fs` and records it.
    fn place(&self, parent: Option<&Snapshot>, diff_id: &Digest, tree: &Path) -> Result<Snapshot> {
        let chain = chain_id(parent.map(|p| &p.row.chain_id), diff_id);
        let snaps = self.root.join("snapshots");
        self.meta
            .insert_snapshot(&chain, parent.map(|p| p.row.id), diff_id, |id| {
                let dir = snaps.join(id.to_string());
                if dir.exists() {
                    // Left by a process that died before committing its row.
                    fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
                }
                mkdir(&dir)?;
                let dest = dir.join("fs");
                fs::rename(tree, &dest).map_err(|e| io_err(&dest, e))?;
                sync_dir(&dir)?;
                sync_dir(&snaps)
            })?;
        self.snapshot(&chain)?
            .ok_or_else(|| Error::SnapshotMissing(chain.to_string()))
    }

    /// Unpacks a stored layer on top of `parent` (or finds it unpacked).
    pub fn unpack(&self, parent: Option<&Snapshot>, diff_id: &Digest) -> Result<Snapshot> {
        let chain = chain_id(parent.map(|p| &p.row.chain_id), diff_id);
        if let Some(s) = self.snapshot(&chain)? {
            return Ok(s);
        }
        let row = self
            .meta
            .layer(diff_id)?
            .ok_or(Error::BlobMissing(*diff_id))?;
        let blob = self.content.open(&row.blob)?;
        let dir = self.temp_dir()?;
        let tree = dir.path().join("fs");
        let mode = match (self.kind, parent) {
            (SnapshotterKind::Copy, Some(p)) => {
                let src = p
                    .dirs
                    .last()
                    .ok_or_else(|| Error::SnapshotMissing("empty chain".into()))?;
                layer::clone_tree(src, &tree)?;
                ApplyMode::Merged
            }
            (SnapshotterKind::Copy, None) => {
                mkdir(&tree)?;
                ApplyMode::Merged
            }
            (SnapshotterKind::Overlay, _) => {
                mkdir(&tree)?;
                ApplyMode::Overlay
            }
        };
        layer::apply(BufReader::with_capacity(1 << 20, blob), &tree, mode)?;
        self.place(parent, diff_id, &tree)
    }

    /// The snapshot of a whole layer stack, unpacking what is missing.
    /// `None` for an image without layers.
    pub fn unpack_all(&self, diff_ids: &[Digest]) -> Result<Option<Snapshot>> {
        let mut top: Option<Snapshot> = None;
        for d in diff_ids {
            top = Some(self.unpack(top.as_ref(), d)?);
        }
        Ok(top)
    }

    /// Looks an image up by name.
    pub fn image(&self, name: &ImageName) -> Result<Option<Image>> {
        let Some(tag) = self.meta.tag(&name.full())? else {
            return Ok(None);
        };
        self.image_by_manifest(&tag.manifest).map(Some)
    }

    /// Reads an image by manifest digest.
    pub fn image_by_manifest(&self, manifest_digest: &Digest) -> Result<Image> {
        let m = parse_manifest(&self.content.read_document(manifest_digest)?)?;
        let (config_digest, layers) = manifest_parts(&m)?;
        let config = ImageConfig::from_json(&self.content.read_document(&config_digest)?)?;
        Ok(Image {
            manifest_digest: *manifest_digest,
            config_digest,
            config,
            layers,
        })
    }

    /// Stores an image whose layers are already in the store, and points
    /// each name at it.
    pub fn put_image(&self, names: &[ImageName], config: &ImageConfig) -> Result<ImageId> {
        let mut layers = Vec::with_capacity(config.rootfs.diff_ids.len());
        for d in &config.rootfs.diff_ids {
            let row = self.meta.layer(d)?.ok_or(Error::BlobMissing(*d))?;
            if !self.content.exists(&row.blob) {
                return Err(Error::BlobMissing(row.blob));
            }
            layers.push(LayerDesc {
                digest: row.blob,
                size: row.size,
            });
        }
        let config_bytes = config.to_json();
        let config_digest = self.content.write_bytes(&config_bytes)?;
        let manifest = build_manifest(&config_digest, config_bytes.len() as u64, &layers)?;
        let manifest_digest = self.content.write_bytes(&manifest)?;
        for name in names {
            self.meta
                .put_tag(&name.full(), &manifest_digest, &config_digest)?;
        }
        Ok(ImageId {
            manifest: manifest_digest,
            config: config_digest,
            manifest_size: manifest.len() as u64,
        })
    }

    /// All tagged images.
    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let mut out = Vec::new();
        for tag in self.meta.tags()? {
            let Ok(name) = ImageName::parse(&tag.name) else {
                continue;
            };
            let image = self.image_by_manifest(&tag.manifest)?;
            out.push(ImageSummary {
                size: image.layers.iter().map(|l| l.size).sum(),
                created: image.config.created.clone(),
                tag,
                name,
            });
        }
        Ok(out)
    }

    /// Stores a layer tar (plain, gzip, bzip2, xz or zstd) uncompressed as
    /// a blob; returns its diff ID.
    pub fn store_layer(&self, reader: impl Read) -> Result<Digest> {
        let mut w = self.content.writer()?;
        let mut decoded = crate::compression::decoder(reader)
            .map_err(|e| Error::Import(format!("reading the archive: {e}")))?;
        std::io::copy(&mut decoded, &mut w)
            .map_err(|e| Error::Import(format!("reading the archive: {e}")))?;
        self.commit_plain_layer(w)
    }

    /// `kiln import`: a root filesystem tarball becomes a one-layer image.
    pub fn import(&self, reader: impl Read, names: &[ImageName], source: &str) -> Result<ImageId> {
        let diff_id = self.store_layer(reader)?;
        // Unpacking now proves the archive is a valid tar and makes the
        // first build on it fast.
        self.unpack(None, &diff_id)?;
        let now = now_rfc3339();
        let mut config = ImageConfig::scratch();
        config.config = Default::default();
        config.created = Some(now.clone());
        config.rootfs.diff_ids = vec![diff_id];
        config.history = vec![History {
            created: Some(now),
            comment: Some(format!("Imported from {source}")),
            ..History::default()
        }];
        self.put_image(names, &config)
    }
}

/// The current time as Docker writes it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// This process's temp directory, with a lock file held for its life so
/// that other processes can tell it from a dead one's.
fn process_tmp(tmp_root: &Path) -> Result<(tempfile::TempDir, Flock<File>)> {
    let dir = tempfile::Builder::new()
        .prefix("p")
        .tempdir_in(tmp_root)
        .map_err(|e| io_err(tmp_root, e))?;
    let lock_path = dir.path().join(".lock");
    let f = File::create(&lock_path).map_err(|e| io_err(&lock_path, e))?;
    let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| io_err(&lock_path, e.into()))?;
    Ok((dir, lock))
}

/// Removes temp directories of processes that died (their lock is free).
/// Mounts there died with their process's mount namespace.
fn sweep_tmp(tmp_root: &Path) {
    let Ok(entries) = fs::read_dir(tmp_root) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let lock = p.join(".lock");
        let Ok(f) = File::options().write(true).open(&lock) else {
            // A directory still being set up, or not ours: leave it unless
            // it has no lock file at all and is a plain leftover.
            if !lock.exists() && p.is_dir() && is_stale(&p) {
                let _ = fs::remove_dir_all(&p);
            }
            continue;
        };
        if let Ok(held) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            let _ = fs::remove_dir_all(&p);
            drop(held);
        }
    }
}

/// A directory untouched for an hour: never a live process's set-up.
fn is_stale(p: &Path) -> bool {
    p.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 3600)
}

/// Tries an overlay mount in `tmp`; the copy snapshotter otherwise (no
/// privilege, no overlayfs, or a store that itself sits on overlayfs).
fn detect_snapshotter(tmp: &Path) -> SnapshotterKind {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    let probe = tmp.join("overlay-probe");
    let dirs = ["lower", "upper", "work", "merged"].map(|d| probe.join(d));
    if dirs.iter().any(|d| fs::create_dir_all(d).is_err()) {
        return SnapshotterKind::Copy;
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        dirs[0].display(),
        dirs[1].display(),
        dirs[2].display()
    );
    let ok = mount(
        Some("overlay"),
        &dirs[3],
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .is_ok();
    if ok {
        let _ = umount2(&dirs[3], MntFlags::MNT_DETACH);
    }
    let _ = fs::remove_dir_all(&probe);
    if ok {
        SnapshotterKind::Overlay
    } else {
        SnapshotterKind::Copy
    }
}
