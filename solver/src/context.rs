//! The local build context, read in place: which files a COPY names, what
//! `.dockerignore` hides, and the content digest that goes into a COPY's
//! cache key.
//!
//! The digest covers what can change the copied result — relative path,
//! file type, permission bits, size, content or link target — and never
//! mtimes or owners (a context copy is owned by root unless `--chown`).
//! Paths are resolved inside the context root: a symlink in the context
//! never leads the build to a host file.
//!
//! Hashing is what a build spends its time on over a big context, so the
//! store remembers, per context root, each file's stat and content digest
//! (BuildKit keeps the same kind of record). A file whose stat (device,
//! inode, size, mtime, ctime, mode) is unchanged is not read again. ctime
//! catches edits that put the mtime back. A record taken less than a
//! second after the file's last mtime or ctime is "racy", as git calls it:
//! a write in the same clock tick would leave the stat as it was, so such
//! a file is hashed again until a record is taken late enough to trust.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use kiln_cache::fsops;
use kiln_cache::meta::{FileDigestRow, FileStat, Meta};
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
    /// For regular files: the stat the digest cache compares.
    stat: Option<FileStat>,
}

/// Nanoseconds since the epoch, saturating (far dates cannot overflow).
fn ns(secs: i64, nsecs: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsecs)
}

fn file_stat(md: &fs::Metadata) -> FileStat {
    FileStat {
        dev: md.dev(),
        ino: md.ino(),
        size: md.len(),
        mtime_ns: ns(md.mtime(), md.mtime_nsec()),
        ctime_ns: ns(md.ctime(), md.ctime_nsec()),
        mode: md.mode(),
    }
}

