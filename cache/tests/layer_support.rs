//! Helpers shared by the `layer_*` integration tests (included with
//! `#[path]`): tree building, tree snapshots and comparison, overlay
//! mounts in a private mount namespace, and raw tar entries.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use sha2::{Digest, Sha256};

pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints `skipped: <why>` and returns from the test unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !support::is_root() {
            println!("skipped: needs root (mknod, chown and trusted.* xattrs)");
            return;
        }
    };
}

/// What a comparison looks at for mtimes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mtime {
    Ignore,
    Seconds,
    Nanos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Info {
    pub(crate) kind: char,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
    pub(crate) target: Vec<u8>,
    pub(crate) content: Vec<u8>,
    pub(crate) rdev: u64,
    pub(crate) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) ino: u64,
}

/// Every path below `root` (not `root` itself), keyed by relative path.
pub(crate) fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Info> {
    let mut out = BTreeMap::new();
    walk(root, b"", &mut out);
    out
}

fn walk(dir: &Path, prefix: &[u8], out: &mut BTreeMap<Vec<u8>, Info>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let mut rel = prefix.to_vec();
        rel.extend_from_slice(entry.file_name().as_bytes());
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else if ft.is_fifo() {
            'p'
        } else if ft.is_socket() {
            's'
        } else {
            'f'
        };
        let target = if kind == 'l' {
            fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .as_bytes()
                .to_vec()
        } else {
            Vec::new()
        };
        let content = if kind == 'f' {
            let mut h = Sha256::new();
            let mut f = fs::File::open(&path).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            h.finalize().to_vec()
        } else {
            Vec::new()
        };
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = xattr::list(&path)
            .unwrap()
            .filter(|n| {
                let n = n.as_bytes();
                !n.starts_with(b"trusted.overlay.") && n != b"security.selinux"
            })
            .map(|n| {
                let v = xattr::get(&path, &n).unwrap().unwrap_or_default();
                (n.as_bytes().to_vec(), v)
            })
            .collect();
        xattrs.sort();
        out.insert(
            rel.clone(),
            Info {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                size: if kind == 'f' { meta.size() } else { 0 },
                mtime: (meta.mtime(), meta.mtime_nsec()),
                target,
                content,
                rdev: if kind == 'c' || kind == 'b' {
                    meta.rdev()
                } else {
                    0
                },
                xattrs,
                ino: meta.ino(),
            },
        );
        if kind == 'd' {
            rel.push(b'/');
            walk(&path, &rel, out);
        }
    }
}

/// Compares two snapshots, returning a readable list of differences.
pub(crate) fn diff_snapshots(
    a: &BTreeMap<Vec<u8>, Info>,
    b: &BTreeMap<Vec<u8>, Info>,
    mtime: Mtime,
    skip_sockets: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let keep = |i: &Info| !(skip_sockets && i.kind == 's');
    for (path, ia) in a.iter().filter(|(_, i)| keep(i)) {
        let name = String::from_utf8_lossy(path);
        let Some(ib) = b.get(path) else {
            problems.push(format!("{name}: only in first"));
            continue;
        };
        let mut ia = ia.clone();
        let mut ib = ib.clone();
        ia.ino = 0;
        ib.ino = 0;
        match mtime {
            Mtime::Ignore => {
                ia.mtime = (0, 0);
                ib.mtime = (0, 0);
            }
            Mtime::Seconds => {
                ia.mtime.1 = 0;
                ib.mtime.1 = 0;
            }
            Mtime::Nanos => {}
        }
        if ia.kind == 'l' {
            // Symlink mtimes are not portable through every path here.
            ia.mtime = (0, 0);
            ib.mtime = (0, 0);
        }
        if ia != ib {
            problems.push(format!("{name}: {ia:?} != {ib:?}"));
        }
    }
    for (path, _) in b.iter().filter(|(_, i)| keep(i)) {
        if !a.contains_key(path) {
            problems.push(format!("{}: only in second", String::from_utf8_lossy(path)));
        }
    }
    problems
}

#[track_caller]
pub(crate) fn assert_same_tree(a: &Path, b: &Path, mtime: Mtime, skip_sockets: bool) {
    let problems = diff_snapshots(&snapshot(a), &snapshot(b), mtime, skip_sockets);
    assert!(
        problems.is_empty(),
        "trees {} and {} differ:\n{}",
        a.display(),
        b.display(),
        problems.join("\n")
    );
}

pub(crate) fn set_mtime(path: &Path, secs: i64, nanos: u32) {
    let t = FileTime::from_unix_time(secs, nanos);
    filetime::set_symlink_file_times(path, t, t).unwrap();
}

