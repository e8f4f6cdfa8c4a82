//! Tests for shell expansion: BuildKit's Go tables (`lex_test.go`) ported
//! as data, the options, the error texts and offsets, and hostile input.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{DEFAULT_MAX_LEN, Env, Error, Lexer, MAX_DEPTH};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn expand(word: &str, env: &dyn Env) -> Result<String, Error> {
    Lexer::new('\\').process_word(word, env).map(|e| e.value)
}

/// One row of BuildKit's `TestProcessWithMatches`: input, environment,
/// the expected value (`None`: must fail), names found, names missing.
type MatchCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

const FOO_BAR: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];

const WITH_MATCHES: &[MatchCase] = &[
    ("x", &[("DUMMY", "dummy")], Some("x"), &[], &[]),
    (
        "x ${UNUSED}",
        &[("DUMMY", "dummy")],
        Some("x "),
        &[],
        &["UNUSED"],
    ),
    ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
    // The plain and `:` forms of `-` and `+`.
    (
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        FOO_BAR,
        Some("xxx  ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        FOO_BAR,
        Some("xxx bbb ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ("${FOO:-}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
    (
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        FOO_BAR,
        Some("aaa bbb "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        FOO_BAR,
        Some("aaa  "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    // `?` and `:?`.
    ("${FOO?aaa}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${BAR?bbb}", FOO_BAR, Some(""), &["BAR"], &[]),
    ("${BAZ?ccc}", FOO_BAR, None, &[], &[]),
    ("${FOO:?aaa}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${BAR:?bbb}", FOO_BAR, None, &[], &[]),
    ("${BAZ:?ccc}", FOO_BAR, None, &[], &[]),
    ("${BAZ:?}", FOO_BAR, None, &[], &[]),
    // Assignment forms are not supported.
    ("${FOO=aaa}", FOO_BAR, None, &[], &[]),
    ("${FOO=:aaa}", FOO_BAR, None, &[], &[]),
    ("${FOO=}", &[], None, &[], &[]),
    // Prefix and suffix removal; regex characters are literal and `}`
    // must be escaped.
    (
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &[("FOO", "()[]{}^$.*?|\\x")],
        Some("x"),
        &["FOO"],
        &[],
    ),
    (
        "${FOO%%\\**}",
        &[("FOO", "xx**")],
        Some("xx"),
        &["FOO"],
        &[],
    ),
    ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y"), &["FOO"], &[]),
    ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        Some("xyy"),
        &["FOO", "BAR"],
        &[],
    ),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy"), &["FOO"], &[]),
    ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
    (
        "${ABC:-.}${FOO%x}${ABC:-.}",
        &[("FOO", "xxyy")],
        Some(".xxyy."),
        &["FOO"],
        &["ABC"],
    ),
    (
        "${FOO%%\\**\\*}",
        &[("FOO", "a***yy*")],
        Some("a"),
        &["FOO"],
        &[],
    ),
    ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO:#}", &[], None, &[], &[]),
    ("${FOO:##}", &[], None, &[], &[]),
    ("${FOO:%}", &[], None, &[], &[]),
    ("${FOO:%%}", &[], None, &[], &[]),
    // Replacement: wildcards, `/` in patterns, escaped separators.
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        Some("/foo.*/*.txt - /foo..*.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        Some("/tmp/bar.txt - /bar.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ],
        Some("/foo/b/c.txt - /foo/c.txt"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        Some("https://google.de"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        Some("\\/tmp\\/foo.txt"),
        &["FOO"],
        &[],
    ),
    // Partial forms BuildKit keeps from crashing.
    (
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("wwxxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO//ww}", &[("FOO", "xxyy")], None, &[], &[]),
    ("${FOO//}", &[("FOO", "xxyy")], None, &[], &[]),
    ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO///}", &[], Some(""), &[], &["FOO"]),
];

#[test]
fn process_with_matches() {
    let lexer = Lexer::new('\\');
    for &(input, pairs, expected, used, unset) in WITH_MATCHES {
        let result = lexer.process_word(input, &env(pairs));
        match (expected, result) {
            (None, Err(_)) => {}
            (None, Ok(out)) => panic!("{input:?} should fail, gave {out:?}"),
            (Some(_), Err(err)) => panic!("{input:?} failed: {err}"),
            (Some(expected), Ok(out)) => {
                assert_eq!(out.value, expected, "{input:?}");
                assert_eq!(out.used, set(used), "used in {input:?}");
                assert_eq!(out.unset, set(unset), "unset in {input:?}");
            }
        }
    }
}

#[test]
fn process_with_matches_platform() {
    let release =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let mut arm = base.to_vec();
    arm.extend([("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")]);
    assert_eq!(
        expand(release, &env(&arm)).unwrap(),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    let mut arm64 = base.to_vec();
    arm64.extend([("TARGETARCH", "arm64"), ("TARGETVARIANT", "")]);
    assert_eq!(
        expand(release, &env(&arm64)).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
    arm64.pop();
    assert_eq!(
        expand(release, &env(&arm64)).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
}

/// BuildKit's `TestShellParserMandatoryEnvVars`, plus the default texts.
#[test]
fn mandatory_vars() {
    let set_env = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty_env = env(&[("VAR", ""), ("ARG", "x")]);
    let unset_env = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";

    assert_eq!(expand(no_empty, &set_env).unwrap(), "plain");
    for env in [&empty_env, &unset_env] {
        let err = expand(no_empty, env).unwrap_err();
        assert_eq!(err.to_string(), "VAR: message herex");
        assert!(matches!(&err, Error::Required { name, offset: 0, .. } if name == "VAR"));
    }
    assert_eq!(expand(no_unset, &set_env).unwrap(), "plain");
    assert_eq!(expand(no_unset, &empty_env).unwrap(), "");
    assert_eq!(
        expand(no_unset, &unset_env).unwrap_err().to_string(),
        "VAR: message herex"
    );

    let cases = [
        ("${V?}", &unset_env, "V: is not allowed to be unset"),
        ("${V:?}", &unset_env, "V: is not allowed to be unset"),
        ("${VAR:?}", &empty_env, "VAR: is not allowed to be empty"),
        ("a${V:?need \"V\" set}", &unset_env, "V: need V set"),
    ];
    for (word, env, message) in cases {
        assert_eq!(
            expand(word, env).unwrap_err().to_string(),
            message,
            "{word}"
        );
    }
}

/// BuildKit's `TestGetEnv`, for the `KEY=value` slice form.
#[test]
fn env_slices() {
    let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(Env::get(list(&[]).as_slice(), "foo"), None);
    assert_eq!(Env::get(list(&["foo"]).as_slice(), "foo"), Some(""));
    assert_eq!(Env::get(list(&["foo="]).as_slice(), "foo"), Some(""));
    assert_eq!(Env::get(list(&["foo=bar"]).as_slice(), "foo"), Some("bar"));
    assert_eq!(
        Env::get(list(&["foo=bar", "car=hat"]).as_slice(), "car"),
        Some("hat")
    );
    let last = list(&["foo=bar", "car=hat", "car=bike", "x=a=b"]);
    assert_eq!(Env::get(last.as_slice(), "car"), Some("bike"));
    assert_eq!(Env::get(&last, "x"), Some("a=b"));
    assert_eq!(Env::get(&last, "fo"), None);
    let tree: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
    assert_eq!(expand("$A", &tree).unwrap(), "1");
    assert_eq!(expand("$A", &last).unwrap(), "");
}

#[test]
fn used_and_unset() {
    let vars = env(&[("A", "a"), ("EMPTY", "")]);
    let out = Lexer::new('\\')
        .process_word(
            "$A ${B:-$C} ${EMPTY+x} '$D' \"$E\" ${A:+${F}} $1 \\$G",
            &vars,
        )
        .unwrap();
    assert_eq!(out.value, "a  x $D    $G");
    assert_eq!(out.used, set(&["A", "EMPTY"]));
    // Words are read eagerly, so `F` counts even though `A` is set; the
    // positional `1` counts as a name, as in BuildKit.
    assert_eq!(out.unset, set(&["1", "B", "C", "E", "F"]));
}

#[test]
fn raw_quotes_keep_quotes() {
    let vars = env(&[("name", "world")]);
    let lexer = Lexer::new('\\').raw_quotes(true);
    let out = lexer
        .process_word("Hello \"${name}\"! '$name' it\\'s", &vars)
        .unwrap();
    assert_eq!(out.value, "Hello \"world\"! '$name' it's");
}

#[test]
fn raw_escapes_keep_escapes() {
    let vars = env(&[("A", "a")]);
    let lexer = Lexer::new('\\').raw_escapes(true);
    assert_eq!(
        lexer.process_word("\\$A \\x $A", &vars).unwrap().value,
        "\\$A \\x a"
    );
    // Inside double quotes a literal escape comes out twice, as in BuildKit.
    assert_eq!(
        lexer.process_word("\"\\t \\$A\"", &vars).unwrap().value,
        "\\\\t \\$A"
    );
    // `-` words never keep escapes.
    assert_eq!(lexer.process_word("${U:-\\x}", &vars).unwrap().value, "x");
}

#[test]
fn skip_unset_env_keeps_references() {
    let vars = env(&[("A", "va")]);
    let lexer = Lexer::new('\\').skip_unset_env(true);
    let out = lexer
        .process_word("$U ${U} ${U:-$A} ${U#x} ${U//a/b} $A ${U:=x} $1", &vars)
        .unwrap();
    // BuildKit writes `${U/a/b}` back with one slash.
    assert_eq!(out.value, "$U ${U} ${U:-va} ${U#x} ${U/a/b} va ${U:=x} $1");
    // The assignment form is still an error once the variable is set.
    assert!(lexer.process_word("${A:=x}", &vars).is_err());
}

#[test]
fn skip_process_quotes_keeps_quotes_literal() {
    let vars = env(&[("A", "va")]);
    let lexer = Lexer::new('\\').skip_process_quotes(true);
    assert_eq!(
        lexer.process_word("\"$A\" '$A'", &vars).unwrap().value,
        "\"va\" 'va'"
    );
}

#[test]
fn backtick_escape() {
    let vars = env(&[("A", "va")]);
    let lexer = Lexer::new('`');
    let cases = [
        ("a`$A", "a$A"),
        ("C:\\path\\$A", "C:\\path\\va"),
        ("\"a`\"b\"", "a\"b"),
        ("\"``\"", "`"),
        ("\"`x\"", "`x"),
        ("hello`", "hello"),
        ("${U:-a`}b}", "a}b"),
        ("${A#v`a}", "va"),
        ("${A#\\*}", "va"),
    ];
    for (word, expected) in cases {
        assert_eq!(
            lexer.process_word(word, &vars).unwrap().value,
            expected,
            "{word}"
        );
    }
}

#[test]
fn error_texts_and_offsets() {
    let vars = env(&[("A", "abc")]);
    let cases: &[(&str, &str, usize)] = &[
        ("ab${}", "syntax error: bad substitution", 2),
        ("${:-x}", "syntax error: bad substitution", 0),
        ("${{a}", "syntax error: bad substitution", 0),
        ("x${", "syntax error: missing '}'", 1),
        ("${a:-b", "syntax error: missing '}'", 0),
        ("${a:-'b", "syntax error: missing '}'", 0),
        ("${a:-${}}", "syntax error: bad substitution", 5),
        ("${a/b", "syntax error: missing '/' in ${}", 0),
        ("${a/b/c", "syntax error: missing '}'", 0),
        ("${a", "unsupported modifier (\u{FFFD}) in substitution", 0),
        ("${a.}", "unsupported modifier (.) in substitution", 0),
        ("${a:=b}", "unsupported modifier (:=) in substitution", 0),
        ("${a:#b}", "unsupported modifier (:#) in substitution", 0),
        ("${a=b}", "unsupported modifier (=) in substitution", 0),
        (
            "x 'abc",
            "unexpected end of statement while looking for matching single-quote",
            2,
        ),
        (
            "x \"abc\\\"",
            "unexpected end of statement while looking for matching double-quote",
            2,
        ),
        (
            "é${A#\\x}",
            "invalid pattern (\\x) in substitution: invalid escape '\\x'",
            2,
        ),
        (
            "${A%x\\qy}",
            "invalid pattern (y\\qx) in substitution: invalid escape '\\q'",
            0,
        ),
        ("${A/a\\/b}", "syntax error: missing '/' in ${}", 0),
        // An inner error at the very end of the word becomes missing '}'.
        ("${a:-x${U?y}", "syntax error: missing '}'", 0),
    ];
    for &(word, message, offset) in cases {
        let err = expand(word, &vars).unwrap_err();
        assert_eq!(err.to_string(), message, "{word}");
        assert_eq!(err.offset(), offset, "{word}");
    }
}

#[test]
fn glob_details() {
    let vars = env(&[("A", "[ab]x"), ("P", "a.b.c"), ("N", "a\nb"), ("F", "foo")]);
    let cases = [
        // Brackets are literal, as in BuildKit's regex translation.
        ("${A#[ab]}", "x"),
        ("${A#?}", "ab]x"),
        ("${P%.*}", "a.b"),
        ("${P%%.*}", "a"),
        ("${P#*.}", "b.c"),
        ("${P##*.}", "c"),
        ("${P/./-}", "a-b.c"),
        ("${P//./-}", "a-b-c"),
        ("${P//?/-}", "-----"),
        ("${P//}", "syntax error"),
        // `*` and `?` do not cross a newline (Go's `.`).
        ("${N#*}", "a\nb"),
        ("${N##*}", "\nb"),
        ("${N//?/x}", "x\nx"),
        // Replace-all runs the replacement through Go's template expansion.
        ("${F//o/[\\$0]}", "f[\\o][\\o]"),
        ("${F/o/[\\$0]}", "f[\\$0]o"),
        ("${F//o/\\$\\$}", "f\\$\\$\\$\\$"),
        // A leading byte order mark in a pattern is dropped by Go's scanner.
        ("${F#\u{FEFF}f}", "oo"),
    ];
    for (word, expected) in cases {
        match expand(word, &vars) {
            Ok(value) => assert_eq!(value, expected, "{word}"),
            Err(err) => assert_eq!("syntax error", expected, "{word}: {err}"),
        }
    }
}

#[test]
fn words_splitting() {
    let vars = env(&[("S", " a  b "), ("E", "")]);
    let lexer = Lexer::new('\\');
    let cases: &[(&str, &[&str])] = &[
        ("x$S y", &["x", "a", "b", "y"]),
        ("x\"$S\"y", &["x a  b y"]),
        ("a \"\" b", &["a", "b"]),
        ("$E", &[]),
        ("cat <<  EOF x", &["cat", "<<  EOF", "x"]),
        ("a<b", &["a<b"]),
        ("a\\ b", &["a b"]),
        // BuildKit's shared word buffer would give ["080"] here.
        ("8${X:-0}80", &["8080"]),
    ];
    for &(word, expected) in cases {
        assert_eq!(
            lexer.process_words(word, &vars).unwrap(),
            expected,
            "{word}"
        );
    }
    assert!(lexer.process_words("a 'b", &vars).is_err());
}

#[test]
fn byte_order_mark_at_start_is_dropped() {
    let vars = env(&[("A", "a")]);
    assert_eq!(expand("\u{FEFF}$A", &vars).unwrap(), "a");
    assert_eq!(expand("x\u{FEFF}$A", &vars).unwrap(), "x\u{FEFF}a");
    let err = expand("\u{FEFF}${}", &vars).unwrap_err();
    assert_eq!(err.offset(), 3);
}

#[test]
fn unicode_names() {
    let vars = env(&[("이름", "v"), ("x١", "d")]);
    // Letters and Nd digits continue a name; a combining mark does not.
    assert_eq!(expand("$이름.$x١", &vars).unwrap(), "v.d");
    assert_eq!(expand("$이름\u{93E}", &vars).unwrap(), "v\u{93E}");
    assert_eq!(expand("$١٢x", &vars).unwrap(), "x");
}

fn nested(depth: usize) -> String {
    format!("{}x{}", "${a:-".repeat(depth), "}".repeat(depth))
}

#[test]
fn nesting_limit() {
    let vars = env(&[]);
    // The reader keeps its nesting on the heap: a small stack is enough
    // even in debug builds.
    let result = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            assert_eq!(expand(&nested(MAX_DEPTH), &vars).unwrap(), "x");
            let err = expand(&nested(MAX_DEPTH + 1), &vars).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::TooDeep {
                        limit: MAX_DEPTH,
                        ..
                    }
                ),
                "{err}"
            );
            let deep = nested(100_000);
            let started = Instant::now();
            assert!(matches!(expand(&deep, &vars), Err(Error::TooDeep { .. })));
            // Through double quotes too, and unterminated.
            let quoted = "${a:-\"".repeat(100_000);
            assert!(expand(&quoted, &vars).is_err());
            let open = "${a:-".repeat(100_000);
            assert!(expand(&open, &vars).is_err());
            assert!(started.elapsed() < Duration::from_secs(2));
        })
        .unwrap()
        .join();
    assert!(result.is_ok());
}

#[test]
fn long_words_are_fast() {
    let vars = env(&[("A", "value"), ("LONG", &"ab".repeat(35_000))]);
    let started = Instant::now();
    let refs = "$A".repeat(35_000);
    assert_eq!(expand(&refs, &vars).unwrap().len(), 5 * 35_000);
    let defaults = "${U:-x}".repeat(10_000);
    assert_eq!(expand(&defaults, &vars).unwrap(), "x".repeat(10_000));
    let quoted = format!("\"{}\"", "a\\\"".repeat(23_000));
    assert_eq!(expand(&quoted, &vars).unwrap().len(), 46_000);
    let literal = "abc ".repeat(17_500);
    assert_eq!(
        Lexer::new('\\')
            .process_words(&literal, &vars)
            .unwrap()
            .len(),
        17_500
    );
    // Star-heavy patterns against long values: no backtracking blow-up.
    let stars = format!("${{LONG#{}c}}", "*a".repeat(17_000));
    assert_eq!(expand(&stars, &vars).unwrap().len(), 70_000);
    let stars = format!("${{LONG%%{}}}", "*?".repeat(17_000));
    assert_eq!(expand(&stars, &vars).unwrap(), "");
    let stars = format!("${{LONG//{}b/x}}", "a*".repeat(10_000));
    assert_eq!(expand(&stars, &vars).unwrap(), "x");
    let all = "${LONG//?/yz}";
    assert_eq!(expand(all, &vars).unwrap().len(), 140_000);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn output_limit() {
    let mib = "x".repeat(1 << 20);
    let vars = env(&[("A", &mib)]);
    let doubled = "$A".repeat(17);
    let err = expand(&doubled, &vars).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLong {
                limit: DEFAULT_MAX_LEN,
                offset: 32
            }
        ),
        "{err}"
    );
    let small = Lexer::new('\\').max_len(100);
    assert!(small.process_word("\"$A\"", &vars).is_err());
    assert!(small.process_word("${A//?/yy}", &vars).is_err());
    assert!(small.process_word("${B:-${A}}", &vars).is_err());
    assert_eq!(
        small
            .process_word("${A#*}", &env(&[("A", "short")]))
            .unwrap()
            .value,
        "short"
    );
}

proptest! {
    #[test]
    fn never_panics(word in any::<String>(), value in any::<String>()) {
        let vars = env(&[("a", &value), ("A", "x*y"), ("E", "")]);
        for lexer in [
            Lexer::new('\\'),
            Lexer::new('`').raw_quotes(true).raw_escapes(true),
            Lexer::new('\\').skip_unset_env(true).skip_process_quotes(true),
        ] {
            if let Err(err) = lexer.process_word(&word, &vars) {
                prop_assert!(err.offset() <= word.len());
            }
            let _ = lexer.process_words(&word, &vars);
        }
    }

    #[test]
    fn never_panics_on_shell_syntax(
        word in "([$]|[{]|[}]|[:+?#%/=-]|[\\\\`'\" ]|[aAE1@*.]|\\$\\{a|\\$\\{A|é|\n){0,40}",
    ) {
        let vars = env(&[("a", "a*b\\"), ("A", "x\ny"), ("E", "")]);
        for lexer in [Lexer::new('\\'), Lexer::new('`').raw_escapes(true).skip_unset_env(true)] {
            if let Err(err) = lexer.process_word(&word, &vars) {
                prop_assert!(err.offset() <= word.len());
                prop_assert!(word.is_char_boundary(err.offset()));
            }
            let _ = lexer.process_words(&word, &vars);
        }
    }
}
