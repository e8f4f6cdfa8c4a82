//! Git sources: a repository named by URL (`https://host/repo.git#ref:dir`,
//! `git://…`, `ssh://…`, `git@host:repo.git`), fetched with the `git`
//! program at one commit, its tree (or a directory of it) unpacked into a
//! temporary directory. Used for git build contexts and `ADD <git URL>`.
//!
//! `git` runs as BuildKit runs it: no system or user configuration, no
//! prompts, no hooks, no protocol but http(s), git and ssh (never `file`
//! or `ext`: a Dockerfile must not read the host's repositories), refs
//! after `--`, a shallow fetch first. The tree leaves git through
//! `git archive` and is unpacked with the layer applier, so nothing in the
//! repository can point outside the directory. Files are 0644 or 0755.

use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kiln_cache::Store;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result, io_err};
use crate::op::redact_userinfo;

/// A git URL, split as BuildKit's `dfgitutil` splits it.
#[derive(Clone, PartialEq, Eq)]
pub struct GitUrl {
    /// What `git fetch` is given.
    pub remote: String,
    /// Branch, tag or commit; `None` for the remote's HEAD.
    pub reference: Option<String>,
    /// A directory of the tree, relative and clean; `None` for the root.
    pub subdir: Option<String>,
    /// `?checksum=` (or `?commit=`): what the commit's name must start
    /// with.
    pub checksum: Option<String>,
    /// `?submodules=false`: submodules stay empty directories, as asked.
    pub skip_submodules: bool,
}

impl GitUrl {
    /// `Some` when `s` names a git repository (an error when it does but
    /// cannot be used); `None` for anything else.
    pub fn parse(s: &str) -> Option<std::result::Result<GitUrl, String>> {
        let (base, fragment) = match s.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (s, None),
        };
        let http = base.starts_with("http://") || base.starts_with("https://");
        // BuildKit: an HTTP(S) URL is a repository when its path ends in
        // `.git`.
        let http_git = http
            && base
                .split('?')
                .next()
                .is_some_and(|p| p.trim_end_matches('/').ends_with(".git"));
        let git = base.starts_with("git://")
            || base.starts_with("ssh://")
            || (base.starts_with("git@") && base.contains(':'));
        if !git && !http_git {
            return None;
        }
        Some(Self::split(base, fragment))
    }

    fn split(base: &str, fragment: Option<&str>) -> std::result::Result<GitUrl, String> {
        let (remote, query) = match base.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (base, None),
        };
        let shown = redact_userinfo(remote);
        let (reference, subdir) = match fragment {
            None => ("", None),
            Some(f) => match f.split_once(':') {
                Some((r, d)) => (r, Some(d)),
                None => (f, None),
            },
        };
        let mut url = GitUrl {
            remote: remote.to_string(),
            reference: (!reference.is_empty()).then(|| reference.to_string()),
            subdir: subdir.map(str::to_string),
            checksum: None,
            skip_submodules: false,
        };
        if let Some(q) = query {
            url.query(q).map_err(|m| format!("{shown}: {m}"))?;
        }
        if let Some(r) = &url.reference
            && r.starts_with('-')
        {
            return Err(format!("{shown}: invalid git reference {r:?}"));
        }
        if let Some(d) = url.subdir.take() {
            if d.split('/').any(|c| c == "..") {
                return Err(format!("{shown}: invalid git subdirectory {d:?}"));
            }
            let clean = crate::context::clean_rel(&d);
            url.subdir = (!clean.is_empty()).then_some(clean);
        }
        Ok(url)
    }

    /// The query form (`?ref=…&subdir=…`), with BuildKit's rules and
    /// messages (`dfgitutil.GitRef.loadQuery`).
    fn query(&mut self, query: &str) -> std::result::Result<(), String> {
        let mut seen: Vec<String> = Vec::new();
        let (mut tag, mut branch) = (None, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            if seen.contains(&k) {
                return Err(format!("query {k:?} has multiple values"));
            }
            seen.push(k.clone());
            let flag = matches!(k.as_str(), "submodules" | "keep-git-dir");
            if v.is_empty() && !flag {
                return Err(format!("query {k:?} has no value"));
            }
            let set = |slot: &mut Option<String>, what: &str| match slot {
                Some(old) if *old != v => Err(format!("{what} conflicts: {old:?} vs {v:?}")),
                _ => {
                    *slot = Some(v.clone());
                    Ok(())
                }
            };
            match k.as_str() {
                "ref" => set(&mut self.reference, "ref")?,
                "subdir" => set(&mut self.subdir, "subdir")?,
                "tag" => tag = Some(v),
                "branch" => branch = Some(v),
                "checksum" | "commit" => self.checksum = Some(v.to_lowercase()),
                "keep-git-dir" | "submodules" => {
                    let on = match v.as_str() {
                        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                        "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                        _ => return Err(format!("invalid {k} value: {v:?}")),
                    };
                    if on {
                        return Err(format!("{k}=true is not supported yet"));
                    }
                    if k == "submodules" {
                        self.skip_submodules = true;
                    }
                }
                _ => return Err(format!("unexpected query {k:?}")),
            }
        }
        if tag.is_some() && branch.is_some() {
            return Err("branch conflicts with tag".to_string());
        }
        for (name, prefix) in [(tag, "refs/tags/"), (branch, "refs/heads/")] {
            let Some(name) = name else { continue };
            let full = if name.starts_with(prefix) {
                name
            } else {
                format!("{prefix}{name}")
            };
            match &self.reference {
                Some(r) if *r != full => return Err(format!("ref conflicts: {r:?} vs {full:?}")),
                _ => self.reference = Some(full),
            }
        }
        if self.reference.is_none() {
            self.reference.clone_from(&self.checksum);
        }
        Ok(())
    }

    /// The URL without credentials, for names and messages, with every
    /// option that changes what is fetched: it is also the identity of an
    /// `ADD <git URL>` vertex.
    pub fn shown(&self) -> String {
        let mut s = redact_userinfo(&self.remote);
        let mut query = Vec::new();
        if let Some(c) = &self.checksum {
            query.push(format!("commit={c}"));
        }
        if self.skip_submodules {
            query.push("submodules=false".to_string());
        }
        if !query.is_empty() {
            s.push('?');
            s.push_str(&query.join("&"));
        }
        if self.reference.is_some() || self.subdir.is_some() {
            s.push('#');
            s.push_str(self.reference.as_deref().unwrap_or_default());
            if let Some(d) = &self.subdir {
                s.push(':');
                s.push_str(d);
            }
        }
        s
    }
}