/// Whether a record is too close to the file's last change to be trusted:
/// a write in the same timestamp tick after the stat was taken would not
/// show in the stat (git's "racily clean" entries). One second covers
/// coarse file system clocks.
fn racy(stat: &FileStat, recorded_ns: i64) -> bool {
    let changed = stat.mtime_ns.max(stat.ctime_ns);
    changed.saturating_add(1_000_000_000) > recorded_ns
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

/// The digest of a file's content and the bytes read.
fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    let mut f = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut read = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finish(), read))
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
    let top_path = root.join(real);
    let md = fs::symlink_metadata(&top_path).map_err(|e| io_err(&top_path, e))?;
    let mut entries = Vec::new();
    if !top.as_ref().is_some_and(|m| m.excluded) {
        entries.push(entry(root, real, real, &md)?);
    }
    if !md.is_dir() {
        return Ok(entries);
    }
    // The tree is walked by directory entry types; the entries to keep are
    // then stat'ed in parallel, each relative to its open directory (no
    // path lookup from the root, and no symlink swapped into a parent on
    // the way can redirect it).
    let mut found: Vec<(String, fs::DirEntry)> = Vec::new();
    let mut stack = vec![(real.to_string(), top.map(|m| m.info).unwrap_or_default())];
    while let Some((dir, info)) = stack.pop() {
        let full = root.join(&dir);
        let mut children: Vec<(String, fs::DirEntry)> = fs::read_dir(&full)
            .map_err(|e| io_err(&full, e))?
            .map(|e| e.map(|e| (e.file_name().to_string_lossy().into_owned(), e)))
            .collect::<std::io::Result<_>>()
            .map_err(|e| io_err(&full, e))?;
        children.sort_by(|a, b| a.0.cmp(&b.0));
        // Children are pushed in reverse so that they are walked in order.
        let mut subdirs = Vec::new();
        for (name, de) in children {
            let path = join(&dir, &name);
            let m = ignore.map(|p| p.walk_match(&path, &info));
            if m.as_ref().is_some_and(|m| m.skip_dir) {
                continue;
            }
            let is_dir = de.file_type().map_err(|e| io_err(de.path(), e))?.is_dir();
            let excluded = m.as_ref().is_some_and(|m| m.excluded);
            match (is_dir, excluded) {
                (true, true) => subdirs.push((path, m.map(|m| m.info).unwrap_or_default())),
                (true, false) => {
                    subdirs.push((path.clone(), m.map(|m| m.info).unwrap_or_default()));
                    found.push((path, de));
                }
                (false, true) => {}
                (false, false) => found.push((path, de)),
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    let stated = found
        .par_iter()
        .map(|(path, de)| {
            let md = de.metadata().map_err(|e| io_err(de.path(), e))?;
            entry(root, real, path, &md)
        })
        .collect::<Result<Vec<_>>>()?;
    entries.extend(stated);
    Ok(entries)
}

/// One walked entry, from its `lstat`.
fn entry(root: &Path, real: &str, path: &str, md: &fs::Metadata) -> Result<Entry> {
    let ft = md.file_type();
    let rel = path
        .strip_prefix(real)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(path)
        .to_string();
    let link = if ft.is_symlink() {
        let p = root.join(path);
        Some(
            fs::read_link(&p)
                .map_err(|e| io_err(&p, e))?
                .to_string_lossy()
                .into_owned(),
        )
    } else {
        None
    };
    Ok(Entry {
        path: path.to_string(),
        rel,
        kind: kind_of(&ft),
        mode: md.mode() & 0o7777,
        size: if ft.is_file() { md.len() } else { 0 },
        content: None,
        link,
        stat: ft.is_file().then(|| file_stat(md)),
    })
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
    /// Bytes of file content read (files recognised by their stat are
    /// not read), for progress.
    pub bytes: u64,
    /// How many files were read and hashed.
    pub files_hashed: u64,
    /// What each source pattern brought, entry by entry: kept so that
    /// `--explain-cache` can name the file that changed.
    listings: BTreeMap<String, Vec<Entry>>,
}

impl ContextIndex {
    /// Whether a real root-relative path is visible to the build.
    pub fn visible(&self, path: &str) -> bool {
        self.included.as_ref().is_none_or(|s| s.contains(path))
    }

    /// What the digest of these source patterns covers, per real path
    /// relative to the root: type, permission bits, size, and content
    /// digest or link target. Two such maps tell which files made two
    /// digests differ.
    pub fn file_facts<'a>(
        &self,
        patterns: impl IntoIterator<Item = &'a String>,
    ) -> BTreeMap<String, String> {
        let mut facts = BTreeMap::new();
        for e in patterns
            .into_iter()
            .filter_map(|p| self.listings.get(p))
            .flatten()
        {
            let what = match (&e.content, &e.link) {
                (Some(d), _) => d.hex(),
                (None, Some(l)) => format!("-> {l}"),
                (None, None) => String::new(),
            };
            let path = if e.path.is_empty() { "." } else { &e.path };
            facts.insert(
                path.to_string(),
                format!("{} {:o} {} {what}", e.kind as char, e.mode, e.size),
            );
        }
        facts
    }
}

/// Hashes every source pattern the build reads, reading every file.
pub fn index(root: &Path, patterns: &[String], ignore: Option<&Patterns>) -> Result<ContextIndex> {
    index_with(root, patterns, ignore, None)
}

/// Hashes every source pattern the build reads, like [`index`], but files
/// whose stat matches what `meta` recorded for this context root in an
/// earlier build are not read again; what had to be read is recorded for
/// the next build.
pub fn index_cached(
    root: &Path,
    patterns: &[String],
    ignore: Option<&Patterns>,
    meta: &Meta,
) -> Result<ContextIndex> {
    index_with(root, patterns, ignore, Some(meta))
}

/// A recorded digest, and whether this indexing met its file.
struct Known {
    stat: FileStat,
    digest: Digest,
    recorded_ns: i64,
    seen: bool,
}

/// File digests known before and learnt during one indexing.
struct Digests<'a> {
    meta: Option<(&'a Meta, String)>,
    /// Taken before any stat: records are stamped with it, so they are
    /// never later than the stat they hold.
    started_ns: i64,
    known: HashMap<String, Known>,
    /// Files hashed in this indexing, to record.
    fresh: HashMap<String, (FileStat, Digest)>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl<'a> Digests<'a> {
    fn load(root: &Path, meta: Option<&'a Meta>, started_ns: i64) -> Result<Digests<'a>> {
        // One record per real directory, however the build named it. A
        // root that is not valid UTF-8 goes without records rather than
        // risk sharing them with another.
        let meta = meta.and_then(|m| {
            let real = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
            real.to_str().map(|k| (m, k.to_string()))
        });
        let known = match &meta {
            Some((m, key)) => m
                .file_digests(key)?
                .into_iter()
                .map(|r| {
                    let known = Known {
                        stat: r.stat,
                        digest: r.digest,
                        recorded_ns: r.recorded_ns,
                        seen: false,
                    };
                    (r.path, known)
                })
                .collect(),
            None => HashMap::new(),
        };
        Ok(Digests {
            meta,
            started_ns,
            known,
            fresh: HashMap::new(),
        })
    }

    /// The digest of a file without reading it, if its stat says it is
    /// unchanged since it was hashed.
    fn lookup(&mut self, path: &str, stat: &FileStat) -> Option<Digest> {
        let known = self.known.get_mut(path).map(|k| {
            k.seen = true;
            &*k
        });
        // Hashed earlier in this build (a file two sources share).
        if let Some((s, d)) = self.fresh.get(path)
            && s == stat
        {
            return Some(*d);
        }
        known
            .filter(|k| k.stat == *stat && !racy(&k.stat, k.recorded_ns))
            .map(|k| k.digest)
    }

    /// Fills in the content digest of every regular file in `entries`,
    /// hashing (in parallel) only those not recognised by their stat.
    fn fill(&mut self, root: &Path, entries: &mut [Entry], idx: &mut ContextIndex) -> Result<()> {
        let mut todo = Vec::new();
        for (i, e) in entries.iter_mut().enumerate() {
            let Some(stat) = e.stat.filter(|_| e.kind == b'f') else {
                continue;
            };
            match self.lookup(&e.path, &stat) {
                Some(d) => e.content = Some(d),
                None => todo.push(i),
            }
        }
        let hashed = todo
            .par_iter()
            .map(|&i| hash_file(&root.join(&entries[i].path)).map(|h| (i, h)))
            .collect::<Result<Vec<_>>>()?;
        for (i, (digest, read)) in hashed {
            let e = &mut entries[i];
            e.content = Some(digest);
            idx.bytes += read;
            idx.files_hashed += 1;
            if let Some(stat) = e.stat {
                self.fresh.insert(e.path.clone(), (stat, digest));
            }
        }
        Ok(())
    }

    /// Records what was hashed, and forgets recorded files that are gone.
    /// Writes nothing when nothing changed, so a no-op build costs the
    /// store no write.
    fn save(self, root: &Path) -> Result<()> {
        let Some((meta, key)) = &self.meta else {
            return Ok(());
        };
        let (known, started_ns) = (&self.known, self.started_ns);
        let rows: Vec<FileDigestRow> = self
            .fresh
            .into_iter()
            // A record no better than the one there (same file, still
            // racy) is not worth a write.
            .filter(|(path, (stat, digest))| {
                !known.get(path).is_some_and(|k| {
                    k.stat == *stat && k.digest == *digest && racy(stat, started_ns)
                })
            })
            .map(|(path, (stat, digest))| FileDigestRow {
                path,
                stat,
                digest,
                recorded_ns: started_ns,
            })
            .collect();
        // Only files this build did not look at can be gone; a file it
        // did not need but that is still there keeps its record.
        let removed: Vec<String> = known
            .iter()
            .filter(|(_, k)| !k.seen)
            .map(|(p, _)| p)
            .filter(|p| fs::symlink_metadata(root.join(p)).map_or(true, |m| !m.is_file()))
            .cloned()
            .collect();
        if rows.is_empty() && removed.is_empty() {
            return Ok(());
        }
        meta.put_file_digests(key, &rows, &removed, |other| !Path::new(other).is_dir())?;
        Ok(())
    }
}

/// The entries of each match of a source pattern, or `None` when the
/// source is missing.
type Matches = Option<Vec<(String, Vec<Entry>)>>;

fn walk_pattern(root: &Path, pattern: &str, ignore: Option<&Patterns>) -> Result<Matches> {
    let Some(matches) = fsops::expand(root, pattern).map_err(kiln_cache::Error::from)? else {
        return Ok(None);
    };
    let literal = !pattern.contains(['*', '?', '[', '\\']);
    let mut missing = false;
    let mut out = Vec::new();
    for m in matches {
        let Some(real) = fsops::real_path(root, &m, true).map_err(kiln_cache::Error::from)? else {
            return Ok(None);
        };
        let real = if real == "." { String::new() } else { real };
        let entries = walk_source(root, &real, ignore)?;
        if entries.is_empty() {
            // Everything was ignored: a literal source is then missing
            // (semantics.md IGN-3), a wildcard match just drops out.
            missing |= literal;
            continue;
        }
        out.push((m, entries));
    }
    Ok((!missing).then_some(out))
}

/// Each distinct pattern, in order, with what it names.
fn walk_patterns(
    root: &Path,
    patterns: &[String],
    ignore: Option<&Patterns>,
) -> Result<Vec<(String, Matches)>> {
    let mut done = HashSet::new();
    let mut out = Vec::new();
    for pattern in patterns {
        if done.insert(pattern.as_str()) {
            out.push((pattern.clone(), walk_pattern(root, pattern, ignore)?));
        }
    }
    Ok(out)
}

fn index_with(
    root: &Path,
    patterns: &[String],
    ignore: Option<&Patterns>,
    meta: Option<&Meta>,
) -> Result<ContextIndex> {
    let ignore = ignore.filter(|p| !p.is_empty());
    let mut idx = ContextIndex {
        root: root.to_path_buf(),
        ..ContextIndex::default()
    };
    let started_ns = now_ns();
    // Reading the records and walking the tree do not depend on each
    // other; on a no-op build they are nearly all the work.
    let (digests, walked) = rayon::join(
        || Digests::load(root, meta, started_ns),
        || walk_patterns(root, patterns, ignore),
    );
    let (mut digests, walked) = (digests?, walked?);
    let mut included: HashSet<String> = HashSet::new();
    for (pattern, matches) in walked {
        let Some(matches) = matches else {
            idx.sources.insert(pattern, None);
            continue;
        };
        let mut h = Hasher::new();
        h.field(pattern.as_bytes());
        let mut listing = Vec::new();
        for (m, mut entries) in matches {
            digests.fill(root, &mut entries, &mut idx)?;
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
            listing.extend(entries);
        }
        idx.listings.insert(pattern.clone(), listing);
        idx.sources.insert(pattern, Some(h.finish()));
    }
    if ignore.is_some() {
        idx.included = Some(Arc::new(included));
    }
    digests.save(root)?;
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn open_meta(dir: &Path) -> Meta {
        Meta::open(&dir.join("meta.db")).unwrap()
    }

    /// Lets ctimes set while making a fixture age past the racy window,
    /// so that the next record is trusted.
    fn settle() {
        std::thread::sleep(Duration::from_millis(1100));
    }

    fn old_mtime(p: &Path) {
        filetime::set_file_mtime(p, filetime::FileTime::from_unix_time(946_684_800, 0)).unwrap();
    }

    fn cached(root: &Path, meta: &Meta) -> ContextIndex {
        index_cached(root, &[".".to_string()], None, meta).unwrap()
    }

    #[test]
    fn unchanged_files_are_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let meta = open_meta(store.path());
        let root = dir.path();
        for i in 0..100 {
            let p = root.join(format!("d{}/f{i}", i % 7));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, format!("file {i}")).unwrap();
        }
        settle();
        let first = cached(root, &meta);
        assert_eq!(first.files_hashed, 100);
        assert_eq!(first.sources["."], digest(root, ".", None));
        let again = cached(root, &meta);
        assert_eq!((again.files_hashed, again.bytes), (0, 0));
        assert_eq!(again.sources, first.sources);
        // A touch moves the stat: that file (and only it) is read again,
        // and the key stays.
        let touched = root.join("d3/f3");
        filetime::set_file_mtime(&touched, filetime::FileTime::from_unix_time(12_345, 0)).unwrap();
        let after_touch = cached(root, &meta);
        assert_eq!(after_touch.files_hashed, 1);
        assert_eq!(after_touch.sources, first.sources);
        // The record made just now is racy (ctime within a second): read
        // again until it is not.
        assert_eq!(cached(root, &meta).files_hashed, 1);
        settle();
        assert_eq!(cached(root, &meta).files_hashed, 1);
        assert_eq!(cached(root, &meta).files_hashed, 0);
    }

    #[test]
    fn an_edit_that_keeps_size_and_mtime_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let meta = open_meta(store.path());
        let root = dir.path();
        let p = root.join("a.txt");
        fs::write(&p, "hello").unwrap();
        old_mtime(&p);
        settle();
        let before = cached(root, &meta);
        assert_eq!(cached(root, &meta).files_hashed, 0);
        // Same size, mtime put back: only the ctime tells.
        fs::write(&p, "hellO").unwrap();
        old_mtime(&p);
        let after = cached(root, &meta);
        assert_eq!(after.files_hashed, 1);
        assert_ne!(after.sources["."], before.sources["."]);
        assert_eq!(after.sources["."], digest(root, ".", None));
    }

    #[test]
    fn a_racy_record_is_not_trusted() {
        // An edit in the same clock tick as the recorded stat leaves every
        // stat field as it was: forge that by recording the new stat with
        // the old content's digest.
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let meta = open_meta(store.path());
        let root = dir.path();
        let p = root.join("a.txt");
        fs::write(&p, "one").unwrap();
        let stale = Digest::of(b"not the content");
        let stat = file_stat(&fs::symlink_metadata(&p).unwrap());
        let key = fs::canonicalize(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let changed = stat.mtime_ns.max(stat.ctime_ns);
        let forge = |recorded_ns| {
            let row = FileDigestRow {
                path: "a.txt".into(),
                stat,
                digest: stale,
                recorded_ns,
            };
            meta.put_file_digests(&key, &[row], &[], |_| false).unwrap();
        };
        forge(changed + 500_000_000);
        let idx = cached(root, &meta);
        assert_eq!(idx.files_hashed, 1, "a racy record was trusted");
        assert_eq!(idx.sources["."], digest(root, ".", None));
        // The same record taken late enough is trusted: the rule above is
        // what caught it.
        forge(changed + 1_500_000_000);
        assert_eq!(cached(root, &meta).files_hashed, 0);
    }

    #[test]
    fn records_of_deleted_files_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let meta = open_meta(store.path());
        let root = dir.path();
        fs::write(root.join("a"), "a").unwrap();
        fs::write(root.join("b"), "b").unwrap();
        cached(root, &meta);
        let key = fs::canonicalize(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(meta.file_digests(&key).unwrap().len(), 2);
        // A build that reads only `a` keeps `b`'s record while `b` exists.
        index_cached(root, &["a".to_string()], None, &meta).unwrap();
        assert_eq!(meta.file_digests(&key).unwrap().len(), 2);
        fs::remove_file(root.join("b")).unwrap();
        index_cached(root, &["a".to_string()], None, &meta).unwrap();
        let left: Vec<String> = meta
            .file_digests(&key)
            .unwrap()
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(left, vec!["a".to_string()]);
    }

    #[test]
    fn no_op_over_10000_files_reads_no_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let meta = open_meta(store.path());
        let root = dir.path();
        for d in 0..100 {
            fs::create_dir(root.join(format!("g{d:03}"))).unwrap();
            for f in 0..100 {
                fs::write(root.join(format!("g{d:03}/f{f:03}")), format!("{d} {f}")).unwrap();
            }
        }
        settle();
        let patterns = ["g000".to_string(), ".".to_string()];
        let first = index_cached(root, &patterns, None, &meta).unwrap();
        // g000's files are read once although two sources hold them.
        assert_eq!(first.files_hashed, 10_000);
        let t = std::time::Instant::now();
        let again = index_cached(root, &patterns, None, &meta).unwrap();
        let took = t.elapsed();
        assert_eq!((again.files_hashed, again.bytes), (0, 0), "{took:?}");
        assert_eq!(again.sources, first.sources);
        assert_eq!(
            again.sources,
            index(root, &patterns, None).unwrap().sources,
            "the cache changes no key"
        );
    }

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
