//! `fsops` path operations: source pattern expansion (CP-4, CP-5),
//! in-root resolution, WORKDIR directories, bounded reads and heredoc
//! writes.
#![allow(clippy::print_stdout)] // tests report `skipped: <why>`

#[path = "layer_support.rs"]
mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, lchown, symlink};
use std::path::Path;

use kiln_cache::fsops::{self, Error};
use support::{chmod, write};

fn tree() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    for d in ["dir/sub", "dir2", "other/x1", "other/x2", "real/inner"] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    for f in [
        "a.txt",
        "b.txt",
        "c.md",
        ".hidden.txt",
        "dir/one.txt",
        "dir/sub/two.txt",
        "dir2/three.txt",
        "other/x1/y",
        "other/x2/y",
        "real/inner/z",
        "star*",
        "q?",
    ] {
        write(&r.join(f), f.as_bytes());
    }
    symlink("real", r.join("xlink")).unwrap();
    tmp
}

fn expand(root: &Path, p: &str) -> Option<Vec<String>> {
    fsops::expand(root, p).unwrap()
}

fn list(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

/// CP-4: Go `filepath.Match` per segment, sorted, empty for no match,
/// `None` for a missing literal or a missing directory before a wildcard.
#[test]
fn expand_wildcards() {
    let tmp = tree();
    let r = tmp.path();
    assert_eq!(expand(r, "*.txt"), list(&[".hidden.txt", "a.txt", "b.txt"]));
    assert_eq!(expand(r, "/[ab].txt"), list(&["a.txt", "b.txt"]));
    assert_eq!(expand(r, "[^ab].*"), list(&["c.md"]));
    assert_eq!(expand(r, "?.md"), list(&["c.md"]));
    assert_eq!(expand(r, "dir*"), list(&["dir", "dir2"]));
    assert_eq!(
        expand(r, "dir*/*.txt"),
        list(&["dir/one.txt", "dir2/three.txt"])
    );
    assert_eq!(expand(r, "*/x*/y"), list(&["other/x1/y", "other/x2/y"]));
    assert_eq!(expand(r, "other/*/y"), list(&["other/x1/y", "other/x2/y"]));
    assert_eq!(
        expand(r, "star\\*"),
        None,
        "no wildcard: a literal name with a backslash"
    );
    assert_eq!(expand(r, "sta[r]\\*"), list(&["star*"]));
    assert_eq!(expand(r, "q\\?"), None);
    assert_eq!(expand(r, "[q]\\?"), list(&["q?"]));
    // `*` never crosses `/`.
    assert_eq!(expand(r, "*two.txt"), list(&[]));
    // No match is not an error; a missing directory before one is.
    assert_eq!(expand(r, "nomatch*"), list(&[]));
    assert_eq!(expand(r, "missing/*"), None);
    assert_eq!(expand(r, "a.txt/*"), None);
    // A trailing `/` is ignored (CP-5).
    assert_eq!(expand(r, "dir/"), list(&["dir"]));
    assert_eq!(expand(r, "./dir/./sub/../one.txt"), list(&["dir/one.txt"]));
    assert_eq!(expand(r, "missing"), None);
    // Before the wildcard, symlinks are followed and the real path is
    // returned; after it, symlinked directories are not entered.
    assert_eq!(expand(r, "xlink/*"), list(&["real/inner"]));
    assert_eq!(expand(r, "x*/inner"), list(&[]));
    assert_eq!(expand(r, "*link"), list(&["xlink"]));
    // A literal keeps the name it was given.
    assert_eq!(expand(r, "xlink/inner/z"), list(&["xlink/inner/z"]));
    // Malformed patterns.
    for bad in ["[", "a[]", "x[a-]", "[^"] {
        let err = fsops::expand(r, bad).unwrap_err();
        assert!(matches!(err, Error::Pattern { .. }), "{bad}: {err}");
        assert!(!err.is_infrastructure());
    }
}

#[test]
fn real_paths() {
    let tmp = tree();
    let r = tmp.path();
    let rp = |p: &str, f: bool| fsops::real_path(r, p, f).unwrap();
    assert_eq!(rp("xlink", true), Some("real".into()));
    assert_eq!(rp("xlink", false), Some("xlink".into()));
    assert_eq!(rp("/xlink/inner/z", false), Some("real/inner/z".into()));
    assert_eq!(rp("../../xlink/../dir", true), Some("dir".into()));
    assert_eq!(rp("", true), Some(".".into()));
    assert_eq!(rp("nope", true), None);
    assert_eq!(rp("a.txt/x", true), None);
    symlink("/real/inner/../inner/z", r.join("abs")).unwrap();
    assert_eq!(rp("abs", true), Some("real/inner/z".into()));
    symlink("nowhere", r.join("dangling")).unwrap();
    assert_eq!(rp("dangling", true), None);
    assert_eq!(rp("dangling", false), Some("dangling".into()));
}

/// WORKDIR: missing directories are made 0755 with the owner; existing
/// ones keep theirs (WD-1); a non-directory is an error.
#[test]
fn mkdir_all_rules() {
    require_root!();
    let tmp = tree();
    let r = tmp.path();
    fsops::mkdir_all(r, "/w/x/y", (1000, 1001), None).unwrap();
    for p in ["w", "w/x", "w/x/y"] {
        let m = fs::metadata(r.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o755));
    }
    lchown(r.join("dir"), Some(5), Some(6)).unwrap();
    chmod(&r.join("dir"), 0o700);
    fsops::mkdir_all(r, "/dir/new", (1, 1), None).unwrap();
    let m = fs::metadata(r.join("dir")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (5, 6, 0o700));
    assert_eq!(fs::metadata(r.join("dir/new")).unwrap().uid(), 1);
    fsops::mkdir_all(r, "/", (1, 1), None).unwrap();
    // Through a symlink, in root.
    fsops::mkdir_all(r, "/xlink/made", (0, 0), None).unwrap();
    assert!(r.join("real/made").is_dir());
    let err = fsops::mkdir_all(r, "/a.txt", (0, 0), None).unwrap_err();
    assert_eq!(err.to_string(), "mkdir /a.txt: not a directory");
    assert!(!kiln_cache::Error::from(err).is_infrastructure());
    let err = fsops::mkdir_all(r, "/a.txt/below", (0, 0), None).unwrap_err();
    assert_eq!(err.to_string(), "mkdir /a.txt: not a directory");
    // SOURCE_DATE_EPOCH: what it makes gets the time, parents made on the
    // way too (after their children); what existed keeps its own.
    fsops::mkdir_all(r, "/dir/e1/e2", (0, 0), Some(1_000_000_000)).unwrap();
    for p in ["dir/e1", "dir/e1/e2"] {
        assert_eq!(
            fs::metadata(r.join(p)).unwrap().mtime(),
            1_000_000_000,
            "{p}"
        );
    }
    assert_ne!(fs::metadata(r.join("dir")).unwrap().mtime(), 1_000_000_000);
}

