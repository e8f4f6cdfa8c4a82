//! Hostile trees for `fsops` (security.md R1, H-CTX-1, H-CTX-3): symlinks
//! and `..` in sources, patterns and destinations never lead out of their
//! root; loops fail cleanly; a source swapped for a symlink mid-copy
//! leaks nothing; machine failures are told apart from input ones.
#![allow(clippy::print_stdout)] // tests report `skipped: <why>`

#[path = "layer_support.rs"]
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kiln_cache::fsops::{self, CopyOptions, Error, FileOwner};
use support::{Mtime, write};

const ROOT: CopyOptions = CopyOptions {
    owner: FileOwner::Set(0, 0),
    mode: None,
};

/// A source root and a destination root beside a canary directory that
/// must never be read into a copy nor changed.
struct Arena {
    tmp: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
    canary: PathBuf,
    before: BTreeMap<Vec<u8>, support::Info>,
    mounted: bool,
}

impl Drop for Arena {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(self.tmp.path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

impl Arena {
    fn new() -> Arena {
        Arena::build(false)
    }

    /// With `tmpfs`, the arena is a tmpfs of its own when the test can
    /// mount one in a private mount namespace (threads it starts share it).
    fn build(tmpfs: bool) -> Arena {
        let tmp = tempfile::tempdir().unwrap();
        let mounted = tmpfs
            && support::private_mounts()
            && nix::mount::mount(
                Some("tmpfs"),
                tmp.path(),
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                Some("size=64m"),
            )
            .is_ok();
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        let canary = tmp.path().join("canary");
        fs::create_dir(&src).unwrap();
        fs::create_dir(&dst).unwrap();
        fs::create_dir_all(canary.join("sub")).unwrap();
        write(&canary.join("secret"), b"CANARY secret\n");
        write(&canary.join("passwd"), b"CANARY passwd\n");
        write(&canary.join("sub/file"), b"CANARY file\n");
        let before = support::snapshot(&canary);
        Arena {
            tmp,
            src,
            dst,
            canary,
            before,
            mounted,
        }
    }

    fn canary_abs(&self) -> String {
        self.canary.to_str().unwrap().to_string()
    }

    /// The canary is unchanged, nothing new sits beside the roots, and no
    /// canary bytes are in the destination.
    fn check(&self) {
        let problems = support::diff_snapshots(
            &self.before,
            &support::snapshot(&self.canary),
            Mtime::Nanos,
            false,
        );
        assert!(
            problems.is_empty(),
            "canary changed:\n{}",
            problems.join("\n")
        );
        let mut names: Vec<_> = fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "dst", "src"]);
        assert_no_canary(&self.dst);
    }
}

fn assert_no_canary(dir: &Path) {
    for (path, info) in support::snapshot(dir) {
        if info.kind == 'f' {
            let data = fs::read(dir.join(String::from_utf8_lossy(&path).as_ref())).unwrap();
            assert!(
                !data.starts_with(b"CANARY"),
                "canary bytes copied to {}",
                String::from_utf8_lossy(&path)
            );
        }
    }
}

fn copy(a: &Arena, pattern: &str, dest: &str) -> Result<fsops::Stats, Error> {
    let paths = fsops::expand(&a.src, pattern)?.ok_or(Error::NotFound {
        path: pattern.into(),
    })?;
    fsops::copy(&a.src, &paths, &a.dst, dest, &ROOT)
}

