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
