//! A temporary store and context per test, and the real `kiln` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Why a test cannot run here, if it cannot.
pub fn lacks_privilege() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("kiln needs root: namespaces and mounts".into());
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("/bin/busybox is missing (apt-get install busybox-static)".into());
    }
    None
}

/// Returns early from a test that cannot run, saying why.
#[macro_export]
macro_rules! require_root {
    () => {
        if let Some(why) = $crate::support::lacks_privilege() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// The busybox root filesystem tarball, made once per test run.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kiln-it-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tar = dir.join("busybox.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/busybox-rootfs.sh");
        let st = Command::new(script).arg(&tar).status().unwrap();
        assert!(st.success(), "busybox-rootfs.sh failed");
        tar
    })
}

/// A store, a context directory and helpers to run kiln on them.
pub struct Kiln {
    pub dir: tempfile::TempDir,
    pub snapshotter: Option<&'static str>,
}

/// What a kiln run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success, showing the output otherwise.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "kiln failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The names of the steps with the given terminal status.
    pub fn steps(&self, status: &str) -> Vec<String> {
        self.steps_matching(|s| s == status)
    }

    /// Steps that ran (`DONE`), internal ones left out.
    pub fn ran(&self) -> Vec<String> {
        self.steps_matching(|s| s.starts_with("DONE"))
            .into_iter()
            .filter(|n| !n.starts_with("[internal]"))
            .collect()
    }

    fn steps_matching(&self, f: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names = std::collections::HashMap::new();
        let mut out = Vec::new();
        for line in self.stderr.lines() {
            let Some(rest) = line.strip_prefix('#') else {
                continue;
            };
            let Some((n, text)) = rest.split_once(' ') else {
                continue;
            };
            if text.starts_with('[') {
                names
                    .entry(n.to_string())
                    .or_insert_with(|| text.to_string());
            } else if f(text)
                && let Some(name) = names.get(n)
            {
                out.push(name.clone());
            }
        }
        out
    }
}

impl Kiln {
    /// A fresh store with `busybox:latest` imported.
    pub fn new() -> Kiln {
        Kiln::with_snapshotter(None)
    }

    /// The same, forcing a snapshotter.
    pub fn with_snapshotter(snapshotter: Option<&'static str>) -> Kiln {
        let k = Kiln {
            dir: tempfile::tempdir().unwrap(),
            snapshotter,
        };
        std::fs::create_dir_all(k.ctx()).unwrap();
        k.kiln(&["import", busybox_tar().to_str().unwrap(), "busybox:latest"])
            .ok();
        k
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn ctx(&self) -> PathBuf {
        self.dir.path().join("ctx")
    }

    /// Writes a file into the context.
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.ctx().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Runs kiln with `--root` before the subcommand.
    pub fn kiln(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.arg("--root").arg(self.root()).args(args);
        if let Some(s) = self.snapshotter {
            cmd.env("KILN_SNAPSHOTTER", s);
        }
        cmd.env_remove("KILN_ROOT");
        Run::from(cmd.output().unwrap())
    }

    /// `kiln build -t TAG ctx`, plus extra flags.
    pub fn build(&self, tag: &str, extra: &[&str]) -> Run {
        let ctx = self.ctx();
        let mut args = vec!["build", "--progress=plain", "-t", tag];
        args.extend_from_slice(extra);
        args.push(ctx.to_str().unwrap());
        self.kiln(&args)
    }

    /// A listing of the store's blobs and snapshots, to check that a
    /// failed command left it alone.
    pub fn store_listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["blobs/sha256", "snapshots"] {
            if let Ok(rd) = std::fs::read_dir(self.root().join(sub)) {
                for e in rd.flatten() {
                    out.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
                }
            }
        }
        out.sort();
        out.push(self.kiln(&["images", "-q"]).stdout);
        out
    }
}
