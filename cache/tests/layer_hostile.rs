//! Hostile layer tars (security.md H-TAR-*): nothing outside the root is
//! ever created, modified or followed; each entry lands inside the root or
//! the apply fails with an error.
#![allow(clippy::print_stdout)] // tests report `skipped: <why>`

#[path = "layer_support.rs"]
mod support;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use kiln_cache::layer::{self, ApplyMode, Error, Stats};
use support::{Mtime, raw_entry};
use tar::EntryType;

const MODES: [ApplyMode; 2] = [ApplyMode::Merged, ApplyMode::Overlay];

/// A root to apply into, next to a canary directory that must never change.
struct Arena {
    tmp: tempfile::TempDir,
    root: PathBuf,
    canary: PathBuf,
    before: std::collections::BTreeMap<Vec<u8>, support::Info>,
}

impl Arena {
    fn new() -> Arena {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let canary = tmp.path().join("canary");
        fs::create_dir(&root).unwrap();
        fs::create_dir_all(canary.join("sub")).unwrap();
        support::write(&canary.join("secret"), b"secret\n");
        support::write(&canary.join("sub/file"), b"file\n");
        support::chmod(&canary.join("secret"), 0o640);
        let before = outside(tmp.path());
        Arena {
            tmp,
            root,
            canary,
            before,
        }
    }

    /// The canary and everything else beside the root are unchanged.
    fn check(&self) {
        let after = outside(self.tmp.path());
        let problems = support::diff_snapshots(&self.before, &after, Mtime::Nanos, false);
        assert!(
            problems.is_empty(),
            "outside the root changed:\n{}",
            problems.join("\n")
        );
        let names: Vec<_> = fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "new entries beside the root: {names:?}");
    }

    fn canary_str(&self) -> String {
        self.canary.display().to_string()
    }

    /// The canary's absolute path, as it would land inside the root.
    fn canary_in_root(&self) -> PathBuf {
        self.root
            .join(self.canary.strip_prefix("/").unwrap_or(&self.canary))
    }

    fn apply(&self, tar: &[u8], mode: ApplyMode) -> Result<Stats, Error> {
        let r = layer::apply(tar, &self.root, mode);
        self.check();
        r
    }
}

/// Everything in the arena except the root and what is below it.
fn outside(dir: &Path) -> std::collections::BTreeMap<Vec<u8>, support::Info> {
    support::snapshot(dir)
        .into_iter()
        .filter(|(k, _)| k.as_slice() != b"root" && !k.starts_with(b"root/"))
        .collect()
}

/// A GNU header with every numeric field filled.
fn header(kind: EntryType, name: &[u8]) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(0);
    h.set_device_major(0).unwrap();
    h.set_device_minor(0).unwrap();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h
}

fn build(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    f(&mut b);
    b.into_inner().unwrap()
}

fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    raw_entry(b, EntryType::Regular, name.as_bytes(), b"", 0o644, data);
}

fn dir(b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32) {
    raw_entry(b, EntryType::Directory, name.as_bytes(), b"", mode, b"");
}

fn symlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    raw_entry(
        b,
        EntryType::Symlink,
        name.as_bytes(),
        target.as_bytes(),
        0o777,
        b"",
    );
}

fn hardlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    raw_entry(
        b,
        EntryType::Link,
        name.as_bytes(),
        target.as_bytes(),
        0o644,
        b"",
    );
}

fn pax(b: &mut tar::Builder<Vec<u8>>, records: &[(&str, &[u8])]) {
    b.append_pax_extensions(records.iter().copied()).unwrap();
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}

