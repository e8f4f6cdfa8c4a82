//! `RUN --mount=type=bind|cache|tmpfs`: what each mount shows, that none
//! reaches the layer, the keys, and BuildKit's errors.

use std::path::{Path, PathBuf};

use crate::require_root;
use crate::support::{Kiln, Run};

/// Builds `tag` and exports its root filesystem, returning where.
fn build_out(k: &Kiln, tag: &str, extra: &[&str]) -> (Run, PathBuf) {
    let out = k.dir.path().join(format!("out-{}", tag.replace(':', "-")));
    let _ = std::fs::remove_dir_all(&out);
    let dest = format!("type=local,dest={}", out.display());
    let mut args = vec!["-o", dest.as_str()];
    args.extend_from_slice(extra);
    let r = k.build(tag, &args).ok();
    (r, out)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn context_bind_hides_ignored_files(snapshotter: Option<&'static str>) {
    let k = Kiln::with_snapshotter(snapshotter);
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN --mount=type=bind,target=/ctx find /ctx | sort > /listing\n\
         RUN --mount=target=/sub,source=dir cat /sub/keep.txt > /kept\n",
    );
    k.write(
        ".dockerignore",
        "**/*.secret\ndir/skip\n!dir/skip/back.txt\n",
    );
    k.write("top.txt", "top");
    k.write("a.secret", "hidden");
    k.write("dir/keep.txt", "keep");
    k.write("dir/b.secret", "hidden too");
    k.write("dir/skip/gone.txt", "gone");
    k.write("dir/skip/back.txt", "back");
    let (_, out) = build_out(&k, "ctx:1", &[]);
    assert_eq!(
        read(&out.join("listing")),
        "/ctx\n/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/dir\n/ctx/dir/keep.txt\n/ctx/dir/skip\n\
         /ctx/dir/skip/back.txt\n/ctx/top.txt\n"
    );
    assert_eq!(read(&out.join("kept")), "keep");
    // The mount points the sandbox made are not in the image.
    assert!(!out.join("ctx").exists() && !out.join("sub").exists());
    // Nothing of the overlay reached the context.
    assert!(k.ctx().join("a.secret").is_file());
}

#[test]
fn context_bind_hides_ignored_files_overlay() {
    require_root!();
    context_bind_hides_ignored_files(None);
}

#[test]
fn context_bind_hides_ignored_files_copy() {
    require_root!();
    context_bind_hides_ignored_files(Some("copy"));
}

