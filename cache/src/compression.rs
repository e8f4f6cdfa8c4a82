//! Compressed streams: recognising gzip, bzip2, xz and zstd by their first
//! bytes (never by file name), and decoding them.

use std::io::{self, BufRead, BufReader, Read};

/// A stream's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed (or not a format kiln knows).
    None,
    /// gzip, possibly several members.
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// zstd.
    Zstd,
}

/// Recognises a compression from the first bytes of a stream.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `r` in the decoder its first bytes call for.
pub fn decoder<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(1 << 20, r);
    let kind = sniff(r.fill_buf()?);
    Ok(match kind {
        // Layers and archives may hold several gzip members; a plain
        // GzDecoder would stop after the first.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

/// Whether `r`, once decoded, is a tar archive (see [`is_tar`]). A stream
/// that only looks compressed (a file that merely starts like gzip) is
/// not.
pub fn holds_tar(r: impl Read) -> bool {
    let mut head = [0u8; 512];
    decoder(r)
        .and_then(|mut d| read_full(&mut d, &mut head))
        .is_ok_and(|n| is_tar(&head[..n]))
}

/// True when the (decoded) stream starts with a valid tar header: the
/// ustar magic or a correct header checksum. ADD extracts only such files
/// (semantics.md ADD-1).
pub fn is_tar(header: &[u8]) -> bool {
    if header.len() < 512 {
        return false;
    }
    if &header[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&header[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let computed: u32 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    stored == Some(computed) && header[..100].iter().any(|&b| b != 0)
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the stream.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "a.txt", &b"hi"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn every_format_decodes_to_the_same_tar() {
        let plain = tar_bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&plain).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&plain).unwrap();
        let zst = zstd::stream::encode_all(&plain[..], 3).unwrap();
        for (want, bytes) in [
            (Compression::None, plain.clone()),
            (Compression::Gzip, gz.finish().unwrap()),
            (Compression::Bzip2, bz.finish().unwrap()),
            (Compression::Xz, xz.finish().unwrap()),
            (Compression::Zstd, zst),
        ] {
            assert_eq!(sniff(&bytes), want);
            let mut out = Vec::new();
            decoder(&bytes[..]).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, plain, "{want:?}");
            assert!(is_tar(&out));
        }
        assert!(!is_tar(b"just some text that is not a tar at all"));
        assert!(!is_tar(&[0u8; 512]));
    }
}
