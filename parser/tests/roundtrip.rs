//! Property tests of the pretty-printer and of the parser's robustness.
//!
//! - Dockerfiles generated from a grammar (every instruction, flags, exec
//!   and shell forms, continuations with comments and blank lines inside,
//!   heredocs, the escape directive, CRLF, a byte order mark) must print to
//!   text that parses to the same tree, and printing must be idempotent.
//! - `parse_stages` must never panic, on arbitrary bytes or on real
//!   Dockerfiles (the golden cases and BuildKit's vectors) with random
//!   mutations; whatever of those parses must round-trip too.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------- checks

/// The parts of a tree printing must keep: BuildKit's dump, heredocs,
/// comments, the escape character and the directives.
fn same_tree(a: &kiln_parser::Dockerfile, b: &kiln_parser::Dockerfile) -> Result<(), String> {
    if a.dump() != b.dump() {
        return Err(format!("dumps differ:\n{}---\n{}", a.dump(), b.dump()));
    }
    if a.escape != b.escape {
        return Err("escape differs".into());
    }
    let dirs = |d: &kiln_parser::Dockerfile| -> Vec<(String, String)> {
        d.directives
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect()
    };
    if dirs(a) != dirs(b) {
        return Err("directives differ".into());
    }
    for (x, y) in a.nodes.iter().zip(&b.nodes) {
        if x.heredocs != y.heredocs {
            return Err(format!(
                "heredocs differ: {:?} vs {:?}",
                x.heredocs, y.heredocs
            ));
        }
        if x.comments != y.comments {
            return Err(format!(
                "comments differ: {:?} vs {:?}",
                x.comments, y.comments
            ));
        }
    }
    Ok(())
}

/// If `src` parses, its printed form must parse to the same tree, print the
/// same again, and pass or fail the instruction layer alike.
fn check_round_trip(src: &[u8]) -> Result<(), TestCaseError> {
    let Ok(df) = kiln_parser::parse(src) else {
        return Ok(());
    };
    let printed = kiln_parser::print(&df);
    let again = kiln_parser::parse(printed.as_bytes()).map_err(|e| {
        TestCaseError::fail(format!("printed text fails: {e}\n--- printed\n{printed}"))
    })?;
    same_tree(&df, &again).map_err(|m| {
        TestCaseError::fail(format!(
            "{m}\n--- source\n{}\n--- printed\n{printed}",
            String::from_utf8_lossy(src)
        ))
    })?;
    let twice = kiln_parser::print(&again);
    prop_assert_eq!(&twice, &printed, "printing is not idempotent");
    let typed = kiln_parser::instruction::to_stages(&df).is_ok();
    let typed_again = kiln_parser::instruction::to_stages(&again).is_ok();
    prop_assert_eq!(
        typed,
        typed_again,
        "instruction layer disagrees\n{}",
        printed
    );
    Ok(())
}

// ------------------------------------------------------------- the grammar

/// A word of instruction arguments; `e` is the escape character.
fn word(e: char) -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[a-zA-Z0-9_./:-]{1,8}",
        1 => "[A-Z]{1,3}".prop_map(|v| format!("${v}")),
        1 => ("[a-z]{1,3}", "[a-z]{0,3}").prop_map(|(v, w)| format!("${{{v}:-{w}}}")),
        1 => "[a-z ]{0,6}".prop_map(|s| format!("\"{s}\"")),
        1 => "[a-z ]{0,6}".prop_map(|s| format!("'{s}'")),
        1 => ("[a-z]{1,3}", "[a-z]{1,3}").prop_map(move |(a, b)| format!("{a}{e} {b}")),
        1 => Just(format!("{e}{e}")),
        1 => Just("é☕".to_string()),
        1 => Just("#not-a-comment".to_string()),
        1 => Just("a=b".to_string()),
        1 => Just("\"unterminated".to_string()),
        1 => Just("[x,".to_string()),
    ]
    .boxed()
}

fn sep() -> impl Strategy<Value = &'static str> {
    prop_oneof![8 => Just(" "), 1 => Just("  "), 1 => Just("\t")]
}

fn words(e: char, min: usize, max: usize) -> BoxedStrategy<String> {
    prop::collection::vec((word(e), sep()), min..=max)
        .prop_map(|v| {
            let mut s = String::new();
            for (i, (w, sp)) in v.into_iter().enumerate() {
                if i > 0 {
                    s.push_str(sp);
                }
                s.push_str(&w);
            }
            s
        })
        .boxed()
}

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z /$-]{0,8}".prop_map(|s| format!("\"{s}\"")),
        Just("\"q\\\"uote\\\\\"".to_string()),
        Just("\"\\u00e9\\n\\t\"".to_string()),
        Just("\"\\ud800\"".to_string()),
    ]
}

