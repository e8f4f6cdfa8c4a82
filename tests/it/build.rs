//! Builds end to end, and the cache.

use crate::require_root;
use crate::support::Kiln;

const HELLO: &str = "\
FROM busybox:latest AS build
WORKDIR /src
COPY greeting.txt .
RUN echo \"built in $(pwd)\" > message && cat greeting.txt >> message

FROM busybox:latest
COPY --from=build /src/message /message
CMD [\"cat\", \"/message\"]
";

fn hello(k: &Kiln) {
    k.write("Dockerfile", HELLO);
    k.write("greeting.txt", "hello from the context\n");
}

#[test]
fn multi_stage_build_then_run() {
    require_root!();
    let k = Kiln::new();
    hello(&k);
    let b = k.build("hello:1", &[]).ok();
    assert!(b.stderr.contains("[build 4/4] RUN echo"), "{}", b.stderr);
    let r = k.kiln(&["run", "--rm", "hello:1"]).ok();
    assert_eq!(r.stdout, "built in /src\nhello from the context\n");
    let images = k.kiln(&["images"]).ok();
    assert!(images.stdout.contains("hello "), "{}", images.stdout);
    assert!(images.stdout.contains("busybox "), "{}", images.stdout);
}

#[test]
fn examples_hello_builds_and_runs() {
    require_root!();
    let k = Kiln::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    k.kiln(&["build", "-t", "hello:1", example.to_str().unwrap()])
        .ok();
    let r = k.kiln(&["run", "--rm", "hello:1"]).ok();
    assert!(
        r.stdout.contains("Hello from a kiln-built image!"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.starts_with("built by kiln in stage 'build'"),
        "{}",
        r.stdout
    );
}

#[test]
fn unchanged_rebuild_runs_nothing() {
    require_root!();
    let k = Kiln::new();
    hello(&k);
    k.build("hello:1", &[]).ok();
    let again = k.build("hello:1", &[]).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{}", again.stderr);
    let cached = again.steps("CACHED");
    for step in [
        "[build 2/4] WORKDIR /src",
        "[build 3/4] COPY greeting.txt .",
        "[stage-1 2/2] COPY --from=build /src/message /message",
    ] {
        assert!(
            cached.iter().any(|c| c == step),
            "{step} not CACHED in\n{}",
            again.stderr
        );
    }
    assert!(
        cached.iter().any(|c| c.starts_with("[build 4/4] RUN")),
        "{}",
        again.stderr
    );
}

#[test]
fn touching_a_file_changes_nothing() {
    require_root!();
    let k = Kiln::new();
    hello(&k);
    k.build("hello:1", &[]).ok();
    let p = k.ctx().join("greeting.txt");
    filetime::set_file_mtime(&p, filetime::FileTime::from_unix_time(12345, 0)).unwrap();
    let again = k.build("hello:1", &[]).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{}", again.stderr);
}

#[test]
fn changing_a_copied_file_reruns_that_step_and_later_only() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCOPY c.txt /c.txt\n",
    );
    k.write("a.txt", "a1");
    k.write("c.txt", "c1");
    k.build("t:1", &[]).ok();
    k.write("a.txt", "a2");
    let b = k.build("t:1", &[]).ok();
    assert_eq!(
        b.ran(),
        vec![
            "[3/5] COPY a.txt /a.txt",
            "[4/5] RUN cat /a.txt > /b.txt",
            "[5/5] COPY c.txt /c.txt"
        ],
        "{}",
        b.stderr
    );
    assert!(
        b.steps("CACHED")
            .contains(&"[2/5] RUN echo one > /one".to_string()),
        "{}",
        b.stderr
    );
    let r = k.kiln(&["run", "--rm", "t:1", "cat", "/b.txt"]).ok();
    assert_eq!(r.stdout, "a2");
}

#[test]
fn no_cache_reruns_everything() {
    require_root!();
    let k = Kiln::new();
    k.write("Dockerfile", "FROM busybox:latest\nRUN echo hi > /hi\n");
    k.build("t:1", &[]).ok();
    let b = k.build("t:1", &["--no-cache"]).ok();
    assert_eq!(b.ran(), vec!["[2/2] RUN echo hi > /hi"], "{}", b.stderr);
}