#[test]
fn dotdot_and_absolute_names_land_inside_the_root() {
    require_root!();
    for mode in MODES {
        let a = Arena::new();
        let canary_abs = format!("{}/secret", a.canary_str());
        let tar = build(|b| {
            file(b, "../../canary/secret", b"pwned");
            file(b, "/abs/path", b"abs");
            file(b, &canary_abs, b"pwned");
            file(b, "a/../../../b", b"b");
            file(b, "./c/./d/../e", b"e");
        });
        a.apply(&tar, mode).unwrap();
        assert_eq!(read(&a.root.join("canary/secret")), b"pwned");
        assert_eq!(read(&a.root.join("abs/path")), b"abs");
        assert_eq!(read(&a.canary_in_root().join("secret")), b"pwned");
        assert_eq!(read(&a.root.join("b")), b"b");
        assert_eq!(read(&a.root.join("c/e")), b"e");
    }
}

#[test]
fn symlinked_parents_resolve_inside_the_root() {
    require_root!();
    for mode in MODES {
        let a = Arena::new();
        let climb = "../".repeat(12) + a.canary_str().trim_start_matches('/');
        let tar = build(|b| {
            symlink(b, "evil", "/");
            file(b, "evil/etc/x", b"x");
            symlink(b, "evil2", &a.canary_str());
            file(b, "evil2/pwned", b"p");
            symlink(b, "rel", &climb);
            file(b, "rel/pwned2", b"p2");
            dir(b, "deep/", 0o755);
            symlink(b, "deep/up", "../../../../..");
            file(b, "deep/up/top", b"t");
        });
        a.apply(&tar, mode).unwrap();
        assert_eq!(read(&a.root.join("etc/x")), b"x");
        assert_eq!(read(&a.canary_in_root().join("pwned")), b"p");
        assert_eq!(read(&a.canary_in_root().join("pwned2")), b"p2");
        assert_eq!(read(&a.root.join("top")), b"t");
        assert!(
            fs::symlink_metadata(a.root.join("evil"))
                .unwrap()
                .is_symlink()
        );
    }
}