/// Shows the URL without its credentials.
impl std::fmt::Debug for GitUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitUrl({})", self.shown())
    }
}

/// One fetched tree: the commit and where its files are.
#[derive(Debug)]
pub struct GitTree {
    /// The commit's full hex name.
    pub commit: String,
    /// The tree (or the subdirectory) unpacked; removed on drop.
    dir: tempfile::TempDir,
}

impl GitTree {
    /// The directory holding the files.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("tree")
    }

    /// The temporary directory, to keep the files as long as needed.
    pub fn into_dir(self) -> tempfile::TempDir {
        self.dir
    }
}

/// How long one git command may take before it is stopped.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `git` in `repo` with kiln's fixed configuration; its stdout.
fn git(
    repo: &Path,
    home: &Path,
    args: &[&str],
    url: &GitUrl,
    cancel: &CancellationToken,
) -> Result<Vec<u8>> {
    git_with(repo, home, args, url, cancel, |out| {
        let mut b = Vec::new();
        out.read_to_end(&mut b)
            .map(|_| b)
            .map_err(|e| Error::Network {
                url: url.shown(),
                message: format!("reading from git: {e}"),
                lines: None,
            })
    })
}

/// Runs `git` as [`git`] does, handing its stdout to `consume` as it
/// comes (an archive is unpacked while git writes it, never held whole).
/// When `consume` fails, its error is the one told: git then dies of the
/// pipe it closed.
fn git_with<T: Send>(
    repo: &Path,
    home: &Path,
    args: &[&str],
    url: &GitUrl,
    cancel: &CancellationToken,
    consume: impl FnOnce(&mut dyn Read) -> Result<T> + Send,
) -> Result<T> {
    let mut cmd = Command::new("git");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -F /dev/null -o BatchMode=yes")
        .env("LC_ALL", "C");
    // Proxies apply to git's HTTP as to kiln's downloads.
    for (k, v) in std::env::vars_os() {
        if k.to_str()
            .is_some_and(|k| k.to_ascii_lowercase().ends_with("_proxy"))
        {
            cmd.env(k, v);
        }
    }
    cmd.arg("-C")
        .arg(repo)
        .args([
            "-c",
            "protocol.allow=never",
            "-c",
            "protocol.https.allow=always",
            "-c",
            "protocol.http.allow=always",
            "-c",
            "protocol.git.allow=always",
            "-c",
            "protocol.ssh.allow=always",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "tar.umask=0022",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own: git's helpers (remote-https, ssh, index-pack)
    // share its pipes, so stopping it means stopping them all.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let fail = |message: String| Error::Network {
        url: url.shown(),
        message,
        lines: None,
    };
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot run git: {e}")))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    std::thread::scope(|scope| {
        // Both pipes drain on their own threads, so that git never blocks
        // on a full pipe while it is being waited for; of stderr only the
        // end is kept.
        let out_t = scope.spawn(move || match out.as_mut() {
            Some(o) => consume(o),
            None => Err(Error::Usage("internal error: git has no output".into())),
        });
        let err_t = scope.spawn(move || {
            let mut tail = Vec::new();
            if let Some(e) = err.as_mut() {
                let mut buf = [0u8; 8192];
                while let Ok(n) = e.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 64 << 10 {
                        tail.drain(..tail.len() - (32 << 10));
                    }
                }
            }
            tail
        });
        let started = std::time::Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) => {}
                Err(e) => break Err(fail(e.to_string())),
            }
            if cancel.is_cancelled() || started.elapsed() > GIT_TIMEOUT {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill();
                let _ = child.wait();
                break Err(if cancel.is_cancelled() {
                    Error::Canceled
                } else {
                    fail(format!("git {} timed out", args[0]))
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let consumed = out_t
            .join()
            .unwrap_or_else(|_| Err(Error::Usage("internal error: git reader panicked".into())));
        let stderr = err_t.join().unwrap_or_default();
        let status = status?;
        let consumed = consumed?;
        if !status.success() {
            let text = String::from_utf8_lossy(&stderr);
            let last = text
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            return Err(fail(format!(
                "git {} failed: {}",
                args[0],
                redact_userinfo(last.trim())
            )));
        }
        Ok(consumed)
    })
}