/// H-CTX-1: a source `a -> /etc` and `COPY a/passwd` read the tree's own
/// `/etc/passwd`; climbing and absolute host paths stay inside.
#[test]
fn source_symlinks_stay_in_the_source_root() {
    require_root!();
    let a = Arena::new();
    fs::create_dir(a.src.join("etc")).unwrap();
    write(&a.src.join("etc/passwd"), b"inside\n");
    symlink("/etc", a.src.join("a")).unwrap();
    symlink("../../../../../../../..", a.src.join("up")).unwrap();
    symlink(a.canary_abs(), a.src.join("abs")).unwrap();
    let climb = "../".repeat(12) + a.canary_abs().trim_start_matches('/');
    symlink(&climb, a.src.join("rel")).unwrap();

    assert_eq!(
        fsops::expand(&a.src, "a/passwd").unwrap(),
        Some(vec!["a/passwd".to_string()])
    );
    assert_eq!(
        fsops::real_path(&a.src, "a/passwd", true).unwrap(),
        Some("etc/passwd".into())
    );
    copy(&a, "a/passwd", "/got").unwrap();
    assert_eq!(fs::read(a.dst.join("got")).unwrap(), b"inside\n");
    copy(&a, "/../../a/passwd", "/got2").unwrap();
    assert_eq!(fs::read(a.dst.join("got2")).unwrap(), b"inside\n");

    // Host paths named through links do not exist inside the root.
    for p in ["abs/secret", "rel/secret", "up/canary/secret", "abs", "rel"] {
        assert_eq!(fsops::expand(&a.src, p).unwrap(), None, "{p}");
    }
    // `up` is the root itself.
    copy(&a, "up", "/uproot").unwrap();
    assert!(a.dst.join("uproot/etc/passwd").is_file());
    // Wildcards through the links, and `..` before them.
    assert_eq!(
        fsops::expand(&a.src, "../../*").unwrap(),
        fsops::expand(&a.src, "*").unwrap()
    );
    assert_eq!(
        fsops::expand(&a.src, "a/*").unwrap(),
        Some(vec!["etc/passwd".to_string()])
    );
    assert_eq!(fsops::expand(&a.src, "abs/*").unwrap(), None);
    assert_eq!(fsops::expand(&a.src, "up/*").unwrap().unwrap().len(), 5);
    // Copying the whole root copies the links as links.
    copy(&a, ".", "/all").unwrap();
    assert_eq!(
        fs::read_link(a.dst.join("all/abs")).unwrap(),
        PathBuf::from(a.canary_abs())
    );
    a.check();
}

/// Destination paths through `/x -> /`, `../../..` and absolute host
/// paths stay inside the destination root.
#[test]
fn destination_symlinks_stay_in_the_destination_root() {
    require_root!();
    let a = Arena::new();
    write(&a.src.join("f"), b"payload\n");
    fs::create_dir(a.src.join("d")).unwrap();
    write(&a.src.join("d/g"), b"dir payload\n");
    symlink("/", a.dst.join("x")).unwrap();
    symlink("../../..", a.dst.join("y")).unwrap();
    symlink(a.canary_abs(), a.dst.join("z")).unwrap();
    let climb = "../".repeat(12) + a.canary_abs().trim_start_matches('/');
    symlink(&climb, a.dst.join("w")).unwrap();
    symlink(a.canary.join("secret"), a.dst.join("filelink")).unwrap();

    copy(&a, "f", "/x/../../canary/f1").unwrap();
    assert!(a.dst.join("canary/f1").is_file());
    copy(&a, "f", "/x/x/x/canary/f2").unwrap();
    assert!(a.dst.join("canary/f2").is_file());
    copy(&a, "f", "/y/canary/secret").unwrap();
    assert_eq!(fs::read(a.dst.join("canary/secret")).unwrap(), b"payload\n");
    copy(&a, "f", "/z/").unwrap();
    copy(&a, "d", "/z/sub").unwrap();
    copy(&a, "f", "/w/passwd").unwrap();
    copy(&a, "f", "/filelink").unwrap();
    let inside = a.dst.join(a.canary_abs().trim_start_matches('/'));
    assert!(inside.join("f").is_file());
    assert!(inside.join("sub/g").is_file());
    assert!(inside.join("passwd").is_file());
    assert_eq!(fs::read(inside.join("secret")).unwrap(), b"payload\n");
    fsops::mkdir_all(&a.dst, "/z/wd/../wd2", (0, 0), None).unwrap();
    assert!(inside.join("wd2").is_dir());
    fsops::write_file(&a.dst, "/w/heredoc", b"h", 0o644, (0, 0)).unwrap();
    assert!(inside.join("heredoc").is_file());
    assert!(!fsops::is_dir(&a.dst, "/z/secret").unwrap());
    assert_eq!(
        fsops::read_file(&a.dst, "/filelink", 100).unwrap(),
        Some(b"payload\n".to_vec())
    );
    a.check();
}