#[test]
fn a_file_or_directory_over_a_symlink_replaces_the_link() {
    require_root!();
    for mode in MODES {
        let a = Arena::new();
        let secret = format!("{}/secret", a.canary_str());
        let tar = build(|b| {
            symlink(b, "s", &secret);
            file(b, "s", b"mine");
            symlink(b, "d", &a.canary_str());
            dir(b, "d", 0o777);
            symlink(b, "t", &secret);
            // A second symlink entry, then a device: nothing follows `t`.
            raw_entry(b, EntryType::Fifo, b"t", b"", 0o666, b"");
        });
        a.apply(&tar, mode).unwrap();
        assert_eq!(read(&a.root.join("s")), b"mine");
        let d = fs::symlink_metadata(a.root.join("d")).unwrap();
        assert!(d.is_dir());
        assert_eq!(d.mode() & 0o7777, 0o777);
        assert!(
            fs::symlink_metadata(a.root.join("t"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }
}

#[test]
fn hardlink_targets_must_be_inside_the_root() {
    require_root!();
    for mode in MODES {
        let secret = |a: &Arena| format!("{}/secret", a.canary_str());
        let a = Arena::new();
        let r = a.apply(&build(|b| hardlink(b, "h", "/etc/shadow")), mode);
        assert!(matches!(r, Err(Error::Entry { .. })), "{r:?}");

        let a = Arena::new();
        let r = a.apply(&build(|b| hardlink(b, "h", "../x")), mode);
        assert!(r.is_err(), "{r:?}");

        let a = Arena::new();
        let r = a.apply(&build(|b| hardlink(b, "h", &secret(&a))), mode);
        assert!(r.is_err(), "{r:?}");
        assert_eq!(fs::metadata(a.canary.join("secret")).unwrap().nlink(), 1);

        let a = Arena::new();
        let tar = build(|b| {
            symlink(b, "cd", &a.canary_str());
            hardlink(b, "h3", "cd/secret");
        });
        assert!(a.apply(&tar, mode).is_err());

        // `..` is cleaned: this names the root's own x.
        let a = Arena::new();
        let tar = build(|b| {
            file(b, "x", b"inside");
            hardlink(b, "h", "../../x");
        });
        a.apply(&tar, mode).unwrap();
        let ino = |p: &str| fs::metadata(a.root.join(p)).unwrap().ino();
        assert_eq!(ino("h"), ino("x"));

        // A hardlink to an outside-pointing symlink links the symlink;
        // writing a file there replaces the link, not the target.
        let a = Arena::new();
        let tar = build(|b| {
            symlink(b, "sl", &secret(&a));
            hardlink(b, "hl", "sl");
            file(b, "hl", b"pwned");
        });
        a.apply(&tar, mode).unwrap();
        assert_eq!(read(&a.root.join("hl")), b"pwned");
        assert!(
            fs::symlink_metadata(a.root.join("sl"))
                .unwrap()
                .is_symlink()
        );
    }
}

#[test]
fn var_run_absolute_symlink_is_followed_inside_the_root() {
    require_root!();
    let unique = format!("kiln-layer-test-{}", std::process::id());
    for mode in MODES {
        let a = Arena::new();
        let tar = build(|b| {
            dir(b, "run/", 0o755);
            dir(b, "var/", 0o755);
            symlink(b, "var/run", "/run");
            file(b, &format!("var/run/{unique}"), b"x");
            hardlink(
                b,
                &format!("var/run/{unique}.link"),
                &format!("var/run/{unique}"),
            );
        });
        a.apply(&tar, mode).unwrap();
        let x = a.root.join("run").join(&unique);
        assert_eq!(read(&x), b"x");
        let link = a.root.join("run").join(format!("{unique}.link"));
        assert_eq!(
            fs::metadata(&x).unwrap().ino(),
            fs::metadata(&link).unwrap().ino()
        );
        assert!(!Path::new("/run").join(&unique).exists());
    }
}

#[test]
fn oversized_extension_records_are_refused() {
    require_root!();
    let big = vec![b'a'; 2 << 20];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "pax",
            build(|b| {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(EntryType::XHeader);
                h.set_size(big.len() as u64);
                h.set_cksum();
                b.append(&h, big.as_slice()).unwrap();
                file(b, "f", b"");
            }),
        ),
        (
            "long name",
            build(|b| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(EntryType::GNULongName);
                h.set_size(big.len() as u64);
                h.set_cksum();
                b.append(&h, big.as_slice()).unwrap();
                file(b, "f", b"");
            }),
        ),
        (
            "global pax",
            build(|b| {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(EntryType::XGlobalHeader);
                h.set_size(big.len() as u64);
                h.set_cksum();
                b.append(&h, big.as_slice()).unwrap();
            }),
        ),
    ];
    for (what, tar) in cases {
        for mode in MODES {
            let a = Arena::new();
            let r = a.apply(&tar, mode);
            assert!(
                matches!(r, Err(Error::ExtensionTooLarge { .. })),
                "{what}: {r:?}"
            );
        }
    }
    // Just under the limit is fine: a long, valid name.
    let a = Arena::new();
    let name = "n/".repeat(300) + "leaf";
    a.apply(&build(|b| file(b, &name, b"deep")), ApplyMode::Merged)
        .unwrap();
    assert_eq!(read(&a.root.join(&name)), b"deep");
}

#[test]
fn bad_whiteouts_are_refused_and_symlinked_ones_stay_inside() {
    require_root!();
    for mode in MODES {
        for name in [".wh..", ".wh...", ".wh.", "d/.wh.."] {
            let a = Arena::new();
            let r = a.apply(&build(|b| file(b, name, b"")), mode);
            assert!(r.is_err(), "{name}: {r:?}");
        }
        let a = Arena::new();
        let tar = build(|b| {
            symlink(b, "w", &a.canary_str());
            file(b, "w/.wh.secret", b"");
            file(b, "w/sub/.wh..wh..opq", b"");
            file(b, "w/.wh.sub", b"");
        });
        a.apply(&tar, mode).unwrap();
        if mode == ApplyMode::Overlay {
            let wh = a.canary_in_root().join("secret");
            let meta = fs::symlink_metadata(&wh).unwrap();
            assert!(meta.file_type().is_char_device() && meta.rdev() == 0);
        }
    }
}

