//! Differential tests: every case under `testdata/build/` is built with
//! kiln and its image config and root filesystem are compared with goldens
//! that docker's BuildKit produced (`testdata/build/regenerate.sh`, with the
//! hand edits each case's `notes` explains). The staging rules, the config
//! normalisation and the listing format are those of
//! `testdata/build/golden.py`; the two must change together.
//!
//! Per case: `pending` (kiln must refuse the case with "not supported yet")
//! and `known-diff` (the exact diff kiln is known to produce; the test fails
//! when the diff changes or disappears, so that the file gets removed).
//! `KILN_DIFFERENTIAL_CASES=a,b` runs only the named cases.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_cache::snapshot::View;
use kiln_cache::{Digest, ImageName, Store};
use serde_json::Value;

use crate::require_root;
use crate::support::{Kiln, busybox_tar};

/// Files of a case that describe it and are not part of its context.
const META: &[&str] = &[
    "config.json",
    "rootfs.txt",
    "notes",
    "args",
    "target",
    "pending",
    "known-diff",
    "dockerfile",
    "base.Dockerfile",
    "docker.Dockerfile",
    "golden.patch",
    "modes",
];

/// Runtime-config fields the goldens keep.
const CONFIG_KEYS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
    "ArgsEscaped",
];

/// The tag each case's image gets.
const TAG: &str = "differential:latest";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/build")
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(corpus())
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Non-empty, non-comment lines of a case file (none if it is missing).
fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ staging

/// Copies a case's context into `out` as golden.py does: metadata left
/// out, modes canonical (0755 if the owner may execute, else 0644;
/// directories 0755), then the case's `modes` file applied.
fn stage(case: &Path, out: &Path) {
    fs::create_dir_all(out).unwrap();
    fs::set_permissions(out, fs::Permissions::from_mode(0o755)).unwrap();
    let mut names: Vec<_> = fs::read_dir(case).unwrap().flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name();
        if META.contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        copy_entry(&e.path(), &out.join(&name));
    }
    for line in lines_of(&case.join("modes")) {
        let (mode, path) = line.split_once(char::is_whitespace).unwrap();
        let p = out.join(path.trim());
        if path.trim().ends_with('/') {
            fs::create_dir_all(&p).unwrap();
        }
        let mode = u32::from_str_radix(mode, 8).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn copy_entry(src: &Path, dst: &Path) {
    let md = fs::symlink_metadata(src).unwrap();
    if md.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src).unwrap(), dst).unwrap();
    } else if md.is_dir() {
        fs::create_dir(dst).unwrap();
        let mut names: Vec<_> = fs::read_dir(src).unwrap().flatten().collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            copy_entry(&e.path(), &dst.join(e.file_name()));
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(0o755)).unwrap();
    } else {
        fs::copy(src, dst).unwrap();
        let mode = if md.mode() & 0o100 != 0 { 0o755 } else { 0o644 };
        fs::set_permissions(dst, fs::Permissions::from_mode(mode)).unwrap();
    }
}

// ------------------------------------------------------------------- config

