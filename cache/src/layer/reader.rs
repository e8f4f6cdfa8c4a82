//! A streaming tar reader with bounded memory for untrusted layer tars.
//!
//! The `tar` crate's `Entries` reads PAX and GNU long-name records without
//! a size limit, and in raw mode (where we could cap them) it ignores a PAX
//! `size` record, which desynchronises the stream from what Go, GNU tar and
//! Python see (the "TARmageddon" class of bugs). So the 512-byte framing is
//! done here, while `tar::Header` parses every header field (octal and
//! base-256 numbers, checksum field, ustar prefix) and
//! `tar::PaxExtensions` parses PAX records.
//!
//! Header-only entry types (links, directories, devices, FIFOs) carry no
//! payload whatever their size field says, as in Go's `archive/tar` and
//! Python's `tarfile`. GNU sparse files and multi-volume archives are
//! refused; PAX global headers are read (bounded) and ignored, as
//! containerd does.

use std::io::{self, Read};

use tar::{Header, PaxExtensions};

use super::error::Error;

/// Largest PAX or GNU long-name/long-link record accepted (security.md R6).
pub(crate) const MAX_EXTENSION: u64 = 1 << 20;

const BLOCK: usize = 512;

/// What a tar entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

/// One tar entry with every extension record folded in.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Raw path bytes, not yet cleaned.
    pub(crate) path: Vec<u8>,
    /// Raw link target (symlinks and hardlinks), empty otherwise.
    pub(crate) link: Vec<u8>,
    pub(crate) kind: Kind,
    /// Permission bits including setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Seconds and nanoseconds since the epoch.
    pub(crate) mtime: (i64, u32),
    pub(crate) dev: (u32, u32),
    /// `SCHILY.xattr.*` records, in archive order.
    pub(crate) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Reads entries one by one; the payload of the current entry is read