/// Symlink loops fail with ELOOP, an input error, in every operation.
#[test]
fn symlink_loops_fail_cleanly() {
    require_root!();
    let a = Arena::new();
    symlink("l2", a.src.join("l1")).unwrap();
    symlink("l1", a.src.join("l2")).unwrap();
    symlink("self/x", a.src.join("self")).unwrap();
    symlink("l2", a.dst.join("l1")).unwrap();
    symlink("/l1", a.dst.join("l2")).unwrap();
    write(&a.src.join("f"), b"f");
    let loops = |r: Result<_, Error>| {
        let err = r.expect_err("a loop must fail");
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        assert!(!kiln_cache::Error::from(err).is_infrastructure());
    };
    loops(fsops::expand(&a.src, "l1").map(drop));
    loops(fsops::expand(&a.src, "self").map(drop));
    loops(fsops::expand(&a.src, "l1/*").map(drop));
    loops(fsops::real_path(&a.src, "l1/x", false).map(drop));
    loops(fsops::copy(&a.src, &["l1".into()], &a.dst, "/x", &ROOT).map(drop));
    loops(fsops::copy(&a.src, &["f".into()], &a.dst, "/l1/", &ROOT).map(drop));
    loops(fsops::copy(&a.src, &["f".into()], &a.dst, "/l1", &ROOT).map(drop));
    loops(fsops::mkdir_all(&a.dst, "/l2/x", (0, 0), None));
    loops(fsops::is_dir(&a.dst, "/l1").map(drop));
    loops(fsops::read_file(&a.dst, "/l1", 10).map(drop));
    loops(fsops::write_file(&a.dst, "/l1/f", b"", 0o644, (0, 0)));
    a.check();
}

/// H-CTX-3: while a directory of many files is copied, another thread
/// keeps swapping a source subdirectory for a symlink to the canary. Each
/// copy succeeds or fails, and no canary byte is ever copied.
#[test]
fn source_swapped_for_symlink_mid_copy() {
    require_root!();
    let a = Arena::build(true);
    let ctx = a.src.join("ctx");
    for d in 0..20 {
        let dir = ctx.join(format!("sub/d{d:02}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..25 {
            write(&dir.join(format!("f{f}")), b"context file\n");
        }
    }
    // The canary has the same shape, so a swapped path would resolve.
    for d in 0..20 {
        let dir = a.canary.join(format!("d{d:02}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..25 {
            write(&dir.join(format!("f{f}")), b"CANARY twin\n");
        }
    }
    let mut a = a;
    a.before = support::snapshot(&a.canary);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let sub = ctx.join("sub");
        let real = ctx.join("sub.real");
        let canary = a.canary.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if fs::rename(&sub, &real).is_ok() {
                    let _ = symlink(&canary, &sub);
                    std::thread::yield_now();
                    let _ = fs::remove_file(&sub);
                    let _ = fs::rename(&real, &sub);
                    swaps += 1;
                }
            }
            swaps
        })
    };
    let (mut ok, mut failed) = (0, 0);
    for i in 0..40 {
        let dest = format!("/run{i}");
        match fsops::copy(&a.src, &["ctx".into()], &a.dst, &dest, &ROOT) {
            Ok(_) => ok += 1,
            Err(e) => {
                if failed < 5 {
                    println!("copy failed: {e}");
                }
                failed += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    println!("swaps: {swaps}, copies ok: {ok}, failed: {failed}");
    a.check();
}

/// Machine failures (here ENOSPC on a tiny tmpfs) are infrastructure
/// errors; input failures are not.
#[test]
fn no_space_is_infrastructure() {
    require_root!();
    if !support::private_mounts() {
        println!("skipped: cannot enter a private mount namespace");
        return;
    }
    let a = Arena::new();
    let small = a.tmp.path().join("dst");
    nix::mount::mount(
        Some("tmpfs"),
        &small,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=256k"),
    )
    .unwrap();
    let f = fs::File::create(a.src.join("big")).unwrap();
    f.set_len(4 << 20).unwrap();
    drop(f);
    let err = fsops::copy(&a.src, &["big".into()], &small, "/big", &ROOT).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert!(err.is_infrastructure());
    assert!(err.to_string().contains("/big"), "{err}");
    assert!(kiln_cache::Error::from(err).is_infrastructure());
    nix::mount::umount2(&small, nix::mount::MntFlags::MNT_DETACH).unwrap();
}