fn nonzero(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The golden form of an image config: the fields that matter, empty
/// values dropped, history without timestamps and without the base's.
fn normalise_config(cfg: &Value, base_history_len: usize) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(a) = cfg.get("author").filter(|a| nonzero(a)) {
        out.insert("author".into(), a.clone());
    }
    let mut kept = serde_json::Map::new();
    for &k in CONFIG_KEYS {
        let Some(mut v) = cfg.get("config").and_then(|c| c.get(k)).cloned() else {
            continue;
        };
        if k == "Healthcheck"
            && let Value::Object(o) = &mut v
        {
            o.retain(|_, hv| nonzero(hv));
        }
        if nonzero(&v) {
            kept.insert(k.into(), v);
        }
    }
    out.insert("config".into(), Value::Object(kept));
    let history: Vec<Value> = cfg
        .get("history")
        .and_then(Value::as_array)
        .map(|h| h.iter().skip(base_history_len).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|h| {
            serde_json::json!({
                "created_by": h.get("created_by").and_then(Value::as_str).unwrap_or(""),
                "empty_layer": h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    out.insert("history".into(), Value::Array(history));
    Value::Object(out)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

// ------------------------------------------------------------------ listing

/// What the listing shows of one path: type, mode, uid, gid and the
/// type-specific rest (size and digest, link target, device numbers).
type Entry = (char, u32, u32, u32, String);

fn esc(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0..=0x20 | 0x7f..=0xff => out.push_str(&format!("\\x{b:02x}")),
            _ => out.push(b as char),
        }
    }
    out
}

/// Every path under `root` (not `root` itself), keyed by its absolute
/// path in the image.
fn tree(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Entry>) {
    use std::os::unix::ffi::OsStrExt;
    for e in fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name();
        let path = format!("{prefix}/{}", esc(name.as_bytes()));
        let p = e.path();
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let mode = md.mode() & 0o7777;
        let entry = if ft.is_dir() {
            ('d', mode, String::new())
        } else if ft.is_symlink() {
            let target = fs::read_link(&p).unwrap();
            (
                'l',
                0o777,
                format!(" -> {}", esc(target.as_os_str().as_bytes())),
            )
        } else if ft.is_file() {
            let mut body = Vec::new();
            fs::File::open(&p).unwrap().read_to_end(&mut body).unwrap();
            let digest = Digest::of(&body).to_string();
            let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
            ('f', mode, format!(" {} sha256:{}", body.len(), &hex[..16]))
        } else {
            use std::os::unix::fs::FileTypeExt;
            let rdev = md.rdev();
            let dev = format!(
                " {},{}",
                nix::sys::stat::major(rdev),
                nix::sys::stat::minor(rdev)
            );
            if ft.is_char_device() {
                ('c', mode, dev)
            } else if ft.is_block_device() {
                ('b', mode, dev)
            } else if ft.is_fifo() {
                ('p', mode, String::new())
            } else {
                ('s', mode, String::new())
            }
        };
        out.insert(
            path.clone(),
            (entry.0, entry.1, md.uid(), md.gid(), entry.2),
        );
        if ft.is_dir() {
            walk(&p, &path, out);
        }
    }
}

/// Every path that differs from the base, sorted, one line each.
fn listing(tree: &BTreeMap<String, Entry>, base: &BTreeMap<String, Entry>) -> String {
    let mut lines = Vec::new();
    for (p, e) in tree {
        if base.get(p) != Some(e) {
            lines.push(format!("{p} {} {:04o} {} {}{}", e.0, e.1, e.2, e.3, e.4));
        }
    }
    for p in base.keys() {
        if !tree.contains_key(p) {
            lines.push(format!("{p} deleted"));
        }
    }
    lines.sort();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// An overlay of read-only layers, mounted in a private mount namespace
/// that lives as long as a child process; readable through that child's
/// `/proc/PID/root`.
struct Overlay {
    child: Child,
    mountpoint: PathBuf,
    _dir: tempfile::TempDir,
}

impl Overlay {
    fn mount(lowers: &[PathBuf]) -> Overlay {
        let dir = tempfile::tempdir().unwrap();
        let joined: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let opts = format!("ro,lowerdir={}", joined.join(":"));
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t overlay overlay -o \"$1\" \"$2\" && echo ready && exec cat >/dev/null")
            .arg("sh")
            .arg(&opts)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare (util-linux) runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "overlay mount failed ({opts})");
        let mountpoint = PathBuf::from(format!("/proc/{}/root", child.id()))
            .join(dir.path().strip_prefix("/").unwrap_or(dir.path()));
        Overlay {
            child,
            mountpoint,
            _dir: dir,
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        // Closing stdin ends `cat`, and the namespace with its mount.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn view_tree(view: &View) -> BTreeMap<String, Entry> {
    match view {
        View::Empty => BTreeMap::new(),
        View::Dir(d) => tree(d),
        View::Layers(lowers) => {
            let o = Overlay::mount(lowers);
            tree(&o.mountpoint)
        }
    }
}

/// The config (as JSON), root filesystem and layer diff IDs of the image
/// `name` in the store.
fn image_parts(store: &Store, name: &str) -> (Value, BTreeMap<String, Entry>, Vec<Digest>) {
    let image = store
        .image(&ImageName::parse(name).unwrap())
        .unwrap()
        .unwrap_or_else(|| panic!("{name} is not in the store"));
    let snap = store.unpack_all(&image.config.rootfs.diff_ids).unwrap();
    let files = view_tree(&store.view(snap.as_ref()));
    let cfg = serde_json::to_value(&image.config).unwrap();
    (cfg, files, image.config.rootfs.diff_ids.clone())
}

// --------------------------------------------------------------------- diff

/// A line diff with two lines of context around each change.
fn diff(name: &str, want: &str, got: &str) -> String {
    if want == got {
        return String::new();
    }
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near: Vec<bool> = (0..ops.len())
        .map(|k| {
            let lo = k.saturating_sub(2);
            let hi = (k + 2).min(ops.len() - 1);
            ops[lo..=hi].iter().any(|o| o.0 != ' ')
        })
        .collect();
    let mut out = format!("--- {name} (golden)\n+++ {name} (kiln)\n");
    let mut gap = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near[k] {
            if gap {
                out.push_str("@@\n");
            }
            gap = false;
            out.push_str(&format!("{op}{line}\n"));
        } else {
            gap = true;
        }
    }
    out
}

// -------------------------------------------------------------------- cases

enum Outcome {
    Pass,
    Fail(String),
}

fn args_for(case: &Path, ctx: &Path) -> Vec<String> {
    let mut args = vec![
        "build".to_string(),
        "--progress=plain".into(),
        "-t".into(),
        TAG.into(),
    ];
    if let Some(f) = lines_of(&case.join("dockerfile")).first() {
        args.push("-f".into());
        args.push(ctx.join(f).display().to_string());
    }
    for kv in lines_of(&case.join("args")) {
        args.push("--build-arg".into());
        args.push(kv);
    }
    if let Some(t) = lines_of(&case.join("target")).first() {
        args.push("--target".into());
        args.push(t.clone());
    }
    args.push(ctx.display().to_string());
    args
}

fn run_case(name: &str) -> Outcome {
    let case = corpus().join(name);
    let k = Kiln::new();
    stage(&case, &k.ctx());
    let pending = fs::read_to_string(case.join("pending"))
        .ok()
        .map(|s| s.trim().to_string());

    let mut failed = None;
    if case.join("base.Dockerfile").exists() {
        let base_tag = format!("{name}-base:latest");
        let f = case.join("base.Dockerfile").display().to_string();
        let ctx = k.ctx().display().to_string();
        let r = k.kiln(&["build", "--progress=plain", "-f", &f, "-t", &base_tag, &ctx]);
        if r.code != 0 {
            failed = Some(("base.Dockerfile", r.stderr));
        }
    }
    if failed.is_none() {
        let args = args_for(&case, &k.ctx());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = k.kiln(&args);
        if r.code != 0 {
            failed = Some(("Dockerfile", r.stderr));
        }
    }
    match (pending, failed) {
        (Some(_), Some((_, stderr))) if stderr.contains("not supported yet") => {
            return Outcome::Pass;
        }
        (Some(why), Some((which, stderr))) => {
            return Outcome::Fail(format!(
                "pending ({why}), but kiln failed on {which} without saying \"not supported yet\":\n{stderr}"
            ));
        }
        (Some(why), None) => {
            return Outcome::Fail(format!(
                "marked pending ({why}) but kiln built it: delete {name}/pending and check the goldens"
            ));
        }
        (None, Some((which, stderr))) => {
            return Outcome::Fail(format!("kiln failed on {which}:\n{stderr}"));
        }
        (None, None) => {}
    }

    let store = Store::open(&k.root(), None).unwrap();
    let (base_cfg, base_files, base_ids) = image_parts(&store, "busybox:latest");
    let (cfg, files, ids) = image_parts(&store, TAG);
    // LAY-1: one layer per non-empty history entry (an empty diff still
    // makes its layer), so the two never disagree.
    let non_empty = cfg.get("history").and_then(Value::as_array).map_or(0, |h| {
        h.iter()
            .filter(|e| {
                !e.get("empty_layer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            })
            .count()
    });
    if non_empty != ids.len() {
        return Outcome::Fail(format!(
            "{non_empty} non-empty history entries, but {} layers",
            ids.len()
        ));
    }
    let on_base = ids.starts_with(&base_ids);
    let skip = if on_base {
        base_cfg
            .get("history")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    } else {
        0
    };
    let empty = BTreeMap::new();
    let got_config = pretty(&normalise_config(&cfg, skip));
    let got_rootfs = listing(&files, if on_base { &base_files } else { &empty });

    let golden_config: Value =
        serde_json::from_str(&fs::read_to_string(case.join("config.json")).unwrap())
            .unwrap_or_else(|e| panic!("{name}/config.json: {e}"));
    let golden_rootfs = fs::read_to_string(case.join("rootfs.txt")).unwrap();
    let d = diff("config.json", &pretty(&golden_config), &got_config)
        + &diff("rootfs.txt", &golden_rootfs, &got_rootfs);

    match fs::read_to_string(case.join("known-diff")) {
        Ok(known) if d.is_empty() => Outcome::Fail(format!(
            "kiln now matches the goldens: delete {name}/known-diff (it said:\n{known})"
        )),
        Ok(known) if known == d => Outcome::Pass,
        Ok(known) => Outcome::Fail(format!(
            "the diff changed from {name}/known-diff; now:\n{d}\nknown-diff says:\n{known}"
        )),
        Err(_) if d.is_empty() => Outcome::Pass,
        Err(_) => Outcome::Fail(d),
    }
}

#[test]
fn corpus_matches_buildkit() {
    require_root!();
    let names = cases();
    assert!(names.len() >= 45, "only {} cases", names.len());
    busybox_tar();
    let only = std::env::var("KILN_DIFFERENTIAL_CASES").ok();
    let names: Vec<String> = match &only {
        Some(list) => names
            .into_iter()
            .filter(|n| list.split(',').any(|w| w.trim() == n))
            .collect(),
        None => names,
    };
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(name) = names.get(i) else { break };
                    let outcome = std::panic::catch_unwind(|| run_case(name)).unwrap_or_else(|p| {
                        let msg = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        Outcome::Fail(format!("panicked: {msg}"))
                    });
                    results.lock().unwrap().push((name.clone(), outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut failures = Vec::new();
    for (name, outcome) in &results {
        if let Outcome::Fail(why) = outcome {
            eprintln!("=== {name}: FAILED\n{why}");
            failures.push(name.clone());
        }
    }
    eprintln!(
        "differential: {} cases, {} failed{}",
        results.len(),
        failures.len(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(": {}", failures.join(" "))
        }
    );
    assert!(failures.is_empty(), "failed cases: {}", failures.join(" "));
}
