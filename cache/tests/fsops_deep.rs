//! A 10,000-level source tree copies without overflowing the stack or
//! running out of file descriptors: this test lowers its own process's
//! descriptor limit to 256 (it is alone in its test binary for that).
#![allow(clippy::print_stdout)] // tests report `skipped: <why>`

#[path = "layer_support.rs"]
mod support;

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use kiln_cache::fsops::{self, CopyOptions, FileOwner};
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::stat::{Mode, UtimensatFlags, fstat, fstatat, mkdirat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::linkat;

const DEPTH: usize = 10_000;

fn open_dir(dir: impl AsFd, name: &str) -> OwnedFd {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap()
}

fn write_at(dir: impl AsFd, name: &str, data: &[u8]) {
    let fd = openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    nix::unistd::write(&fd, data).unwrap();
}

/// Paths this deep are longer than PATH_MAX: build and check them on fds,
/// holding only the current level's.
fn build(root: &Path) {
    let mut cur = open_dir(nix::fcntl::AT_FDCWD, root.to_str().unwrap());
    let mut first_link: Option<OwnedFd> = None;
    for level in 0..DEPTH {
        if level % 1000 == 0 {
            write_at(&cur, "f", format!("level {level}").as_bytes());
            match &first_link {
                None => first_link = Some(cur.try_clone().unwrap()),
                Some(first) => linkat(first, "f", &cur, "link", AtFlags::empty()).unwrap(),
            }
        }
        mkdirat(&cur, "d", Mode::from_bits_truncate(0o755)).unwrap();
        cur = open_dir(&cur, "d");
    }
    write_at(&cur, "bottom", b"bottom");
}

/// Gives every directory on the spine a distinct mtime, bottom first.
fn stamp(root: &Path) {
    let mut fds = vec![open_dir(nix::fcntl::AT_FDCWD, root.to_str().unwrap())];
    // Only a few levels are stamped, so few fds are held at once.
    let mut cur = fds.pop().unwrap();
    for level in 0..DEPTH {
        if level % 997 == 0 {
            let t = TimeSpec::new(1_000_000 + level as i64, 0);
            utimensat(&cur, "d", &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
        }
        cur = open_dir(&cur, "d");
    }
}

#[test]
fn ten_thousand_levels() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    // On a tmpfs of its own when possible: faster, and unmounting it is
    // the cleanup.
    let tmpfs = support::private_mounts()
        && nix::mount::mount(
            Some("tmpfs"),
            tmp.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=512m"),
        )
        .is_ok();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    std::fs::create_dir_all(src.join("deep")).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    build(&src.join("deep"));
    stamp(&src.join("deep"));

    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, 256.min(soft), hard).unwrap();
    let start = Instant::now();
    let paths = fsops::expand(&src, "deep").unwrap().unwrap();
    let result = fsops::copy(
        &src,
        &paths,
        &dst,
        "/out",
        &CopyOptions {
            owner: FileOwner::Keep,
            mode: None,
        },
    );
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    let stats = result.unwrap();
    println!(
        "copied {DEPTH} levels in {:?}: {} files",
        start.elapsed(),
        stats.files
    );
    assert_eq!(stats.files, (DEPTH / 1000) as u64 * 2);

    // Walk both spines side by side.
    let mut s = open_dir(nix::fcntl::AT_FDCWD, src.join("deep").to_str().unwrap());
    let mut d = open_dir(nix::fcntl::AT_FDCWD, dst.join("out").to_str().unwrap());
    let mut first_ino = None;
    for level in 0..DEPTH {
        if level % 1000 == 0 {
            let f = fstatat(&d, "f", AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
            assert_eq!(f.st_size, format!("level {level}").len() as i64);
            // Every `link` is a hardlink to level 0's `f`.
            let ino = *first_ino.get_or_insert(f.st_ino);
            if level > 0 {
                let l = fstatat(&d, "link", AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
                assert_eq!(l.st_ino, ino, "hardlink kept at level {level}");
                assert_ne!(f.st_ino, ino);
            }
        }
        let sd = fstatat(&s, "d", AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
        let dd = fstatat(&d, "d", AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
        assert_eq!(
            (sd.st_mtime, sd.st_mtime_nsec, sd.st_mode),
            (dd.st_mtime, dd.st_mtime_nsec, dd.st_mode),
            "level {level}"
        );
        s = open_dir(&s, "d");
        d = open_dir(&d, "d");
    }
    let st = fstatat(&d, OsStr::new("bottom"), AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!(st.st_size, 6);
    assert!(fstat(d.as_fd()).is_ok());

    if tmpfs {
        nix::mount::umount2(tmp.path(), nix::mount::MntFlags::MNT_DETACH).unwrap();
    } else {
        // rm copes with trees deeper than PATH_MAX; std's remove_dir_all
        // recurses.
        let status = std::process::Command::new("rm")
            .arg("-rf")
            .arg(tmp.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}