/// Bounded reads of /etc/passwd-like files (H-USER).
#[test]
fn read_file_rules() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    fs::create_dir_all(r.join("etc")).unwrap();
    write(&r.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n");
    assert_eq!(
        fsops::read_file(r, "/etc/passwd", 1024).unwrap(),
        Some(b"root:x:0:0::/root:/bin/sh\n".to_vec())
    );
    assert_eq!(fsops::read_file(r, "/etc/group", 1024).unwrap(), None);
    assert_eq!(fsops::read_file(r, "/etc", 1024).unwrap(), None);
    let err = fsops::read_file(r, "/etc/passwd", 10).unwrap_err();
    assert_eq!(err.to_string(), "/etc/passwd is larger than 10 bytes");
    // A 2 GB sparse file fails at once.
    let f = fs::File::create(r.join("etc/big")).unwrap();
    f.set_len(2 << 30).unwrap();
    let start = std::time::Instant::now();
    assert!(matches!(
        fsops::read_file(r, "/etc/big", 1 << 20),
        Err(Error::TooLarge { .. })
    ));
    assert!(start.elapsed().as_secs() < 2);
    // A fifo is not read (and does not block).
    nix::unistd::mkfifo(
        &r.join("etc/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    assert_eq!(fsops::read_file(r, "/etc/fifo", 1024).unwrap(), None);
    // A link to /dev/zero resolves inside the root, where there is none.
    symlink("/dev/zero", r.join("etc/zero")).unwrap();
    assert_eq!(fsops::read_file(r, "/etc/zero", 1024).unwrap(), None);
    // A link to an in-root file is followed.
    symlink("../etc/passwd", r.join("etc/alias")).unwrap();
    assert!(fsops::read_file(r, "/etc/alias", 1024).unwrap().is_some());
}

/// Heredoc files: parents 0755 root, the given mode and owner, an
/// existing file replaced, a directory refused.
#[test]
fn write_file_rules() {
    require_root!();
    let tmp = tree();
    let r = tmp.path();
    fsops::write_file(r, "/new/dir/f", b"hello", 0o4755, (7, 8)).unwrap();
    let m = fs::metadata(r.join("new/dir")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o755));
    let m = fs::metadata(r.join("new/dir/f")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (7, 8, 0o4755));
    assert_eq!(fs::read(r.join("new/dir/f")).unwrap(), b"hello");
    fsops::write_file(r, "/new/dir/f", b"again", 0o644, (0, 0)).unwrap();
    assert_eq!(fs::read(r.join("new/dir/f")).unwrap(), b"again");
    let err = fsops::write_file(r, "/dir", b"x", 0o644, (0, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot replace to directory /dir with file"
    );
    fsops::write_file(r, "/xlink/via", b"via", 0o644, (0, 0)).unwrap();
    assert_eq!(fs::read(r.join("real/via")).unwrap(), b"via");
}
