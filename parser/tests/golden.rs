//! kiln's own golden tests, one directory per case under
//! `testdata/parser` at the repository root:
//!
//! - `ok/<case>/Dockerfile` must parse to stages; its typed dump
//!   (`kiln_parser::instruction::dump`) must equal `ok/<case>/expected`,
//!   and printing it back must reparse to the same tree.
//! - `err/<case>/Dockerfile` must be rejected; `err/<case>/expected` holds
//!   `LINE:COL: message` of the error.
//!
//! `KILN_BLESS=1 cargo test -p kiln-parser --test golden` rewrites every
//! `expected` from what the parser gives now (review the diff). A case
//! without `expected` gets one written and fails, so a new case is never
//! passed unseen.

// The counts are the point of this test: print them.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/parser")
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn blessing() -> bool {
    std::env::var_os("KILN_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the case's `expected`, writing it when blessing
/// or when it is missing. Returns a failure message, if any.
fn check(case: &Path, actual: &str) -> Option<String> {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let path = case.join("expected");
    let expected = std::fs::read_to_string(&path).ok();
    if blessing() {
        if expected.as_deref() != Some(actual) {
            std::fs::write(&path, actual).unwrap();
        }
        return None;
    }
    match expected {
        None => {
            std::fs::write(&path, actual).unwrap();
            Some(format!(
                "{name}: no expected file; wrote {} (review it, then rerun)",
                path.display()
            ))
        }
        Some(e) if e == actual => None,
        Some(e) => Some(format!(
            "{name}: differs from {}\n--- expected\n{e}--- got\n{actual}",
            path.display()
        )),
    }
}

/// Printing `df` and parsing the text again must give the same tree.
fn round_trip(name: &str, df: &kiln_parser::Dockerfile) -> Option<String> {
    let printed = kiln_parser::print(df);
    let again = match kiln_parser::parse(printed.as_bytes()) {
        Ok(again) => again,
        Err(e) => return Some(format!("{name}: printed text fails: {e}\n{printed}")),
    };
    let same = again.dump() == df.dump()
        && again.escape == df.escape
        && again.directives.len() == df.directives.len()
        && again
            .nodes
            .iter()
            .zip(&df.nodes)
            .all(|(a, b)| a.heredocs == b.heredocs && a.comments == b.comments);
    if !same {
        return Some(format!(
            "{name}: printed text reparses differently\n{printed}"
        ));
    }
    if kiln_parser::print(&again) != printed {
        return Some(format!("{name}: printing is not idempotent\n{printed}"));
    }
    None
}

#[test]
fn golden_ok() {
    let all = cases(&root().join("ok"));
    assert!(!all.is_empty(), "no cases under {}", root().display());
    let mut failures = Vec::new();
    let mut failed = 0;
    for case in &all {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read(case.join("Dockerfile")).unwrap();
        let before = failures.len();
        match kiln_parser::parse_stages(&input) {
            Ok((df, stages)) => {
                let actual = kiln_parser::instruction::dump(&df, &stages);
                failures.extend(check(case, &actual));
                failures.extend(round_trip(&name, &df));
            }
            Err(e) => failures.push(format!(
                "{name}: rejected: {}:{}: {e}",
                e.span.start.line, e.span.start.column
            )),
        }
        failed += usize::from(failures.len() > before);
    }
    eprintln!("golden ok: {} of {} passed", all.len() - failed, all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_err() {
    let all = cases(&root().join("err"));
    assert!(!all.is_empty(), "no cases under {}", root().display());
    let mut failures = Vec::new();
    for case in &all {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read(case.join("Dockerfile")).unwrap();
        match kiln_parser::parse_stages(&input) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) => {
                let actual = format!("{}:{}: {e}\n", e.span.start.line, e.span.start.column);
                failures.extend(check(case, &actual));
            }
        }
    }
    eprintln!(
        "golden err: {} of {} passed",
        all.len() - failures.len(),
        all.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
