//! COPY semantics of `fsops::copy` (semantics.md §4, §5): what lands
//! where, with which owner, mode, times and xattrs, on real files.
#![allow(clippy::print_stdout)] // tests report `skipped: <why>`

#[path = "layer_support.rs"]
mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use kiln_cache::fsops::{self, Chmod, CopyOptions, Error, FileOwner};
use support::{Mtime, chmod, set_mtime, write};

/// A source tree and a destination root side by side.
struct Trees {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
}

impl Trees {
    fn new() -> Trees {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        fs::create_dir(&src).unwrap();
        fs::create_dir(&dst).unwrap();
        Trees {
            _tmp: tmp,
            src,
            dst,
        }
    }

    fn s(&self, p: &str) -> PathBuf {
        self.src.join(p)
    }

    fn d(&self, p: &str) -> PathBuf {
        self.dst.join(p)
    }

    /// Expands every pattern as the solver does, then copies.
    fn copy(&self, sources: &[&str], dest: &str, opts: CopyOptions) -> Result<fsops::Stats, Error> {
        let mut paths = Vec::new();
        for s in sources {
            paths.extend(
                fsops::expand(&self.src, s)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{s} not found")),
            );
        }
        fsops::copy(&self.src, &paths, &self.dst, dest, &opts)
    }
}

const ROOT: CopyOptions = CopyOptions {
    owner: FileOwner::Set(0, 0),
    mode: None,
};
const KEEP: CopyOptions = CopyOptions {
    owner: FileOwner::Keep,
    mode: None,
};

