//! `ADD <url>`: remote files from a small HTTP server on 127.0.0.1 that
//! the test runs itself (fixed bodies, ETag and Last-Modified, 304 on a
//! matching If-None-Match, a redirect, 404 for anything else).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_cache::Digest;

use crate::require_root;
use crate::support::{Kiln, Run};

/// A file the server serves.
struct Resource {
    body: Vec<u8>,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// A request the server answered.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    if_none_match: Option<String>,
    status: u16,
}

type Files = Arc<Mutex<HashMap<String, Resource>>>;
type Log = Arc<Mutex<Vec<Seen>>>;

struct Server {
    addr: String,
    files: Files,
    log: Log,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let files: Files = Arc::default();
        let log: Log = Arc::default();
        let (f, l) = (files.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (f, l) = (f.clone(), l.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &f, &l);
                });
            }
        });
        Server { addr, files, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn put(&self, path: &str, body: &[u8], etag: Option<&str>, last_modified: Option<&str>) {
        self.files.lock().unwrap().insert(
            path.to_string(),
            Resource {
                body: body.to_vec(),
                etag: etag.map(str::to_string),
                last_modified: last_modified.map(str::to_string),
            },
        );
    }

    /// Requests for `path` so far.
    fn seen(&self, path: &str) -> Vec<Seen> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

/// Answers one request and closes the connection.
fn serve(conn: TcpStream, files: &Files, log: &Log) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let if_none_match = headers.get("if-none-match").cloned();
    let mut extra = Vec::new();
    let (status, body) = if let Some(rest) = path.strip_prefix("/redirect") {
        extra.push(format!("Location: {rest}"));
        (302, Vec::new())
    } else {
        match files.lock().unwrap().get(&path) {
            Some(r) => {
                if let Some(e) = &r.etag {
                    extra.push(format!("ETag: {e}"));
                }
                if let Some(m) = &r.last_modified {
                    extra.push(format!("Last-Modified: {m}"));
                }
                if if_none_match.is_some() && if_none_match == r.etag {
                    (304, Vec::new())
                } else {
                    (200, r.body.clone())
                }
            }
            None => (404, b"not found".to_vec()),
        }
    };
    log.lock().unwrap().push(Seen {
        path,
        if_none_match,
        status,
    });
    let reason = match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        _ => "Not Found",
    };
    let mut out = conn;
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    if status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for h in extra {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(&body)?;
    out.flush()
}