#[test]
fn run_shell_and_exec_forms_env_workdir() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nENV GREETING=hi NAME=\"kiln user\"\nWORKDIR /work/dir\nRUN echo \"$GREETING $NAME\" > out\nRUN [\"/bin/sh\", \"-c\", \"pwd >> out\"]\nENTRYPOINT [\"cat\"]\nCMD [\"/work/dir/out\"]\n",
    );
    k.build("t:1", &[]).ok();
    let r = k.kiln(&["run", "--rm", "t:1"]).ok();
    assert_eq!(r.stdout, "hi kiln user\n/work/dir\n");
    // A command given to run replaces CMD, not ENTRYPOINT.
    let r = k.kiln(&["run", "--rm", "t:1", "/etc/passwd"]).ok();
    assert!(r.stdout.starts_with("root:x:0:0"), "{}", r.stdout);
}

#[test]
fn root_flag_after_the_subcommand() {
    require_root!();
    let k = Kiln::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["images", "--root"])
        .arg(k.root())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("busybox"));
}

#[test]
fn copy_snapshotter_builds_the_same() {
    require_root!();
    let k = Kiln::with_snapshotter(Some("copy"));
    hello(&k);
    k.build("hello:1", &[]).ok();
    let r = k.kiln(&["run", "--rm", "hello:1"]).ok();
    assert_eq!(r.stdout, "built in /src\nhello from the context\n");
    let again = k.build("hello:1", &[]).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{}", again.stderr);
}

#[test]
fn build_from_scratch_and_iidfile() {
    require_root!();
    let k = Kiln::new();
    k.write("Dockerfile", "FROM scratch\nCOPY data /data\n");
    k.write("data/a", "a");
    let iid = k.dir.path().join("iid");
    k.build("data:1", &["--iidfile", iid.to_str().unwrap()])
        .ok();
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let images = k.kiln(&["images", "--no-trunc"]).ok();
    assert!(images.stdout.contains(&id), "{}", images.stdout);
}

fn deletions_survive_in_layers(snapshotter: Option<&'static str>) {
    let k = Kiln::with_snapshotter(snapshotter);
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN mkdir -p /d/e && echo x > /d/e/f && echo y > /keep\nRUN rm -rf /d && rm /bin/vi\n",
    );
    k.build("del:1", &[]).ok();
    let r = k
        .kiln(&[
            "run",
            "--rm",
            "del:1",
            "sh",
            "-c",
            "ls /d /bin/vi 2>&1; cat /keep; ls /bin/sh",
        ])
        .ok();
    assert!(
        r.stdout.contains("/d: No such file or directory"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("/bin/vi: No such file or directory"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("y\n/bin/sh\n"), "{}", r.stdout);
    // The last layer records the deletions as OCI whiteouts: one for the
    // directory (no per-child ones), one for the file.
    let blobs = k.root().join("blobs/sha256");
    let listings: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let out = std::process::Command::new("tar")
                .arg("tf")
                .arg(e.path())
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .collect();
    let layer = listings
        .iter()
        .find(|l| l.contains(".wh.vi"))
        .unwrap_or_else(|| panic!("no layer with whiteouts in {listings:?}"));
    let mut entries: Vec<&str> = layer.lines().collect();
    entries.sort();
    assert_eq!(entries, vec![".wh.d", "bin/", "bin/.wh.vi"], "{layer}");
}

#[test]
fn deletions_become_whiteouts_overlay() {
    require_root!();
    deletions_survive_in_layers(None);
}

#[test]
fn deletions_become_whiteouts_copy() {
    require_root!();
    deletions_survive_in_layers(Some("copy"));
}

#[test]
fn dockerignore_hides_files_and_keeps_keys_stable() {
    require_root!();
    let k = Kiln::new();
    k.write("Dockerfile", "FROM busybox:latest\nCOPY . /ctx\nRUN find /ctx -type f | sort > /list\nCMD [\"cat\", \"/list\"]\n");
    for f in [
        "bar",
        "bay",
        "baz",
        "src/main.c",
        "src/main.o",
        "logs/a.log",
        "logs/keep.log",
    ] {
        k.write(f, f);
    }
    k.write(
        ".dockerignore",
        "# comment\nba*\n!bay\n**/*.o\nlogs\n!logs/keep.log\nDockerfile\n.dockerignore\n",
    );
    k.build("ign:1", &[]).ok();
    let r = k.kiln(&["run", "--rm", "ign:1"]).ok();
    assert_eq!(r.stdout, "/ctx/bay\n/ctx/logs/keep.log\n/ctx/src/main.c\n");
    // Changing an ignored file reruns nothing.
    k.write("src/main.o", "changed");
    k.write("baz", "changed");
    let again = k.build("ign:1", &[]).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{}", again.stderr);
    // A literal source that is ignored is missing.
    k.write("Dockerfile", "FROM busybox:latest\nCOPY bar /bar\n");
    let r = k.build("ign:2", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("\"/bar\": not found"), "{}", r.stderr);
}

#[test]
fn dockerfile_specific_ignore_file_replaces_the_root_one() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "sub/app.Dockerfile",
        "FROM busybox:latest\nCOPY . /ctx\nCMD [\"ls\", \"/ctx\"]\n",
    );
    k.write("sub/app.Dockerfile.dockerignore", "a\nsub\n");
    k.write(".dockerignore", "b\n");
    k.write("a", "a");
    k.write("b", "b");
    let f = k.ctx().join("sub/app.Dockerfile");
    k.build("ign:1", &["-f", f.to_str().unwrap()]).ok();
    let r = k.kiln(&["run", "--rm", "ign:1"]).ok();
    assert_eq!(r.stdout, "b\n");
}

