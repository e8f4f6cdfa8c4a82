//! Round trips through real files: tree -> `diff_dirs` -> `apply`, and
//! `clone_tree`; determinism and ordering of the tars written.
#![allow(clippy::print_stdout)] // tests report `skipped: <why>`

#[path = "layer_support.rs"]
mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use kiln_cache::layer::{self, ApplyMode, Stats};
use support::{Mtime, Rng, assert_same_tree, list_tar};

fn diff_from_empty(tree: &Path, scratch: &Path) -> (Vec<u8>, Stats) {
    let empty = scratch.join("empty-lower");
    fs::create_dir_all(&empty).unwrap();
    let mut out = Vec::new();
    let stats = layer::diff_dirs(&empty, tree, &mut out).unwrap();
    (out, stats)
}

fn apply_new(tar: &[u8], dir: &Path, mode: ApplyMode) -> Stats {
    fs::create_dir_all(dir).unwrap();
    layer::apply(tar, dir, mode).unwrap()
}

/// Names in byte order, each directory before everything below it.
fn assert_sorted(tar: &[u8]) {
    let names: Vec<Vec<u8>> = list_tar(tar).into_iter().map(|(n, _, _)| n).collect();
    for pair in names.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{:?} before {:?}",
            String::from_utf8_lossy(&pair[0]),
            String::from_utf8_lossy(&pair[1])
        );
    }
    for (i, name) in names.iter().enumerate() {
        let trimmed = name.strip_suffix(b"/").unwrap_or(name);
        if let Some(cut) = trimmed.iter().rposition(|b| *b == b'/') {
            let parent = &trimmed[..=cut];
            assert!(
                names[..i].iter().any(|n| n.as_slice() == parent),
                "parent of {:?} not written before it",
                String::from_utf8_lossy(name)
            );
        }
    }
}

#[test]
fn rich_tree_round_trips_through_diff_dirs_and_apply() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    support::build_rich_tree(&tree);

    let (tar, stats) = diff_from_empty(&tree, tmp.path());
    let (again, _) = diff_from_empty(&tree, tmp.path());
    assert!(tar == again, "two diffs of one tree differ");
    assert_sorted(&tar);

    let entries = list_tar(&tar);
    let names: Vec<String> = entries
        .iter()
        .map(|(n, _, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert!(!names.iter().any(|n| n == "socket"), "sockets are skipped");
    let links: Vec<_> = entries
        .iter()
        .filter(|(_, t, _)| *t == tar::EntryType::Link)
        .map(|(n, _, l)| (n.clone(), l.clone()))
        .collect();
    assert_eq!(
        links,
        vec![
            (b"hard1".to_vec(), b"a/hard3".to_vec()),
            (b"hard2".to_vec(), b"a/hard3".to_vec())
        ],
        "later paths of one inode link to the first"
    );
    let payload: u64 = support::snapshot(&tree)
        .values()
        .filter(|i| i.kind == 'f')
        .map(|i| i.size)
        .sum::<u64>()
        - 2 * b"shared inode".len() as u64;
    assert_eq!(stats.bytes, payload);
    assert_eq!(stats.entries as usize, entries.len());

    for (dir, mode) in [
        ("merged", ApplyMode::Merged),
        ("overlay", ApplyMode::Overlay),
    ] {
        let out = tmp.path().join(dir);
        let applied = apply_new(&tar, &out, mode);
        assert_eq!(applied, stats, "apply sees what diff wrote");
        assert_same_tree(&tree, &out, Mtime::Seconds, true);
        let ino = |p: &str| fs::symlink_metadata(out.join(p)).unwrap().ino();
        assert_eq!(ino("hard1"), ino("hard2"));
        assert_eq!(ino("hard1"), ino("a/hard3"));
    }
}

#[test]
fn clone_tree_is_cp_a_and_diffs_identically() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    support::build_rich_tree(&tree);
    let copy = tmp.path().join("copy");
    let stats = layer::clone_tree(&tree, &copy).unwrap();
    // Before anything else reads the trees: atimes are copied, and the
    // clone did not touch the source's (O_NOATIME).
    let meta = |p: &Path| fs::symlink_metadata(p).unwrap();
    for rel in ["a/file", "a", "null", "a/x/y/deep"] {
        let (a, b) = (meta(&tree.join(rel)), meta(&copy.join(rel)));
        assert_eq!(
            (a.atime(), a.atime_nsec()),
            (b.atime(), b.atime_nsec()),
            "{rel}"
        );
        assert!(a.atime() < 1_700_000_000, "{rel}: source atime moved");
    }
    assert_same_tree(&tree, &copy, Mtime::Nanos, false);
    assert!(stats.entries > 30 && stats.bytes > 100_000, "{stats:?}");
    let root_meta = (meta(&tree), meta(&copy));
    assert_eq!(root_meta.0.mode(), root_meta.1.mode());
    let ino = |p: &str| meta(&copy.join(p)).ino();
    assert_eq!(ino("hard1"), ino("a/hard3"));
    assert_ne!(ino("hard1"), meta(&tree.join("hard1")).ino());

    // Different inodes, same content and metadata: the same bytes.
    let (a, _) = diff_from_empty(&tree, tmp.path());
    let (b, _) = diff_from_empty(&copy, tmp.path());
    assert!(a == b, "diff of a clone differs from diff of its source");
}