pub(crate) fn write(path: &Path, data: &[u8]) {
    fs::write(path, data).unwrap();
}

pub(crate) fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A v2 `security.capability` value granting CAP_NET_BIND_SERVICE.
pub(crate) fn capability() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes()); // v2, effective
    v.extend_from_slice(&(1u32 << 10).to_le_bytes()); // permitted lo
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable lo
    v.extend_from_slice(&0u32.to_le_bytes()); // permitted hi
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable hi
    v
}

/// A tree with every kind of file and metadata kiln must carry.
pub(crate) fn build_rich_tree(root: &Path) {
    fs::create_dir_all(root).unwrap();
    let p = |s: &str| root.join(s);
    for d in ["a", "a-b", "a/x", "a/x/y", "empty", "sticky", "sgid", "ro"] {
        fs::create_dir_all(p(d)).unwrap();
    }
    write(&p("a/file"), b"hello\n");
    write(&p("a-b/file"), b"dash\n");
    write(&p("a.c"), b"dot file");
    write(&p("a/x/y/deep"), &vec![7u8; 100_000]);
    write(&p("empty-file"), b"");
    write(&p("setuid"), b"#!/bin/sh\n");
    chmod(&p("setuid"), 0o4755);
    write(&p("setgid"), b"x");
    chmod(&p("setgid"), 0o2711);
    chmod(&p("sticky"), 0o1777);
    chmod(&p("sgid"), 0o2775);
    write(&p("ro/file"), b"read only");
    chmod(&p("ro/file"), 0o444);
    write(&p("owned"), b"owned by 1000");
    lchown(p("owned"), Some(1000), Some(1001)).unwrap();
    write(&p("nobody"), b"nobody");
    lchown(p("nobody"), Some(65534), Some(65534)).unwrap();
    symlink("a/file", p("rel-link")).unwrap();
    symlink("/etc/passwd", p("abs-link")).unwrap();
    symlink("does/not/exist", p("dangling")).unwrap();
    symlink("a//./file", p("odd-link")).unwrap();
    let long_target = "t/".repeat(120) + "end";
    symlink(&long_target, p("long-link")).unwrap();
    lchown(p("rel-link"), Some(5), Some(6)).unwrap();
    write(&p("hard1"), b"shared inode");
    fs::hard_link(p("hard1"), p("hard2")).unwrap();
    fs::hard_link(p("hard1"), p("a/hard3")).unwrap();
    mknod(
        &p("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .unwrap();
    chmod(&p("null"), 0o666);
    mknod(
        &p("loop"),
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(0o660),
        makedev(7, 200),
    )
    .unwrap();
    chmod(&p("loop"), 0o660);
    nix::unistd::mkfifo(&p("fifo"), Mode::from_bits_truncate(0o644)).unwrap();
    chmod(&p("fifo"), 0o644);
    let _sock = std::os::unix::net::UnixListener::bind(p("socket")).unwrap();
    let long_dir = "d".repeat(60) + "/" + &"e".repeat(60) + "/" + &"f".repeat(200);
    fs::create_dir_all(p(&long_dir)).unwrap();
    write(
        &p(&(long_dir.clone() + "/" + &"g".repeat(250))),
        b"long path",
    );
    let odd = root.join(OsStr::from_bytes(b"bytes-\xff\xfe"));
    write(&odd, b"not utf-8");
    xattr::set(p("a/file"), "user.note", b"value").unwrap();
    xattr::set(p("a/file"), "trusted.kiln", b"t").unwrap();
    xattr::set(p("a/x"), "user.dir", b"d").unwrap();
    xattr::set(p("setuid"), "security.capability", &capability()).unwrap();
    // Times last, deepest first, so creating children does not move them.
    let mut paths: Vec<PathBuf> = Vec::new();
    collect(root, &mut paths);
    paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, path) in paths.iter().enumerate() {
        set_mtime(
            path,
            1_600_000_000 + i as i64 * 3,
            (i as u32 * 7919) % 1_000_000_000,
        );
    }
    chmod(&p("ro"), 0o555);
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let is_dir = fs::symlink_metadata(&path).unwrap().is_dir();
        out.push(path.clone());
        if is_dir {
            collect(&path, out);
        }
    }
}

/// Enters a private mount namespace for the calling thread (the test).
pub(crate) fn private_mounts() -> bool {
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).is_err() {
        return false;
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .is_ok()
}

/// An overlay mount, unmounted on drop.
pub(crate) struct Overlay {
    target: PathBuf,
}

