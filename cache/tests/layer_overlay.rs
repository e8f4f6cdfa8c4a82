//! `diff_overlay` on a real overlayfs upperdir, `apply` in overlay mode
//! checked through a real overlay mount, and `diff_dirs` on the same
//! changes made to a plain copy.
#![allow(clippy::print_stdout)] // tests report `skipped: <why>`

#[path = "layer_support.rs"]
mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::Path;

use kiln_cache::layer::{self, ApplyMode};
use support::{Mtime, Overlay, Rng, assert_same_tree, list_tar};

fn build_lower(lower: &Path) {
    for d in ["keep", "del_dir/b", "opq/inner", "dir/sub", "tochange"] {
        fs::create_dir_all(lower.join(d)).unwrap();
    }
    for f in [
        "keep/file1",
        "keep/gone",
        "del_file",
        "del_dir/a",
        "del_dir/b/c",
        "opq/x",
        "opq/inner/y",
        "chm",
        "dir/sub/f",
        "tochange/file",
    ] {
        support::write(&lower.join(f), format!("lower {f}\n").as_bytes());
    }
    xattr::set(lower.join("keep/file1"), "user.lower", b"1").unwrap();
    symlink("keep/file1", lower.join("link")).unwrap();
    support::random_times(&mut Rng::new(7), lower);
}

/// The same edits, on an overlay's merged view or on a plain copy.
fn edit(root: &Path) {
    fs::remove_file(root.join("del_file")).unwrap();
    fs::remove_file(root.join("keep/gone")).unwrap();
    fs::remove_dir_all(root.join("del_dir")).unwrap();
    fs::remove_dir_all(root.join("opq")).unwrap();
    fs::create_dir(root.join("opq")).unwrap();
    support::write(&root.join("opq/z"), b"new in opaque dir\n");
    support::write(&root.join("newfile"), b"linked twice\n");
    fs::hard_link(root.join("newfile"), root.join("newlink")).unwrap();
    support::chmod(&root.join("chm"), 0o600);
    support::write(&root.join("dir/sub/f"), b"changed\n");
    support::write(&root.join("dir/sub/-added"), b"added\n");
    fs::remove_dir_all(root.join("tochange")).unwrap();
    support::write(&root.join("tochange"), b"dir became a file\n");
    xattr::set(root.join("keep/file1"), "user.upper", b"2").unwrap();
    fs::remove_file(root.join("link")).unwrap();
    symlink("/elsewhere", root.join("link")).unwrap();
}

