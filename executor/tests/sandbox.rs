//! Real sandboxes on a busybox root filesystem: namespaces, mounts, users,
//! exit statuses, signals and clean-up.
//!
//! The test binary is its own sandbox helper: `main` calls
//! `maybe_run_helper` first, as kiln's `main` does. Cases needing root or
//! overlayfs print `skipped: <why>` when those are missing.

#![allow(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_executor::{
    Child, Error, EtcFile, ExitStatus, Mount, MountKind, Network, Process, Rootfs, Sandbox,
    SandboxSpec, Stdio, StdioSpec, UserError,
};

type Outcome = Result<(), String>;
type Case = (&'static str, fn(&Env) -> Outcome);

const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "id", "hostname", "ls", "sleep", "mount", "env", "touch", "grep", "test",
    "true", "pwd", "kill", "stat", "readlink", "printf", "sort", "wc",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n";
const GROUP: &str = "root:x:0:\nwheel:x:10:root,alice\nalice:x:1000:\nstaff:x:50:alice\n";

struct Env {
    tmp: PathBuf,
    /// A busybox root filesystem; cases copy it or use it as a lower layer.
    base: PathBuf,
    overlay: Option<String>,
    sandbox: Sandbox,
    /// Makes every spec's directories unique.
    specs: std::cell::Cell<u32>,
}

/// What a finished sandbox produced.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("kiln-sandbox-test-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let base = tmp.join("base");
        make_rootfs(&base);
        let overlay = match fs::read_to_string("/proc/filesystems") {
            Ok(s) if s.lines().any(|l| l.ends_with("\toverlay")) => None,
            _ => Some("overlayfs is not available".to_string()),
        };
        let helper = std::env::current_exe().expect("current_exe");
        Env {
            tmp,
            base,
            overlay,
            sandbox: Sandbox::with_helper(helper),
            specs: std::cell::Cell::new(0),
        }
    }

    /// A fresh directory for one case.
    fn case_dir(&self, name: &str) -> PathBuf {
        let d = self.tmp.join(name);
        fs::create_dir_all(d.join("mnt")).expect("case dir");
        d
    }

    /// A private copy of the base root filesystem (busybox hard-linked).
    fn dir_rootfs(&self, name: &str) -> PathBuf {
        let root = self.case_dir(name).join("root");
        copy_tree(&self.base, &root);
        root
    }

    fn spec(&self, name: &str, args: &[&str]) -> SandboxSpec {
        let n = self.specs.get() + 1;
        self.specs.set(n);
        let name = &format!("{name}-{n}");
        let root = self.dir_rootfs(name);
        SandboxSpec {
            rootfs: Rootfs::Dir(root),
            mount_point: self.tmp.join(name).join("mnt"),
            process: Process {
                args: args.iter().map(|s| s.to_string()).collect(),
                env: vec!["PATH=/bin".to_string()],
                cwd: "/".to_string(),
                user: String::new(),
                stdio: StdioSpec {
                    stdin: Stdio::Null,
                    stdout: Stdio::Piped,
                    stderr: Stdio::Piped,
                },
            },
            hostname: "kiln-test".to_string(),
            network: Network::None,
            mounts: Vec::new(),
            etc_files: Vec::new(),
            readonly_rootfs: false,
        }
    }

    fn run(&self, spec: &SandboxSpec) -> Result<Output, Error> {
        let child = self.sandbox.spawn(spec)?;
        Ok(finish(child))
    }

    fn run_ok(&self, spec: &SandboxSpec) -> Result<Output, String> {
        let out = self.run(spec).map_err(|e| format!("spawn: {e}"))?;
        if out.status != ExitStatus::Exited(0) {
            return Err(format!(
                "{:?}: {:?}, stdout {:?}, stderr {:?}",
                spec.process.args, out.status, out.stdout, out.stderr
            ));
        }
        Ok(out)
    }
}

/// Drains the pipes and waits.
fn finish(mut child: Child) -> Output {
    let mut stderr = child.take_stderr();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let mut stdout = String::new();
    if let Some(mut o) = child.take_stdout() {
        let _ = o.read_to_string(&mut stdout);
    }
    let status = child.wait().expect("wait");
    Output {
        status,
        stdout,
        stderr: reader.join().expect("stderr reader"),
    }
}

