//! BuildKit's own shell expansion vectors (`envVarTest`, `wordsTest`), read
//! unchanged from the shared conformance folder and run with the rules of
//! BuildKit's `lex_test.go` harness.

#![allow(
    clippy::print_stderr,
    reason = "the harness reports how many vectors passed"
)]

use std::path::PathBuf;

use kiln_parser::shell::Lexer;

/// The vector file `name`, or `None` (after saying so) when the shared
/// conformance folder is not beside the repository.
fn vectors(name: &str) -> Option<String> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/buildkit/shell");
    if !dir.is_dir() {
        eprintln!("skipped: {} is not there", dir.display());
        return None;
    }
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read conformance vectors {}: {err}", path.display()));
    Some(text)
}

/// `P|SOURCE|EXPECTED`, one word through `process_word` with a fixed
/// environment; `A` and `U` lines run, `W` lines are Windows-only.
#[test]
fn env_var_test() {
    let Some(text) = vectors("envVarTest") else {
        return;
    };
    let env: Vec<String> = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let lexer = Lexer::new('\\');
    let (mut run, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(fields.len(), 3, "line {}: {line:?}", index + 1);
        let (platform, source, expected) = (fields[0], fields[1], fields[2]);
        match platform {
            "A" | "U" => {}
            "W" => {
                skipped += 1;
                continue;
            }
            other => panic!("line {}: unknown platform {other:?}", index + 1),
        }
        run += 1;
        let got = lexer.process_word(source, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(out), expected) => expected != "error" && out.value == expected,
            (Err(_), _) => false,
        };
        if !ok {
            failures.push(format!(
                "line {}: {source:?} expected {expected:?}, got {got:?}",
                index + 1
            ));
        }
    }
    eprintln!("envVarTest: {} of {run} passed", run - failures.len());
    eprintln!("envVarTest: {skipped} windows-only cases skipped");
    assert!(run > 200, "only {run} cases found");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

/// `SOURCE|EXPECTED` through `process_words`; `ENV k=v` lines add to the
/// environment from there on; EXPECTED is comma-separated.
#[test]
fn words_test() {
    let Some(text) = vectors("wordsTest") else {
        return;
    };
    let lexer = Lexer::new('\\');
    let mut env: Vec<String> = Vec::new();
    let mut run = 0;
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            env.push(rest.trim_start_matches(' ').to_string());
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 2, "line {}: {line:?}", index + 1);
        let source = fields[0].trim();
        let expected: Vec<String> = fields[1]
            .trim_start_matches(' ')
            .split(',')
            .map(str::to_string)
            .collect();
        run += 1;
        let got = lexer
            .process_words(source, &env)
            .unwrap_or_else(|_| vec!["error".to_string()]);
        if got != expected {
            failures.push(format!(
                "line {}: {source:?} expected {expected:?}, got {got:?}",
                index + 1
            ));
        }
    }
    eprintln!("wordsTest: {} of {run} passed", run - failures.len());
    assert!(run > 20, "only {run} cases found");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}
