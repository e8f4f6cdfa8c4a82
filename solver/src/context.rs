//! The local build context, read in place: which files a COPY names, and
//! the content digest that goes into its cache key.
//!
//! The digest covers what can change the copied result — relative path,
//! file type, permission bits, size, content or link target — and never
//! mtimes or owners (a context copy is owned by root unless `--chown`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use kiln_cache::fsops;
use kiln_cache::{Digest, Hasher};
use rayon::prelude::*;

use crate::error::{Result, io_err};

/// Cleans a source path: relative to the context root, `..` cannot climb
/// out of it, a leading `/` is dropped (semantics.md CP-5).
pub(crate) fn clean_rel(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The context paths a source pattern names (in-root, wildcards per
/// segment); `None` when a literal path is missing.
pub(crate) fn expand_source(root: &Path, pattern: &str) -> Result<Option<Vec<String>>> {
    Ok(fsops::expand(root, pattern).map_err(kiln_cache::Error::from)?)
}

/// One entry's contribution to a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    rel: String,
    kind: u8,
    mode: u32,
    size: u64,
    content: Option<Digest>,
    link: Option<String>,
}

fn kind_of(ft: &fs::FileType) -> u8 {
    if ft.is_dir() {
        b'd'
    } else if ft.is_symlink() {
        b'l'
    } else if ft.is_file() {
        b'f'
    } else if ft.is_fifo() {
        b'p'
    } else if ft.is_char_device() {
        b'c'
    } else if ft.is_block_device() {
        b'b'
    } else {
        b's'
    }
}

fn hash_file(path: &Path) -> Result<Digest> {
    let mut f = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// Resolves a source inside the context root, following a symlink it
/// names (semantics.md SYM-1): absolute targets are taken from the root.
fn follow_in_root(root: &Path, rel: &str) -> Result<Option<String>> {
    Ok(fsops::real_path(root, rel, true).map_err(kiln_cache::Error::from)?)
}

/// The digest of what copying `pattern` from the context would bring.
/// `Ok(None)` when a literal source is missing.
pub(crate) fn source_digest(root: &Path, pattern: &str) -> Result<Option<Digest>> {
    let Some(matches) = expand_source(root, pattern)? else {
        return Ok(None);
    };
    let mut h = Hasher::new();
    h.field(pattern.as_bytes());
    for m in matches {
        let Some(real) = follow_in_root(root, &m)? else {
            return Ok(None);
        };
        let top = root.join(&real);
        let mut entries = Vec::new();
        for e in walkdir::WalkDir::new(&top)
            .follow_links(false)
            .sort_by_file_name()
        {
            let e = e.map_err(|e| {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| top.clone());
                io_err(
                    path,
                    e.into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("walk failed")),
                )
            })?;
            let md = e.metadata().map_err(|err| {
                io_err(
                    e.path(),
                    err.into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("stat failed")),
                )
            })?;
            let rel = e
                .path()
                .strip_prefix(&top)
                .unwrap_or(e.path())
                .to_string_lossy()
                .to_string();
            let ft = md.file_type();
            entries.push(Entry {
                rel,
                kind: kind_of(&ft),
                mode: md.mode() & 0o7777,
                size: if ft.is_file() { md.len() } else { 0 },
                content: None,
                link: if ft.is_symlink() {
                    Some(
                        fs::read_link(e.path())
                            .map_err(|err| io_err(e.path(), err))?
                            .to_string_lossy()
                            .to_string(),
                    )
                } else {
                    None
                },
            });
        }
        // Contents in parallel: this is where a build spends its time on a
        // big context.
        entries
            .par_iter_mut()
            .filter(|e| e.kind == b'f')
            .try_for_each(|e| -> Result<()> {
                let p = if e.rel.is_empty() {
                    top.clone()
                } else {
                    top.join(&e.rel)
                };
                e.content = Some(hash_file(&p)?);
                Ok(())
            })?;
        h.field(m.as_bytes());
        for e in &entries {
            h.field(e.rel.as_bytes());
            h.update(&[e.kind]);
            h.update(&e.mode.to_le_bytes());
            h.update(&e.size.to_le_bytes());
            if let Some(c) = &e.content {
                h.update(c.bytes());
            }
            if let Some(l) = &e.link {
                h.field(l.as_bytes());
            }
        }
    }
    Ok(Some(h.finish()))
}

/// The context of a build: its root and the digest of each source pattern
/// the build reads.
#[derive(Debug, Clone, Default)]
pub struct ContextIndex {
    /// The context directory.
    pub root: PathBuf,
    /// Digest per source pattern; `None` for a missing literal path.
    pub sources: BTreeMap<String, Option<Digest>>,
    /// Bytes of file content hashed, for progress.
    pub bytes: u64,
}

/// Hashes every pattern the build reads.
pub fn index(root: &Path, patterns: &[String]) -> Result<ContextIndex> {
    let mut idx = ContextIndex {
        root: root.to_path_buf(),
        ..ContextIndex::default()
    };
    for p in patterns {
        if idx.sources.contains_key(p) {
            continue;
        }
        let d = source_digest(root, p)?;
        idx.sources.insert(p.clone(), d);
    }
    idx.bytes = patterns
        .iter()
        .filter_map(|p| expand_source(root, p).ok().flatten())
        .flatten()
        .map(|rel| dir_size(&root.join(rel)))
        .sum();
    Ok(idx)
}

fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_ignore_mtime_but_not_content_or_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("src")).unwrap();
        fs::write(root.join("src/a.txt"), "hello").unwrap();
        fs::write(root.join("b.txt"), "b").unwrap();
        let d1 = source_digest(root, "src").unwrap().unwrap();
        filetime::set_file_mtime(
            root.join("src/a.txt"),
            filetime::FileTime::from_unix_time(1, 0),
        )
        .unwrap();
        assert_eq!(source_digest(root, "src").unwrap().unwrap(), d1);
        fs::write(root.join("src/a.txt"), "hellO").unwrap();
        let d2 = source_digest(root, "src").unwrap().unwrap();
        assert_ne!(d1, d2);
        fs::set_permissions(root.join("src/a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(source_digest(root, "src").unwrap().unwrap(), d2);
        assert_eq!(source_digest(root, "missing").unwrap(), None);
        assert!(source_digest(root, "*.none").unwrap().is_some());
        assert_eq!(
            expand_source(root, "/../*.txt").unwrap().unwrap(),
            vec!["b.txt"]
        );
        assert_eq!(
            expand_source(root, "src/*.txt").unwrap().unwrap(),
            vec!["src/a.txt"]
        );
    }
}