#[test]
fn overlay_xattrs_in_a_tar_are_never_set() {
    require_root!();
    for mode in MODES {
        let a = Arena::new();
        let tar = build(|b| {
            pax(
                b,
                &[
                    ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                    ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
                    ("SCHILY.xattr.user.overlay.opaque", b"y"),
                    ("SCHILY.xattr.user.ok", b"1"),
                ],
            );
            dir(b, "d/", 0o755);
        });
        a.apply(&tar, mode).unwrap();
        let names: Vec<_> = xattr::list(a.root.join("d"))
            .unwrap()
            .map(|n| n.as_bytes().to_vec())
            .collect();
        assert_eq!(names, vec![b"user.ok".to_vec()]);
    }
}

#[test]
fn odd_ids_times_and_sizes() {
    require_root!();
    let a = Arena::new();
    let r = a.apply(
        &build(|b| {
            let mut h = header(EntryType::Regular, b"u");
            h.set_uid(u64::from(u32::MAX));
            h.set_cksum();
            b.append(&h, &b""[..]).unwrap();
        }),
        ApplyMode::Merged,
    );
    assert!(r.is_err(), "uid 2^32-1 is not an owner: {r:?}");

    let a = Arena::new();
    let r = a.apply(
        &build(|b| {
            pax(b, &[("uid", b"4294967296")]);
            file(b, "u", b"");
        }),
        ApplyMode::Merged,
    );
    assert!(r.is_err(), "{r:?}");

    // Huge and negative times and a PAX size that overrides the header.
    let a = Arena::new();
    let tar = build(|b| {
        let mut h = header(EntryType::Regular, b"huge");
        h.set_mtime(0o77777777777);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        pax(b, &[("mtime", b"-5.5")]);
        file(b, "neg", b"");
        pax(b, &[("size", b"5"), ("mtime", b"1700000000.25")]);
        file(b, "sized", b"");
    });
    // The header said 0 bytes; splice 5 payload bytes in after it.
    let mut tar = tar;
    let end = tar.len() - 1024;
    let mut block = vec![0u8; 512];
    block[..5].copy_from_slice(b"12345");
    tar.splice(end..end, block);
    let after = build(|b| file(b, "after", b"after"));
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(&after);
    a.apply(&tar, ApplyMode::Merged).unwrap();
    assert_eq!(read(&a.root.join("sized")), b"12345");
    assert_eq!(read(&a.root.join("after")), b"after");
    let m = fs::metadata(a.root.join("sized")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 250_000_000));
    assert_eq!(fs::metadata(a.root.join("neg")).unwrap().mtime(), 0);
    assert_eq!(
        fs::metadata(a.root.join("huge")).unwrap().mtime(),
        0o77777777777
    );
}

#[test]
fn malformed_and_unsupported_archives_fail_cleanly() {
    require_root!();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", vec![0x41; 4096]),
        ("truncated", {
            let t = build(|b| file(b, "f", &[1u8; 2000]));
            t[..1000].to_vec()
        }),
        (
            "sparse",
            build(|b| raw_entry(b, EntryType::GNUSparse, b"s", b"", 0o644, b"")),
        ),
        (
            "pax sparse",
            build(|b| {
                pax(b, &[("GNU.sparse.major", b"1")]);
                file(b, "s", b"");
            }),
        ),
        (
            "nul in pax path",
            build(|b| {
                pax(b, &[("path", b"a\0b")]);
                file(b, "x", b"");
            }),
        ),
        ("file naming the root", build(|b| file(b, "./", b""))),
        (
            "symlink loop",
            build(|b| {
                symlink(b, "l1", "l2");
                symlink(b, "l2", "l1");
                file(b, "l1/x", b"");
            }),
        ),
        (
            "file as parent",
            build(|b| {
                file(b, "f", b"");
                file(b, "f/g", b"");
            }),
        ),
        ("dangling extension", {
            let mut t = build(|b| pax(b, &[("path", b"x")]));
            t.extend_from_slice(&[0u8; 1024]);
            t
        }),
    ];
    for (what, tar) in cases {
        for mode in MODES {
            let a = Arena::new();
            let r = a.apply(&tar, mode);
            assert!(r.is_err(), "{what} in {mode:?}: {r:?}");
            let msg = r.unwrap_err().to_string();
            assert!(!msg.is_empty() && !msg.ends_with('.'), "{msg}");
        }
    }
}