/// A JSON array, sometimes broken (then it is shell form), sometimes with a
/// non-string (then it is an error).
fn json_array() -> BoxedStrategy<String> {
    let good =
        prop::collection::vec(json_string(), 0..4).prop_map(|v| format!("[{}]", v.join(", ")));
    prop_oneof![
        6 => good,
        1 => Just("[\"a\",]".to_string()),
        1 => Just("['single']".to_string()),
        1 => Just("[ \"spaced\" ,\"x\" ]".to_string()),
        1 => Just("[\"a\", 1]".to_string()),
    ]
    .boxed()
}

fn keyword(name: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(name.to_string()),
        2 => Just(name.to_lowercase()),
        1 => Just(
            name.chars()
                .enumerate()
                .map(|(i, c)| if i % 2 == 0 { c } else { c.to_ascii_lowercase() })
                .collect::<String>()
        ),
    ]
}

fn flag(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop::sample::select(names),
        prop_oneof![
            3 => "[a-z0-9=,/]{1,8}".prop_map(|v| format!("={v}")),
            1 => Just(String::new()),
            1 => Just("=\"a b\"".to_string()),
            1 => Just("=true".to_string()),
            1 => Just("=false".to_string()),
        ],
    )
        .prop_map(|(n, v)| format!("--{n}{v}"))
}

fn flags(names: &'static [&'static str]) -> BoxedStrategy<String> {
    prop::collection::vec(flag(names), 0..3)
        .prop_map(|v| v.into_iter().map(|f| f + " ").collect())
        .boxed()
}

/// A heredoc: the marker word and the body lines with the terminator.
fn heredoc() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(&["EOF", "END", "X1"][..]),
        prop::sample::select(&["", "-", "3", "3-"][..]),
        prop::sample::select(&["", "'", "\""][..]),
        prop::collection::vec("[a-z $#\\t\"'\\\\]{0,10}", 0..4),
        any::<bool>(),
    )
        .prop_map(|(name, mode, quote, lines, tab)| {
            let (fd, dash) = match mode {
                "-" => ("", "-"),
                "3" => ("3", ""),
                "3-" => ("3", "-"),
                _ => ("", ""),
            };
            let marker = format!("{fd}<<{dash}{quote}{name}{quote}");
            let mut body = String::new();
            for l in lines {
                body.push_str(&l);
                body.push('\n');
            }
            if dash == "-" && tab {
                body.push('\t');
            }
            body.push_str(name);
            body.push('\n');
            (marker, body)
        })
}