/// Fetches `url` at its reference and unpacks the tree (or its
/// subdirectory) into a temporary directory of the store.
pub fn fetch(store: &Store, url: &GitUrl, cancel: &CancellationToken) -> Result<GitTree> {
    let dir = store.temp_dir()?;
    let repo = dir.path().join("repo.git");
    let home = dir.path().join("home");
    let tree = dir.path().join("tree");
    for d in [&repo, &home, &tree] {
        std::fs::create_dir(d).map_err(|e| io_err(d, e))?;
    }
    git(&repo, &home, &["init", "--bare", "-q"], url, cancel)?;
    let want = url.reference.as_deref().unwrap_or("HEAD");
    let refspec = format!("+{want}:refs/kiln/fetched");
    let shallow = [
        "fetch",
        "--depth=1",
        "--no-tags",
        "--no-recurse-submodules",
        "--",
        &url.remote,
        &refspec,
    ];
    let found = match git(&repo, &home, &shallow, url, cancel) {
        Ok(_) => "refs/kiln/fetched".to_string(),
        Err(Error::Canceled) => return Err(Error::Canceled),
        // A server that refuses a shallow fetch, or a commit by its name:
        // fetch every branch and tag, then look the reference up there.
        Err(first) => {
            let Some(reference) = url.reference.clone() else {
                return Err(first);
            };
            let all = [
                "fetch",
                "--no-tags",
                "--no-recurse-submodules",
                "--",
                &url.remote,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ];
            git(&repo, &home, &all, url, cancel).map_err(|_| first)?;
            reference
        }
    };
    let resolved = format!("{found}^{{commit}}");
    let commit = git(
        &repo,
        &home,
        &["rev-parse", "--verify", "--quiet", &resolved],
        url,
        cancel,
    )
    .map_err(|_| Error::Source {
        message: format!("{}: reference {want:?} not found", url.shown()),
        lines: None,
    })?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    if let Some(sum) = &url.checksum
        && !commit.starts_with(sum.as_str())
    {
        return Err(Error::Source {
            message: format!(
                "expected checksum to match {sum}, got {commit} ({})",
                url.shown()
            ),
            lines: None,
        });
    }
    let treeish = match &url.subdir {
        Some(d) => format!("{commit}:{d}"),
        None => commit.clone(),
    };
    if let Some(d) = &url.subdir {
        let kind = git(&repo, &home, &["cat-file", "-t", &treeish], url, cancel).ok();
        if kind
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).trim().to_string())
            != Some("tree".to_string())
        {
            return Err(Error::Source {
                message: format!("{}: no directory {d:?} at commit {commit}", url.shown()),
                lines: None,
            });
        }
    }
    // BuildKit checks submodules out; kiln does not fetch them yet, and
    // leaving their directories empty unasked would be a silent difference.
    // The listing streams past (a big tree is never held): the first
    // gitlink is kept, the rest read to the end so that git ends well.
    let first_gitlink = |out: &mut dyn Read| {
        let mut found = None;
        for line in std::io::BufReader::new(out).split(b'\n') {
            let line = line.map_err(|e| io_err(&repo, e))?;
            if found.is_none() && line.starts_with(b"160000 ") {
                let path = line.splitn(2, |b| *b == b'\t').nth(1).unwrap_or_default();
                found = Some(String::from_utf8_lossy(path).into_owned());
            }
        }
        Ok(found)
    };
    if !url.skip_submodules
        && let Ok(Some(path)) = git_with(
            &repo,
            &home,
            &["ls-tree", "-r", &treeish],
            url,
            cancel,
            first_gitlink,
        )
    {
        return Err(Error::Source {
            message: format!(
                "{}: {path} is a submodule, and kiln does not fetch submodules yet",
                url.shown()
            ),
            lines: None,
        });
    }
    git_with(
        &repo,
        &home,
        &["archive", "--format=tar", &treeish],
        url,
        cancel,
        |out| {
            kiln_cache::layer::extract(std::io::BufReader::new(out), &tree, "", Some((0, 0)))
                .map_err(|e| Error::Cache(kiln_cache::Error::from(e)))
        },
    )?;
    Ok(GitTree { commit, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<std::result::Result<GitUrl, String>> {
        GitUrl::parse(s)
    }

    #[test]
    fn urls_as_buildkit_reads_them() {
        assert_eq!(parse("https://example.com/ctx.tar.gz"), None);
        assert_eq!(parse("https://example.com/x.git.tar"), None);
        assert_eq!(parse("./dir"), None);
        let u = parse("https://u:p@h.example/o/r.git#v1.0:sub/dir")
            .unwrap()
            .unwrap();
        assert_eq!(u.remote, "https://u:p@h.example/o/r.git");
        assert_eq!(u.reference.as_deref(), Some("v1.0"));
        assert_eq!(u.subdir.as_deref(), Some("sub/dir"));
        assert_eq!(u.shown(), "https://h.example/o/r.git#v1.0:sub/dir");
        assert_eq!(
            format!("{u:?}"),
            "GitUrl(https://h.example/o/r.git#v1.0:sub/dir)"
        );
        // Every option that changes the fetch is in the identity.
        let pinned = parse("https://u:p@h/r.git?ref=main&commit=ab12&submodules=false")
            .unwrap()
            .unwrap();
        assert_eq!(
            pinned.shown(),
            "https://h/r.git?commit=ab12&submodules=false#main"
        );
        let u = parse("git@github.com:o/r.git").unwrap().unwrap();
        assert_eq!((u.reference, u.subdir), (None, None));
        let u = parse("git://127.0.0.1:9418/r.git#:docs").unwrap().unwrap();
        assert_eq!((u.reference, u.subdir.as_deref()), (None, Some("docs")));
        assert!(parse("https://h/r.git#--upload-pack=x").unwrap().is_err());
        assert!(parse("https://h/r.git#main:../../etc").unwrap().is_err());
        // The query form.
        let u = parse("https://h/r.git?ref=main&subdir=a/b")
            .unwrap()
            .unwrap();
        assert_eq!(u.remote, "https://h/r.git");
        assert_eq!(
            (u.reference.as_deref(), u.subdir.as_deref()),
            (Some("main"), Some("a/b"))
        );
        let u = parse("https://h/r.git?tag=v1").unwrap().unwrap();
        assert_eq!(u.reference.as_deref(), Some("refs/tags/v1"));
        let u = parse("https://h/r.git?branch=dev&keep-git-dir=false")
            .unwrap()
            .unwrap();
        assert_eq!(u.reference.as_deref(), Some("refs/heads/dev"));
        let u = parse("https://h/r.git?commit=ABC123").unwrap().unwrap();
        assert_eq!(
            (u.reference.as_deref(), u.checksum.as_deref()),
            (Some("abc123"), Some("abc123"))
        );
        let err = |s: &str| parse(s).unwrap().unwrap_err();
        assert_eq!(
            err("https://h/r.git?ref=a&ref=b"),
            "https://h/r.git: query \"ref\" has multiple values"
        );
        assert_eq!(
            err("https://h/r.git?ref="),
            "https://h/r.git: query \"ref\" has no value"
        );
        assert_eq!(
            err("https://h/r.git?tag=a&branch=b"),
            "https://h/r.git: branch conflicts with tag"
        );
        assert_eq!(
            err("https://h/r.git?ref=a#b"),
            "https://h/r.git: ref conflicts: \"b\" vs \"a\""
        );
        assert_eq!(
            err("https://h/r.git?keep-git-dir"),
            "https://h/r.git: keep-git-dir=true is not supported yet"
        );
        assert_eq!(
            err("https://h/r.git?depth=1"),
            "https://h/r.git: unexpected query \"depth\""
        );
    }
}
