//! COPY and WORKDIR: file operations on the merged view of a writable
//! snapshot, through the cache crate's in-root file operations.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use kiln_cache::compression;
use kiln_cache::fsops::{self, CopyOptions, FileOwner};
use kiln_cache::{Digest, Hasher, Mountable, Snapshot, View};

use super::RealWorker;
use super::http::{Fetcher, Remote, system_time};
use super::mount::{MountGuard, overlay};
use crate::context::{ContextIndex, clean_rel};
use crate::dockerignore::Patterns;
use crate::error::{Error, Result};
use crate::op::{CopyOp, MkdirOp, Owner, UrlSource, Vertex};

/// Where a COPY reads from.
pub(crate) enum Source {
    /// The build context, with what `.dockerignore` lets through.
    Context(std::sync::Arc<ContextIndex>),
    /// Another vertex's root filesystem (`None`: empty).
    Snapshot(Option<Snapshot>),
}

fn not_found(path: &str, lines: Option<(usize, usize)>) -> Error {
    Error::Source {
        message: format!(
            "failed to compute cache key: \"/{}\": not found",
            clean_rel(path)
        ),
        lines,
    }
}

/// The part of a context COPY's cache key that stands for the files it
/// reads.
pub(crate) fn context_key(idx: &ContextIndex, c: &CopyOp, v: &Vertex) -> Result<Digest> {
    let mut h = Hasher::new();
    for s in &c.sources {
        match idx.sources.get(s) {
            Some(Some(d)) => h.update(d.bytes()),
            _ => return Err(not_found(s, v.meta.lines)),
        }
    }
    Ok(h.finish())
}

/// File ops never fail on unknown names: they map to 0 (semantics.md
/// USR-3). `name` gives the user's primary group, `1000` gives 1000:1000,
/// `name:` gives group 0.
pub(crate) fn chown_ids(spec: &str, passwd: &str, group: &str) -> (u32, u32) {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd_entry = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == name)
                .then(|| (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0)))
        })
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) if user.is_empty() => (0, 0),
        Err(_) => passwd_entry(user).unwrap_or((0, 0)),
    };
    let gid = match grp {
        None => primary,
        Some("") => 0,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g).then(|| f[2].parse().unwrap_or(0))
                })
                .unwrap_or(0),
        },
    };
    (uid, gid)
}

