//! Git sources against a real `git daemon` on 127.0.0.1: a repository as
//! the build context, and `ADD <git URL>` (whole tree or a directory of
//! it, `--chown`, `--checksum`), keyed by the files fetched.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::require_root;
use crate::support::{Kiln, Run};

/// A repository served by `git daemon`; the daemon stops on drop.
struct Daemon {
    child: Child,
    port: u16,
    work: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// Commits `files` (path, content, mode; content `->target` makes a
/// symlink) in the work tree `work`, and pushes them to `served` if it
/// exists.
fn commit(work: &Path, served: &Path, files: &[(&str, &str, u32)]) {
    for (path, content, mode) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        if let Some(target) = content.strip_prefix("->") {
            let _ = std::fs::remove_file(&p);
            std::os::unix::fs::symlink(target, &p).unwrap();
            continue;
        }
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(*mode)).unwrap();
    }
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "--allow-empty", "-m", "c"]);
    if served.exists() {
        git(work, &["push", "-q", served.to_str().unwrap(), "main"]);
    }
}

impl Daemon {
    /// A repository `repo.git` with `files` committed on `main`, served.
    fn start(files: &[(&str, &str, u32)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let base = dir.path().join("served");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&base).unwrap();
        git(&work, &["init", "-q", "-b", "main", "."]);
        commit(&work, &base.join("repo.git"), files);
        let st = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&work)
            .arg(base.join("repo.git"))
            .status()
            .unwrap();
        assert!(st.success());
        // A free port, then the daemon on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The daemon itself, not the `git` wrapper, so that killing the
        // child stops it.
        let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
        let exec_path = String::from_utf8(exec_path.stdout).unwrap();
        let child = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(&base)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            port,
            work,
            _dir: dir,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "git daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Commits `files` and serves the new commit.
    fn commit(&self, files: &[(&str, &str, u32)]) {
        commit(&self.work, &self._dir.path().join("served/repo.git"), files);
    }

    fn url(&self, fragment: &str) -> String {
        format!("git://127.0.0.1:{}/repo.git{fragment}", self.port)
    }

    fn head(&self) -> String {
        let o = Command::new("git")
            .arg("-C")
            .arg(&self.work)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }
}

fn build_ctx(k: &Kiln, tag: &str, context: &str) -> Run {
    k.kiln(&["build", "--progress=plain", "-t", tag, context])
}