/// with [`TarReader::payload`] and skipped automatically otherwise.
pub(crate) struct TarReader<R> {
    inner: R,
    offset: u64,
    remaining: u64,
    padding: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        TarReader {
            inner,
            offset: 0,
            remaining: 0,
            padding: 0,
            done: false,
        }
    }

    /// Reads the next entry, skipping whatever is left of the previous
    /// payload. `None` at the end-of-archive marker or a clean EOF.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry>, Error> {
        if self.done {
            return Ok(None);
        }
        self.skip(self.remaining + self.padding)?;
        self.remaining = 0;
        self.padding = 0;

        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Option<Vec<u8>> = None;
        let mut first_offset: Option<u64> = None;
        loop {
            let offset = self.offset;
            let mut block = [0u8; BLOCK];
            let pending = long_name.is_some() || long_link.is_some() || pax.is_some();
            if !self.read_block(&mut block)? || block.iter().all(|b| *b == 0) {
                if pending {
                    return Err(malformed(
                        offset,
                        "extension header not followed by an entry",
                    ));
                }
                self.done = true;
                return Ok(None);
            }
            first_offset.get_or_insert(offset);
            let header = Header::from_byte_slice(&block);
            check_checksum(header, offset)?;
            let size = numeric(&header.as_old().size, || header.entry_size())
                .map_err(|e| malformed(offset, format!("bad size field: {e}")))?;
            let slot = match header.entry_type().as_byte() {
                b'x' => &mut pax,
                b'L' => &mut long_name,
                b'K' => &mut long_link,
                b'g' => {
                    self.read_extension(size, offset)?;
                    continue;
                }
                b'V' => {
                    // A volume label describes the archive, not a file.
                    self.skip(padded(size, offset)?)?;
                    continue;
                }
                _ => {
                    let start = first_offset.unwrap_or(offset);
                    return self
                        .build(header, size, start, long_name, long_link, pax)
                        .map(Some);
                }
            };
            if slot.is_some() {
                return Err(malformed(
                    offset,
                    "two extension headers of the same kind for one entry",
                ));
            }
            *slot = Some(self.read_extension(size, offset)?);
        }
    }

    /// The payload of the entry last returned by [`TarReader::next_entry`].
    pub(crate) fn payload(&mut self) -> Payload<'_, R> {
        Payload { reader: self }
    }

    /// Reads to the end of the stream so that a caller hashing it sees
    /// every byte (trailing padding after the end-of-archive marker).
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        let offset = self.offset;
        io::copy(&mut self.inner, &mut io::sink())
            .map(drop)
            .map_err(|source| Error::Read { offset, source })
    }

    fn build(
        &mut self,
        header: &Header,
        header_size: u64,
        offset: u64,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        pax: Option<Vec<u8>>,
    ) -> Result<Entry, Error> {
        let bad = |what: &str, e: io::Error| malformed(offset, format!("bad {what} field: {e}"));
        let mut path = match long_name {
            Some(name) => until_nul(name),
            None => header.path_bytes().into_owned(),
        };
        let mut link = match long_link {
            Some(name) => until_nul(name),
            None => header
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default(),
        };
        let mut size = header_size;
        let old = header.as_old();
        let mut uid = numeric(&old.uid, || header.uid()).map_err(|e| bad("uid", e))?;
        let mut gid = numeric(&old.gid, || header.gid()).map_err(|e| bad("gid", e))?;
        let secs = numeric(&old.mtime, || header.mtime()).map_err(|e| bad("mtime", e))?;
        let mut mtime = (i64::try_from(secs).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();

        if let Some(pax) = &pax {
            for record in PaxExtensions::new(pax) {
                let record = record.map_err(|e| malformed(offset, format!("pax record: {e}")))?;
                let (key, value) = (record.key_bytes(), record.value_bytes());
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((name.to_vec(), value.to_vec()));
                    continue;
                }
                if key.starts_with(b"GNU.sparse.") {
                    return Err(Error::entry(&path, "sparse files are not supported"));
                }
                // An empty value reverts to the header's field (POSIX pax).
                if value.is_empty() {
                    continue;
                }
                match key {
                    b"path" => path = value.to_vec(),
                    b"linkpath" => link = value.to_vec(),
                    b"size" => size = pax_number(value, offset, "size")?,
                    b"uid" => uid = pax_number(value, offset, "uid")?,
                    b"gid" => gid = pax_number(value, offset, "gid")?,
                    b"mtime" => mtime = pax_time(value, offset)?,
                    _ => {}
                }
            }
        }

        let kind = match header.entry_type().as_byte() {
            b'0' | b'7' => Kind::Regular,
            b'\0' if path.ends_with(b"/") => Kind::Dir,
            b'\0' => Kind::Regular,
            b'1' => Kind::Hardlink,
            b'2' => Kind::Symlink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'5' => Kind::Dir,
            b'6' => Kind::Fifo,
            b'S' => return Err(Error::entry(&path, "sparse files are not supported")),
            other => {
                return Err(Error::entry(
                    &path,
                    format!("unsupported entry type {:?}", char::from(other)),
                ));
            }
        };
        let dev = if matches!(kind, Kind::Char | Kind::Block) {
            let raw = header.as_bytes();
            let field = |range: std::ops::Range<usize>,
                         get: fn(&Header) -> io::Result<Option<u32>>| {
                numeric(&raw[range], || {
                    get(header).map(|v| u64::from(v.unwrap_or(0)))
                })
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
            };
            (
                field(329..337, Header::device_major).map_err(|e| bad("devmajor", e))?,
                field(337..345, Header::device_minor).map_err(|e| bad("devminor", e))?,
            )
        } else {
            (0, 0)
        };
        let payload = if kind == Kind::Regular { size } else { 0 };
        self.remaining = payload;
        self.padding = padded(payload, offset)? - payload;

        let id = |v: u64, what: &str| {
            u32::try_from(v)
                .ok()
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| Error::entry(&path, format!("{what} {v} is out of range")))
        };
        Ok(Entry {
            kind,
            mode: numeric(&old.mode, || header.mode().map(u64::from)).map_err(|e| bad("mode", e))?
                as u32
                & 0o7777,
            uid: id(uid, "uid")?,
            gid: id(gid, "gid")?,
            mtime,
            dev,
            xattrs,
            link,
            path,
        })
    }

    /// Reads one block; `false` on EOF before its first byte.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<bool, Error> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(malformed(self.offset, "stream ends inside a header")),
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Read {
                        offset: self.offset,
                        source,
                    });
                }
            }
        }
        Ok(true)
    }

    fn read_extension(&mut self, size: u64, offset: u64) -> Result<Vec<u8>, Error> {
        if size > MAX_EXTENSION {
            return Err(Error::ExtensionTooLarge {
                offset,
                size,
                limit: MAX_EXTENSION,
            });
        }
        // Bounded by MAX_EXTENSION just above, so the cast cannot truncate.
        let mut data = vec![0u8; size as usize];
        self.inner.read_exact(&mut data).map_err(|source| {
            if source.kind() == io::ErrorKind::UnexpectedEof {
                malformed(offset, "stream ends inside an extension header")
            } else {
                Error::Read { offset, source }
            }
        })?;
        self.offset += size;
        self.skip(padded(size, offset)? - size)?;
        Ok(data)
    }

    fn skip(&mut self, n: u64) -> Result<(), Error> {
        if n == 0 {
            return Ok(());
        }
        let offset = self.offset;
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())
            .map_err(|source| Error::Read { offset, source })?;
        self.offset += copied;
        if copied < n {
            return Err(malformed(self.offset, "stream ends inside an entry"));
        }
        Ok(())
    }
}

/// Reads the current entry's payload and nothing past it.
pub(crate) struct Payload<'a, R> {
    reader: &'a mut TarReader<R>,
}

impl<R: Read> Read for Payload<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = &mut *self.reader;
        if r.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(r.remaining).map_or(buf.len(), |rem| rem.min(buf.len()));
        let got = r.inner.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("layer tar ends inside an entry at byte {}", r.offset),
            ));
        }
        r.remaining -= got as u64;
        r.offset += got as u64;
        Ok(got)
    }
}

