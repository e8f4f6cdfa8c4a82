//! The local build context, read in place: which files a COPY names, what
//! `.dockerignore` hides, and the content digest that goes into a COPY's
//! cache key.
//!
//! The digest covers what can change the copied result — relative path,
//! file type, permission bits, size, content or link target — and never
//! mtimes or owners (a context copy is owned by root unless `--chown`).
//! Paths are resolved inside the context root: a symlink in the context
//! never leads the build to a host file.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_cache::fsops;
use kiln_cache::{Digest, Hasher};
use rayon::prelude::*;

use crate::dockerignore::{MatchInfo, Patterns};
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

/// One entry's contribution to a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Real path relative to the context root (`""` for the root).
    path: String,
    /// Path relative to the copied source (what lands in the image).
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

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The entries a copy of the source at `real` (a real path relative to
/// the root, `""` for the root) brings, after `.dockerignore`, walking
/// excluded directories only where an exception may re-include something
/// (BuildKit's context walker).
fn walk_source(root: &Path, real: &str, ignore: Option<&Patterns>) -> Result<Vec<Entry>> {
    let top = ignore
        .filter(|_| !real.is_empty())
        .map(|p| p.walk_match(real, &MatchInfo::default()));
    if top.as_ref().is_some_and(|m| m.skip_dir) {
        return Ok(Vec::new());
    }
    let mut entries = Vec::new();
    let stat = |path: &str| -> Result<fs::Metadata> {
        let p = root.join(path);
        fs::symlink_metadata(&p).map_err(|e| io_err(p, e))
    };
    let entry = |path: &str, md: &fs::Metadata| -> Result<Entry> {
        let ft = md.file_type();
        let rel = path
            .strip_prefix(real)
            .map(|r| r.trim_start_matches('/'))
            .unwrap_or(path)
            .to_string();
        Ok(Entry {
            path: path.to_string(),
            rel,
            kind: kind_of(&ft),
            mode: md.mode() & 0o7777,
            size: if ft.is_file() { md.len() } else { 0 },
            content: None,
            link: if ft.is_symlink() {
                let p = root.join(path);
                Some(
                    fs::read_link(&p)
                        .map_err(|e| io_err(&p, e))?
                        .to_string_lossy()
                        .into_owned(),
                )
            } else {
                None
            },
        })
    };
    let md = stat(real)?;
    if !top.as_ref().is_some_and(|m| m.excluded) {
        entries.push(entry(real, &md)?);
    }
    if !md.is_dir() {
        return Ok(entries);
    }
    let mut stack = vec![(real.to_string(), top.map(|m| m.info).unwrap_or_default())];
    while let Some((dir, info)) = stack.pop() {
        let full = root.join(&dir);
        let mut names: Vec<String> = fs::read_dir(&full)
            .map_err(|e| io_err(&full, e))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| io_err(&full, e))?;
        names.sort();
        // Children are pushed in reverse so that they are walked in order.
        let mut subdirs = Vec::new();
        for name in names {
            let path = join(&dir, &name);
            let m = ignore.map(|p| p.walk_match(&path, &info));
            if m.as_ref().is_some_and(|m| m.skip_dir) {
                continue;
            }
            let md = stat(&path)?;
            if !m.as_ref().is_some_and(|m| m.excluded) {
                entries.push(entry(&path, &md)?);
            }
            if md.is_dir() {
                subdirs.push((path, m.map(|m| m.info).unwrap_or_default()));
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(entries)
}

/// The context of a build: its root, the digest of each source pattern
/// the build reads, and what `.dockerignore` lets through.
#[derive(Debug, Clone, Default)]
pub struct ContextIndex {
    /// The context directory.
    pub root: PathBuf,
    /// Digest per source pattern; `None` for a missing (or ignored)
    /// literal path.
    pub sources: BTreeMap<String, Option<Digest>>,
    /// With a `.dockerignore`: the real paths (relative to the root) a
    /// copy may take, their parent directories included.
    pub included: Option<Arc<HashSet<String>>>,
    /// Bytes of file content read, for progress.
    pub bytes: u64,
}

impl ContextIndex {
    /// Whether a real root-relative path is visible to the build.
    pub fn visible(&self, path: &str) -> bool {
        self.included.as_ref().is_none_or(|s| s.contains(path))
    }
}

/// Hashes every source pattern the build reads.
pub fn index(root: &Path, patterns: &[String], ignore: Option<&Patterns>) -> Result<ContextIndex> {
    let ignore = ignore.filter(|p| !p.is_empty());
    let mut idx = ContextIndex {
        root: root.to_path_buf(),
        ..ContextIndex::default()
    };
    let mut included: HashSet<String> = HashSet::new();
    for pattern in patterns {
        if idx.sources.contains_key(pattern) {
            continue;
        }
        let Some(matches) = fsops::expand(root, pattern).map_err(kiln_cache::Error::from)? else {
            idx.sources.insert(pattern.clone(), None);
            continue;
        };
        let literal = !pattern.contains(['*', '?', '[', '\\']);
        let mut h = Hasher::new();
        h.field(pattern.as_bytes());
        let mut missing = false;
        for m in matches {
            let Some(real) = fsops::real_path(root, &m, true).map_err(kiln_cache::Error::from)?
            else {
                missing = true;
                break;
            };
            let real = if real == "." { String::new() } else { real };
            let mut entries = walk_source(root, &real, ignore)?;
            if entries.is_empty() {
                // Everything was ignored: a literal source is then missing
                // (semantics.md IGN-3), a wildcard match just drops out.
                missing = literal;
                continue;
            }
            // Contents in parallel: this is where a build spends its time
            // on a big context.
            entries
                .par_iter_mut()
                .filter(|e| e.kind == b'f')
                .try_for_each(|e| -> Result<()> {
                    e.content = Some(hash_file(&root.join(&e.path))?);
                    Ok(())
                })?;
            h.field(m.as_bytes());
            for e in &entries {
                idx.bytes += e.size;
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
                if ignore.is_some() {
                    let mut p = e.path.as_str();
                    included.insert(p.to_string());
                    while let Some((parent, _)) = p.rsplit_once('/') {
                        if !included.insert(parent.to_string()) {
                            break;
                        }
                        p = parent;
                    }
                }
            }
        }
        idx.sources
            .insert(pattern.clone(), (!missing).then(|| h.finish()));
    }
    if ignore.is_some() {
        idx.included = Some(Arc::new(included));
    }
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(root: &Path, pattern: &str, ignore: Option<&Patterns>) -> Option<Digest> {
        index(root, &[pattern.to_string()], ignore).unwrap().sources[pattern]
    }

    #[test]
    fn digests_ignore_mtime_but_not_content_or_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("src")).unwrap();
        fs::write(root.join("src/a.txt"), "hello").unwrap();
        fs::write(root.join("b.txt"), "b").unwrap();
        let d1 = digest(root, "src", None).unwrap();
        filetime::set_file_mtime(
            root.join("src/a.txt"),
            filetime::FileTime::from_unix_time(1, 0),
        )
        .unwrap();
        assert_eq!(digest(root, "src", None).unwrap(), d1);
        fs::write(root.join("src/a.txt"), "hellO").unwrap();
        let d2 = digest(root, "src", None).unwrap();
        assert_ne!(d1, d2);
        fs::set_permissions(root.join("src/a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(digest(root, "src", None).unwrap(), d2);
        assert_eq!(digest(root, "missing", None), None);
        assert!(digest(root, "*.none", None).is_some());
    }

    #[test]
    fn dockerignore_hides_files_from_digests_and_copies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "bar",
            "bay",
            "baz",
            "keep/x",
            "keep/secret.key",
            "logs/a.log",
            "logs/keep.log",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        let ignore =
            Patterns::from_ignore_file("ba*\n!bay\n**/*.key\nlogs\n!logs/keep.log\n").unwrap();
        let idx = index(
            root,
            &[".".to_string(), "bar".to_string(), "keep".to_string()],
            Some(&ignore),
        )
        .unwrap();
        assert_eq!(
            idx.sources["bar"], None,
            "an ignored literal source is missing"
        );
        assert!(idx.sources["keep"].is_some());
        let mut seen: Vec<&str> = idx
            .included
            .as_ref()
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec!["", "bay", "keep", "keep/x", "logs", "logs/keep.log"]
        );
        // Editing an ignored file changes no key.
        let before = idx.sources["."];
        fs::write(root.join("keep/secret.key"), "changed").unwrap();
        let after = index(root, &[".".to_string()], Some(&ignore))
            .unwrap()
            .sources["."];
        assert_eq!(before, after);
    }
}