#[test]
fn context_bind_keeps_modes_and_shows_nested_targets() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN --mount=target=/m/ctx --mount=type=tmpfs,target=/m \
         stat -c '%a %n' /m/ctx/d /m/ctx/d/x > /modes && ls -a /m > /t\n",
    );
    k.write(".dockerignore", "d/y\n");
    k.write("d/x", "x");
    k.write("d/y", "y");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(k.ctx().join("d"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(k.ctx().join("d/x"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, out) = build_out(&k, "modes:1", &[]);
    // `d` is in the whiteout layer: it shows the context's mode.
    assert_eq!(read(&out.join("modes")), "750 /m/ctx/d\n600 /m/ctx/d/x\n");
    // The tmpfs at /m is mounted first (targets are sorted), the context
    // on a directory made in it.
    assert_eq!(read(&out.join("t")), ".\n..\nctx\n");
    assert!(!out.join("m").exists(), "mount stubs reached the layer");
}

#[test]
fn read_write_binds_discard_writes() {
    require_root!();
    for snapshotter in [None, Some("copy")] {
        let k = Kiln::with_snapshotter(snapshotter);
        k.write(
            "Dockerfile",
            "FROM busybox:latest AS base\n\
             RUN mkdir /data && echo base > /data/f\n\
             FROM busybox:latest\n\
             RUN --mount=target=/ctx,rw echo changed > /ctx/f.txt && rm /ctx/g.txt && cat /ctx/f.txt > /seen\n\
             RUN --mount=from=base,source=/data,target=/d,rw echo x > /d/new && rm /d/f && ls /d > /d-seen\n\
             RUN --mount=target=/ctx cat /ctx/f.txt /ctx/g.txt > /after\n\
             RUN --mount=from=base,source=data,target=/d ls /d > /d-after\n",
        );
        k.write("f.txt", "orig\n");
        k.write("g.txt", "g\n");
        let (_, out) = build_out(&k, "rw:1", &[]);
        assert_eq!(read(&out.join("seen")), "changed\n");
        assert_eq!(read(&out.join("after")), "orig\ng\n");
        assert_eq!(read(&k.ctx().join("f.txt")), "orig\n");
        assert_eq!(read(&out.join("d-seen")), "new\n");
        assert_eq!(read(&out.join("d-after")), "f\n");
        assert!(!out.join("ctx").exists() && !out.join("d").exists());
    }
}

#[test]
fn bind_from_a_stage_or_image_with_source_and_relative_target() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS build\n\
         RUN mkdir -p /out/sub && echo built > /out/sub/result && ln -s /out/sub /out/link\n\
         FROM busybox:latest\n\
         WORKDIR /work\n\
         RUN --mount=from=build,source=/out/link,target=art cat art/result > /got && pwd > /pwd\n\
         RUN --mount=from=BUILD,src=out/sub/result,dst=/one cat /one > /file\n\
         RUN --mount=from=busybox:latest,source=/bin,target=/bb test -x /bb/busybox && echo ok > /image\n",
    );
    let (_, out) = build_out(&k, "stage:1", &[]);
    assert_eq!(read(&out.join("got")), "built\n");
    assert_eq!(read(&out.join("pwd")), "/work\n");
    assert_eq!(read(&out.join("file")), "built\n");
    assert_eq!(read(&out.join("image")), "ok\n");
    // WORKDIR made /work; the stub /work/art is gone, as are /one and /bb.
    assert!(out.join("work").is_dir());
    assert!(!out.join("work/art").exists());
    assert!(!out.join("one").exists() && !out.join("bb").exists());
}

#[test]
fn mount_stubs_stay_out_of_the_layer_but_existing_targets_stay() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN mkdir /existing\n\
         RUN --mount=target=/ctx --mount=type=tmpfs,target=/existing \
         --mount=type=cache,target=/a/b/c true\n",
    );
    k.write("x", "x");
    let (_, out) = build_out(&k, "stubs:1", &[]);
    assert!(!out.join("ctx").exists(), "/ctx stub in the image");
    assert!(!out.join("a").exists(), "/a/b/c stubs in the image");
    assert!(out.join("existing").is_dir());
}

#[test]
fn cache_mounts_persist_and_stay_out_of_the_layer() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /cache/log > /seen\n",
    );
    let (_, out) = build_out(&k, "cache:1", &[]);
    assert_eq!(read(&out.join("seen")), "run\n");
    assert!(!out.join("cache").exists(), "the cache reached the layer");
    let (_, out) = build_out(&k, "cache:1", &["--no-cache"]);
    assert_eq!(read(&out.join("seen")), "run\nrun\n");
    // Another id is another cache; the same id under another target is
    // the same one.
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN --mount=type=cache,target=/other cat /other/log > /seen-other 2>&1 || echo none > /seen-other\n\
         RUN --mount=type=cache,id=/cache,target=/elsewhere cat /elsewhere/log > /seen-id\n",
    );
    let (_, out) = build_out(&k, "cache:2", &[]);
    assert_eq!(read(&out.join("seen-other")), "none\n");
    assert_eq!(read(&out.join("seen-id")), "run\nrun\n");
}

#[test]
fn cache_mount_owner_mode_sharing_and_source() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN --mount=type=cache,target=/mycache,uid=1001,gid=1002,mode=0751 \
         stat -c '%u %g %a' /mycache > /owner\n\
         RUN --mount=type=cache,id=shared,target=/c,sharing=locked mkdir -p /c/sub && echo in-sub > /c/sub/f\n\
         RUN --mount=type=cache,id=shared,target=/s,source=sub,sharing=private cat /s/f > /sub\n\
         RUN --mount=type=cache,id=shared,target=/ro,ro touch /ro/x 2> /dev/null || echo read-only > /ro-result\n",
    );
    let (_, out) = build_out(&k, "owner:1", &[]);
    assert_eq!(read(&out.join("owner")), "1001 1002 751\n");
    assert_eq!(read(&out.join("sub")), "in-sub\n");
    assert_eq!(read(&out.join("ro-result")), "read-only\n");
}