fn malformed(offset: u64, reason: impl Into<String>) -> Error {
    Error::Malformed {
        offset,
        reason: reason.into(),
    }
}

fn padded(size: u64, offset: u64) -> Result<u64, Error> {
    size.checked_add(BLOCK as u64 - 1)
        .map(|s| s & !(BLOCK as u64 - 1))
        .ok_or_else(|| malformed(offset, "entry size overflows"))
}

/// Accepts both the unsigned and the historic signed header sum, as GNU
/// tar and Go do.
fn check_checksum(header: &Header, offset: u64) -> Result<(), Error> {
    let stored = header
        .cksum()
        .map_err(|e| malformed(offset, format!("bad checksum field: {e}")))?;
    let (mut unsigned, mut signed) = (0u32, 0i64);
    for (i, b) in header.as_bytes().iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u32::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::from(stored) == signed {
        Ok(())
    } else {
        Err(malformed(offset, "header checksum mismatch"))
    }
}

/// A numeric header field; an all-blank field reads as 0, as in Go,
/// Python and GNU tar.
fn numeric(field: &[u8], parse: impl FnOnce() -> io::Result<u64>) -> io::Result<u64> {
    if field.iter().all(|b| *b == 0 || *b == b' ') {
        Ok(0)
    } else {
        parse()
    }
}

fn until_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(end) = bytes.iter().position(|b| *b == 0) {
        bytes.truncate(end);
    }
    bytes
}

fn pax_number(value: &[u8], offset: u64, key: &str) -> Result<u64, Error> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            malformed(
                offset,
                format!(
                    "pax {key} record {:?} is not a number",
                    String::from_utf8_lossy(value)
                ),
            )
        })
}

/// Parses a PAX time such as `1700000000.123456789` or `-1.5`.
fn pax_time(value: &[u8], offset: u64) -> Result<(i64, u32), Error> {
    let bad = || {
        malformed(
            offset,
            format!(
                "pax mtime record {:?} is not a time",
                String::from_utf8_lossy(value)
            ),
        )
    };
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: i64 = whole.parse().unwrap_or(i64::MAX);
    let mut nanos: u32 = 0;
    for (i, digit) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    if !negative {
        return Ok((secs, nanos));
    }
    // -1.5 is 1.5 s before the epoch: (-2 s, 0.5e9 ns).
    if nanos == 0 {
        Ok((-secs, 0))
    } else {
        Ok((-secs - 1, 1_000_000_000 - nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(pax_time(b"12", 0).unwrap(), (12, 0));
        assert_eq!(pax_time(b"12.5", 0).unwrap(), (12, 500_000_000));
        assert_eq!(pax_time(b"1.1234567899", 0).unwrap(), (1, 123_456_789));
        assert_eq!(pax_time(b"-1.5", 0).unwrap(), (-2, 500_000_000));
        assert!(pax_time(b"x", 0).is_err());
        assert!(pax_time(b"1.x", 0).is_err());
        assert!(pax_time(b"", 0).is_err());
    }

    #[test]
    fn pax_size_overrides_header_size() {
        let mut out = tar::Builder::new(Vec::new());
        out.append_pax_extensions([("size", b"3".as_slice())])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path("f").unwrap();
        h.set_cksum();
        out.append(&h, &b""[..]).unwrap();
        let mut bytes = out.into_inner().unwrap();
        // Splice the 3 payload bytes (padded) in where the header said 0.
        let end = bytes.len() - 1024;
        let mut block = vec![0u8; 512];
        block[..3].copy_from_slice(b"abc");
        bytes.splice(end..end, block);
        let mut r = TarReader::new(bytes.as_slice());
        r.next_entry().unwrap().unwrap();
        let mut data = Vec::new();
        r.payload().read_to_end(&mut data).unwrap();
        assert_eq!(data, b"abc");
        assert!(r.next_entry().unwrap().is_none());
    }

    #[test]
    fn truncated_streams_error() {
        let mut out = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1000);
        h.set_path("f").unwrap();
        h.set_cksum();
        out.append(&h, &[7u8; 1000][..]).unwrap();
        let bytes = out.into_inner().unwrap();
        for cut in [100, 600, 1200] {
            let mut r = TarReader::new(&bytes[..cut]);
            let result = (|| {
                while r.next_entry()?.is_some() {
                    let mut sink = Vec::new();
                    io::copy(&mut r.payload(), &mut sink)
                        .map_err(|source| Error::Read { offset: 0, source })?;
                }
                Ok::<_, Error>(())
            })();
            assert!(result.is_err(), "cut at {cut} should fail");
        }
    }

    #[test]
    fn bad_checksum_is_refused() {
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes[0] = b'g';
        bytes.extend_from_slice(&[0u8; 1024]);
        let mut r = TarReader::new(bytes.as_slice());
        assert!(matches!(r.next_entry(), Err(Error::Malformed { .. })));
    }
}
