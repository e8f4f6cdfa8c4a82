//! Bad input: clear one-line errors with file, line and column, distinct
//! exit codes, and a store left as it was.

use crate::require_root;
use crate::support::Kiln;

#[test]
fn failing_run_names_the_line_and_exits_1() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN echo ok\nRUN echo hello && \\\n    exit 3\n",
    );
    let before = k.store_listing();
    let r = k.build("t:1", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("hello"),
        "the step's output is shown:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("ERROR: process \"/bin/sh -c echo hello &&     exit 3\" did not complete successfully: exit code: 3"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ERROR: Dockerfile:3-4:"), "{}", r.stderr);
    assert!(
        r.stderr.contains(" 3 | >>> RUN echo hello && \\"),
        "{}",
        r.stderr
    );
    // The step that succeeded is cached, but no image was made.
    let after = k.store_listing();
    assert_eq!(after.last(), before.last(), "no new image");
}

#[test]
fn unknown_instruction_has_line_and_column() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\n\n  FNTRYPOINT [\"x\"]\n",
    );
    let before = k.store_listing();
    let r = k.build("t:1", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let first = r
        .stderr
        .lines()
        .find(|l| l.starts_with("ERROR:"))
        .unwrap_or_default();
    assert_eq!(
        first,
        "ERROR: Dockerfile:3:3: unknown instruction: FNTRYPOINT (did you mean ENTRYPOINT?)"
    );
    assert!(
        r.stderr
            .contains(" 3 |   FNTRYPOINT [\"x\"]\n   |   ^^^^^^^^^^"),
        "{}",
        r.stderr
    );
    assert_eq!(k.store_listing(), before);
}