#[test]
fn diff_dirs_writes_one_whiteout_per_deleted_dir_and_parents_of_deletions() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    for d in ["d0", "d1/sub", "keep"] {
        fs::create_dir_all(lower.join(d)).unwrap();
    }
    for f in ["d0/a", "d1/b", "d1/sub/c", "keep/gone", "keep/stays"] {
        support::write(&lower.join(f), f.as_bytes());
    }
    let upper = tmp.path().join("upper");
    layer::clone_tree(&lower, &upper).unwrap();
    fs::remove_dir_all(upper.join("d0")).unwrap();
    fs::remove_dir_all(upper.join("d1")).unwrap();
    fs::remove_file(upper.join("keep/gone")).unwrap();

    let mut tar = Vec::new();
    layer::diff_dirs(&lower, &upper, &mut tar).unwrap();
    let names: Vec<String> = list_tar(&tar)
        .iter()
        .map(|(n, _, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert_eq!(names, [".wh.d0", ".wh.d1", "keep/", "keep/.wh.gone"]);

    let target = tmp.path().join("target");
    layer::clone_tree(&lower, &target).unwrap();
    layer::apply(tar.as_slice(), &target, ApplyMode::Merged).unwrap();
    assert_same_tree(&upper, &target, Mtime::Seconds, false);
}

#[test]
fn unchanged_trees_give_an_empty_layer() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    support::build_rich_tree(&tree);
    let copy = tmp.path().join("copy");
    layer::clone_tree(&tree, &copy).unwrap();
    let mut tar = Vec::new();
    let stats = layer::diff_dirs(&tree, &copy, &mut tar).unwrap();
    assert_eq!(stats, Stats::default());
    assert_eq!(tar, vec![0u8; 1024]);
}

#[test]
fn random_trees_round_trip() {
    require_root!();
    for seed in 1..=25u64 {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        let mut rng = Rng::new(seed);
        random_tree_with_times(&mut rng, &tree);
        let (tar, _) = diff_from_empty(&tree, tmp.path());
        assert_sorted(&tar);
        let out = tmp.path().join("out");
        apply_new(&tar, &out, ApplyMode::Merged);
        let problems = support::diff_snapshots(
            &support::snapshot(&tree),
            &support::snapshot(&out),
            Mtime::Seconds,
            true,
        );
        assert!(problems.is_empty(), "seed {seed}:\n{}", problems.join("\n"));
    }
}

fn random_tree_with_times(rng: &mut Rng, tree: &Path) {
    let mut links = Vec::new();
    support::random_tree(rng, tree, 0, &mut links);
    for _ in 0..3 {
        let sub = tree.join(rng.name());
        if fs::symlink_metadata(&sub).is_err() {
            support::random_tree(rng, &sub, 1, &mut links);
        }
    }
    support::random_times(rng, tree);
}

/// Random edits of a copy; `diff_dirs` then `apply` on another copy of
/// the base must reproduce the edited tree.
#[test]
fn random_edits_round_trip_through_diff_dirs() {
    require_root!();
    for seed in 100..=124u64 {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        let mut rng = Rng::new(seed);
        random_tree_with_times(&mut rng, &base);
        let edited = tmp.path().join("edited");
        layer::clone_tree(&base, &edited).unwrap();
        random_edits(&mut rng, &edited);

        let mut tar = Vec::new();
        layer::diff_dirs(&base, &edited, &mut tar).unwrap();
        assert_sorted(&tar);
        let target = tmp.path().join("target");
        layer::clone_tree(&base, &target).unwrap();
        layer::apply(tar.as_slice(), &target, ApplyMode::Merged).unwrap();
        let problems = support::diff_snapshots(
            &support::snapshot(&edited),
            &support::snapshot(&target),
            Mtime::Seconds,
            true,
        );
        assert!(problems.is_empty(), "seed {seed}:\n{}", problems.join("\n"));
    }
}

fn random_edits(rng: &mut Rng, root: &Path) {
    let mut all: Vec<std::path::PathBuf> = Vec::new();
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
            continue; // under something already removed
        };
        match rng.below(12) {
            0 if meta.is_dir() => fs::remove_dir_all(&path).unwrap(),
            0 | 1 if !meta.is_dir() => fs::remove_file(&path).unwrap(),
            2 if meta.is_file() => {
                support::write(&path, format!("new {}", rng.next()).as_bytes());
                support::set_mtime(&path, 1_800_000_000 + rng.below(1000) as i64, 5);
            }
            3 if !meta.file_type().is_symlink() => {
                support::chmod(&path, 0o700);
            }
            4 if meta.is_dir() => {
                // Replace a directory by a file.
                fs::remove_dir_all(&path).unwrap();
                support::write(&path, b"was a dir");
            }
            5 if !meta.is_dir() => {
                // Replace a file by a directory with content.
                fs::remove_file(&path).unwrap();
                fs::create_dir(&path).unwrap();
                support::write(&path.join("inside"), b"inside");
            }
            6 if meta.is_dir() => {
                support::write(&path.join(format!("added-{}", rng.below(100))), b"added");
            }
            7 if meta.is_dir() => {
                let sub = path.join("newdir");
                if fs::symlink_metadata(&sub).is_err() {
                    fs::create_dir(&sub).unwrap();
                    std::os::unix::fs::symlink("../x", sub.join("l")).unwrap();
                }
            }
            8 if meta.is_file() => {
                xattr::set(&path, "user.edit", b"e").unwrap();
            }
            _ => {}
        }
    }
}