#[test]
fn overlay_upperdir_diff_applies_to_the_same_merged_view() {
    require_root!();
    if !support::private_mounts() {
        println!("skipped: cannot enter a private mount namespace");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p);
    build_lower(&t("lower"));

    // A RUN step: edits through an overlay with an upperdir.
    let mounted = match Overlay::mount(
        &[&t("lower")],
        Some((&t("upper"), &t("work"))),
        &t("merged"),
    ) {
        Ok(m) => m,
        Err(e) => {
            println!("skipped: cannot mount overlayfs here: {e}");
            return;
        }
    };
    edit(&t("merged"));
    let expected = support::snapshot(&t("merged"));
    drop(mounted);
    assert!(
        fs::symlink_metadata(t("upper/del_file"))
            .unwrap()
            .file_type()
            .is_char_device(),
        "the kernel recorded a whiteout"
    );

    let mut tar = Vec::new();
    let stats = layer::diff_overlay(&t("upper"), &mut tar).unwrap();
    let entries = list_tar(&tar);
    let names: Vec<String> = entries
        .iter()
        .map(|(n, _, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    for must in [
        ".wh.del_dir",
        ".wh.del_file",
        "opq/",
        "opq/.wh..wh..opq",
        "opq/z",
        "keep/",
        "keep/.wh.gone",
        "dir/",
        "dir/sub/",
        "dir/sub/-added",
        "newfile",
        "newlink",
        "chm",
        "tochange",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("del_dir/")),
        "{names:?}"
    );
    assert!(
        entries
            .iter()
            .any(|(n, t, l)| n == b"newlink" && *t == tar::EntryType::Link && l == b"newfile"),
        "hardlink pair kept"
    );
    assert_eq!(stats.entries as usize, entries.len());
    let mut again = Vec::new();
    layer::diff_overlay(&t("upper"), &mut again).unwrap();
    assert!(tar == again, "two diffs of one upperdir differ");

    // Unpack as an overlay layer and stack it on the lower.
    fs::create_dir(t("layer")).unwrap();
    layer::apply(tar.as_slice(), &t("layer"), ApplyMode::Overlay).unwrap();
    let opaque = xattr::get(t("layer/opq"), "trusted.overlay.opaque").unwrap();
    assert_eq!(opaque.as_deref(), Some(b"y".as_slice()));
    {
        let _view = Overlay::mount(&[&t("layer"), &t("lower")], None, &t("view")).unwrap();
        let got = support::snapshot(&t("view"));
        let problems = support::diff_snapshots(&expected, &got, Mtime::Seconds, false);
        assert!(
            problems.is_empty(),
            "merged views differ:\n{}",
            problems.join("\n")
        );
        let ino = |p: &str| fs::symlink_metadata(t("view").join(p)).unwrap().ino();
        assert_eq!(ino("newfile"), ino("newlink"));
    }

    // Applied onto a full copy of the lower, the same tar gives the view.
    layer::clone_tree(&t("lower"), &t("full")).unwrap();
    layer::apply(tar.as_slice(), &t("full"), ApplyMode::Merged).unwrap();
    let got = support::snapshot(&t("full"));
    let problems = support::diff_snapshots(&expected, &got, Mtime::Seconds, false);
    assert!(
        problems.is_empty(),
        "merged apply differs:\n{}",
        problems.join("\n")
    );

    // The copy snapshotter: the same edits on a plain copy, diff_dirs.
    layer::clone_tree(&t("lower"), &t("base")).unwrap();
    layer::clone_tree(&t("base"), &t("edited")).unwrap();
    edit(&t("edited"));
    let mut tar2 = Vec::new();
    layer::diff_dirs(&t("base"), &t("edited"), &mut tar2).unwrap();
    let names2: Vec<String> = list_tar(&tar2)
        .iter()
        .map(|(n, _, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert!(names2.contains(&".wh.del_dir".to_string()), "{names2:?}");
    assert!(
        !names2.iter().any(|n| n.starts_with("del_dir/")),
        "{names2:?}"
    );
    assert!(names2.contains(&"keep/.wh.gone".to_string()), "{names2:?}");

    // Same logical change: both tars turn the lower into the same tree
    // (mtimes differ: the edits ran at different moments).
    for (name, tar) in [("from-overlay", &tar), ("from-dirs", &tar2)] {
        let dir = t(name);
        layer::clone_tree(&t("lower"), &dir).unwrap();
        layer::apply(tar.as_slice(), &dir, ApplyMode::Merged).unwrap();
    }
    assert_same_tree(&t("from-overlay"), &t("from-dirs"), Mtime::Ignore, false);
    assert_same_tree(&t("edited"), &t("from-dirs"), Mtime::Seconds, false);

    // And diff_dirs's tar also works as an overlay layer.
    fs::create_dir(t("layer2")).unwrap();
    layer::apply(tar2.as_slice(), &t("layer2"), ApplyMode::Overlay).unwrap();
    let _view2 = Overlay::mount(&[&t("layer2"), &t("lower")], None, &t("view2")).unwrap();
    assert_same_tree(&t("edited"), &t("view2"), Mtime::Seconds, false);
}

#[test]
fn random_edits_through_overlay_round_trip() {
    require_root!();
    if !support::private_mounts() {
        println!("skipped: cannot enter a private mount namespace");
        return;
    }
    for seed in 1..=10u64 {
        let tmp = tempfile::tempdir().unwrap();
        let t = |p: &str| tmp.path().join(p);
        let mut rng = Rng::new(seed);
        let mut links = Vec::new();
        support::random_tree(&mut rng, &t("lower"), 0, &mut links);
        for _ in 0..3 {
            let sub = t("lower").join(rng.name());
            if fs::symlink_metadata(&sub).is_err() {
                support::random_tree(&mut rng, &sub, 1, &mut links);
            }
        }
        support::random_times(&mut rng, &t("lower"));
        let mounted = match Overlay::mount(
            &[&t("lower")],
            Some((&t("upper"), &t("work"))),
            &t("merged"),
        ) {
            Ok(m) => m,
            Err(e) => {
                println!("skipped: cannot mount overlayfs here: {e}");
                return;
            }
        };
        random_overlay_edits(&mut rng, &t("merged"));
        let expected = support::snapshot(&t("merged"));
        drop(mounted);

        let mut tar = Vec::new();
        layer::diff_overlay(&t("upper"), &mut tar).unwrap();
        fs::create_dir(t("layer")).unwrap();
        layer::apply(tar.as_slice(), &t("layer"), ApplyMode::Overlay).unwrap();
        let _view = Overlay::mount(&[&t("layer"), &t("lower")], None, &t("view")).unwrap();
        let problems = support::diff_snapshots(
            &expected,
            &support::snapshot(&t("view")),
            Mtime::Seconds,
            false,
        );
        assert!(problems.is_empty(), "seed {seed}:\n{}", problems.join("\n"));
    }
}

fn random_overlay_edits(rng: &mut Rng, root: &Path) {
    let mut all = Vec::new();
    fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.clone());
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                collect(&p, out);
            }
        }
    }
    collect(root, &mut all);
    for path in all {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        match rng.below(10) {
            0 if meta.is_dir() => fs::remove_dir_all(&path).unwrap(),
            0 | 1 if !meta.is_dir() => fs::remove_file(&path).unwrap(),
            2 if meta.is_dir() => {
                fs::remove_dir_all(&path).unwrap();
                fs::create_dir(&path).unwrap();
                support::write(&path.join("fresh"), b"fresh");
            }
            3 if meta.is_file() => support::write(&path, b"rewritten"),
            4 if !meta.file_type().is_symlink() => support::chmod(&path, 0o751),
            5 if meta.is_dir() => support::write(&path.join("new"), b"new"),
            _ => {}
        }
    }
}