#[test]
fn a_repository_as_the_context() {
    require_root!();
    let d = Daemon::start(&[
        (
            "app/Dockerfile",
            "FROM busybox:latest\nCOPY . /src/\nCMD [\"cat\", \"/src/hello.txt\"]\n",
            0o644,
        ),
        ("app/hello.txt", "hello from git\n", 0o644),
        ("README", "outside the subdirectory\n", 0o644),
    ]);
    let k = Kiln::new();
    let r = build_ctx(&k, "gitctx:1", &d.url("#main:app")).ok();
    assert!(
        r.stderr.contains("[internal] load git source git://"),
        "{}",
        r.stderr
    );
    let out = k.kiln(&["run", "--rm", "gitctx:1"]).ok().stdout;
    assert_eq!(out, "hello from git\n");
    let ls = k
        .kiln(&["run", "--rm", "gitctx:1", "ls", "-A", "/src"])
        .ok()
        .stdout;
    assert_eq!(ls, "Dockerfile\nhello.txt\n");
    // The query form, a commit pinned by a prefix of its name.
    let pinned = format!("?branch=main&subdir=app&commit={}", &d.head()[..10]);
    build_ctx(&k, "gitctx:6", &d.url(&pinned)).ok();
    let r = build_ctx(&k, "gitctx:7", &d.url("?branch=main&commit=0000000"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("expected checksum to match 0000000"),
        "{}",
        r.stderr
    );
    // A reference that is not there, and one that would be an option.
    let r = build_ctx(&k, "gitctx:2", &d.url("#nope"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("reference \"nope\" not found"),
        "{}",
        r.stderr
    );
    let r = build_ctx(&k, "gitctx:3", &d.url("#--upload-pack=touch"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = build_ctx(&k, "gitctx:5", &d.url("#main:nowhere"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("no directory \"nowhere\""),
        "{}",
        r.stderr
    );
    // No server: an infrastructure failure.
    let r = build_ctx(&k, "gitctx:4", "git://127.0.0.1:1/repo.git");
    assert_eq!(r.code, 3, "{}", r.stderr);
    // A submodule (a gitlink) is refused rather than left empty.
    let gitlink = format!("160000,{},app/vendor", d.head());
    git(&d.work, &["update-index", "--add", "--cacheinfo", &gitlink]);
    git(&d.work, &["commit", "-q", "-m", "submodule"]);
    let served = d._dir.path().join("served/repo.git");
    git(&d.work, &["push", "-q", served.to_str().unwrap(), "main"]);
    let r = build_ctx(&k, "gitctx:8", &d.url("#main:app"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("vendor is a submodule, and kiln does not fetch submodules yet"),
        "{}",
        r.stderr
    );
    // Asked to leave submodules out, it does.
    build_ctx(
        &k,
        "gitctx:9",
        &d.url("?branch=main&subdir=app&submodules=false"),
    )
    .ok();
}

#[test]
fn add_a_repository() {
    require_root!();
    let d = Daemon::start(&[
        ("src/main.sh", "echo main\n", 0o755),
        ("src/lib.txt", "lib\n", 0o600),
        ("src/link", "->/etc/passwd", 0),
        ("docs/guide", "guide\n", 0o644),
    ]);
    let k = Kiln::new();
    let head = d.head();
    k.write(
        "Dockerfile",
        &format!(
            "FROM busybox:latest\n\
             ADD {} /app\n\
             ADD --chown=5:6 --checksum={} {} /all/\n",
            d.url("#main:src"),
            &head[..12],
            d.url("")
        ),
    );
    k.build("addgit:1", &[]).ok();
    let listing = k
        .kiln(&[
            "run",
            "--rm",
            "addgit:1",
            "sh",
            "-c",
            "stat -c '%n %a %u:%g' /app/main.sh /app/lib.txt /all/docs/guide; readlink /app/link; ls -A /app",
        ])
        .ok()
        .stdout;
    assert_eq!(
        listing,
        "/app/main.sh 755 0:0\n/app/lib.txt 644 0:0\n/all/docs/guide 644 5:6\n/etc/passwd\nlib.txt\nlink\nmain.sh\n"
    );
    // Unchanged: every step cached. A commit outside `src` leaves the
    // copy of `src` cached; one inside it reruns it.
    let r = k.build("addgit:1", &[]).ok();
    assert!(r.ran().is_empty(), "{}", r.stderr);
    d.commit(&[("docs/guide", "guide 2\n", 0o644)]);
    k.write(
        "Dockerfile",
        &format!("FROM busybox:latest\nADD {} /app\n", d.url("#main:src")),
    );
    k.build("addgit:2", &[]).ok();
    d.commit(&[("docs/more", "more\n", 0o644)]);
    let r = k.build("addgit:2", &[]).ok();
    assert!(r.ran().is_empty(), "{}", r.stderr);
    d.commit(&[("src/lib.txt", "lib 2\n", 0o644)]);
    let r = k.build("addgit:2", &[]).ok();
    assert_eq!(r.ran().len(), 1, "{}", r.stderr);
    // A checksum the commit does not have fails the step.
    k.write(
        "Dockerfile",
        &format!(
            "FROM busybox:latest\nADD --checksum=0000000 {} /app\n",
            d.url("")
        ),
    );
    let r = k.build("addgit:3", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("expected checksum to match 0000000"),
        "{}",
        r.stderr
    );
    // COPY takes no repository.
    k.write(
        "Dockerfile",
        &format!("FROM busybox:latest\nCOPY {} /app\n", d.url("")),
    );
    let r = k.build("addgit:4", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("source can't be a git ref for COPY"),
        "{}",
        r.stderr
    );
}
