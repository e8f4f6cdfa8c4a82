//! Inputs found while fuzzing the front end (`scripts/fuzz.sh`), kept so
//! they stay fixed: each one once crashed or ran away.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kiln_parser::shell::{Error, Lexer, WORK_FACTOR};

/// `${x:+${a//?/${a//?/${a//?/$a}}}}` with `x` unset builds a value of
/// len(a)^4 bytes and drops it; each copy in a word built it again, so a
/// 3 kB word took 6 s (release) with the 16 MiB length limit, which only
/// bounds what survives. The work budget stops it after a few copies.
#[test]
fn discarded_expansions_count_against_the_budget() {
    let limit = 1 << 16;
    // 16^4 = 65536 bytes: each copy stays within the length limit.
    let env = HashMap::from([("a".to_owned(), "x".repeat(16))]);
    let lexer = Lexer::new('\\').max_len(limit);
    let one = "${x:+${a//?/${a//?/${a//?/$a}}}}";
    assert_eq!(lexer.process_word(one, &env).unwrap().value, "");
    let word = one.repeat(1000);
    for result in [
        lexer.process_word(&word, &env).map(|_| ()),
        lexer.process_words(&word, &env).map(|_| ()),
    ] {
        match result {
            Err(Error::TooMuchWork { limit: l, offset }) => {
                assert_eq!(l, limit * WORK_FACTOR);
                assert!(offset > 0 && offset < word.len(), "offset {offset}");
            }
            other => panic!("expected TooMuchWork, got {other:?}"),
        }
    }
}

/// The same shape with the default limits fails fast rather than after
/// minutes (the bound is generous for unoptimised test builds).
#[test]
fn discarded_expansions_default_limits_fail_fast() {
    let env = HashMap::from([("a".to_owned(), "x".repeat(64))]);
    let word = "${x:+${a//?/${a//?/${a//?/$a}}}}".repeat(100);
    let start = Instant::now();
    let result = Lexer::default().process_word(&word, &env);
    assert!(
        matches!(result, Err(Error::TooMuchWork { .. })),
        "{result:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

/// Scanning large values with `#`, `%` and `/` counts too, even when the
/// result is empty: `${a//?/}` on a value at the length limit.
#[test]
fn scanned_values_count_against_the_budget() {
    let limit = 1 << 12;
    let env = HashMap::from([("a".to_owned(), "y".repeat(limit))]);
    let lexer = Lexer::new('\\').max_len(limit);
    for op in ["${a//?/}", "${a%%*}", "${a##*}"] {
        assert_eq!(lexer.process_word(op, &env).unwrap().value, "", "{op}");
        let word = op.repeat(WORK_FACTOR + 1);
        let result = lexer.process_word(&word, &env);
        assert!(
            matches!(result, Err(Error::TooMuchWork { .. })),
            "{op}: {result:?}"
        );
    }
}

/// Ordinary nesting of values well under the limit is untouched.
#[test]
fn nested_defaults_still_expand() {
    let env = HashMap::from([
        ("c".to_owned(), "z".repeat(1000)),
        ("v".to_owned(), "1.2.3".to_owned()),
    ]);
    let lexer = Lexer::new('\\').max_len(4096);
    let out = lexer.process_word("${a:-${b:-${c}}}", &env).unwrap();
    assert_eq!(out.value.len(), 1000);
    let out = lexer.process_word("${v%%.*}-${v#*.}", &env).unwrap();
    assert_eq!(out.value, "1-2.3");
}