#[test]
fn cache_source_cannot_leave_the_cache() {
    require_root!();
    let k = Kiln::new();
    // BuildKit's testCacheMountSourceEscape.
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS init\n\
         RUN --mount=type=cache,id=sourceescape,target=/cache mkdir -p /cache/sel && echo benign > /cache/sel/benign.txt\n\
         FROM init AS link\n\
         RUN --mount=type=cache,id=sourceescape,target=/cache rm -rf /cache/sel && ln -s /etc /cache/sel\n\
         FROM link AS victim\n\
         RUN --mount=type=cache,id=sourceescape,source=sel,target=/victim cat /victim/hostname\n",
    );
    let r = k.build("escape:1", &["--no-cache"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cache mount source \"/sel\": not found in the cache"),
        "{}",
        r.stderr
    );
}

#[test]
fn tmpfs_is_empty_each_time_and_out_of_the_layer() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN --mount=type=tmpfs,target=/mytmp touch /mytmp/foo\n\
         RUN --mount=type=tmpfs,target=/mytmp,size=1m ls -A /mytmp > /ls && df -k /mytmp | tail -1 | awk '{print $2}' > /size\n",
    );
    let (_, out) = build_out(&k, "tmpfs:1", &[]);
    assert_eq!(read(&out.join("ls")), "");
    assert_eq!(read(&out.join("size")), "1024\n");
    assert!(!out.join("mytmp").exists());
}

#[test]
fn ssh_is_refused_clearly() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN --mount=type=ssh true\n",
    );
    let r = k.build("refused:1", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let want = "ERROR: Dockerfile:2:5: RUN --mount=type=ssh is not supported yet";
    assert!(r.stderr.contains(want), "{want}\n{}", r.stderr);
}

/// Every file below `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path()).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        })
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[test]
fn secrets_reach_the_step_and_nothing_else() {
    require_root!();
    let k = Kiln::new();
    let value = "s3cr3t-kiln-value";
    let file = k.dir.path().join("tok.txt");
    std::fs::write(&file, value).unwrap();
    let src = format!("id=tok,src={}", file.display());
    // The Dockerfile names the value by its digest only: the step must
    // see the value without the build ever recording it.
    let sum = kiln_cache::Digest::of(value.as_bytes()).hex();
    k.write(
        "Dockerfile",
        &format!(
            "FROM busybox:latest\n\
             ENV SECRET_ENV=foo\n\
             RUN --mount=type=secret,id=tok [ \"$(sha256sum < /run/secrets/tok | cut -d' ' -f1)\" = {sum} ] && stat -c '%u %g %a' /run/secrets/tok > /default\n\
             RUN --mount=type=secret,id=tok,mode=0440,uid=100,gid=102,target=/s stat -c '%u %g %a' /s > /custom\n\
             RUN --mount=type=secret,id=tok,env=SECRET_ENV [ \"$(printf %s \"$SECRET_ENV\" | sha256sum | cut -d' ' -f1)\" = {sum} ] && [ ! -e /run/secrets/tok ] && echo ok > /env\n\
             RUN --mount=type=secret,id=nope [ ! -e /run/secrets/nope ] && echo skipped > /optional\n\
             RUN [ ! -e /run/secrets ] && [ ! -e /s ] && echo $SECRET_ENV > /after\n"
        ),
    );
    let (_, out) = build_out(&k, "sec:1", &["--secret", &src]);
    assert_eq!(read(&out.join("default")), "0 0 400\n");
    assert_eq!(read(&out.join("custom")), "100 102 440\n");
    assert_eq!(read(&out.join("env")), "ok\n");
    assert_eq!(read(&out.join("optional")), "skipped\n");
    assert_eq!(read(&out.join("after")), "foo\n");
    // The mount points are not in the image.
    assert!(!out.join("run/secrets").exists() && !out.join("s").exists());
    // Nowhere in the store: not in a layer, a key, a record or a log.
    let found = files_containing(&k.root(), value.as_bytes());
    assert!(found.is_empty(), "the secret is in {found:?}");
    // A new value alone does not rerun the steps (BuildKit's keys leave
    // secret values out).
    std::fs::write(&file, "another").unwrap();
    let r = k.build("sec:1", &["--secret", &src]).ok();
    assert!(r.ran().is_empty(), "{}", r.stderr);
    // A required secret that was not given fails the step, naming it.
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN --mount=type=secret,id=nope,required true\n",
    );
    let r = k.build("sec:2", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("secret nope: not found"), "{}", r.stderr);
    // A value with a NUL byte cannot be a variable; the message names the
    // secret, never the value.
    let nul = k.dir.path().join("nul.txt");
    std::fs::write(&nul, b"s3cr3t\0tail").unwrap();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN --mount=type=secret,id=n,env=N true\n",
    );
    let r = k.build(
        "sec:4",
        &["--secret", &format!("id=n,src={}", nul.display())],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("secret n is not text"), "{}", r.stderr);
    assert!(!r.stderr.contains("s3cr3t"), "{}", r.stderr);
    // A secret file that cannot be read is a usage error before any step.
    let r = k.build("sec:3", &["--secret", "id=x,src=/nonexistent/kiln-secret"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("secret x: reading /nonexistent/kiln-secret"),
        "{}",
        r.stderr
    );
}

