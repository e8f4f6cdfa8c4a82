//! The content store: immutable blobs under `blobs/sha256/<hex>`, written
//! through a temp file on the same filesystem, checked, fsynced and renamed
//! into place, so a blob is either whole or absent after any crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, Result, io_err};

/// Blobs this size or larger are never read into memory whole.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// The blob directory of a store.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    pub(crate) fn new(blobs: PathBuf, tmp: PathBuf) -> ContentStore {
        ContentStore { blobs, tmp }
    }

    /// Where a blob lives (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// Whether the blob is present.
    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Opens a blob for streaming.
    pub fn open(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::BlobMissing(*d)
            } else {
                io_err(&p, e)
            }
        })
    }

    /// Reads a small blob (a manifest or config) whole and checks its
    /// digest: documents are re-verified on every read.
    pub fn read_document(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.path(d);
        let mut buf = Vec::new();
        self.open(d)?
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut buf)
            .map_err(|e| io_err(&p, e))?;
        if buf.len() as u64 > MAX_DOCUMENT {
            return Err(Error::TooLarge {
                what: format!("blob {d}"),
                limit: MAX_DOCUMENT,
            });
        }
        let actual = Digest::of(&buf);
        if actual != *d {
            return Err(Error::Corrupt {
                expected: *d,
                actual,
            });
        }
        Ok(buf)
    }

    /// Stores bytes, returning their digest.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let mut w = self.writer()?;
        w.write_all(bytes).map_err(|e| io_err(&w.path, e))?;
        let (d, _) = w.commit(None)?;
        Ok(d)
    }

    /// A writer for a new blob; nothing is visible until `commit`.
    pub fn writer(&self) -> Result<BlobWriter> {
        let file = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.tmp)
            .map_err(|e| io_err(&self.tmp, e))?;
        let path = file.path().to_path_buf();
        Ok(BlobWriter {
            inner: HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file)),
            blobs: self.blobs.clone(),
            path,
        })
    }
}

/// A blob being written. Dropping it without `commit` removes the temp
/// file.
pub struct BlobWriter {
    inner: HashingWriter<io::BufWriter<tempfile::NamedTempFile>>,
    blobs: PathBuf,
    path: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Makes the blob durable and visible. With `expected`, a different
    /// digest is an error and nothing is stored. Returns the digest and
    /// size.
    pub fn commit(self, expected: Option<Digest>) -> Result<(Digest, u64)> {
        let (digest, size, buf) = self.inner.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| io_err(&self.path, e.into_error()))?;
        if let Some(want) = expected
            && want != digest
        {
            return Err(Error::Corrupt {
                expected: want,
                actual: digest,
            });
        }
        let dest = self.blobs.join(digest.hex());
        if dest.is_file() {
            // Someone stored the same bytes first; theirs is as good, and
            // was made durable before it was renamed in, so this copy
            // needs no fsync (every empty or repeated layer lands here).
            return Ok((digest, size));
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| io_err(&self.path, e))?;
        let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o444));
        tmp.persist(&dest).map_err(|e| io_err(&dest, e.error))?;
        sync_dir(&self.blobs)?;
        Ok((digest, size))
    }
}

/// fsyncs a directory so that a rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let f = OpenOptions::new()
        .read(true)
        .open(dir)
        .map_err(|e| io_err(dir, e))?;
    f.sync_all().map_err(|e| io_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("blobs")).unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let cs = ContentStore::new(dir.path().join("blobs"), dir.path().join("tmp"));
        (dir, cs)
    }

    #[test]
    fn write_read_and_verify() {
        let (dir, cs) = store();
        let d = cs.write_bytes(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(cs.read_document(&d).unwrap(), b"hello");
        // Writing the same bytes again is fine.
        assert_eq!(cs.write_bytes(b"hello").unwrap(), d);
        // Nothing left in tmp.
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        // A corrupted blob is detected on read.
        let p = cs.path(&d);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"jello").unwrap();
        assert!(matches!(cs.read_document(&d), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn wrong_expected_digest_stores_nothing() {
        let (dir, cs) = store();
        let mut w = cs.writer().unwrap();
        w.write_all(b"abc").unwrap();
        let err = w.commit(Some(Digest::of(b"xyz"))).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }));
        assert!(!cs.exists(&Digest::of(b"abc")));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
