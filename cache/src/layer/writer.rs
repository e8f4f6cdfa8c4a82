//! Writing deterministic OCI layer tars from tree nodes.
//!
//! Header choices (documented in the module above): GNU headers; names
//! longer than 100 bytes and link targets longer than 100 bytes go into GNU
//! `L`/`K` records, written byte for byte (the `tar` crate's own long-name
//! path normalises `a/./b` and `a//b`, which would change symlink targets);
//! extended attributes go into one PAX `x` record of `SCHILY.xattr.<name>`
//! keys sorted by name; mtime is whole seconds (sub-second parts are
//! truncated, as moby does); uname, gname, atime and ctime are empty.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::{EntryType, Header};

use super::Stats;
use super::error::Error;
use super::tree::{Node, NodeKind, is_layer_xattr};

const NAME_FIELD: usize = 100;

/// A directory whose header is written only if something below it is.
struct Pending {
    rel: Vec<u8>,
    node: Node,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Streams tar entries to `out`, tracking hardlinks and statistics.
pub(crate) struct TarOut<W: Write> {
    builder: tar::Builder<W>,
    /// (st_dev, st_ino) of multiply-linked files to the first tar path.
    links: HashMap<(u64, u64), Vec<u8>>,
    pending: Vec<Pending>,
    stats: Stats,
}

impl<W: Write> TarOut<W> {
    pub(crate) fn new(out: W) -> Self {
        TarOut {
            builder: tar::Builder::new(out),
            links: HashMap::new(),
            pending: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Writes one entry. `rel` is the tar path without a trailing slash,
    /// `src` the file to read contents from, `target` a symlink's target.
    pub(crate) fn node(
        &mut self,
        rel: &[u8],
        node: &Node,
        src: &Path,
        xattrs: &[(OsString, Vec<u8>)],
        target: Option<&[u8]>,
    ) -> Result<(), Error> {
        // A real file named `.wh.x` would read back as the deletion of `x`.
        let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        if name.starts_with(b".wh.") {
            return Err(Error::Unsupported {
                path: src.to_path_buf(),
                reason: "names starting with .wh. mark deletions in layers; rename the file".into(),
            });
        }
        self.flush_pending()?;
        let werr = |source| Error::Write {
            path: String::from_utf8_lossy(rel).into_owned(),
            source,
        };
        let mut h = Header::new_gnu();
        h.set_mode(node.mode);
        h.set_uid(u64::from(node.uid));
        h.set_gid(u64::from(node.gid));
        h.set_mtime(u64::try_from(node.mtime.0).unwrap_or(0));
        h.set_size(0);

        if node.kind != NodeKind::Dir && node.nlink > 1 {
            if let Some(first) = self.links.get(&(node.dev, node.ino)) {
                let first = first.clone();
                h.set_entry_type(EntryType::Link);
                self.write(&mut h, rel, Some(&first), io::empty())
                    .map_err(werr)?;
                self.stats.entries += 1;
                return Ok(());
            }
            self.links.insert((node.dev, node.ino), rel.to_vec());
        }

        self.pax_xattrs(xattrs).map_err(werr)?;
        match node.kind {
            NodeKind::Regular => {
                h.set_entry_type(EntryType::Regular);
                h.set_size(node.size);
                let file = super::tree::open_read(src).map_err(|e| Error::io("open", src, e))?;
                let data = Exact {
                    file,
                    remaining: node.size,
                };
                self.write(&mut h, rel, None, data).map_err(werr)?;
                self.stats.bytes += node.size;
            }
            NodeKind::Dir => {
                h.set_entry_type(EntryType::Directory);
                let mut name = rel.to_vec();
                name.push(b'/');
                self.write(&mut h, &name, None, io::empty()).map_err(werr)?;
            }
            NodeKind::Symlink => {
                h.set_entry_type(EntryType::Symlink);
                self.write(&mut h, rel, Some(target.unwrap_or_default()), io::empty())
                    .map_err(werr)?;
            }
            NodeKind::Char | NodeKind::Block => {
                h.set_entry_type(if node.kind == NodeKind::Char {
                    EntryType::Char
                } else {
                    EntryType::Block
                });
                let (major, minor) = (
                    nix::sys::stat::major(node.rdev),
                    nix::sys::stat::minor(node.rdev),
                );
                let too_big = || Error::Unsupported {
                    path: src.to_path_buf(),
                    reason: format!("device number {major}:{minor} does not fit a tar header"),
                };
                h.set_device_major(u32::try_from(major).map_err(|_| too_big())?)
                    .map_err(werr)?;
                h.set_device_minor(u32::try_from(minor).map_err(|_| too_big())?)
                    .map_err(werr)?;
                self.write(&mut h, rel, None, io::empty()).map_err(werr)?;
            }
            NodeKind::Fifo => {
                h.set_entry_type(EntryType::Fifo);
                self.write(&mut h, rel, None, io::empty()).map_err(werr)?;
            }
            NodeKind::Socket => {
                return Err(Error::Unsupported {
                    path: src.to_path_buf(),
                    reason: "sockets cannot be stored in a layer".into(),
                });
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// Writes a whiteout or opaque marker: an empty regular file with
    /// mode 0, owner 0:0 and mtime 0, so overlay and copy diffs agree.
    pub(crate) fn whiteout(&mut self, rel: &[u8]) -> Result<(), Error> {
        self.flush_pending()?;
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        self.write(&mut h, rel, None, io::empty())
            .map_err(|source| Error::Write {
                path: String::from_utf8_lossy(rel).into_owned(),
                source,
            })?;
        self.stats.entries += 1;
        Ok(())
    }

    /// Remembers a directory to write before the first entry below it.
    pub(crate) fn push_pending(
        &mut self,
        rel: Vec<u8>,
        node: Node,
        xattrs: Vec<(OsString, Vec<u8>)>,
    ) {
        self.pending.push(Pending { rel, node, xattrs });
    }

    /// Forgets `rel` if it is still waiting (nothing below it changed).
    pub(crate) fn pop_pending(&mut self, rel: &[u8]) {
        if self.pending.last().is_some_and(|p| p.rel == rel) {
            self.pending.pop();
        }
    }

    pub(crate) fn finish(self) -> Result<Stats, Error> {
        let werr = |source| Error::Write {
            path: "end of archive".into(),
            source,
        };
        let mut out = self.builder.into_inner().map_err(werr)?;
        out.flush().map_err(werr)?;
        Ok(self.stats)
    }

    fn flush_pending(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        for p in std::mem::take(&mut self.pending) {
            // Directories never take the hardlink path and have no data.
            self.node(&p.rel, &p.node, Path::new(""), &p.xattrs, None)?;
        }
        Ok(())
    }

    fn pax_xattrs(&mut self, xattrs: &[(OsString, Vec<u8>)]) -> io::Result<()> {
        let mut records = Vec::new();
        for (name, value) in xattrs {
            if !is_layer_xattr(name.as_bytes()) {
                continue;
            }
            let name = name.to_str().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("xattr name {name:?} is not utf-8"),
                )
            })?;
            records.push((format!("SCHILY.xattr.{name}"), value.as_slice()));
        }
        if records.is_empty() {
            return Ok(());
        }
        records.sort_by(|a, b| a.0.cmp(&b.0));
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// Fills name and link fields (with GNU long records when needed),
    /// computes the checksum and appends header and data.
    fn write(
        &mut self,
        h: &mut Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if let Some(link) = link {
            if link.len() > NAME_FIELD {
                self.long_record(EntryType::GNULongLink, link)?;
            }
            fill(&mut h.as_old_mut().linkname, link);
        }
        if name.len() > NAME_FIELD {
            self.long_record(EntryType::GNULongName, name)?;
        }
        fill(&mut h.as_old_mut().name, name);
        h.set_cksum();
        self.builder.append(h, data)
    }

    fn long_record(&mut self, kind: EntryType, bytes: &[u8]) -> io::Result<()> {
        let mut h = Header::new_gnu();
        fill(&mut h.as_old_mut().name, b"././@LongLink");
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(bytes.len() as u64 + 1);
        h.set_entry_type(kind);
        h.set_cksum();
        self.builder.append(&h, bytes.chain(&[0u8][..]))
    }
}

/// Copies as much of `bytes` as fits; the rest comes from a long record.
fn fill(field: &mut [u8], bytes: &[u8]) {
    field.fill(0);
    let n = bytes.len().min(field.len());
    field[..n].copy_from_slice(&bytes[..n]);
}

/// Reads exactly the size recorded in the header, so that a file changing
/// under us fails the write instead of corrupting the tar framing.
struct Exact {
    file: File,
    remaining: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let got = self.file.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was being read",
            ));
        }
        self.remaining -= got as u64;
        Ok(got)
    }
}