/// `kiln build` as `Kiln::build` runs it, with the test server never
/// reached through a proxy from the environment.
fn build(k: &Kiln, tag: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("--root")
        .arg(k.root())
        .args(["build", "--progress=plain", "-t", tag])
        .arg(k.ctx())
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .env_remove("KILN_ROOT");
    if let Some(s) = k.snapshotter {
        cmd.env("KILN_SNAPSHOTTER", s);
    }
    let o = cmd.output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `script` in the image and returns its output.
fn sh(k: &Kiln, image: &str, script: &str) -> String {
    k.kiln(&["run", "--rm", image, "sh", "-c", script])
        .ok()
        .stdout
}

const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const LAST_MODIFIED_UNIX: &str = "784111777";

/// A gzipped tar holding `pkg/README`.
fn tar_gz(k: &Kiln) -> Vec<u8> {
    context_tarball(k, "tar-src", |d| {
        std::fs::create_dir_all(d.join("pkg")).unwrap();
        std::fs::write(d.join("pkg/README"), "readme").unwrap();
    })
}

#[test]
fn names_modes_mtimes_and_unpacking() {
    require_root!();
    let k = Kiln::new();
    let s = Server::start();
    s.put(
        "/files/hello.txt",
        b"hello\n",
        Some("\"h1\""),
        Some(LAST_MODIFIED),
    );
    s.put("/", b"root\n", None, None);
    s.put("/files/pkg.tar.gz", &tar_gz(&k), None, None);
    k.write("local.txt", "local\n");
    let hello = s.url("/files/hello.txt");
    let packed = s.url("/files/pkg.tar.gz");
    k.write(
        "Dockerfile",
        &format!(
            "FROM busybox:latest\n\
             ADD {hello} /dir/\n\
             ADD {hello} /explicit/name.txt\n\
             ADD --chmod=755 {hello} /chmod/\n\
             ADD {root} /rooturl/\n\
             ADD {redirect} /redir/\n\
             ADD {packed} /packed/\n\
             ADD --unpack=true {packed} /unpacked/\n\
             ADD --chown=5:6 local.txt {hello} /mixed/\n",
            root = s.url("/"),
            redirect = s.url("/redirect/files/hello.txt"),
        ),
    );
    build(&k, "add-url:1").ok();
    let out = sh(
        &k,
        "add-url:1",
        "stat -c '%n %a %u:%g %Y' /dir/hello.txt /explicit/name.txt /chmod/hello.txt \
         /rooturl/__unnamed__ /redir/hello.txt /packed/pkg.tar.gz \
         /mixed/hello.txt /mixed/local.txt; \
         cat /dir/hello.txt /explicit/name.txt /rooturl/__unnamed__ /unpacked/pkg/README; \
         echo; ls /unpacked",
    );
    let m = LAST_MODIFIED_UNIX;
    assert_eq!(
        out,
        format!(
            "/dir/hello.txt 600 0:0 {m}\n\
             /explicit/name.txt 600 0:0 {m}\n\
             /chmod/hello.txt 755 0:0 {m}\n\
             /rooturl/__unnamed__ 600 0:0 0\n\
             /redir/hello.txt 600 0:0 {m}\n\
             /packed/pkg.tar.gz 600 0:0 0\n\
             /mixed/hello.txt 600 5:6 {m}\n\
             /mixed/local.txt 644 5:6 {mtime_local}\n\
             hello\nhello\nroot\nreadme\npkg\n",
            mtime_local = sh(&k, "add-url:1", "stat -c %Y /mixed/local.txt").trim(),
        )
    );
    // The redirect was followed.
    assert_eq!(s.seen("/redirect/files/hello.txt")[0].status, 302);
}

#[test]
fn rebuilds_revalidate_and_rerun_only_on_change() {
    require_root!();
    let k = Kiln::new();
    let s = Server::start();
    s.put("/data.txt", b"one\n", Some("\"v1\""), Some(LAST_MODIFIED));
    k.write(
        "Dockerfile",
        &format!(
            "FROM busybox:latest\nADD {} /data.txt\nRUN cat /data.txt > /copy\n",
            s.url("/data.txt")
        ),
    );
    let first = build(&k, "reval:1").ok();
    assert_eq!(first.ran().len(), 2, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains(&format!("{} 4B / 4B done", s.url("/data.txt"))),
        "download progress is shown:\n{}",
        first.stderr
    );

    // Unchanged: one conditional request, answered 304; nothing reruns.
    let again = build(&k, "reval:2").ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{}", again.stderr);
    let seen = s.seen("/data.txt");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(seen[1].status, 304);

    // Changed remotely: the ADD and what follows rerun.
    s.put("/data.txt", b"two\n", Some("\"v2\""), Some(LAST_MODIFIED));
    let changed = build(&k, "reval:3").ok();
    let ran = changed.ran();
    assert_eq!(ran.len(), 2, "{}", changed.stderr);
    assert!(ran[0].contains("ADD"), "{ran:?}");
    assert_eq!(sh(&k, "reval:3", "cat /copy"), "two\n");
}

#[test]
fn checksums_pin_content_and_skip_the_network() {
    require_root!();
    let k = Kiln::new();
    let s = Server::start();
    s.put("/pinned.txt", b"pinned\n", Some("\"p\""), None);
    let good = Digest::of(b"pinned\n");
    let url = s.url("/pinned.txt");
    k.write(
        "Dockerfile",
        &format!("FROM busybox:latest\nADD --checksum={good} {url} /p.txt\n"),
    );
    build(&k, "sum:1").ok();
    assert_eq!(sh(&k, "sum:1", "cat /p.txt"), "pinned\n");
    assert_eq!(s.seen("/pinned.txt").len(), 1);

    // Cached: the key needs no download, and the server sees nothing.
    let again = build(&k, "sum:2").ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{}", again.stderr);
    assert_eq!(s.seen("/pinned.txt").len(), 1);

    // A mismatch fails the step, showing both digests.
    let bad = Digest::of(b"something else");
    k.write(
        "Dockerfile",
        &format!("FROM busybox:latest\nADD --checksum={bad} {url} /p.txt\n"),
    );
    let r = build(&k, "sum:3");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "digest mismatch for {url}: {good} (expected: {bad})"
        )),
        "{}",
        r.stderr
    );

    // Only one source, and it must be remote.
    k.write("local.txt", "local\n");
    for (dockerfile, message) in [
        (
            format!("FROM busybox:latest\nADD --checksum={good} {url} {url} /d/\n"),
            "checksum can't be specified for multiple sources",
        ),
        (
            format!("FROM busybox:latest\nADD --checksum={good} local.txt /d/\n"),
            "checksum requires HTTP(S) or Git sources",
        ),
        (
            format!("FROM busybox:latest\nADD --checksum=sha256:00 {url} /d/\n"),
            "invalid checksum",
        ),
    ] {
        k.write("Dockerfile", &dockerfile);
        let r = build(&k, "sum:4");
        assert_eq!(r.code, 2, "{dockerfile}\n{}", r.stderr);
        assert!(r.stderr.contains(message), "{dockerfile}\n{}", r.stderr);
    }
}