fn read_ids(root: &std::path::Path, spec: &str) -> Result<(u32, u32)> {
    let limit = kiln_executor::user::MAX_USER_FILE_BYTES;
    let passwd = fsops::read_file(root, "/etc/passwd", limit).map_err(kiln_cache::Error::from)?;
    let group = fsops::read_file(root, "/etc/group", limit).map_err(kiln_cache::Error::from)?;
    let text = |b: Option<Vec<u8>>| {
        b.map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    Ok(chown_ids(spec, &text(passwd), &text(group)))
}

/// One source of a COPY, ready to copy.
struct PlannedCopy {
    /// The path to copy, relative to the source root (as `expand` gives).
    source: String,
    /// Its real path relative to the source root (`""` for the root).
    real: String,
    /// Where it goes.
    dest: String,
}

/// Expands the sources of a COPY into what to copy where: wildcards,
/// `.dockerignore` (a literal source it hides is missing), and
/// `--parents` (each match keeps its path below the part before `/./`,
/// or below the root; semantics.md PAR-1).
fn plan(
    root: &std::path::Path,
    c: &CopyOp,
    ignore: Option<&ContextIndex>,
    v: &Vertex,
) -> Result<Vec<PlannedCopy>> {
    let mut out = Vec::new();
    for s in &c.sources {
        let (base, pattern) = match (c.parents, s.split_once("/./")) {
            (true, Some((b, p))) => (clean_rel(b), p.to_string()),
            (true, None) => (String::new(), s.clone()),
            (false, _) => (String::new(), s.clone()),
        };
        let full = if base.is_empty() {
            pattern.clone()
        } else {
            format!("{base}/{pattern}")
        };
        let Some(found) = fsops::expand(root, &full).map_err(kiln_cache::Error::from)? else {
            return Err(not_found(s, v.meta.lines));
        };
        let literal = !full.contains(['*', '?', '[', '\\']);
        let mut any = false;
        for m in found {
            let real = fsops::real_path(root, &m, true)
                .map_err(kiln_cache::Error::from)?
                .map(|r| if r == "." { String::new() } else { r })
                .unwrap_or_default();
            if ignore.is_some_and(|idx| !idx.visible(&real)) {
                continue;
            }
            any = true;
            let dest = if c.parents {
                let kept = m.strip_prefix(&base).unwrap_or(&m).trim_start_matches('/');
                let dir = c.dest.trim_end_matches('/');
                let keep_dir = if fsops::is_dir(root, &m).map_err(kiln_cache::Error::from)? {
                    kept
                } else {
                    kept.rsplit_once('/').map_or("", |(d, _)| d)
                };
                if keep_dir.is_empty() {
                    format!("{dir}/")
                } else {
                    format!("{dir}/{keep_dir}/")
                }
            } else {
                c.dest.clone()
            };
            out.push(PlannedCopy {
                source: m,
                real,
                dest,
            });
        }
        if literal && !any {
            return Err(not_found(s, v.meta.lines));
        }
    }
    Ok(out)
}

/// A writable snapshot mounted for file operations.
struct Mounted {
    _guard: Option<MountGuard>,
    root: PathBuf,
}

impl RealWorker {
    fn mount_active(&self, active: &kiln_cache::Active) -> Result<Mounted> {
        Ok(match active.mountable() {
            Mountable::Overlay {
                lowers,
                upper,
                work,
            } => {
                let target = active.mount_point();
                Mounted {
                    _guard: Some(overlay(&lowers, Some((&upper, &work)), &target)?),
                    root: target,
                }
            }
            Mountable::Dir(d) => Mounted {
                _guard: None,
                root: d,
            },
        })
    }

    /// The content digest of what a COPY reads from a snapshot, computed
    /// once per (snapshot, sources) and remembered in the store.
    pub(super) fn snapshot_content_key(
        &self,
        s: &Snapshot,
        c: &CopyOp,
        v: &Vertex,
    ) -> Result<Digest> {
        let mut memo = Hasher::new();
        memo.field(b"content-of");
        memo.update(s.chain_id().bytes());
        for src in &c.sources {
            memo.field(src.as_bytes());
        }
        memo.field(&[u8::from(c.parents)]);
        let memo = memo.finish();
        if let Some(d) = self.store.meta().cache(&memo)? {
            return Ok(d);
        }
        let tmp = self.store.temp_dir()?;
        let mut _guard = None;
        let root = match self.store.view(Some(s)) {
            View::Dir(d) => d,
            View::Empty => tmp.path().to_path_buf(),
            View::Layers(layers) => {
                let target = tmp.path().join("src");
                std::fs::create_dir_all(&target).map_err(|e| crate::error::io_err(&target, e))?;
                _guard = Some(overlay(&layers, None, &target)?);
                target
            }
        };
        let patterns: Vec<String> = c
            .sources
            .iter()
            .map(|p| {
                if c.parents {
                    p.replacen("/./", "/", 1)
                } else {
                    p.clone()
                }
            })
            .collect();
        let idx = crate::context::index(&root, &patterns, None)?;
        let mut h = Hasher::new();
        for p in &patterns {
            match idx.sources.get(p) {
                Some(Some(d)) => h.update(d.bytes()),
                _ => return Err(not_found(p, v.meta.lines)),
            }
        }
        let d = h.finish();
        self.store.meta().put_cache(&memo, &d)?;
        Ok(d)
    }

    pub(super) fn run_copy(
        &self,
        c: &CopyOp,
        parent: Option<&Snapshot>,
        source: Source,
        v: &Vertex,
        remote: Option<(&Fetcher<'_>, &[Remote])>,
    ) -> Result<Snapshot> {
        let active = self.store.prepare(parent)?;
        let tmp = self.store.temp_dir()?;
        {
            let dest = self.mount_active(&active)?;
            let mut _src_guard = None;
            let mut context = None;
            let src_root = match source {
                Source::Context(idx) => {
                    let root = idx.root.clone();
                    context = Some(idx);
                    root
                }
                Source::Snapshot(s) => match self.store.view(s.as_ref()) {
                    View::Dir(d) => d,
                    View::Empty => tmp.path().to_path_buf(),
                    View::Layers(layers) => {
                        let target = tmp.path().join("src");
                        std::fs::create_dir_all(&target)
                            .map_err(|e| crate::error::io_err(&target, e))?;
                        _src_guard = Some(overlay(&layers, None, &target)?);
                        target
                    }
                },
            };
            let owner = match &c.owner {
                Owner::Keep => FileOwner::Keep,
                Owner::Root => FileOwner::Set(0, 0),
                Owner::Chown(spec) => {
                    let (u, g) = read_ids(&dest.root, spec)?;
                    FileOwner::Set(u, g)
                }
            };
            let opts = CopyOptions {
                owner,
                mode: c.mode.as_deref().and_then(fsops::Chmod::parse),
            };
            let excludes = if c.excludes.is_empty() {
                None
            } else {
                Some(Patterns::new(&c.excludes).map_err(|e| Error::Source {
                    message: format!("invalid --exclude: {e}"),
                    lines: v.meta.lines,
                })?)
            };
            let ignore = context.as_ref().filter(|idx| idx.included.is_some());
            for item in plan(&src_root, c, ignore.map(|i| i.as_ref()), v)? {
                // `--exclude` patterns match below each source (semantics.md
                // EXC-1); `.dockerignore` matches from the context root.
                let prefix = if item.real.is_empty() {
                    String::new()
                } else {
                    format!("{}/", item.real)
                };
                let keep = |p: &str| {
                    if ignore.is_some_and(|idx| !idx.visible(p)) {
                        return false;
                    }
                    let Some(ex) = &excludes else { return true };
                    let rel = p.strip_prefix(&prefix).unwrap_or(p);
                    if !ex.excluded(rel) {
                        return true;
                    }
                    // With exceptions, an excluded directory may still hold
                    // files to copy: walk it.
                    ex.has_exceptions() && src_root.join(p).is_dir()
                };
                if c.unpack && self.extract_archive(&src_root, &item, &dest.root, c, &opts)? {
                    continue;
                }
                let sources = [item.source];
                match (&excludes, ignore) {
                    (None, None) => fsops::copy(&src_root, &sources, &dest.root, &item.dest, &opts),
                    _ => fsops::copy_filtered(
                        &src_root, &sources, &dest.root, &item.dest, &opts, &keep,
                    ),
                }
                .map_err(kiln_cache::Error::from)?;
            }
            if let Some((fetcher, remotes)) = remote {
                for (u, r) in c.urls.iter().zip(remotes) {
                    let r = fetcher.ensure(u, *r)?;
                    self.place_remote(u, &r, &dest.root, c, &opts)?;
                }
            }
            for (name, data) in &c.inline {
                let target = if c.dest.ends_with('/') {
                    format!("{}{name}", c.dest)
                } else if fsops::is_dir(&dest.root, &c.dest).map_err(kiln_cache::Error::from)? {
                    format!("{}/{name}", c.dest)
                } else {
                    c.dest.clone()
                };
                let (uid, gid) = match opts.owner {
                    FileOwner::Set(u, g) => (u, g),
                    FileOwner::Keep => (0, 0),
                };
                fsops::write_file(
                    &dest.root,
                    &target,
                    data.as_bytes(),
                    opts.mode.map_or(0o644, |m| m.apply(0o644, false)),
                    (uid, gid),
                )
                .map_err(kiln_cache::Error::from)?;
            }
        }
        Ok(self.store.commit(active)?)
    }

    /// ADD of a remote file (semantics.md ADD-3): the stored download is
    /// laid out as BuildKit's HTTP source makes it (the URL's file name,
    /// mode 0600, mtime from `Last-Modified`) in a scratch directory, then
    /// copied (or, with `--unpack=true`, extracted) like a local source.
    fn place_remote(
        &self,
        u: &UrlSource,
        r: &Remote,
        dest_root: &std::path::Path,
        c: &CopyOp,
        opts: &CopyOptions,
    ) -> Result<()> {
        let dir = self.store.temp_dir()?;
        let file = dir.path().join(&u.name);
        let io = |e: std::io::Error| crate::error::io_err(&file, e);
        std::fs::copy(self.store.content().path(&r.digest), &file).map_err(io)?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let when = system_time(r.mtime);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| {
                f.set_times(
                    std::fs::FileTimes::new()
                        .set_accessed(when)
                        .set_modified(when),
                )
            })
            .map_err(io)?;
        let item = PlannedCopy {
            source: u.name.clone(),
            real: u.name.clone(),
            dest: c.dest.clone(),
        };
        if u.unpack && self.extract_archive(dir.path(), &item, dest_root, c, opts)? {
            return Ok(());
        }
        fsops::copy(dir.path(), &[item.source], dest_root, &c.dest, opts)
            .map_err(kiln_cache::Error::from)?;
        Ok(())
    }

    /// ADD of a local archive (semantics.md ADD-1, ADD-2): a regular file
    /// whose (decoded) content starts with a tar header is unpacked into
    /// the destination. Returns false when the source is no archive.
    fn extract_archive(
        &self,
        src_root: &std::path::Path,
        item: &PlannedCopy,
        dest_root: &std::path::Path,
        c: &CopyOp,
        opts: &CopyOptions,
    ) -> Result<bool> {
        let open = || -> Result<Option<std::fs::File>> {
            Ok(fsops::open_file(src_root, &item.source).map_err(kiln_cache::Error::from)?)
        };
        let Some(file) = open()? else {
            return Ok(false);
        };
        let io = |e: std::io::Error| crate::error::io_err(src_root.join(&item.source), e);
        // Not an archive (or not decodable after all): copied as it is.
        if !compression::holds_tar(file) {
            return Ok(false);
        }
        let Some(file) = open()? else {
            return Ok(false);
        };
        // Archive entries keep their owners unless `--chown` says otherwise.
        let owner = match (&c.owner, opts.owner) {
            (Owner::Chown(_), FileOwner::Set(u, g)) => Some((u, g)),
            _ => None,
        };
        let decoded = compression::decoder(file).map_err(io)?;
        // A destination the archive creates belongs to `--chown`'s owner.
        let dest_dir = item.dest.trim_end_matches('/');
        if !dest_dir.is_empty() {
            fsops::mkdir_all(dest_root, dest_dir, owner.unwrap_or((0, 0)), None)
                .map_err(kiln_cache::Error::from)?;
        }
        kiln_cache::layer::extract(decoded, dest_root, dest_dir, owner)
            .map_err(kiln_cache::Error::from)?;
        Ok(true)
    }

    pub(super) fn run_mkdir(&self, m: &MkdirOp, parent: Option<&Snapshot>) -> Result<Snapshot> {
        let active = self.store.prepare(parent)?;
        {
            let dest = self.mount_active(&active)?;
            let owner = read_ids(&dest.root, &m.user)?;
            fsops::mkdir_all(&dest.root, &m.path, owner, m.mtime)
                .map_err(kiln_cache::Error::from)?;
        }
        Ok(self.store.commit(active)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_is_lenient() {
        let passwd = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/sh\n";
        let group = "root:x:0:\nstaff:x:50:alice\n";
        assert_eq!(chown_ids("1000", passwd, group), (1000, 1000));
        assert_eq!(chown_ids("alice", passwd, group), (1000, 1001));
        assert_eq!(chown_ids("alice:", passwd, group), (1000, 0));
        assert_eq!(chown_ids("alice:staff", passwd, group), (1000, 50));
        assert_eq!(chown_ids("ghost", passwd, group), (0, 0));
        assert_eq!(chown_ids("ghost:nogroup", passwd, group), (0, 0));
        assert_eq!(chown_ids("", passwd, group), (0, 0));
        assert_eq!(chown_ids("5:6", passwd, group), (5, 6));
    }
}