#[test]
fn invalid_mounts_get_buildkits_messages() {
    require_root!();
    let k = Kiln::new();
    let cases = [
        (
            "FROM busybox:latest\nRUN --mount=typ=tmpfs true\n",
            "ERROR: Dockerfile:2:5: unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)",
        ),
        (
            "FROM busybox:latest\nRUN --mount=type=tmp true\n",
            "ERROR: Dockerfile:2:5: unsupported mount type \"tmp\" (did you mean tmpfs?)",
        ),
        (
            "FROM busybox:latest\nRUN --mont=target=/mytmp,type=tmpfs true\n",
            "unknown flag: --mont (did you mean mount?)",
        ),
        (
            "FROM busybox AS test\nRUN touch /tmp/test\nFROM busybox\nENV ttt=test\n\
             RUN --mount=from=$ttt,type=cache,target=/tmp ls\n",
            "ERROR: Dockerfile:5:5: 'from' doesn't support variable expansion, define alias stage instead",
        ),
        (
            "FROM busybox:latest\nRUN  --mount=type=bind,target=/ true\n",
            "ERROR: Dockerfile:2:6: invalid mount target \"/\"",
        ),
        (
            "FROM busybox:latest AS first\nRUN --mount=from=later,target=/x true\n\
             FROM busybox:latest AS later\nFROM first\n",
            "ERROR: Dockerfile:2:5: cannot mount from stage \"later\" to \"/x\", stage needs to be defined before current command",
        ),
        (
            "FROM busybox:latest\nRUN --mount=target=/x,mode=0755 true\n",
            "ERROR: Dockerfile:2:5: mode not allowed for \"bind\" type mounts",
        ),
        (
            "FROM busybox:latest\nRUN --mount=source=missing,target=/x true\n",
            "failed to compute cache key: \"/missing\": not found",
        ),
    ];
    for (dockerfile, want) in cases {
        k.write("Dockerfile", dockerfile);
        let r = k.build("bad:1", &[]);
        assert_ne!(r.code, 0, "{dockerfile}");
        assert!(r.stderr.contains(want), "{want}\n{}", r.stderr);
    }
}