fn meta(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn owner_mode(p: &Path) -> (u32, u32, u32) {
    let m = meta(p);
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// CP-1: a directory source copies its contents, not the directory.
#[test]
fn directory_source_copies_contents() {
    require_root!();
    let t = Trees::new();
    fs::create_dir_all(t.s("src/sub")).unwrap();
    write(&t.s("src/a"), b"a");
    write(&t.s("src/sub/b"), b"b");
    let stats = t.copy(&["src"], "/app", ROOT).unwrap();
    assert_eq!(read(&t.d("app/a")), "a");
    assert_eq!(read(&t.d("app/sub/b")), "b");
    assert!(!t.d("app/src").exists());
    assert_eq!(stats.files, 2);
    assert_eq!(stats.bytes, 2);
    // Into an existing directory, and with `/`: the same.
    t.copy(&["src"], "/app2/", ROOT).unwrap();
    assert_eq!(read(&t.d("app2/sub/b")), "b");
    // The whole root.
    assert_eq!(
        fsops::expand(&t.src, ".").unwrap(),
        Some(vec![".".to_string()])
    );
    t.copy(&["."], "/all", ROOT).unwrap();
    assert_eq!(read(&t.d("all/src/sub/b")), "b");
}

/// CP-2: where a file source lands.
#[test]
fn destination_directory_rules() {
    require_root!();
    let t = Trees::new();
    write(&t.s("f"), b"f");
    fs::create_dir(t.d("exists")).unwrap();
    t.copy(&["f"], "/x", ROOT).unwrap();
    assert!(
        meta(&t.d("x")).is_file(),
        "missing dest without / is the file"
    );
    t.copy(&["f"], "/newdir/", ROOT).unwrap();
    assert_eq!(read(&t.d("newdir/f")), "f");
    t.copy(&["f"], "/exists", ROOT).unwrap();
    assert_eq!(read(&t.d("exists/f")), "f");
    t.copy(&["f"], "/", ROOT).unwrap();
    assert_eq!(read(&t.d("f")), "f");
    t.copy(&["f"], "/deep/er/name", ROOT).unwrap();
    assert_eq!(read(&t.d("deep/er/name")), "f");
}

/// CP-3: several sources and a destination without `/`.
#[test]
fn several_sources_last_wins() {
    require_root!();
    let t = Trees::new();
    write(&t.s("one"), b"one");
    write(&t.s("two"), b"two");
    t.copy(&["one", "two"], "/dest", ROOT).unwrap();
    assert!(meta(&t.d("dest")).is_file());
    assert_eq!(read(&t.d("dest")), "two");
    // A directory first makes the destination a directory for the rest.
    fs::create_dir(t.s("dir")).unwrap();
    write(&t.s("dir/in"), b"in");
    t.copy(&["dir", "one"], "/d2", ROOT).unwrap();
    assert_eq!(read(&t.d("d2/in")), "in");
    assert_eq!(read(&t.d("d2/one")), "one");
}

/// CP-8: destination symlinks are followed inside the root.
#[test]
fn destination_symlinks_followed_in_root() {
    require_root!();
    let t = Trees::new();
    write(&t.s("foo"), b"foo");
    fs::create_dir_all(t.d("srv")).unwrap();
    symlink("../srv/t", t.d("symlink")).unwrap();
    t.copy(&["foo"], "/symlink/", ROOT).unwrap();
    assert_eq!(read(&t.d("srv/t/foo")), "foo");
    assert!(meta(&t.d("symlink")).file_type().is_symlink());
    // An absolute link resolves against the root.
    fs::create_dir_all(t.d("real")).unwrap();
    symlink("/real", t.d("abs")).unwrap();
    t.copy(&["foo"], "/abs", ROOT).unwrap();
    assert_eq!(read(&t.d("real/foo")), "foo");
    // A link to a file: the file it names is replaced, the link stays.
    write(&t.d("real/target"), b"old");
    symlink("/real/target", t.d("filelink")).unwrap();
    t.copy(&["foo"], "/filelink", ROOT).unwrap();
    assert_eq!(read(&t.d("real/target")), "foo");
    assert!(meta(&t.d("filelink")).file_type().is_symlink());
    // A directory symlink in a parent.
    t.copy(&["foo"], "/abs/sub/name", ROOT).unwrap();
    assert_eq!(read(&t.d("real/sub/name")), "foo");
    assert!(fsops::is_dir(&t.dst, "/abs").unwrap());
    assert!(!fsops::is_dir(&t.dst, "/filelink").unwrap());
}

/// CH-1: created parents get 0755 root:root, or the `--chown` owner and
/// the `--chmod` permission bits; existing ones are left alone.
#[test]
fn created_parents_take_owner_and_mode() {
    require_root!();
    let t = Trees::new();
    write(&t.s("f"), b"f");
    t.copy(&["f"], "/p/q/f", ROOT).unwrap();
    assert_eq!(owner_mode(&t.d("p")), (0, 0, 0o755));
    assert_eq!(owner_mode(&t.d("p/q")), (0, 0, 0o755));
    assert_eq!(owner_mode(&t.d("p/q/f")).0, 0);

    fs::create_dir(t.d("keep")).unwrap();
    lchown(t.d("keep"), Some(7), Some(8)).unwrap();
    chmod(&t.d("keep"), 0o750);
    let opts = CopyOptions {
        owner: FileOwner::Set(1000, 1001),
        mode: Some(Chmod::octal(0o4770)),
    };
    t.copy(&["f"], "/keep/sub/f", opts).unwrap();
    assert_eq!(owner_mode(&t.d("keep")), (7, 8, 0o750));
    assert_eq!(owner_mode(&t.d("keep/sub")), (1000, 1001, 0o770));
    assert_eq!(owner_mode(&t.d("keep/sub/f")), (1000, 1001, 0o4770));
    // With `/`, the destination itself is such a parent.
    t.copy(&["f"], "/made/", opts).unwrap();
    assert_eq!(owner_mode(&t.d("made")), (1000, 1001, 0o770));
    // Keep: created parents are root's, whatever the sources' owners.
    lchown(t.s("f"), Some(3), Some(4)).unwrap();
    t.copy(&["f"], "/kept/f", KEEP).unwrap();
    assert_eq!(owner_mode(&t.d("kept")), (0, 0, 0o755));
    assert_eq!(owner_mode(&t.d("kept/f")).0, 3);
}

/// CP-6: the destination directory of a directory source does not take
/// the source directory's owner or mode; its children keep theirs.
#[test]
fn created_destination_directory_metadata() {
    require_root!();
    let t = Trees::new();
    fs::create_dir_all(t.s("dir/child")).unwrap();
    write(&t.s("dir/file"), b"x");
    for p in ["dir", "dir/child", "dir/file"] {
        lchown(t.s(p), Some(100), Some(200)).unwrap();
    }
    chmod(&t.s("dir"), 0o700);
    chmod(&t.s("dir/child"), 0o711);
    set_mtime(&t.s("dir/child"), 1_500_000_000, 5);
    set_mtime(&t.s("dir"), 1_400_000_000, 123_456_789);
    t.copy(&["dir"], "/dir", KEEP).unwrap();
    assert_eq!(owner_mode(&t.d("dir")), (0, 0, 0o755));
    assert_eq!(owner_mode(&t.d("dir/child")), (100, 200, 0o711));
    assert_eq!(owner_mode(&t.d("dir/file")), (100, 200, 0o644));
    // Times come from the source directory, as fsutil's copy does.
    assert_eq!(
        (meta(&t.d("dir")).mtime(), meta(&t.d("dir")).mtime_nsec()),
        (1_400_000_000, 123_456_789)
    );
    assert_eq!(
        (
            meta(&t.d("dir/child")).mtime(),
            meta(&t.d("dir/child")).mtime_nsec()
        ),
        (1_500_000_000, 5)
    );

    // --chown: the children and the created directory take it.
    t.copy(
        &["dir"],
        "/owned",
        CopyOptions {
            owner: FileOwner::Set(5, 6),
            mode: None,
        },
    )
    .unwrap();
    assert_eq!(owner_mode(&t.d("owned")), (5, 6, 0o755));
    assert_eq!(owner_mode(&t.d("owned/child")), (5, 6, 0o711));
    assert_eq!(owner_mode(&t.d("owned/file")), (5, 6, 0o644));

    // An existing destination keeps its owner and mode.
    fs::create_dir(t.d("existing")).unwrap();
    lchown(t.d("existing"), Some(7), Some(8)).unwrap();
    chmod(&t.d("existing"), 0o750);
    t.copy(&["dir"], "/existing", KEEP).unwrap();
    assert_eq!(owner_mode(&t.d("existing")), (7, 8, 0o750));
    assert_eq!(owner_mode(&t.d("existing/child")), (100, 200, 0o711));
}

/// CP-9: mode bits, ns mtimes, xattrs (capabilities too, never overlay's)
/// and hardlinks; owners kept with Keep. The whole rich tree of the layer
/// tests comes out identical, sockets aside.
#[test]
fn metadata_is_copied() {
    require_root!();
    let t = Trees::new();
    let tree = t.s("tree");
    support::build_rich_tree(&tree);
    xattr::set(tree.join("a/file"), "trusted.overlay.opaque", b"y").unwrap();
    xattr::set(tree.join("a"), "trusted.overlay.redirect", b"/x").unwrap();
    let stats = t.copy(&["tree"], "/out", KEEP).unwrap();
    assert!(stats.bytes > 100_000);
    let out = t.d("out");
    support::assert_same_tree(&tree, &out, Mtime::Nanos, true);
    assert_eq!(
        (meta(&out).mtime(), meta(&out).mtime_nsec()),
        (meta(&tree).mtime(), meta(&tree).mtime_nsec())
    );
    for (p, mode) in [("setuid", 0o4755), ("setgid", 0o2711), ("sticky", 0o1777)] {
        assert_eq!(meta(&out.join(p)).mode() & 0o7777, mode, "{p}");
    }
    assert_eq!(
        xattr::get(out.join("setuid"), "security.capability").unwrap(),
        Some(support::capability())
    );
    assert_eq!(
        xattr::get(out.join("a/file"), "trusted.kiln").unwrap(),
        Some(b"t".to_vec())
    );
    assert_eq!(
        xattr::get(out.join("a/file"), "trusted.overlay.opaque").unwrap(),
        None
    );
    assert_eq!(
        xattr::get(out.join("a"), "trusted.overlay.redirect").unwrap(),
        None
    );
    let ino = |p: &str| meta(&out.join(p)).ino();
    assert_eq!(ino("hard1"), ino("hard2"));
    assert_eq!(ino("hard1"), ino("a/hard3"));
    assert_ne!(
        meta(&tree.join("hard1")).ino(),
        ino("hard1"),
        "a copy, not a link to the source"
    );
    assert_eq!(meta(&out.join("owned")).uid(), 1000);
    // CP-9: a socket becomes an empty regular file with its mode.
    let sock = meta(&out.join("socket"));
    assert!(sock.file_type().is_file());
    assert_eq!(sock.len(), 0);
    assert_eq!(
        sock.mode() & 0o7777,
        meta(&tree.join("socket")).mode() & 0o7777
    );
    assert!(meta(&out.join("fifo")).file_type().is_fifo());
    assert!(meta(&out.join("null")).file_type().is_char_device());
    assert_eq!(
        meta(&out.join("null")).rdev(),
        meta(&tree.join("null")).rdev()
    );
    assert!(meta(&out.join("loop")).file_type().is_block_device());
}

/// Hardlinks are kept within one source, not across sources (fsutil runs
/// one copier per source).
#[test]
fn hardlinks_within_one_source() {
    require_root!();
    let t = Trees::new();
    write(&t.s("a"), b"shared");
    fs::hard_link(t.s("a"), t.s("b")).unwrap();
    t.copy(&["a", "b"], "/sep/", ROOT).unwrap();
    assert_ne!(meta(&t.d("sep/a")).ino(), meta(&t.d("sep/b")).ino());
    // A named source and the link inside a directory source.
    fs::create_dir(t.s("d")).unwrap();
    fs::hard_link(t.s("a"), t.s("d/x")).unwrap();
    fs::hard_link(t.s("a"), t.s("d/y")).unwrap();
    let stats = t.copy(&["d"], "/d", ROOT).unwrap();
    assert_eq!(stats.files, 2);
    assert_eq!(stats.bytes, 6, "the second link is not copied again");
    assert_eq!(meta(&t.d("d/x")).ino(), meta(&t.d("d/y")).ino());
}

/// `--chmod` replaces the mode of every copied file and directory.
#[test]
fn chmod_applies_to_everything() {
    require_root!();
    let t = Trees::new();
    fs::create_dir_all(t.s("d/sub")).unwrap();
    write(&t.s("d/sub/f"), b"f");
    write(&t.s("d/g"), b"g");
    chmod(&t.s("d/g"), 0o4755);
    symlink("g", t.s("d/link")).unwrap();
    let opts = CopyOptions {
        owner: FileOwner::Set(0, 0),
        mode: Some(Chmod::octal(0o640)),
    };
    t.copy(&["d"], "/out", opts).unwrap();
    for p in ["out/sub", "out/sub/f", "out/g"] {
        assert_eq!(owner_mode(&t.d(p)).2, 0o640, "{p}");
    }
    assert!(meta(&t.d("out/link")).file_type().is_symlink());
    let opts = CopyOptions {
        owner: FileOwner::Set(0, 0),
        mode: Some(Chmod::octal(0o2750)),
    };
    t.copy(&["d/g"], "/special", opts).unwrap();
    assert_eq!(owner_mode(&t.d("special")).2, 0o2750);
}

/// SYM-1, SYM-2: named sources are followed in their root; symlinks in a
/// copied directory stay links.
#[test]
fn source_symlinks() {
    require_root!();
    let t = Trees::new();
    write(&t.s("bar"), b"bar");
    symlink("bar", t.s("foo")).unwrap();
    t.copy(&["foo"], "/", ROOT).unwrap();
    let m = meta(&t.d("foo"));
    assert!(m.file_type().is_file());
    assert_eq!(read(&t.d("foo")), "bar");
    // Into a directory, the copy is named after the link.
    t.copy(&["foo"], "/into/", ROOT).unwrap();
    assert_eq!(read(&t.d("into/foo")), "bar");
    // A link to a directory copies the directory's contents.
    fs::create_dir_all(t.s("out/sub")).unwrap();
    write(&t.s("out/sub/foo"), b"deep");
    symlink("/out/sub", t.s("sub")).unwrap();
    t.copy(&["sub/foo"], "/through", ROOT).unwrap();
    assert_eq!(read(&t.d("through")), "deep");
    t.copy(&["sub"], "/dirlink", ROOT).unwrap();
    assert_eq!(read(&t.d("dirlink/foo")), "deep");
    // Per wildcard match too.
    t.copy(&["f*"], "/wild/", ROOT).unwrap();
    assert!(meta(&t.d("wild/foo")).is_file());
    // Inside a directory: copied as links.
    fs::create_dir(t.s("dir")).unwrap();
    symlink("../bar", t.s("dir/link")).unwrap();
    symlink("/etc/passwd", t.s("dir/abs")).unwrap();
    lchown(t.s("dir/link"), Some(9), Some(9)).unwrap();
    t.copy(&["dir"], "/dir", KEEP).unwrap();
    assert_eq!(
        fs::read_link(t.d("dir/link")).unwrap(),
        PathBuf::from("../bar")
    );
    assert_eq!(
        fs::read_link(t.d("dir/abs")).unwrap(),
        PathBuf::from("/etc/passwd")
    );
    assert_eq!(meta(&t.d("dir/link")).uid(), 9);
    // A dangling named symlink is missing.
    symlink("nowhere", t.s("dangling")).unwrap();
    assert_eq!(fsops::expand(&t.src, "dangling").unwrap(), None);
    let err = fsops::copy(&t.src, &["dangling".into()], &t.dst, "/x", &ROOT).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(!kiln_cache::Error::from(err).is_infrastructure());
}

/// What replaces what (fsutil): files replace files and symlinks, never
/// directories; directories merge into directories, never onto files.
#[test]
fn replacing_existing_paths() {
    require_root!();
    let t = Trees::new();
    write(&t.s("f"), b"new");
    write(&t.d("f"), b"old");
    t.copy(&["f"], "/f", ROOT).unwrap();
    assert_eq!(read(&t.d("f")), "new");

    // A directory onto a file.
    fs::create_dir(t.s("dir")).unwrap();
    write(&t.s("dir/a"), b"a");
    write(&t.d("file"), b"file");
    let err = t.copy(&["dir"], "/file", ROOT).unwrap_err();
    assert_eq!(err.to_string(), "cannot copy to non-directory: /file");
    assert!(!kiln_cache::Error::from(err).is_infrastructure());

    // Inside trees: a file onto a directory, a directory onto a file.
    fs::create_dir_all(t.d("t1/a")).unwrap();
    let err = t.copy(&["dir"], "/t1", ROOT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot replace to directory /t1/a with file"
    );
    fs::create_dir(t.s("dir2")).unwrap();
    fs::create_dir(t.s("dir2/sub")).unwrap();
    fs::create_dir(t.d("t2")).unwrap();
    write(&t.d("t2/sub"), b"in the way");
    let err = t.copy(&["dir2"], "/t2", ROOT).unwrap_err();
    assert_eq!(err.to_string(), "cannot copy to non-directory: /t2/sub");

    // A symlink in the destination tree is replaced, not written through.
    fs::create_dir(t.d("t3")).unwrap();
    fs::create_dir(t.d("victim")).unwrap();
    write(&t.d("victim/a"), b"victim");
    symlink("/victim/a", t.d("t3/a")).unwrap();
    t.copy(&["dir"], "/t3", ROOT).unwrap();
    assert!(meta(&t.d("t3/a")).is_file());
    assert_eq!(read(&t.d("victim/a")), "victim");
    // ... and a symlinked directory in the tree is not entered.
    fs::create_dir(t.d("t4")).unwrap();
    symlink("/victim", t.d("t4/sub")).unwrap();
    let err = t.copy(&["dir2"], "/t4", ROOT).unwrap_err();
    assert_eq!(err.to_string(), "cannot copy to non-directory: /t4/sub");

    // Existing subdirectories merge and take the source's metadata.
    fs::create_dir_all(t.d("t5/sub")).unwrap();
    write(&t.d("t5/sub/keep"), b"keep");
    lchown(t.d("t5/sub"), Some(1), Some(1)).unwrap();
    write(&t.s("dir2/sub/new"), b"new");
    t.copy(&["dir2"], "/t5", ROOT).unwrap();
    assert_eq!(read(&t.d("t5/sub/keep")), "keep");
    assert_eq!(read(&t.d("t5/sub/new")), "new");
    assert_eq!(meta(&t.d("t5/sub")).uid(), 0);

    // A missing source.
    let err = fsops::copy(&t.src, &["nope".into()], &t.dst, "/n", &ROOT).unwrap_err();
    assert_eq!(err.to_string(), "/nope: not found");
}

/// File data goes through the kernel in constant memory; a large file
/// copies exactly.
#[test]
fn large_file() {
    require_root!();
    let t = Trees::new();
    let f = fs::File::create(t.s("big")).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = fs::OpenOptions::new().write(true).open(t.s("big")).unwrap();
        f.seek(SeekFrom::Start(40 << 20)).unwrap();
        f.write_all(b"marker").unwrap();
    }
    let stats = t.copy(&["big"], "/big", ROOT).unwrap();
    assert_eq!(stats.bytes, 64 << 20);
    assert_eq!(meta(&t.d("big")).len(), 64 << 20);
    let data = fs::read(t.d("big")).unwrap();
    assert_eq!(&data[40 << 20..(40 << 20) + 6], b"marker");
    assert_eq!(meta(&t.d("big")).permissions().mode() & 0o777, 0o644);
}

/// COPY from a read-only overlay (another stage) into an overlay with an
/// upperdir, as the solver mounts them.
#[test]
fn overlay_to_overlay() {
    require_root!();
    if !support::private_mounts() {
        println!("skipped: cannot enter a private mount namespace");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p);
    support::build_rich_tree(&t("lower/tree"));
    fs::create_dir_all(t("dlower/etc")).unwrap();
    write(&t("dlower/etc/keep"), b"keep");
    let src = match support::Overlay::mount(&[&t("lower")], None, &t("srcview")) {
        Ok(m) => m,
        Err(e) => {
            println!("skipped: cannot mount overlayfs here: {e}");
            return;
        }
    };
    let dst = support::Overlay::mount(
        &[&t("dlower")],
        Some((&t("upper"), &t("work"))),
        &t("merged"),
    )
    .unwrap();
    let paths = fsops::expand(&t("srcview"), "/tree").unwrap().unwrap();
    fsops::copy(&t("srcview"), &paths, &t("merged"), "/copy", &KEEP).unwrap();
    support::assert_same_tree(&t("lower/tree"), &t("merged/copy"), Mtime::Nanos, true);
    drop(dst);
    drop(src);
    support::assert_same_tree(&t("lower/tree"), &t("upper/copy"), Mtime::Nanos, true);
    assert!(!t("upper/etc").exists());
}

/// LAY-3: a 0:0 character device is an overlayfs whiteout seen without
/// its overlay, a marker rather than a file: it is not copied.
#[test]
fn whiteout_devices_are_not_copied() {
    require_root!();
    let t = Trees::new();
    fs::create_dir(t.s("d")).unwrap();
    write(&t.s("d/kept"), b"kept");
    nix::sys::stat::mknod(
        &t.s("d/gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    let stats = t.copy(&["d"], "/d", ROOT).unwrap();
    assert_eq!(stats.files, 1);
    assert!(t.d("d/kept").is_file());
    assert!(fs::symlink_metadata(t.d("d/gone")).is_err());
}