#[test]
fn missing_remote_file_is_an_infrastructure_error_without_credentials() {
    require_root!();
    let k = Kiln::new();
    let s = Server::start();
    let url = s.url("/missing");
    let with_secret = url.replace("http://", "http://user:s3cret@");
    k.write(
        "Dockerfile",
        &format!("FROM busybox:latest\nADD {with_secret} /x\n"),
    );
    let r = build(&k, "missing:1");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("{url}: invalid response status 404 Not Found")),
        "{}",
        r.stderr
    );
    assert_eq!(s.seen("/missing").len(), 1);
    // Progress and the error never show the password (the Dockerfile
    // excerpt under the error is the user's own text).
    for line in r.stderr.lines().filter(|l| !l.contains(" | ")) {
        assert!(!line.contains("s3cret"), "{line}\n{}", r.stderr);
    }
}

/// `kiln build` with `context` as the context argument (a URL or `-`),
/// `stdin` piped in.
fn build_from(k: &Kiln, tag: &str, context: &str, stdin: Option<&[u8]>, extra: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("--root")
        .arg(k.root())
        .args(["build", "--progress=plain", "-t", tag])
        .args(extra)
        .arg(context)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .env_remove("KILN_ROOT")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A gzipped tarball of a context directory made by `fill`.
fn context_tarball(k: &Kiln, name: &str, fill: impl Fn(&std::path::Path)) -> Vec<u8> {
    let src = k.dir.path().join(name);
    std::fs::create_dir_all(&src).unwrap();
    fill(&src);
    let out = k.dir.path().join(format!("{name}.tar.gz"));
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

/// Contexts from a URL (a tarball, or a lone Dockerfile) and from
/// standard input, as docker takes them; git URLs are refused for now.
#[test]
fn contexts_from_urls_and_stdin() {
    require_root!();
    let k = Kiln::new();
    let s = Server::start();
    let tarball = context_tarball(&k, "remote-ctx", |d| {
        std::fs::write(
            d.join("Dockerfile"),
            "FROM busybox:latest\nCOPY . /ctx/\nCMD [\"cat\", \"/ctx/app.txt\"]\n",
        )
        .unwrap();
        std::fs::write(d.join("app.txt"), "from the tarball\n").unwrap();
        std::fs::write(d.join("ignored.txt"), "no").unwrap();
        std::fs::write(d.join(".dockerignore"), "ignored.txt\n").unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(
            d.join("sub/Other.Dockerfile"),
            "FROM busybox:latest\nCOPY app.txt /other.txt\n",
        )
        .unwrap();
        // A Dockerfile that points out of the context finds nothing there.
        std::os::unix::fs::symlink("/etc/hostname", d.join("Escape.Dockerfile")).unwrap();
    });
    s.put("/ctx.tar.gz", &tarball, Some("\"v1\""), None);
    let url = s.url("/ctx.tar.gz");
    let r = build_from(&k, "remote:1", &url, None, &[]).ok();
    assert!(
        r.stderr.contains("[internal] load remote build context"),
        "{}",
        r.stderr
    );
    let out = k
        .kiln(&[
            "run",
            "--rm",
            "remote:1",
            "sh",
            "-c",
            "cat /ctx/app.txt; ls -A /ctx",
        ])
        .ok()
        .stdout;
    assert_eq!(
        out,
        "from the tarball\n.dockerignore\nDockerfile\nEscape.Dockerfile\napp.txt\nsub\n"
    );
    // Unchanged on the server (a 304): every step cached.
    let r = build_from(&k, "remote:1", &url, None, &[]).ok();
    assert!(r.ran().is_empty(), "{}", r.stderr);
    // -f names a file in the context.
    build_from(&k, "remote:2", &url, None, &["-f", "sub/Other.Dockerfile"]).ok();
    let r = build_from(&k, "remote:3", &url, None, &["-f", "Escape.Dockerfile"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("Dockerfile not found in the context"),
        "{}",
        r.stderr
    );
    // A URL that is not an archive is the Dockerfile.
    s.put(
        "/Dockerfile",
        b"FROM busybox:latest\nRUN echo plain > /plain\n",
        None,
        None,
    );
    build_from(&k, "plain:1", &s.url("/Dockerfile"), None, &[]).ok();
    // The same two from standard input.
    build_from(&k, "stdin:1", "-", Some(&tarball), &[]).ok();
    let out = k.kiln(&["run", "--rm", "stdin:1"]).ok().stdout;
    assert_eq!(out, "from the tarball\n");
    build_from(
        &k,
        "stdin:2",
        "-",
        Some(b"FROM busybox:latest\nRUN echo stdin > /s\n"),
        &[],
    )
    .ok();
    let r = build_from(&k, "stdin:3", "-", Some(b""), &["-f", "-"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A git URL in a form kiln does not take: refused, without its
    // credentials (tests/it/git.rs builds from repositories).
    let r = build_from(
        &k,
        "git:1",
        "https://u:pw@127.0.0.1:1/r.git?submodules=true",
        None,
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not supported yet"), "{}", r.stderr);
    assert!(!r.stderr.contains("pw"), "{}", r.stderr);
    // A missing URL is an infrastructure failure.
    let r = build_from(&k, "gone:1", &s.url("/nothing.tar"), None, &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
}