#[test]
fn bind_keys_follow_what_the_mount_shows() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\
         RUN --mount=target=/src,source=src cat /src/a.txt > /a\n\
         RUN --mount=type=cache,target=/c date > /c/stamp\n",
    );
    k.write(".dockerignore", "src/*.log\n");
    k.write("src/a.txt", "one");
    k.write("src/debug.log", "log 1");
    k.write("other.txt", "other 1");
    let step = "[2/3] RUN --mount=target=/src,source=src cat /src/a.txt > /a".to_string();
    let cache_step = "[3/3] RUN --mount=type=cache,target=/c date > /c/stamp".to_string();
    let first = k.build("keys:1", &[]).ok();
    assert!(first.ran().contains(&step), "{}", first.stderr);
    // An ignored file, a file outside the source and a touch change
    // nothing; the cache's contents are no part of any key.
    k.write("src/debug.log", "log 2");
    k.write("other.txt", "other 2");
    filetime::set_file_mtime(
        k.ctx().join("src/a.txt"),
        filetime::FileTime::from_unix_time(12345, 0),
    )
    .unwrap();
    let again = k.build("keys:1", &[]).ok();
    assert_eq!(again.ran(), Vec::<String>::new(), "{}", again.stderr);
    assert!(
        again.steps("CACHED").contains(&cache_step),
        "{}",
        again.stderr
    );
    // A change in the mounted file reruns the step.
    k.write("src/a.txt", "two");
    let changed = k.build("keys:1", &[]).ok();
    assert!(changed.ran().contains(&step), "{}", changed.stderr);
}

#[test]
fn bind_of_a_rebuilt_stage_reruns_and_different_mounts_differ() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS s\n\
         COPY v.txt /v.txt\n\
         FROM busybox:latest\n\
         RUN --mount=from=s,target=/s cat /s/v.txt > /v || true\n",
    );
    k.write("v.txt", "1");
    let (_, out) = build_out(&k, "st:1", &[]);
    assert_eq!(read(&out.join("v")), "1");
    k.write("v.txt", "2");
    let (r, out) = build_out(&k, "st:1", &[]);
    assert_eq!(read(&out.join("v")), "2", "{}", r.stderr);
    // Same command, another target: another step.
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS s\n\
         COPY v.txt /v.txt\n\
         FROM busybox:latest\n\
         RUN --mount=from=s,target=/t cat /s/v.txt > /v || true\n",
    );
    let r = k.build("st:1", &[]).ok();
    assert_eq!(r.ran().len(), 1, "{}", r.stderr);
}

/// Two stages run at once on one cache: `locked` makes the second wait,
/// `private` gives it a directory of its own; either way neither sees the
/// other's work in progress.
#[test]
fn locked_and_private_caches_are_not_shared_at_once() {
    require_root!();
    for sharing in ["locked", "private"] {
        let k = Kiln::new();
        let step = format!(
            "RUN --mount=type=cache,id=c,target=/c,sharing={sharing} \
             test ! -e /c/busy && touch /c/busy && sleep 1 && rm /c/busy && echo"
        );
        k.write(
            "Dockerfile",
            &format!(
                "FROM busybox:latest AS a\n{step} a > /a\n\
                 FROM busybox:latest AS b\n{step} b > /b\n\
                 FROM busybox:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"
            ),
        );
        let (r, out) = build_out(&k, "locks:1", &[]);
        assert_eq!(
            read(&out.join("a")) + &read(&out.join("b")),
            "a\nb\n",
            "{}",
            r.stderr
        );
    }
}

#[test]
fn cache_from_a_stage_starts_with_its_files() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS seed\n\
         RUN mkdir /deps && echo seeded > /deps/list\n\
         FROM busybox:latest\n\
         RUN --mount=type=cache,from=seed,source=deps,target=/deps \
         cat /deps/list > /first && echo more >> /deps/list\n\
         RUN --mount=type=cache,from=seed,source=deps,target=/deps cat /deps/list > /second\n",
    );
    let (_, out) = build_out(&k, "seeded:1", &[]);
    assert_eq!(read(&out.join("first")), "seeded\n");
    assert_eq!(read(&out.join("second")), "seeded\nmore\n");
    assert!(!out.join("deps").exists());
}