#[test]
fn onbuild_triggers_run_in_the_child_build_only() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nONBUILD RUN echo triggered >> /log\nONBUILD COPY data /data\n",
    );
    k.build("base:1", &[]).ok();
    k.write("Dockerfile", "FROM base:1\nRUN echo child >> /log\n");
    k.write("data", "from the child's context");
    let b = k.build("child:1", &[]).ok();
    assert!(
        b.stderr.contains("RUN echo triggered >> /log"),
        "{}",
        b.stderr
    );
    let r = k
        .kiln(&["run", "--rm", "child:1", "sh", "-c", "cat /log /data"])
        .ok();
    assert_eq!(r.stdout, "triggered\nchild\nfrom the child's context");
    // Grandchildren do not run them again.
    k.write("Dockerfile", "FROM child:1\nRUN echo grandchild >> /log\n");
    k.build("grandchild:1", &[]).ok();
    let r = k.kiln(&["run", "--rm", "grandchild:1", "cat", "/log"]).ok();
    assert_eq!(r.stdout, "triggered\nchild\ngrandchild\n");
}

#[test]
fn onbuild_runs_for_a_stage_of_the_same_file() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS base\nONBUILD RUN echo hi > /hi\nFROM base\nRUN cat /hi\n",
    );
    k.build("t:1", &[]).ok();
    let r = k.kiln(&["run", "--rm", "t:1", "cat", "/hi"]).ok();
    assert_eq!(r.stdout, "hi\n");
}