fn make_rootfs(root: &Path) {
    fs::create_dir_all(root.join("bin")).expect("bin");
    fs::create_dir_all(root.join("etc")).expect("etc");
    fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        symlink("busybox", root.join("bin").join(applet)).expect("applet link");
    }
    fs::write(root.join("etc/passwd"), PASSWD).expect("passwd");
    fs::write(root.join("etc/group"), GROUP).expect("group");
    fs::write(root.join("bin/noexec"), "#!/bin/sh\n").expect("noexec");
    fs::set_permissions(root.join("bin/noexec"), fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// Copies a tree, hard-linking regular files.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type().expect("file type");
        if ty.is_dir() {
            copy_tree(&src, &dst);
        } else if ty.is_symlink() {
            symlink(fs::read_link(&src).expect("readlink"), &dst).expect("symlink");
        } else {
            fs::hard_link(&src, &dst).expect("hard link");
        }
    }
}

fn sh(script: &str) -> Vec<&str> {
    vec!["sh", "-c", script]
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Outcome {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn check(what: &str, ok: bool) -> Outcome {
    if ok { Ok(()) } else { Err(what.to_string()) }
}

// ---- cases ----

fn stdio_pipes(env: &Env) -> Outcome {
    let out = env.run_ok(&env.spec("stdio", &sh("echo out; echo err >&2; printf 'no newline'")))?;
    expect_eq("stdout", out.stdout.as_str(), "out\nno newline")?;
    expect_eq("stderr", out.stderr.as_str(), "err\n")?;

    let mut spec = env.spec("stdin", &["cat"]);
    spec.process.stdio.stdin = Stdio::Piped;
    let mut child = env.sandbox.spawn(&spec).map_err(|e| e.to_string())?;
    let mut stdin = child.take_stdin().ok_or("no stdin pipe")?;
    stdin
        .write_all(b"through the sandbox\n")
        .map_err(|e| e.to_string())?;
    drop(stdin);
    let out = finish(child);
    expect_eq("cat status", out.status, ExitStatus::Exited(0))?;
    expect_eq("cat output", out.stdout.as_str(), "through the sandbox\n")
}

fn exit_codes(env: &Env) -> Outcome {
    let out = env
        .run(&env.spec("exit0", &["true"]))
        .map_err(|e| e.to_string())?;
    expect_eq("true", out.status, ExitStatus::Exited(0))?;
    let out = env
        .run(&env.spec("exit3", &sh("exit 3")))
        .map_err(|e| e.to_string())?;
    expect_eq("exit 3", out.status, ExitStatus::Exited(3))?;
    expect_eq("code", out.status.code(), 3)
}

fn killed_by_signal(env: &Env) -> Outcome {
    let child = env
        .sandbox
        .spawn(&env.spec("sigkill", &["sleep", "100"]))
        .map_err(|e| e.to_string())?;
    child.signal(libc::SIGKILL).map_err(|e| e.to_string())?;
    let out = finish(child);
    expect_eq("status", out.status, ExitStatus::Signaled(libc::SIGKILL))?;
    expect_eq("code", out.status.code(), 137)?;

    // Cancellation from another thread while wait() blocks.
    let mut spec = env.spec("signaller", &["sleep", "100"]);
    spec.process.stdio.stdout = Stdio::Null;
    spec.process.stdio.stderr = Stdio::Null;
    let child = env.sandbox.spawn(&spec).map_err(|e| e.to_string())?;
    let signaller = child.signaller();
    let waiter = std::thread::spawn(move || child.wait());
    std::thread::sleep(Duration::from_millis(50));
    signaller.signal(libc::SIGKILL).map_err(|e| e.to_string())?;
    let status = waiter
        .join()
        .map_err(|_| "waiter panicked".to_string())?
        .map_err(|e| e.to_string())?;
    expect_eq(
        "status via signaller",
        status,
        ExitStatus::Signaled(libc::SIGKILL),
    )?;
    check(
        "signalling an ended sandbox is a no-op",
        signaller.signal(libc::SIGTERM).is_ok(),
    )
}

fn sigterm_ends_sleep(env: &Env) -> Outcome {
    // pid 1 only receives signals it handles (as in docker run without
    // --init), so the shell traps TERM while `sleep 100` runs.
    let script = "trap 'exit 143' TERM; sleep 100 & echo ready; wait";
    let mut child = env
        .sandbox
        .spawn(&env.spec("sigterm", &sh(script)))
        .map_err(|e| e.to_string())?;
    let init_pid = child.pid();
    let mut stdout = BufReader::new(child.take_stdout().ok_or("no stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    expect_eq("ready line", line.as_str(), "ready\n")?;
    let started = Instant::now();
    child.signal(libc::SIGTERM).map_err(|e| e.to_string())?;
    let out = finish(child);
    expect_eq("status", out.status, ExitStatus::Exited(143))?;
    check(
        "ended within 5 s",
        started.elapsed() < Duration::from_secs(5),
    )?;
    check(
        "sandbox pid 1 is gone",
        !Path::new(&format!("/proc/{init_pid}")).exists(),
    )?;
    let child = env
        .sandbox
        .spawn(&env.spec("sig0", &["true"]))
        .map_err(|e| e.to_string())?;
    let rejected = matches!(child.signal(0), Err(Error::InvalidSignal(0)));
    finish(child);
    check("signal 0 is rejected", rejected)
}

fn pid_namespace(env: &Env) -> Outcome {
    let out = env.run_ok(&env.spec("pidns", &sh("echo $$; ls /proc | grep -c '^[0-9]'")))?;
    // sh is pid 1; grep and ls (and sh's subshell) are the only others.
    let mut lines = out.stdout.lines();
    expect_eq("$$", lines.next(), Some("1"))?;
    let n: u32 = lines.next().and_then(|l| l.parse().ok()).unwrap_or(99);
    check(&format!("only a few pids visible, got {n}"), n <= 4)
}

fn hostname(env: &Env) -> Outcome {
    let out = env.run_ok(&env.spec("hostname", &["hostname"]))?;
    expect_eq("hostname", out.stdout.as_str(), "kiln-test\n")
}

fn network_none(env: &Env) -> Outcome {
    let out = env.run_ok(&env.spec(
        "netnone",
        &sh("ls /sys/class/net; cat /sys/class/net/lo/flags; grep -c : /proc/net/dev"),
    ))?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    expect_eq("interfaces", lines.first().copied(), Some("lo"))?;
    let flags = lines
        .get(1)
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .ok_or(format!("bad output {:?}", out.stdout))?;
    check("lo is UP", flags & libc::IFF_UP as u32 != 0)?;
    expect_eq("devices in /proc/net/dev", lines.get(2).copied(), Some("1"))
}

fn network_host(env: &Env) -> Outcome {
    let mut spec = env.spec(
        "nethost",
        &sh("ls /sys/class/net; touch /sys/x 2>/dev/null || echo ro"),
    );
    spec.network = Network::Host;
    let out = env.run_ok(&spec)?;
    let host: Vec<String> = fs::read_dir("/sys/class/net")
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    for name in &host {
        check(
            &format!("host interface {name} visible"),
            out.stdout.lines().any(|l| l == name),
        )?;
    }
    check("/sys read-only", out.stdout.ends_with("ro\n"))
}

fn cwd_created(env: &Env) -> Outcome {
    let mut spec = env.spec("cwd", &["pwd"]);
    spec.process.cwd = "/work/deep/dir".to_string();
    spec.process.user = "1000:1000".to_string();
    let out = env.run_ok(&spec)?;
    expect_eq("pwd", out.stdout.as_str(), "/work/deep/dir\n")?;
    let root = match &spec.rootfs {
        Rootfs::Dir(d) => d.clone(),
        Rootfs::Overlay { .. } => unreachable!(),
    };
    let meta = fs::metadata(root.join("work/deep/dir")).map_err(|e| e.to_string())?;
    expect_eq("owner", (meta.uid(), meta.gid()), (1000, 1000))?;
    expect_eq("mode", meta.mode() & 0o7777, 0o755)
}

fn env_is_exact(env: &Env) -> Outcome {
    let mut spec = env.spec("env", &["env"]);
    spec.process.env = vec![
        "PATH=/bin".to_string(),
        "FOO=bar baz".to_string(),
        "EMPTY=".to_string(),
    ];
    let out = env.run_ok(&spec)?;
    expect_eq(
        "env",
        out.stdout.as_str(),
        "PATH=/bin\nFOO=bar baz\nEMPTY=\n",
    )?;
    // Without PATH, the default one finds /bin/env.
    spec.process.env = vec!["A=1".to_string()];
    let out = env.run_ok(&spec)?;
    expect_eq("env without PATH", out.stdout.as_str(), "A=1\n")
}

fn users(env: &Env) -> Outcome {
    let ids = "id -u; id -g; id -G; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status";
    let run = |user: &str| -> Result<Vec<String>, String> {
        let mut spec = env.spec("user", &sh(ids));
        spec.process.user = user.to_string();
        Ok(env
            .run_ok(&spec)?
            .stdout
            .lines()
            .map(str::to_string)
            .collect())
    };
    let caps = |eff: &str| {
        vec![
            "CapInh:\t0000000000000000".to_string(),
            format!("CapPrm:\t{eff}"),
            format!("CapEff:\t{eff}"),
            "CapBnd:\t00000000a80425fb".to_string(),
            "CapAmb:\t0000000000000000".to_string(),
        ]
    };
    let mut want = vec!["1000", "1000", "1000 10 50"];
    let zero = "0000000000000000";
    let mut want_all: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want_all.extend(caps(zero));
    expect_eq("alice", run("alice")?, want_all)?;

    want = vec!["1000", "1000", "1000"];
    let mut want_all: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want_all.extend(caps(zero));
    expect_eq("1000:1000", run("1000:1000")?, want_all)?;

    want = vec!["0", "0", "0 10"];
    let mut want_all: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want_all.extend(caps("00000000a80425fb"));
    expect_eq("root", run("")?, want_all)?;

    let got = run("alice:staff")?;
    expect_eq(
        "alice:staff",
        &got[..3],
        &["1000", "50", "50"].map(String::from)[..],
    )?;

    let mut spec = env.spec("ghost", &["true"]);
    spec.process.user = "ghost".to_string();
    match env.run(&spec) {
        Err(Error::User(UserError::NoUser(name))) if name == "ghost" => {}
        Err(e) => return Err(format!("ghost: unexpected error {e}")),
        Ok(out) => return Err(format!("ghost ran: {:?}", out.status)),
    }
    let err = env.run(&spec).err().map(|e| e.to_string());
    expect_eq(
        "ghost message",
        err.as_deref(),
        Some("unable to find user ghost: no matching entries in passwd file"),
    )
}

fn overlay_rootfs(env: &Env) -> Outcome {
    if let Some(why) = &env.overlay {
        return Err(format!("skipped: {why}"));
    }
    let dir = env.case_dir("overlay");
    let layer = dir.join("layer");
    fs::create_dir_all(&layer).map_err(|e| e.to_string())?;
    fs::write(layer.join("layer.txt"), "lower\n").map_err(|e| e.to_string())?;
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    fs::create_dir_all(&upper).map_err(|e| e.to_string())?;
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut spec = env.spec(
        "overlay",
        &sh("echo new > /new.txt; echo changed > /layer.txt; cat /layer.txt"),
    );
    spec.rootfs = Rootfs::Overlay {
        lowerdirs: vec![layer.clone(), env.base.clone()],
        upperdir: upper.clone(),
        workdir: work.clone(),
    };
    let out = env.run_ok(&spec)?;
    expect_eq("read back", out.stdout.as_str(), "changed\n")?;
    expect_eq(
        "upper new.txt",
        fs::read_to_string(upper.join("new.txt")).ok().as_deref(),
        Some("new\n"),
    )?;
    expect_eq(
        "upper layer.txt",
        fs::read_to_string(upper.join("layer.txt")).ok().as_deref(),
        Some("changed\n"),
    )?;
    expect_eq(
        "lower layer.txt",
        fs::read_to_string(layer.join("layer.txt")).ok().as_deref(),
        Some("lower\n"),
    )?;
    check(
        "lower has no new.txt",
        !layer.join("new.txt").exists() && !env.base.join("new.txt").exists(),
    )
}

fn overlay_empty_base(env: &Env) -> Outcome {
    if let Some(why) = &env.overlay {
        return Err(format!("skipped: {why}"));
    }
    let dir = env.case_dir("overlay-empty");
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    fs::create_dir_all(&upper).map_err(|e| e.to_string())?;
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut spec = env.spec(
        "overlay-empty",
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "echo hi > /file; /bin/busybox ls -a /",
        ],
    );
    spec.rootfs = Rootfs::Overlay {
        lowerdirs: Vec::new(),
        upperdir: upper.clone(),
        workdir: work,
    };
    spec.mounts.push(Mount {
        destination: "/bin/busybox".to_string(),
        kind: MountKind::Bind {
            source: PathBuf::from("/bin/busybox"),
            readonly: true,
        },
    });
    let out = env.run_ok(&spec)?;
    let mut names: Vec<&str> = out.stdout.lines().collect();
    names.sort();
    expect_eq(
        "root listing",
        names,
        vec![".", "..", "bin", "dev", "file", "proc", "sys"],
    )?;
    check("write landed in upper", upper.join("file").is_file())?;
    check(
        "mount point created in upper",
        upper.join("bin/busybox").is_file(),
    )
}

fn overlay_many_layers(env: &Env) -> Outcome {
    if let Some(why) = &env.overlay {
        return Err(format!("skipped: {why}"));
    }
    // 150 layers with 64-character names: far more than a page of mount
    // options even as relative paths.
    let dir = env.case_dir("overlay-many");
    let layers = dir.join("l");
    let mut lowerdirs = Vec::new();
    for i in 0..150 {
        let l = layers.join(format!("{i:064}"));
        fs::create_dir_all(&l).map_err(|e| e.to_string())?;
        fs::write(l.join(format!("f{i}")), "").map_err(|e| e.to_string())?;
        lowerdirs.push(l);
    }
    lowerdirs.reverse();
    lowerdirs.push(env.base.clone());
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    fs::create_dir_all(&upper).map_err(|e| e.to_string())?;
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut spec = env.spec("overlay-many", &sh("ls / | grep -c '^f'"));
    spec.rootfs = Rootfs::Overlay {
        lowerdirs,
        upperdir: upper,
        workdir: work,
    };
    match env.run(&spec) {
        Ok(out) => expect_eq("layer files", out.stdout.as_str(), "150\n"),
        // Kernels before 6.8 lack lowerdir+: a clear error is the contract.
        Err(Error::Setup(m)) if m.contains("Linux 6.8") => {
            Err(format!("skipped: kernel lacks lowerdir+ ({m})"))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn readonly_rootfs(env: &Env) -> Outcome {
    let mut spec = env.spec(
        "readonly",
        &sh("touch /x 2>&1; echo rc=$?; echo ok > /tmpfs/y && cat /tmpfs/y"),
    );
    spec.readonly_rootfs = true;
    spec.mounts.push(Mount {
        destination: "/tmpfs".to_string(),
        kind: MountKind::Tmpfs {
            size: Some(1 << 20),
        },
    });
    let out = env.run_ok(&spec)?;
    check(
        &format!("write refused: {:?}", out.stdout),
        out.stdout.contains("Read-only file system") && out.stdout.contains("rc=1"),
    )?;
    check("tmpfs still writable", out.stdout.ends_with("ok\n"))?;
    if env.overlay.is_some() {
        return Ok(());
    }
    // The same on an overlay root: nothing but mount points (the base has
    // no /dev, /proc or /sys) reaches the upper dir.
    let dir = env.case_dir("readonly-overlay");
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    fs::create_dir_all(&upper).map_err(|e| e.to_string())?;
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    spec.rootfs = Rootfs::Overlay {
        lowerdirs: vec![env.base.clone()],
        upperdir: upper.clone(),
        workdir: work,
    };
    let out = env.run_ok(&spec)?;
    check(
        &format!("overlay write refused: {:?}", out.stdout),
        out.stdout.contains("Read-only file system"),
    )?;
    let mut entries: Vec<String> = fs::read_dir(&upper)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    entries.sort();
    expect_eq(
        "upper dir",
        entries,
        ["dev", "proc", "sys", "tmpfs"].map(String::from).to_vec(),
    )
}

fn bind_and_tmpfs(env: &Env) -> Outcome {
    let dir = env.case_dir("binds");
    let data = dir.join("data");
    fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    fs::write(data.join("in.txt"), "from host\n").map_err(|e| e.to_string())?;
    let script = "cat /mnt/rw/in.txt; echo w > /mnt/rw/out.txt; \
                  touch /mnt/ro/x 2>/dev/null || echo ro-refused; \
                  grep ' /scratch ' /proc/self/mountinfo";
    let mut spec = env.spec("binds", &sh(script));
    spec.mounts = vec![
        Mount {
            destination: "/mnt/rw".to_string(),
            kind: MountKind::Bind {
                source: data.clone(),
                readonly: false,
            },
        },
        Mount {
            destination: "/mnt/ro".to_string(),
            kind: MountKind::Bind {
                source: data.clone(),
                readonly: true,
            },
        },
        Mount {
            destination: "/scratch".to_string(),
            kind: MountKind::Tmpfs {
                size: Some(4 << 20),
            },
        },
    ];
    let out = env.run_ok(&spec)?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    expect_eq("bind read", lines.first().copied(), Some("from host"))?;
    expect_eq("ro bind", lines.get(1).copied(), Some("ro-refused"))?;
    let tmpfs = lines.get(2).copied().unwrap_or("");
    check(
        &format!("tmpfs mounted: {tmpfs:?}"),
        tmpfs.contains(" - tmpfs ") && tmpfs.contains("size=4096k"),
    )?;
    check(
        "bind write reached the host",
        data.join("out.txt").is_file(),
    )?;
    check("ro bind wrote nothing", !data.join("x").exists())
}

fn symlink_destination_stays_inside(env: &Env) -> Outcome {
    let mut spec = env.spec("escape", &sh("echo inside > /link/sub/f; cat /link/sub/f"));
    let root = match &spec.rootfs {
        Rootfs::Dir(d) => d.clone(),
        Rootfs::Overlay { .. } => unreachable!(),
    };
    let host = env.case_dir("escape").join("host-path");
    fs::create_dir_all(&host).map_err(|e| e.to_string())?;
    symlink(format!("/../..{}", host.display()), root.join("link")).map_err(|e| e.to_string())?;
    spec.mounts.push(Mount {
        destination: "/link/sub".to_string(),
        kind: MountKind::Tmpfs { size: None },
    });
    let out = env.run_ok(&spec)?;
    expect_eq("read back", out.stdout.as_str(), "inside\n")?;
    let host_entries = fs::read_dir(&host).map_err(|e| e.to_string())?.count();
    expect_eq("entries created in the host path", host_entries, 0)?;
    let inside = root.join(host.strip_prefix("/").map_err(|e| e.to_string())?);
    check(
        "destination created inside the root",
        inside.join("sub").is_dir(),
    )
}

fn etc_files(env: &Env) -> Outcome {
    let script = "cat /etc/hosts; cat /etc/hostname; \
                  test -e /etc/resolv.conf && echo present || echo absent; \
                  echo x >> /etc/hosts 2>/dev/null && echo writable || echo readonly";
    let mut spec = env.spec("etc", &sh(script));
    let root = match &spec.rootfs {
        Rootfs::Dir(d) => d.clone(),
        Rootfs::Overlay { .. } => unreachable!(),
    };
    fs::write(root.join("etc/hostname"), "old\n").map_err(|e| e.to_string())?;
    spec.etc_files = vec![
        EtcFile {
            path: "/etc/hosts".to_string(),
            content: "127.0.0.1 localhost\n".to_string(),
            create_missing: true,
        },
        EtcFile {
            path: "/etc/hostname".to_string(),
            content: "kiln-test\n".to_string(),
            create_missing: false,
        },
        EtcFile {
            path: "/etc/resolv.conf".to_string(),
            content: "nameserver 10.0.0.1\n".to_string(),
            create_missing: false,
        },
    ];
    let out = env.run_ok(&spec)?;
    expect_eq(
        "output",
        out.stdout.as_str(),
        "127.0.0.1 localhost\nkiln-test\nabsent\nreadonly\n",
    )?;
    expect_eq(
        "stub created for /etc/hosts",
        fs::read_to_string(root.join("etc/hosts")).ok().as_deref(),
        Some(""),
    )?;
    expect_eq(
        "rootfs hostname untouched",
        fs::read_to_string(root.join("etc/hostname"))
            .ok()
            .as_deref(),
        Some("old\n"),
    )?;
    check(
        "no resolv.conf stub",
        !root.join("etc/resolv.conf").exists(),
    )
}

fn exec_errors(env: &Env) -> Outcome {
    let cases = [
        (
            "nosuch",
            libc::ENOENT,
            "exec: \"nosuch\": executable file not found in $PATH",
        ),
        (
            "/bin/nosuch",
            libc::ENOENT,
            "exec /bin/nosuch: no such file or directory",
        ),
        (
            "/bin/noexec",
            libc::EACCES,
            "exec /bin/noexec: permission denied",
        ),
    ];
    for (program, want_errno, want_message) in cases {
        match env.run(&env.spec("exec", &[program])) {
            Err(Error::Exec {
                program: p,
                errno,
                message,
            }) => {
                expect_eq("program", p.as_str(), program)?;
                expect_eq("errno", errno, want_errno)?;
                expect_eq("message", message.as_str(), want_message)?;
            }
            Err(e) => return Err(format!("{program}: unexpected error {e}")),
            Ok(out) => return Err(format!("{program} ran: {:?}", out.status)),
        }
    }
    Ok(())
}

fn setup_errors(env: &Env) -> Outcome {
    let mut spec = env.spec("setup-error", &["true"]);
    spec.mounts.push(Mount {
        destination: "/data".to_string(),
        kind: MountKind::Bind {
            source: PathBuf::from("/nonexistent/kiln-source"),
            readonly: false,
        },
    });
    match env.run(&spec) {
        Err(Error::Setup(m)) => check(
            &format!("message names the path: {m}"),
            m.contains("/nonexistent/kiln-source") && m.contains("no such file"),
        ),
        Err(e) => Err(format!("unexpected error {e}")),
        Ok(out) => Err(format!("ran: {:?}", out.status)),
    }?;

    // A helper that is not one, and one that does not exist.
    let spec = env.spec("bad-helper", &["true"]);
    match Sandbox::with_helper(PathBuf::from("/bin/true")).spawn(&spec) {
        Err(Error::Protocol(m)) => check(
            &format!("protocol error: {m}"),
            m.contains("without a report"),
        ),
        Err(e) => Err(format!("bad helper: unexpected error {e}")),
        Ok(_) => Err("bad helper started a sandbox".to_string()),
    }?;
    match Sandbox::with_helper(PathBuf::from("/nonexistent/helper")).spawn(&spec) {
        Err(Error::Spawn(_)) => Ok(()),
        Err(e) => Err(format!("missing helper: unexpected error {e}")),
        Ok(_) => Err("missing helper started a sandbox".to_string()),
    }
}

fn hostile_user_files(env: &Env) -> Outcome {
    // A FIFO would block a naive reader; a link to /dev/zero never ends.
    let mut spec = env.spec("fifo-passwd", &["true"]);
    spec.process.user = "alice".to_string();
    let root = match &spec.rootfs {
        Rootfs::Dir(d) => d.clone(),
        Rootfs::Overlay { .. } => unreachable!(),
    };
    fs::remove_file(root.join("etc/passwd")).map_err(|e| e.to_string())?;
    nix::unistd::mkfifo(
        &root.join("etc/passwd"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    match env.run(&spec) {
        Err(Error::User(UserError::NotRegular(p))) => expect_eq("path", p.as_str(), "/etc/passwd"),
        Err(e) => Err(format!("fifo: unexpected error {e}")),
        Ok(out) => Err(format!("fifo: ran {:?}", out.status)),
    }?;
    fs::remove_file(root.join("etc/passwd")).map_err(|e| e.to_string())?;
    symlink("/dev/zero", root.join("etc/passwd")).map_err(|e| e.to_string())?;
    match env.run(&spec) {
        Err(Error::User(UserError::NotRegular(_))) => Ok(()),
        Err(e) => Err(format!("/dev/zero: unexpected error {e}")),
        Ok(out) => Err(format!("/dev/zero: ran {:?}", out.status)),
    }?;
    fs::remove_file(root.join("etc/passwd")).map_err(|e| e.to_string())?;
    let big = fs::File::create(root.join("etc/passwd")).map_err(|e| e.to_string())?;
    big.set_len(2 << 30).map_err(|e| e.to_string())?;
    match env.run(&spec) {
        Err(Error::User(UserError::TooLarge(_))) => Ok(()),
        Err(e) => Err(format!("2 GiB passwd: unexpected error {e}")),
        Ok(out) => Err(format!("2 GiB passwd: ran {:?}", out.status)),
    }?;
    check(
        "rejected quickly",
        started.elapsed() < Duration::from_secs(2),
    )
}

fn only_stdio_fds(env: &Env) -> Outcome {
    // Look at the sandbox's pid 1 from the host while it sleeps.
    let child = env
        .sandbox
        .spawn(&env.spec("fds", &["sleep", "100"]))
        .map_err(|e| e.to_string())?;
    let fd_dir = format!("/proc/{}/fd", child.pid());
    let listed = fs::read_dir(&fd_dir).map(|d| {
        let mut fds: Vec<u32> = d
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort();
        fds
    });
    let cwd = fs::read_link(format!("/proc/{}/cwd", child.pid()));
    child.signal(libc::SIGKILL).map_err(|e| e.to_string())?;
    finish(child);
    expect_eq(
        "fds of pid 1",
        listed.map_err(|e| e.to_string())?,
        vec![0, 1, 2],
    )?;
    expect_eq(
        "cwd of pid 1",
        cwd.map_err(|e| e.to_string())?,
        PathBuf::from("/"),
    )
}

fn dev_and_proc(env: &Env) -> Outcome {
    let script = "ls /dev; stat -c '%F %a' /dev/null; readlink /dev/ptmx; \
                  echo x > /dev/null && echo null-ok; touch /proc/sys/x 2>/dev/null || echo proc-sys-ro; \
                  grep -E '^Sig(Blk|Ign)' /proc/self/status; umask; \
                  cat /proc/kcore | wc -c; ls /sys/firmware | wc -l";
    let out = env.run_ok(&env.spec("dev", &sh(script)))?;
    for name in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "stdin",
        "stdout", "stderr", "ptmx",
    ] {
        check(
            &format!("/dev/{name} present"),
            out.stdout.lines().any(|l| l == name),
        )?;
    }
    check(
        "/dev/null is a 0666 char device",
        out.stdout.contains("character special file 666"),
    )?;
    check("ptmx -> pts/ptmx", out.stdout.contains("\npts/ptmx\n"))?;
    check("null writable", out.stdout.contains("null-ok"))?;
    check("/proc/sys read-only", out.stdout.contains("proc-sys-ro"))?;
    // Nothing blocked or ignored leaks from the helper (Rust ignores
    // SIGPIPE), and the umask is Docker's.
    check(
        &format!("signal state and umask: {:?}", out.stdout),
        out.stdout
            .contains("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n0022\n"),
    )?;
    check(
        &format!("masked paths empty: {:?}", out.stdout),
        out.stdout.ends_with("0022\n0\n0\n"),
    )
}

fn drop_kills(env: &Env) -> Outcome {
    let child = env
        .sandbox
        .spawn(&env.spec("drop", &["sleep", "100"]))
        .map_err(|e| e.to_string())?;
    let pid = child.pid();
    drop(child);
    check(
        "sandbox gone after drop",
        !Path::new(&format!("/proc/{pid}")).exists(),
    )
}

fn kiln_killed(env: &Env) -> Outcome {
    let spec = env.spec("lifeline", &["sleep", "100"]);
    let (r, w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    // SAFETY: the test process is single-threaded here (reader threads of
    // earlier cases have been joined), so the child may allocate.
    match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let code = match env.sandbox.spawn(&spec) {
                Ok(child) => {
                    let mut w = fs::File::from(w);
                    let _ = writeln!(w, "{}", child.pid());
                    drop(w);
                    std::mem::forget(child);
                    loop {
                        std::thread::sleep(Duration::from_secs(60));
                    }
                }
                Err(_) => 1,
            };
            // SAFETY: leave the forked copy without running the parent's
            // exit handlers.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut line = String::new();
            BufReader::new(fs::File::from(r))
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let pid: u32 = line
                .trim()
                .parse()
                .map_err(|_| format!("no pid: {line:?}"))?;
            check(
                "sandbox running",
                Path::new(&format!("/proc/{pid}")).exists(),
            )?;
            nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL)
                .map_err(|e| e.to_string())?;
            let _ = nix::sys::wait::waitpid(child, None);
            let started = Instant::now();
            while Path::new(&format!("/proc/{pid}")).exists() {
                if started.elapsed() > Duration::from_secs(5) {
                    return Err(format!("sandbox pid {pid} still alive 5 s after kiln died"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // The orphaned helper was re-parented to us (subreaper): reap it.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(20)),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            Ok(())
        }
    }
}

// ---- driver ----

fn leftover_mounts(tmp: &Path) -> Vec<String> {
    let needle = tmp.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_string)
        .collect()
}

fn main() {
    kiln_executor::maybe_run_helper();

    let cases: &[Case] = &[
        ("stdio_pipes", stdio_pipes),
        ("exit_codes", exit_codes),
        ("killed_by_signal", killed_by_signal),
        ("sigterm_ends_sleep", sigterm_ends_sleep),
        ("pid_namespace", pid_namespace),
        ("hostname", hostname),
        ("network_none", network_none),
        ("network_host", network_host),
        ("cwd_created", cwd_created),
        ("env_is_exact", env_is_exact),
        ("users", users),
        ("overlay_rootfs", overlay_rootfs),
        ("overlay_empty_base", overlay_empty_base),
        ("overlay_many_layers", overlay_many_layers),
        ("readonly_rootfs", readonly_rootfs),
        ("bind_and_tmpfs", bind_and_tmpfs),
        (
            "symlink_destination_stays_inside",
            symlink_destination_stays_inside,
        ),
        ("etc_files", etc_files),
        ("exec_errors", exec_errors),
        ("setup_errors", setup_errors),
        ("hostile_user_files", hostile_user_files),
        ("only_stdio_fds", only_stdio_fds),
        ("dev_and_proc", dev_and_proc),
        ("drop_kills", drop_kills),
        ("kiln_killed", kiln_killed),
    ];
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<_> = cases
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        for (name, _) in &selected {
            println!("test {name} ... skipped: needs root (namespaces and mounts)");
        }
        return;
    }
    // Orphaned helpers of the kill test come back to us to be reaped.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

    let env = Env::new();
    let mut failed = 0;
    for (name, case) in &selected {
        let before = leftover_mounts(&env.tmp);
        let result = case(&env);
        let after = leftover_mounts(&env.tmp);
        let result = result.and_then(|()| {
            if after.len() > before.len() {
                Err(format!("mounts left in the host namespace: {after:#?}"))
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) if why.starts_with("skipped: ") => println!("test {name} ... {why}"),
            Err(why) => {
                failed += 1;
                println!("test {name} ... FAILED\n    {why}");
            }
        }
    }
    let _ = fs::remove_dir_all(&env.tmp);
    println!("\nsandbox tests: {} run, {failed} failed", selected.len());
    if failed > 0 {
        std::process::exit(1);
    }
}