impl Overlay {
    /// `lowers` top first. Without `upper`, the mount is read-only.
    pub(crate) fn mount(
        lowers: &[&Path],
        upper: Option<(&Path, &Path)>,
        target: &Path,
    ) -> nix::Result<Overlay> {
        fs::create_dir_all(target).unwrap();
        let lower = lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let mut data = format!("lowerdir={lower}");
        if let Some((upper, work)) = upper {
            fs::create_dir_all(upper).unwrap();
            fs::create_dir_all(work).unwrap();
            data += &format!(",upperdir={},workdir={}", upper.display(), work.display());
        }
        let flags = if upper.is_some() {
            MsFlags::empty()
        } else {
            MsFlags::MS_RDONLY
        };
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            flags,
            Some(data.as_str()),
        )?;
        Ok(Overlay {
            target: target.to_path_buf(),
        })
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = umount2(&self.target, MntFlags::MNT_DETACH);
    }
}

/// Appends an entry with exactly these name and link bytes, bypassing the
/// `tar` crate's path checks (hostile archives need `..` and `/`).
pub(crate) fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &[u8],
    link: &[u8],
    mode: u32,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    h.set_device_major(0).unwrap();
    h.set_device_minor(0).unwrap();
    if name.len() > 100 {
        let mut l = tar::Header::new_gnu();
        l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        l.set_entry_type(tar::EntryType::GNULongName);
        l.set_size(name.len() as u64 + 1);
        l.set_cksum();
        let mut v = name.to_vec();
        v.push(0);
        b.append(&l, v.as_slice()).unwrap();
    }
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// The entry names of a tar, in order, with their types.
pub(crate) fn list_tar(bytes: &[u8]) -> Vec<(Vec<u8>, tar::EntryType, Vec<u8>)> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e.link_name_bytes().map(|l| l.to_vec()).unwrap_or_default();
            (e.path_bytes().to_vec(), e.header().entry_type(), link)
        })
        .collect()
}

/// A deterministic pseudo-random generator (xorshift64*), so randomised
/// tests need no extra crate and failures are reproducible by seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub(crate) fn name(&mut self) -> String {
        const PARTS: &[&str] = &["a", "b", "a-", "a.", "-", ".x", "zz", "_", "A", "0", "é"];
        let n = 1 + self.below(3);
        (0..n)
            .map(|_| PARTS[self.below(PARTS.len() as u64) as usize])
            .collect()
    }
}

/// Fills `dir` with a random tree (files, dirs, symlinks, hardlinks, fifos).
pub(crate) fn random_tree(rng: &mut Rng, dir: &Path, depth: u32, links: &mut Vec<PathBuf>) {
    fs::create_dir_all(dir).unwrap();
    let n = rng.below(6);
    for _ in 0..n {
        let name = rng.name();
        let path = dir.join(&name);
        if fs::symlink_metadata(&path).is_ok() || name == "." {
            continue;
        }
        match rng.below(10) {
            0..=3 => {
                let size = rng.below(3000) as usize;
                let data: Vec<u8> = (0..size)
                    .map(|i| (i as u64 ^ rng.below(256)) as u8)
                    .collect();
                write(&path, &data);
                chmod(
                    &path,
                    [0o644, 0o755, 0o600, 0o4755, 0o400][rng.below(5) as usize],
                );
                links.push(path.clone());
            }
            4..=6 if depth < 4 => random_tree(rng, &path, depth + 1, links),
            7 => symlink(rng.name(), &path).unwrap(),
            8 if !links.is_empty() => {
                let target = &links[rng.below(links.len() as u64) as usize];
                fs::hard_link(target, &path).unwrap();
            }
            9 => nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap(),
            _ => write(&path, b"x"),
        }
        if rng.chance(30) {
            lchown(
                &path,
                Some(rng.below(3) as u32 * 1000),
                Some(rng.below(3) as u32 * 100),
            )
            .unwrap();
        }
        // Linux allows user.* xattrs on regular files and directories only.
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() || m.is_dir()) && rng.chance(20) {
            xattr::set(&path, "user.r", format!("{}", rng.next()).as_bytes()).unwrap();
        }
    }
}

/// Sets every mtime below `root` to whole-second pseudo-random values,
/// children before parents.
pub(crate) fn random_times(rng: &mut Rng, root: &Path) {
    let mut paths = Vec::new();
    collect(root, &mut paths);
    paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in paths {
        set_mtime(
            &p,
            1_500_000_000 + rng.below(100_000_000) as i64,
            rng.below(1_000_000_000) as u32,
        );
    }
}
