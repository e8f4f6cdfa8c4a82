//! Images out of the store: OCI image layout and docker-archive tarballs,
//! and the root filesystem as a directory or a tar. The writers stream
//! blobs from the content store; nothing is held whole in memory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, Result, io_err};
use crate::image::LayerDesc;
use crate::layer::{self, ApplyMode};
use crate::reference::ImageName;
use crate::store::{Image, Store};

fn tar_err(what: &str, e: std::io::Error) -> Error {
    Error::Io {
        path: what.into(),
        source: e,
    }
}

/// A tar writer with fixed metadata, so the same image always gives the
/// same archive.
struct Archive<W: Write> {
    tar: tar::Builder<W>,
}

impl<W: Write> Archive<W> {
    fn new(out: W) -> Archive<W> {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        Archive { tar }
    }

    fn header(size: u64, dir: bool) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        let mut h = Self::header(0, true);
        self.tar
            .append_data(&mut h, path, std::io::empty())
            .map_err(|e| tar_err(path, e))
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut h = Self::header(data.len() as u64, false);
        self.tar
            .append_data(&mut h, path, data)
            .map_err(|e| tar_err(path, e))
    }

    fn blob(&mut self, store: &Store, d: &Digest, size: u64) -> Result<()> {
        let path = format!("blobs/sha256/{}", d.hex());
        let f = store.content().open(d)?;
        let mut h = Self::header(size, false);
        self.tar
            .append_data(&mut h, &path, f)
            .map_err(|e| tar_err(&path, e))
    }

    fn finish(self) -> Result<()> {
        self.tar
            .into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| tar_err("archive", e))
    }
}

fn blobs(store: &Store, image: &Image) -> Result<Vec<(Digest, u64)>> {
    let mut out: BTreeMap<Digest, u64> = BTreeMap::new();
    let config = store.content().read_document(&image.config_digest)?;
    out.insert(image.config_digest, config.len() as u64);
    let manifest = store.content().read_document(&image.manifest_digest)?;
    out.insert(image.manifest_digest, manifest.len() as u64);
    for LayerDesc { digest, size } in &image.layers {
        out.insert(*digest, *size);
    }
    Ok(out.into_iter().collect())
}

fn write_layout<W: Write>(
    a: &mut Archive<W>,
    store: &Store,
    image: &Image,
    names: &[ImageName],
) -> Result<()> {
    a.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let manifest_size = store.content().read_document(&image.manifest_digest)?.len();
    let descriptor = |name: Option<&ImageName>| {
        let mut d = json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image.manifest_digest.to_string(),
            "size": manifest_size,
        });
        if let Some(n) = name {
            d["annotations"] = json!({
                "io.containerd.image.name": n.full(),
                "org.opencontainers.image.ref.name": n.tag().unwrap_or("latest"),
            });
        }
        d
    };
    let manifests: Vec<serde_json::Value> = if names.is_empty() {
        vec![descriptor(None)]
    } else {
        names.iter().map(|n| descriptor(Some(n))).collect()
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    a.bytes("index.json", index.to_string().as_bytes())?;
    a.dir("blobs/")?;
    a.dir("blobs/sha256/")?;
    for (d, size) in blobs(store, image)? {
        a.blob(store, &d, size)?;
    }
    Ok(())
}

/// An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) as a
/// tar stream.
pub fn write_oci_archive(
    store: &Store,
    image: &Image,
    names: &[ImageName],
    out: impl Write,
) -> Result<()> {
    let mut a = Archive::new(out);
    write_layout(&mut a, store, image, names)?;
    a.finish()
}

/// A docker-archive tarball (`docker load`): the OCI layout plus the
/// `manifest.json` that docker reads, pointing at the same blobs.
pub fn write_docker_archive(
    store: &Store,
    image: &Image,
    names: &[ImageName],
    out: impl Write,
) -> Result<()> {
    let mut a = Archive::new(out);
    write_layout(&mut a, store, image, names)?;
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", image.config_digest.hex()),
        "RepoTags": names.iter().map(|n| n.familiar()).collect::<Vec<_>>(),
        "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
    }]);
    a.bytes("manifest.json", manifest.to_string().as_bytes())?;
    a.finish()
}

/// Writes the image's root filesystem into `dest` (created if missing),
/// applying its layers in order. Paths stay inside `dest`: symlinks in the
/// image are data, never followed out of it. With `epoch`
/// (`SOURCE_DATE_EPOCH`), every entry this writes gets that mtime, as
/// BuildKit's local exporter gives it to every file it writes; what was
/// in `dest` before and is left alone keeps its times.
pub fn write_rootfs_dir(
    store: &Store,
    image: &Image,
    dest: &Path,
    epoch: Option<i64>,
) -> Result<()> {
    // What this call writes has a newer ctime than this (the clock that
    // stamps ctimes is coarse: a little margin).
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128 - 100_000_000);
    std::fs::create_dir_all(dest).map_err(|e| io_err(dest, e))?;
    for l in &image.layers {
        let f = store.content().open(&l.digest)?;
        layer::apply(
            std::io::BufReader::with_capacity(1 << 20, f),
            dest,
            ApplyMode::Merged,
        )?;
    }
    if let Some(t) = epoch {
        set_mtimes(dest, t, started)?;
    }
    Ok(())
}

/// Sets the times of what below `root` changed since `since` (ns since
/// the epoch, by ctime): symlinks themselves, never what they point at.
fn set_mtimes(root: &Path, secs: i64, since: i128) -> Result<()> {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use std::os::unix::fs::MetadataExt;
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            io_err(&path, e.into())
        })?;
        let md = e.metadata().map_err(|err| {
            let path = err.path().unwrap_or(root).to_path_buf();
            io_err(&path, err.into())
        })?;
        if i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()) < since {
            continue;
        }
        utimensat(
            nix::fcntl::AT_FDCWD,
            e.path(),
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|errno| io_err(e.path(), errno.into()))?;
    }
    Ok(())
}

/// The image's root filesystem as one tar stream; `epoch` as for
/// [`write_rootfs_dir`].
pub fn write_rootfs_tar(
    store: &Store,
    image: &Image,
    out: impl Write,
    epoch: Option<i64>,
) -> Result<()> {
    let tmp = store.temp_dir()?;
    let tree = tmp.path().join("rootfs");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).map_err(|e| io_err(&empty, e))?;
    write_rootfs_dir(store, image, &tree, epoch)?;
    layer::diff_dirs(&empty, &tree, out)?;
    Ok(())
}
