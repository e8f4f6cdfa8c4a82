//! BuildKit's own parser vectors, read unchanged from
//! `../shared/conformance/buildkit/parser`: every positive case must dump
//! byte for byte as its `result`, every negative case must be rejected with
//! a line number.

// The counts are the point of these tests: print them.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;

fn vectors() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/buildkit/parser");
    dir.is_dir().then_some(dir)
}

fn cases(dir: &PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn buildkit_testfiles() {
    let Some(root) = vectors() else {
        eprintln!("skipped: ../shared/conformance/buildkit/parser is not there");
        return;
    };
    let all = cases(&root.join("testfiles"));
    let mut failures = Vec::new();
    for case in &all {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read(case.join("Dockerfile")).unwrap();
        let expected = std::fs::read_to_string(case.join("result")).unwrap();
        match kiln_parser::parse(&input) {
            Ok(df) if df.dump() == expected => {}
            Ok(df) => failures.push(format!(
                "{name}:\n--- expected\n{expected}--- got\n{}",
                df.dump()
            )),
            Err(e) => failures.push(format!("{name}: error {e} at {}", e.span.start)),
        }
    }
    eprintln!(
        "parser testfiles: {} of {} passed",
        all.len() - failures.len(),
        all.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn buildkit_testfiles_negative() {
    let Some(root) = vectors() else {
        eprintln!("skipped: ../shared/conformance/buildkit/parser is not there");
        return;
    };
    let all = cases(&root.join("testfiles-negative"));
    let mut failures = Vec::new();
    for case in &all {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read(case.join("Dockerfile")).unwrap();
        // A case may be valid syntax but fail as instructions (ENV without
        // a value fails in both layers); either layer counts.
        match kiln_parser::parse_stages(&input) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) if e.lines.0 == 0 => failures.push(format!("{name}: no line number in {e}")),
            Err(_) => {}
        }
    }
    eprintln!(
        "parser testfiles-negative: {} of {} rejected",
        all.len() - failures.len(),
        all.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