#[test]
fn copy_exclude_parents_and_link() {
    require_root!();
    let k = Kiln::new();
    for f in [
        "dir1/a.png",
        "dir1/b.txt",
        "dir2/c.pdf",
        "dir2/d.txt",
        "tree/x/y/z.txt",
        "tree/x/w.txt",
    ] {
        k.write(f, f);
    }
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         COPY --exclude=*.txt dir* /ex/\n\
         COPY --exclude=*/*.png . /all/\n\
         COPY --parents tree/x/y/z.txt dir1/*.png /par/\n\
         COPY --parents tree/./x/y /piv/\n\
         RUN rm -rf /linked && mkdir /linked && echo base > /linked/base\n\
         COPY --link dir2 /linked/\n",
    );
    k.build("t:1", &[]).ok();
    let list = |dir: &str| {
        k.kiln(&["run", "--rm", "t:1", "find", dir, "-type", "f"])
            .ok()
            .stdout
            .lines()
            .map(str::to_string)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let set = |v: &[&str]| {
        v.iter()
            .map(|s| s.to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(list("/ex"), set(&["/ex/a.png", "/ex/c.pdf"]));
    assert!(!list("/all").contains("/all/dir1/a.png"));
    assert!(list("/all").contains("/all/dir1/b.txt"));
    assert_eq!(
        list("/par"),
        set(&["/par/tree/x/y/z.txt", "/par/dir1/a.png"])
    );
    assert_eq!(list("/piv"), set(&["/piv/x/y/z.txt"]));
    assert_eq!(
        list("/linked"),
        set(&["/linked/base", "/linked/c.pdf", "/linked/d.txt"])
    );
    // The --link copy does not depend on what is below it: a change
    // earlier in the stage reruns the link, not the copy.
    let df = std::fs::read_to_string(k.ctx().join("Dockerfile")).unwrap();
    k.write("Dockerfile", &df.replace("echo base", "echo changed"));
    let b = k.build("t:1", &[]).ok();
    let ran = b.ran();
    assert!(
        ran.iter().any(|r| r.contains("LINK COPY --link dir2")),
        "{ran:?}"
    );
    assert!(
        !ran.iter().any(|r| r.contains("] COPY --link dir2")),
        "{ran:?}\n{}",
        b.stderr
    );
}

#[test]
fn add_extracts_local_archives_and_copies_files() {
    require_root!();
    let k = Kiln::new();
    let src = k.dir.path().join("archive-src");
    std::fs::create_dir_all(src.join("pkg/bin")).unwrap();
    std::fs::write(src.join("pkg/bin/tool"), "#!/bin/sh\necho tool\n").unwrap();
    std::fs::write(src.join("pkg/README"), "readme").unwrap();
    let ctx = k.ctx();
    let tar = |name: &str, flag: &str| {
        let out = std::process::Command::new("tar")
            .arg(format!("-c{flag}f"))
            .arg(ctx.join(name))
            .args(["--owner=7", "--group=8", "-C"])
            .arg(&src)
            .arg("pkg")
            .status()
            .unwrap();
        assert!(out.success());
    };
    tar("plain.tar", "");
    tar("gz.tgz", "z");
    tar("bz.tar.bz2", "j");
    tar("xz.tar.xz", "J");
    k.write("not-a-tar.tar.gz", "just text");
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         ADD plain.tar /plain/\n\
         ADD gz.tgz /gz\n\
         ADD bz.tar.bz2 xz.tar.xz /multi/\n\
         ADD --chown=1:1 plain.tar /owned/\n\
         ADD not-a-tar.tar.gz /text/\n\
         ADD --unpack=false plain.tar /kept/\n",
    );
    k.build("add:1", &[]).ok();
    let r = k
        .kiln(&[
            "run",
            "--rm",
            "add:1",
            "sh",
            "-c",
            "cat /plain/pkg/README /gz/pkg/README /multi/pkg/README; echo; \
             stat -c '%u:%g' /plain/pkg/bin/tool /owned/pkg/bin/tool; \
             cat /text/not-a-tar.tar.gz; echo; ls /kept",
        ])
        .ok();
    assert_eq!(
        r.stdout,
        "readmereadmereadme\n7:8\n1:1\njust text\nplain.tar\n"
    );
    // ADD with a checksum needs a remote source.
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nADD --checksum=sha256:00 plain.tar /x\n",
    );
    let b = k.build("add:2", &[]);
    assert_eq!(b.code, 2, "{}", b.stderr);
    assert!(
        b.stderr
            .contains("checksum requires HTTP(S) or Git sources"),
        "{}",
        b.stderr
    );
}

#[test]
fn early_cutoff_when_a_rebuilt_stage_yields_the_same_files() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS gen\nARG V=1a\nRUN echo \"$V\" | cut -c1 > /first\n\
         FROM busybox:latest\nCOPY --from=gen /first /first\nRUN echo expensive > /e\n",
    );
    k.build("t:1", &[]).ok();
    let b = k.build("t:1", &["--build-arg", "V=1b"]).ok();
    // The generating step reruns (another V) and writes the same bytes:
    // the copy of them, and what follows, stay cached.
    assert_eq!(
        b.ran(),
        vec!["[gen 2/2] RUN echo \"$V\" | cut -c1 > /first"],
        "{}",
        b.stderr
    );
    let cached = b.steps("CACHED");
    assert!(
        cached.contains(&"[stage-1 3/3] RUN echo expensive > /e".to_string()),
        "{}",
        b.stderr
    );
    // A real change gets through.
    let b = k.build("t:1", &["--build-arg", "V=2"]).ok();
    assert_eq!(b.ran().len(), 3, "{}", b.stderr);
}

#[test]
fn a_new_base_image_digest_misses() {
    require_root!();
    let k = Kiln::new();
    k.write("Dockerfile", "FROM busybox:latest\nRUN echo hi > /hi\n");
    k.build("t:1", &[]).ok();
    // Re-tag busybox:latest to an image with one more layer.
    k.write(
        "Dockerfile.base",
        "FROM busybox:latest\nRUN touch /new-in-base\n",
    );
    let f = k.ctx().join("Dockerfile.base");
    k.build("busybox:latest", &["-f", f.to_str().unwrap()]).ok();
    let b = k.build("t:1", &[]).ok();
    assert_eq!(b.ran(), vec!["[2/2] RUN echo hi > /hi"], "{}", b.stderr);
}

#[test]
fn no_cache_filter_reruns_only_named_stages() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS a\nRUN echo a > /a\nFROM busybox:latest AS b\nRUN echo b > /b\nFROM busybox:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    );
    k.build("t:1", &[]).ok();
    let b = k.build("t:1", &["--no-cache-filter", "b"]).ok();
    assert_eq!(b.ran(), vec!["[b 2/2] RUN echo b > /b"], "{}", b.stderr);
    let r = k.build("t:1", &["--no-cache-filter", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no stage named \"nope\""), "{}", r.stderr);
}

/// The one timing test allowed (issue 5): independent stages run at once.
#[test]
fn independent_stages_run_in_parallel() {
    require_root!();
    let k = Kiln::new();
    let mut df = String::new();
    for s in ["a", "b", "c", "d"] {
        df.push_str(&format!(
            "FROM busybox:latest AS {s}\nRUN sleep 2 && echo {s} > /{s}\n"
        ));
    }
    df.push_str("FROM busybox:latest\n");
    for s in ["a", "b", "c", "d"] {
        df.push_str(&format!("COPY --from={s} /{s} /{s}\n"));
    }
    k.write("Dockerfile", &df);
    let start = std::time::Instant::now();
    // The default --jobs, on whatever cores CI has (2 there).
    k.build("par:1", &[]).ok();
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(3),
        "4 × sleep 2 took {took:?}"
    );
}

#[test]
fn progress_modes() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN echo hello-from-run\n",
    );
    let r = k.build("p:1", &["--progress=rawjson", "--no-cache"]).ok();
    let events: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["data"] == "hello-from-run\n")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "done" && e["vertex"].is_number())
    );
    let r = k.build("p:1", &["--progress=quiet"]).ok();
    assert_eq!(r.stderr, "");
    // Not a terminal: auto is plain.
    let r = k.build("p:1", &["--progress=auto"]).ok();
    assert!(
        r.stderr.starts_with("#1 [internal] load build definition"),
        "{}",
        r.stderr
    );
    let r = k.build("p:1", &["--progress=fancy"]);
    assert_eq!(r.code, 2);
}

#[test]
fn outputs_local_tar_oci_docker() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN echo out > /out.txt && ln -s /etc/passwd /link\n",
    );
    let d = k.dir.path();
    let local = d.join("rootfs");
    k.build(
        "o:1",
        &["-o", &format!("type=local,dest={}", local.display())],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(local.join("out.txt")).unwrap(),
        "out\n"
    );
    // Symlinks are data: the link points at the image's passwd, as written.
    assert_eq!(
        std::fs::read_link(local.join("link")).unwrap().to_str(),
        Some("/etc/passwd")
    );
    assert!(local.join("bin/busybox").is_file());
    let list = |path: &std::path::Path| {
        let out = std::process::Command::new("tar")
            .arg("tf")
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let tar = d.join("rootfs.tar");
    k.build("o:1", &["-o", &format!("type=tar,dest={}", tar.display())])
        .ok();
    assert!(list(&tar).lines().any(|l| l == "out.txt"));
    let oci = d.join("oci.tar");
    k.build("o:1", &["-o", &format!("type=oci,dest={}", oci.display())])
        .ok();
    let entries = list(&oci);
    assert!(
        entries.contains("oci-layout")
            && entries.contains("index.json")
            && entries.contains("blobs/sha256/")
    );
    let docker = d.join("docker.tar");
    k.build(
        "o:1",
        &["-o", &format!("type=docker,dest={}", docker.display())],
    )
    .ok();
    assert!(list(&docker).contains("manifest.json"));
    // Every blob in the layout is named by its digest.
    let unpacked = d.join("oci");
    std::fs::create_dir_all(&unpacked).unwrap();
    assert!(
        std::process::Command::new("tar")
            .arg("xf")
            .arg(&oci)
            .arg("-C")
            .arg(&unpacked)
            .status()
            .unwrap()
            .success()
    );
    for e in std::fs::read_dir(unpacked.join("blobs/sha256"))
        .unwrap()
        .flatten()
    {
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(
            kiln_cache::Digest::of(&bytes).hex(),
            e.file_name().to_string_lossy()
        );
    }
    let r = k.build("o:1", &["-o", "type=registry"]);
    assert_eq!(r.code, 2);
}

#[test]
fn explain_cache_tells_why_a_step_missed() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nARG V=1\nCOPY a.txt /a.txt\nRUN echo $V > /v\n",
    );
    k.write("a.txt", "one");
    k.build("x:1", &[]).ok();
    let b = k
        .build("x:1", &["--explain-cache", "--build-arg", "V=2"])
        .ok();
    assert!(
        b.stderr
            .contains("cache miss: variable V changed: \"1\" → \"2\""),
        "{}",
        b.stderr
    );
    k.write("a.txt", "two");
    let b = k
        .build("x:1", &["--explain-cache", "--build-arg", "V=2"])
        .ok();
    assert!(
        b.stderr.contains("cache miss: file changed: a.txt"),
        "{}",
        b.stderr
    );
    assert!(
        b.stderr
            .contains("cache miss: its input changed: [2/3] COPY a.txt /a.txt"),
        "{}",
        b.stderr
    );
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nARG V=1\nCOPY a.txt /a.txt\nRUN echo $V >> /v\n",
    );
    let b = k
        .build("x:1", &["--explain-cache", "--build-arg", "V=2"])
        .ok();
    assert!(
        b.stderr.contains("cache miss: args changed"),
        "{}",
        b.stderr
    );
    // A directory copy names the files added, removed and re-moded in it.
    k.write("Dockerfile", "FROM busybox:latest\nCOPY src /src\n");
    k.write("src/keep", "k");
    k.write("src/old", "o");
    let chmod = |mode| {
        let p = k.ctx().join("src/keep");
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    };
    chmod(0o644);
    k.build("x:1", &[]).ok();
    std::fs::remove_file(k.ctx().join("src/old")).unwrap();
    k.write("src/sub/new", "n");
    chmod(0o600);
    let b = k.build("x:1", &["--explain-cache"]).ok();
    for why in [
        "cache miss: file mode changed: src/keep (644 → 600)",
        "cache miss: file removed: src/old",
        "cache miss: directory added: src/sub",
        "cache miss: file added: src/sub/new",
    ] {
        assert!(b.stderr.contains(why), "{why}: {}", b.stderr);
    }
}

/// SOURCE_DATE_EPOCH (SDE-1): from a global ARG default that a build-arg
/// overrides, it dates the image, its new history entries and the
/// directories WORKDIR makes, and exported files; two builds of the same
/// inputs give the same image.
#[test]
fn source_date_epoch_makes_builds_reproducible() {
    require_root!();
    use kiln_cache::{ImageName, Store};
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "ARG SOURCE_DATE_EPOCH=1700000001\nFROM busybox:latest\nWORKDIR /w/x\nCOPY a.txt .\nARG SOURCE_DATE_EPOCH\nRUN echo \"$SOURCE_DATE_EPOCH\" > /epoch\nENV A=1\n",
    );
    k.write("a.txt", "a");
    let image = |tag: &str| {
        let store = Store::open(&k.root(), None).unwrap();
        store
            .image(&ImageName::parse(tag).unwrap())
            .unwrap()
            .unwrap()
    };
    let d = k.dir.path();
    let local = d.join("out");
    // A file already in the destination, not the image's, keeps its time.
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("mine.txt"), "mine").unwrap();
    filetime::set_file_mtime(
        local.join("mine.txt"),
        filetime::FileTime::from_unix_time(1000, 0),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    k.build(
        "sde:1",
        &["-o", &format!("type=local,dest={}", local.display())],
    )
    .ok();
    let img = image("sde:1");
    assert_eq!(img.config.created.as_deref(), Some("2023-11-14T22:13:21Z"));
    let new = &img.config.history[img.config.history.len() - 5..];
    for h in new {
        assert_eq!(h.created.as_deref(), Some("2023-11-14T22:13:21Z"), "{h:?}");
    }
    use std::os::unix::fs::MetadataExt;
    for p in ["w", "w/x", "epoch", "bin/busybox"] {
        let m = std::fs::symlink_metadata(local.join(p)).unwrap();
        assert_eq!(m.mtime(), 1_700_000_001, "{p}");
    }
    assert_eq!(
        std::fs::metadata(local.join("mine.txt")).unwrap().mtime(),
        1000
    );
    assert_eq!(
        std::fs::read_to_string(local.join("epoch")).unwrap(),
        "1700000001\n"
    );
    // Without steps that date files when they run (a RUN's files, or a
    // directory a COPY adds to: rewrite-timestamp's job, not offered),
    // the same inputs give the same image, every step run again, seconds
    // apart.
    k.write(
        "Dockerfile",
        "ARG SOURCE_DATE_EPOCH=1700000001\nFROM busybox:latest\nWORKDIR /w/x\nENV A=1\n",
    );
    k.build("sde:2", &[]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    k.build("sde:2b", &["--no-cache"]).ok();
    assert_eq!(image("sde:2").config_digest, image("sde:2b").config_digest);
    // A build-arg overrides the default.
    k.build("sde:3", &["--build-arg", "SOURCE_DATE_EPOCH=1700000002"])
        .ok();
    assert_eq!(
        image("sde:3").config.created.as_deref(),
        Some("2023-11-14T22:13:22Z")
    );
    // Not a time: refused, as a usage error.
    let bad = k.build(
        "sde:4",
        &["--build-arg", "SOURCE_DATE_EPOCH=not-a-timestamp"],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("invalid SOURCE_DATE_EPOCH: not-a-timestamp"),
        "{}",
        bad.stderr
    );
}

/// LBL-1: `--label` values go on the image last, over the Dockerfile's.
#[test]
fn label_flags_apply_last() {
    require_root!();
    use kiln_cache::{ImageName, Store};
    let k = Kiln::new();
    k.write("Dockerfile", "FROM busybox:latest\nLABEL a=1 b=2\n");
    k.build("lbl:1", &["--label", "b=3", "--label", "c"]).ok();
    let store = Store::open(&k.root(), None).unwrap();
    let img = store
        .image(&ImageName::parse("lbl:1").unwrap())
        .unwrap()
        .unwrap();
    let labels: Vec<(&str, &str)> = img
        .config
        .config
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(labels, vec![("a", "1"), ("b", "3"), ("c", "")]);
    let r = k.build("lbl:2", &["--label", "=x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// RUN-1 and RUN-3: the image's ENTRYPOINT never wraps a RUN, and proxy
/// build args reach RUN steps (but not the image config).
#[test]
fn run_ignores_entrypoint_and_sees_proxy_args() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nENTRYPOINT [\"/nosuch\"]\nRUN [\"sh\", \"-c\", \"echo $HTTP_PROXY > /proxy\"]\n",
    );
    let out = k.dir.path().join("out");
    k.build(
        "rp:1",
        &[
            "--build-arg",
            "HTTP_PROXY=http://proxy.invalid:3128",
            "-o",
            &format!("type=local,dest={}", out.display()),
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(out.join("proxy")).unwrap(),
        "http://proxy.invalid:3128\n"
    );
    let store = kiln_cache::Store::open(&k.root(), None).unwrap();
    let img = store
        .image(&kiln_cache::ImageName::parse("rp:1").unwrap())
        .unwrap()
        .unwrap();
    assert!(
        !img.config.config.env.iter().any(|e| e.contains("PROXY")),
        "{:?}",
        img.config.config.env
    );
}

/// `RUN --network=host` reaches the host's loopback only when the command
/// line grants `network.host`; by default a step has its own loopback.
#[test]
fn network_host_is_an_entitlement() {
    require_root!();
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // One request: the step with the host's network.
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
    });
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        &format!(
            "FROM busybox:latest\n\
             RUN --network=none ! wget -q -T 2 -O - http://127.0.0.1:{port}/ && echo isolated > /none\n\
             RUN --network=host wget -q -O /got http://127.0.0.1:{port}/\n"
        ),
    );
    let refused = k.build("net:1", &[]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("RUN --network=host needs `kiln build --allow network.host`"),
        "{}",
        refused.stderr
    );
    let out = k.dir.path().join("out");
    k.build(
        "net:1",
        &[
            "--allow",
            "network.host",
            "-o",
            &format!("type=local,dest={}", out.display()),
        ],
    )
    .ok();
    server.join().unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("none")).unwrap(),
        "isolated\n"
    );
    assert_eq!(std::fs::read_to_string(out.join("got")).unwrap(), "hello");
    let bad = k.build("net:2", &["--allow", "security.insecure"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