/// One instruction: its logical line and the heredoc bodies that follow.
fn instruction(e: char, depth: u32) -> BoxedStrategy<(String, String)> {
    let plain = |s: BoxedStrategy<String>| s.prop_map(|l| (l, String::new())).boxed();
    let mut choices: Vec<(u32, BoxedStrategy<(String, String)>)> = vec![
        (
            2,
            plain(
                (
                    keyword("FROM"),
                    flags(&["platform", "plaform"]),
                    word(e),
                    prop::option::of(("[Aa][Ss]", "[a-zA-Z][a-z0-9._-]{0,5}")),
                )
                    .prop_map(|(k, f, img, name)| match name {
                        Some((a, n)) => format!("{k} {f}{img} {a} {n}"),
                        None => format!("{k} {f}{img}"),
                    })
                    .boxed(),
            ),
        ),
        (
            3,
            plain(
                (
                    keyword("RUN"),
                    flags(&["mount", "network", "security", "mnt"]),
                    prop_oneof![words(e, 1, 5), json_array()],
                )
                    .prop_map(|(k, f, a)| format!("{k} {f}{a}"))
                    .boxed(),
            ),
        ),
        (
            2,
            (
                prop_oneof![keyword("RUN"), keyword("COPY"), keyword("ADD")],
                flags(&["chown", "chmod", "link", "from", "mount"]),
                prop::collection::vec(heredoc(), 1..3),
                words(e, 0, 2),
            )
                .prop_map(|(k, f, docs, rest)| {
                    let markers: Vec<&str> = docs.iter().map(|(m, _)| m.as_str()).collect();
                    let line = format!("{k} {f}{} {rest} /dst", markers.join(" "));
                    let bodies: String = docs.iter().map(|(_, b)| b.as_str()).collect();
                    (line, bodies)
                })
                .boxed(),
        ),
        (
            2,
            plain(
                (
                    prop_oneof![keyword("COPY"), keyword("ADD")],
                    flags(&[
                        "from",
                        "chown",
                        "chmod",
                        "link",
                        "exclude",
                        "parents",
                        "checksum",
                        "keep-git-dir",
                        "unpack",
                        "form",
                    ]),
                    prop_oneof![words(e, 1, 4), json_array()],
                )
                    .prop_map(|(k, f, a)| format!("{k} {f}{a}"))
                    .boxed(),
            ),
        ),
        (
            2,
            plain(
                (
                    prop_oneof![
                        keyword("CMD"),
                        keyword("ENTRYPOINT"),
                        keyword("SHELL"),
                        keyword("VOLUME")
                    ],
                    prop_oneof![words(e, 1, 4), json_array()],
                )
                    .prop_map(|(k, a)| format!("{k} {a}"))
                    .boxed(),
            ),
        ),
        (
            2,
            plain(
                (
                    prop_oneof![keyword("ENV"), keyword("LABEL")],
                    prop_oneof![
                        prop::collection::vec(("[A-Za-z_]{1,4}", word(e)), 1..3).prop_map(|v| {
                            v.into_iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        }),
                        ("[A-Z]{1,4}", words(e, 1, 3)).prop_map(|(k, v)| format!("{k} {v}")),
                    ],
                )
                    .prop_map(|(k, a)| format!("{k} {a}"))
                    .boxed(),
            ),
        ),
        (
            1,
            plain(
                (
                    keyword("ARG"),
                    prop::collection::vec(("[A-Z_]{1,4}", prop::option::of(word(e))), 1..3),
                )
                    .prop_map(|(k, v)| {
                        let a: Vec<String> = v
                            .into_iter()
                            .map(|(k, v)| match v {
                                Some(v) => format!("{k}={v}"),
                                None => k,
                            })
                            .collect();
                        format!("{k} {}", a.join(" "))
                    })
                    .boxed(),
            ),
        ),
        (
            2,
            plain(
                (
                    prop_oneof![
                        keyword("EXPOSE"),
                        keyword("USER"),
                        keyword("WORKDIR"),
                        keyword("STOPSIGNAL"),
                        keyword("MAINTAINER")
                    ],
                    words(e, 0, 3),
                )
                    .prop_map(|(k, a)| format!("{k} {a}"))
                    .boxed(),
            ),
        ),
        (
            1,
            plain(
                (
                    keyword("HEALTHCHECK"),
                    flags(&[
                        "interval",
                        "timeout",
                        "start-period",
                        "start-interval",
                        "retries",
                    ]),
                    prop_oneof![
                        Just("NONE".to_string()),
                        words(e, 1, 3).prop_map(|w| format!("CMD {w}")),
                        json_array().prop_map(|j| format!("CMD {j}")),
                        Just("cmd".to_string()),
                    ],
                )
                    .prop_map(|(k, f, a)| format!("{k} {f}{a}"))
                    .boxed(),
            ),
        ),
        (
            1,
            plain(
                ("[A-Za-z]{2,6}", words(e, 0, 2))
                    .prop_map(|(k, a)| format!("{k} {a}"))
                    .boxed(),
            ),
        ),
    ];
    if depth < 2 {
        choices.push((
            1,
            (keyword("ONBUILD"), instruction(e, depth + 1))
                .prop_map(|(k, (line, bodies))| (format!("{k} {line}"), bodies))
                .boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

/// What goes between and inside instructions.
fn filler() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(String::new()),
        1 => Just("\n".to_string()),
        1 => "[a-z =]{0,12}".prop_map(|c| format!("# {c}\n")),
        1 => Just("#\n".to_string()),
        1 => Just("  # indented\n".to_string()),
        1 => Just("# escape=`\n".to_string()),
    ]
}

/// Splits a logical line into physical lines at the chosen places, with
/// indentation, comments and blank lines inside.
fn continue_line(line: &str, e: char, cuts: &[(Index, String, &str)]) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut at: Vec<(usize, &str, &str)> = cuts
        .iter()
        .map(|(i, fill, indent)| (i.index(chars.len() + 1), fill.as_str(), *indent))
        .collect();
    at.sort_by_key(|a| a.0);
    let mut out = String::new();
    let mut next = 0;
    for (pos, fill, indent) in at {
        out.extend(&chars[next..pos]);
        out.push(e);
        out.push('\n');
        out.push_str(fill);
        out.push_str(indent);
        next = pos;
    }
    out.extend(&chars[next..]);
    out
}

fn dockerfile() -> BoxedStrategy<Vec<u8>> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_flat_map(|(backtick, syntax, crlf, bom)| {
            let e = if backtick { '`' } else { '\\' };
            let cut = (
                any::<Index>(),
                filler(),
                prop::sample::select(&["", " ", "\t  "][..]),
            );
            let body = prop::collection::vec(
                (
                    filler(),
                    instruction(e, 0),
                    prop::collection::vec(cut, 0..3),
                ),
                1..8,
            );
            body.prop_map(move |body| {
                let mut s = String::new();
                if bom {
                    s.push('\u{feff}');
                }
                if syntax {
                    s.push_str("# syntax=docker/dockerfile:1\n");
                }
                if backtick {
                    s.push_str("# escape=`\n");
                }
                s.push_str("FROM base\n");
                for (fill, (line, bodies), cuts) in body {
                    s.push_str(&fill);
                    s.push_str(&continue_line(&line, e, &cuts));
                    s.push('\n');
                    s.push_str(&bodies);
                }
                if crlf {
                    s = s.replace('\n', "\r\n");
                }
                s.into_bytes()
            })
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn generated_dockerfiles_round_trip(src in dockerfile()) {
        // Some generated files are invalid on purpose (`["a", 1]`); those
        // are skipped, and `grammar_mostly_parses` keeps them few.
        check_round_trip(&src)?;
    }
}

/// At least most grammar output must be valid syntax; otherwise the
/// round-trip property above would pass vacuously.
#[test]
fn grammar_mostly_parses() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = dockerfile();
    let mut ok = 0;
    for _ in 0..500 {
        let src = strategy.new_tree(&mut runner).unwrap().current();
        ok += usize::from(kiln_parser::parse(&src).is_ok());
    }
    assert!(ok > 350, "only {ok} of 500 generated Dockerfiles parse");
}

// -------------------------------------------------------------- robustness

/// Real Dockerfiles: the golden cases and, when present, BuildKit's vectors.
fn corpus() -> Vec<Vec<u8>> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        manifest.join("../testdata/parser/ok"),
        manifest.join("../testdata/parser/err"),
        manifest.join("../../shared/conformance/buildkit/parser/testfiles"),
        manifest.join("../../shared/conformance/buildkit/parser/testfiles-negative"),
    ];
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths {
            if let Ok(b) = std::fs::read(p.join("Dockerfile"))
                && b.len() < 16 * 1024
            {
                out.push(b);
            }
        }
    }
    assert!(!out.is_empty(), "no Dockerfiles to mutate");
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Duplicate(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens: Vec<Vec<u8>> = [
        "\\",
        "`",
        "\n",
        "\r\n",
        "<<EOF",
        "<<-'X'",
        "EOF\n",
        "\"",
        "'",
        "[",
        "]",
        "{",
        "}",
        "$",
        "${",
        ":-",
        "#",
        "# escape=`\n",
        "--",
        "--from=",
        "=",
        " ",
        "\t",
        "ONBUILD ",
        "\u{feff}",
        "é",
        "\u{a0}",
        "\0",
        "\u{2028}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<Index>(), prop::sample::select(tokens)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn mutate(mut v: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = v.len();
        match m {
            Mutation::Flip(i, b) if len > 0 => {
                let i = i.index(len);
                v[i] = *b;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, t) => {
                let i = i.index(len + 1);
                v.splice(i..i, t.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = i.index(len + 1);
                let end = (i + n).min(len);
                v.drain(i..end);
            }
            Mutation::Duplicate(i, n) => {
                let i = i.index(len + 1);
                let end = (i + n).min(len);
                let piece: Vec<u8> = v[i..end].to_vec();
                v.splice(i..i, piece);
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(src in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = kiln_parser::parse_stages(&src);
        check_round_trip(&src)?;
    }

    #[test]
    fn mutated_dockerfiles_never_panic(
        pick in any::<Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        thread_local! {
            static CORPUS: Vec<Vec<u8>> = corpus();
        }
        let src = CORPUS.with(|c| mutate(c[pick.index(c.len())].clone(), &muts));
        let _ = kiln_parser::parse_stages(&src);
        check_round_trip(&src)?;
    }

    #[test]
    fn arbitrary_text_never_panics(src in "[ -~\\t\\n\\\\`<>\"'#${}\\[\\]é]{0,300}") {
        let src = format!("FROM a\n{src}");
        let _ = kiln_parser::parse_stages(src.as_bytes());
        check_round_trip(src.as_bytes())?;
    }
}