#[test]
fn merged_replacements_devices_and_opaque_directories() {
    require_root!();
    let a = Arena::new();
    let r = &a.root;
    fs::create_dir_all(r.join("x/sub")).unwrap();
    support::write(&r.join("x/sub/f"), b"f");
    support::write(&r.join("f"), b"file");
    fs::create_dir_all(r.join("o/old2/deep")).unwrap();
    support::write(&r.join("o/old1"), b"old");
    fs::create_dir_all(r.join("keepdir")).unwrap();
    support::write(&r.join("keepdir/child"), b"c");
    support::chmod(&r.join("keepdir"), 0o700);

    let cap = support::capability();
    let tar = build(|b| {
        file(b, "x", b"now a file");
        dir(b, "f/", 0o750);
        file(b, "f/in", b"in");
        dir(b, "o/", 0o755);
        file(b, "o/-new", b"before the marker");
        file(b, "o/.wh..wh..opq", b"");
        file(b, "o/new2", b"after the marker");
        dir(b, "keepdir/", 0o711);
        let mut h = header(EntryType::Char, b"null");
        h.set_mode(0o666);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        pax(b, &[("SCHILY.xattr.security.capability", cap.as_slice())]);
        raw_entry(b, EntryType::Regular, b"suid", b"", 0o4755, b"#!");
        raw_entry(b, EntryType::Regular, b"sticky", b"", 0o1777, b"");
    });
    a.apply(&tar, ApplyMode::Merged).unwrap();
    assert_eq!(read(&r.join("x")), b"now a file");
    assert_eq!(read(&r.join("f/in")), b"in");
    assert_eq!(fs::metadata(r.join("f")).unwrap().mode() & 0o7777, 0o750);
    let mut o: Vec<_> = fs::read_dir(r.join("o"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    o.sort();
    assert_eq!(o, ["-new", "new2"]);
    let keep = fs::metadata(r.join("keepdir")).unwrap();
    assert_eq!(keep.mode() & 0o7777, 0o711);
    assert_eq!(read(&r.join("keepdir/child")), b"c");
    let null = fs::symlink_metadata(r.join("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.mode() & 0o7777, 0o666);
    assert_eq!(
        fs::metadata(r.join("suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        fs::metadata(r.join("sticky")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        xattr::get(r.join("suid"), "security.capability").unwrap(),
        Some(cap)
    );
}

#[test]
fn overlay_mode_whiteouts_and_opaque_markers() {
    require_root!();
    let a = Arena::new();
    let tar = build(|b| {
        dir(b, "d/", 0o755);
        file(b, "d/.wh..wh..opq", b"");
        file(b, "d/kept", b"k");
        file(b, ".wh.gone", b"");
        file(b, "sub/dir/.wh.f", b"");
        file(b, "replaced", b"old");
        file(b, ".wh.replaced", b"");
    });
    let stats = a.apply(&tar, ApplyMode::Overlay).unwrap();
    assert_eq!(stats.entries, 7);
    let r = &a.root;
    assert_eq!(
        xattr::get(r.join("d"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    for wh in ["gone", "sub/dir/f", "replaced"] {
        let m = fs::symlink_metadata(r.join(wh)).unwrap();
        assert!(m.file_type().is_char_device() && m.rdev() == 0, "{wh}");
    }
    let implied = fs::metadata(r.join("sub")).unwrap();
    assert_eq!(
        (implied.mode() & 0o7777, implied.uid(), implied.gid()),
        (0o755, 0, 0)
    );
}