#[test]
fn syntax_error_shows_the_offending_text() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nCOPY --chmod=644 --form=x a b\n",
    );
    let r = k.build("t:1", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("ERROR: Dockerfile:2:18: unknown flag: --form (did you mean from?)"),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_context_dockerfile_and_base_image() {
    require_root!();
    let k = Kiln::new();
    let before = k.store_listing();
    let r = k.kiln(&["build", "-t", "t:1", "/nonexistent/ctx"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.trim(),
        "ERROR: context directory /nonexistent/ctx does not exist"
    );

    let r = k.build("t:1", &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.trim().starts_with("ERROR: Dockerfile not found: "),
        "{}",
        r.stderr
    );

    k.write("Dockerfile", "FROM nosuch:1\nRUN true\n");
    let r = k.build("t:1", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("ERROR: Dockerfile:1:6: base image nosuch:1 not found in the store"),
        "{}",
        r.stderr
    );
    assert_eq!(k.store_listing(), before);
}

#[test]
fn missing_copy_source_fails_cleanly() {
    require_root!();
    let k = Kiln::new();
    k.write("Dockerfile", "FROM busybox:latest\nCOPY missing.txt /x\n");
    let before = k.store_listing();
    let r = k.build("t:1", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("\"/missing.txt\": not found"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ERROR: Dockerfile:2:"), "{}", r.stderr);
    assert_eq!(k.store_listing(), before);
}

#[test]
fn unknown_target_is_refused() {
    require_root!();
    let k = Kiln::new();
    k.write("Dockerfile", "FROM busybox:latest AS build\nRUN true\n");
    let r = k.build("t:1", &["--target", "buidl"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("target stage \"buidl\" could not be found (did you mean build?)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_named_like_a_whiteout_is_refused() {
    require_root!();
    let k = Kiln::new();
    k.write("Dockerfile", "FROM busybox:latest\nCOPY .wh.x /\n");
    k.write(".wh.x", "not a deletion");
    let r = k.build("t:1", &[]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("names starting with .wh. mark deletions"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_reports_lint_warnings_and_build_shows_them() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest\nMAINTAINER me\nCMD echo hi\n",
    );
    let c = k.kiln(&["check", k.ctx().to_str().unwrap()]);
    assert_eq!(c.code, 1, "{}{}", c.stdout, c.stderr);
    assert!(c.stdout.contains("WARNING: MaintainerDeprecated - https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/"), "{}", c.stdout);
    assert!(
        c.stdout
            .contains("Dockerfile:3: JSON arguments recommended for CMD"),
        "{}",
        c.stdout
    );
    assert!(
        c.stdout
            .contains("Check complete, 2 warnings have been found!"),
        "{}",
        c.stdout
    );
    let b = k.build("t:1", &[]).ok();
    assert!(b.stderr.contains(" 2 warnings found:\n - MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 2)"), "{}", b.stderr);
    // `# check=error=true` turns them into a failed build.
    k.write(
        "Dockerfile",
        "# check=error=true\nFROM busybox:latest\nMAINTAINER me\n",
    );
    let b = k.build("t:1", &[]);
    assert_eq!(b.code, 2, "{}", b.stderr);
    assert!(
        b.stderr
            .contains("lint violation found for rules: MaintainerDeprecated"),
        "{}",
        b.stderr
    );
    k.write("Dockerfile", "FROM busybox:latest\nCMD [\"true\"]\n");
    let c = k.kiln(&["check", k.ctx().to_str().unwrap()]).ok();
    assert!(
        c.stdout.contains("Check complete, no warnings found."),
        "{}",
        c.stdout
    );
}

/// Interrupts a build whose two steps sleep `t` and `t + 1` seconds (so
/// that tests running at once do not see each other's steps).
fn interrupted_build_leaves_nothing_behind(signal: nix::sys::signal::Signal, t: u32) {
    let k = Kiln::new();
    let (s1, s2) = (format!("sleep {t}"), format!("sleep {}", t + 1));
    k.write(
        "Dockerfile",
        &format!(
            "FROM busybox:latest AS a\nRUN {s1} && echo a > /a\nFROM busybox:latest AS b\nRUN {s2} && echo b > /b\nFROM busybox:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"
        ),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("--root")
        .arg(k.root())
        .args(["build", "--progress=plain", "-t", "int:1"])
        .arg(k.ctx())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let running = |pat: &str| {
        std::process::Command::new("pgrep")
            .args(["-f", pat])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !(running(&s1) && running(&s2)) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "steps never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    if signal == nix::sys::signal::Signal::SIGKILL {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    } else {
        assert_eq!(status.code(), Some(130), "{err}");
        assert!(err.contains("CANCELED"), "{err}");
    }
    // No step process outlives kiln, even after kill -9 (the sandboxes
    // watch kiln and die with it).
    let gone = std::time::Instant::now();
    while running(&s1) || running(&s2) {
        assert!(
            gone.elapsed() < std::time::Duration::from_secs(5),
            "a step outlived kiln"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The next kiln process sweeps what a killed one left in tmp.
    k.kiln(&["images"]).ok();
    no_mounts_or_temp_files(&k);
    // And the store still works.
    k.write("Dockerfile", "FROM busybox:latest\nRUN echo ok > /ok\n");
    k.build("after:1", &[]).ok();
}

#[test]
fn interrupt_leaves_nothing_behind() {
    require_root!();
    interrupted_build_leaves_nothing_behind(nix::sys::signal::Signal::SIGINT, 31);
}

#[test]
fn kill_9_leaves_nothing_behind() {
    require_root!();
    interrupted_build_leaves_nothing_behind(nix::sys::signal::Signal::SIGKILL, 41);
}

#[test]
fn a_failing_step_cancels_the_steps_running_beside_it() {
    require_root!();
    let k = Kiln::new();
    k.write(
        "Dockerfile",
        "FROM busybox:latest AS a\nRUN sleep 51 && echo a > /a\nFROM busybox:latest AS b\nRUN sleep 1; exit 3\nFROM busybox:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    );
    let b = k.build("fail:1", &[]);
    assert_eq!(b.code, 1, "{}", b.stderr);
    assert!(b.stderr.contains("exit code: 3"), "{}", b.stderr);
    assert!(b.stderr.contains("CANCELED"), "{}", b.stderr);
    // kiln returns only once the sibling's sandbox is gone.
    let sleeping = std::process::Command::new("pgrep")
        .args(["-f", "sleep 51"])
        .status()
        .unwrap()
        .success();
    assert!(!sleeping, "the cancelled step outlived the build");
    no_mounts_or_temp_files(&k);
}

/// Nothing of the store is mounted, and its temp directory is empty.
fn no_mounts_or_temp_files(k: &Kiln) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(k.root().to_str().unwrap()), "{mounts}");
    let tmp: Vec<_> = std::fs::read_dir(k.root().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(tmp.is_empty(), "left in tmp: {tmp:?}");
}
