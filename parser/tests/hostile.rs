//! Hostile inputs: huge files, huge lines, deep nesting, endless heredocs.
//! Each must finish without a panic or a stack overflow, with a clear error
//! when the input is invalid, and in time linear in its size.
//!
//! Every case runs in a thread with a 256 KiB stack, so any recursion whose
//! depth the input controls shows up as a crash here. Inputs are generated
//! at test time; nothing large is committed. Time bounds are generous
//! (debug builds); `cargo bench -p kiln-parser` measures the real speed.

// The measured time is worth seeing in the test log.
#![allow(clippy::print_stderr)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kiln_parser::shell::{Error as ShellError, Lexer};
use kiln_parser::{ErrorKind, parse, parse_stages};

const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a thread with a small stack and returns its result.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Splits `text` into physical lines of at most `width` bytes joined by
/// backslash continuations (`text` must hold no backslash or newline).
fn continued(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width * 2 + 2);
    let mut rest = text;
    while rest.len() > width {
        let mut cut = width;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\\\n");
        rest = &rest[cut..];
    }
    out.push_str(rest);
    out.push('\n');
    out
}

fn err_kind(src: Vec<u8>) -> (ErrorKind, usize) {
    err_kind_timed(src).0
}

/// The error `parse_stages` gives, its line, and the CPU time it took.
fn err_kind_timed(src: Vec<u8>) -> ((ErrorKind, usize), Duration) {
    small_stack(move || {
        timed(|| {
            let e = parse_stages(&src).expect_err("input must be rejected");
            (e.kind, e.span.start.line)
        })
    })
}

/// About 100 MB of mixed instructions, as in a (very) large real file.
fn hundred_megabytes() -> Vec<u8> {
    let templates = [
        "RUN apt-get install -y --no-install-recommends package-{i} && rm -rf /var/lib/apt/lists/*\n",
        "COPY --chown=1000:1000 --chmod=0644 src/module-{i}/ /app/src/module-{i}/\n",
        "ENV VAR_{i}=value-{i} PATH=/opt/tool-{i}/bin:$PATH HOME=/home/user-{i}\n",
        "RUN --mount=type=cache,target=/root/.cache/{i} make -C /src/{i} \\\n    && make install\n",
        "LABEL org.example.item-{i}=\"value {i}\" org.example.other-{i}=x\n",
        "RUN <<EOF\necho heredoc {i}\nEOF\n",
    ];
    let mut s = String::with_capacity(101 << 20);
    s.push_str("FROM alpine\n");
    let mut i = 0usize;
    while s.len() < 100 << 20 {
        s.push_str(&templates[i % templates.len()].replace("{i}", &i.to_string()));
        i += 1;
    }
    s.into_bytes()
}

/// CPU time this thread has used, from `/proc/thread-self/stat` (user and
/// system ticks of 1/100 s), so a busy machine does not fail time bounds.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `f` and returns its result with the CPU time it took (wall time
/// where the kernel does not say).
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let (cpu, wall) = (thread_cpu_time(), Instant::now());
    let out = f();
    let took = match (cpu, thread_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => wall.elapsed(),
    };
    (out, took)
}

#[test]
fn hundred_megabyte_file_is_refused_at_once() {
    let src = hundred_megabytes();
    let (r, took) = timed(|| kiln_parser::parse(&src).map(|_| ()));
    let err = r.unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge(kiln_parser::MAX_FILE));
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn largest_accepted_file_parses_in_linear_time() {
    let mut src = hundred_megabytes();
    let cut = src[..kiln_parser::MAX_FILE]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    src.truncate(cut);
    let len = src.len();
    let (stages, took) = small_stack(move || {
        timed(|| {
            let (_, stages) = parse_stages(&src).unwrap();
            stages.stages[0].commands.len()
        })
    });
    eprintln!("hostile: {len} bytes, {stages} instructions parsed in {took:?} of CPU");
    assert!(stages > 150_000, "{stages} instructions in {len} bytes");
    assert!(
        took < Duration::from_secs(20),
        "16 MB took {took:?} (a quadratic blow-up?)"
    );
}

#[test]
fn heredoc_that_never_ends() {
    let mut src = String::from("FROM alpine\nRUN cat <<EOF\n");
    while src.len() < 15 << 20 {
        src.push_str("a line of a heredoc body that goes on and on\n");
    }
    let (kind, took) = err_kind_timed(src.into_bytes());
    assert_eq!(kind, (ErrorKind::UnterminatedHeredoc, 2));
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn line_limit_is_buildkits() {
    // BuildKit's scanner holds 65,536 bytes: a line and its newline may
    // fill that exactly; one byte more is an error.
    let line = |n: usize| format!("FROM alpine\nRUN {}\n", "x".repeat(n - 5)).into_bytes();
    assert_eq!(line(65_536).len(), 12 + 65_536);
    small_stack(move || parse_stages(&line(65_536)).map(|_| ()).unwrap());
    assert_eq!(err_kind(line(65_537)), (ErrorKind::LineTooLong, 2));
    // The last line without a newline needs room for one more byte.
    let last = |n: usize| format!("FROM alpine\nRUN {}", "x".repeat(n - 4)).into_bytes();
    small_stack(move || parse_stages(&last(65_535)).map(|_| ()).unwrap());
    assert_eq!(err_kind(last(65_536)), (ErrorKind::LineTooLong, 2));
    // A 70 kB line anywhere.
    let mut src = b"FROM alpine\nRUN true\n".to_vec();
    src.extend(std::iter::repeat_n(b'y', 70_000));
    src.extend(b"\nRUN true\n");
    assert_eq!(err_kind(src), (ErrorKind::LineTooLong, 3));
}

#[test]
fn deep_variable_nesting_in_values() {
    const DEPTH: usize = 100_000;
    let nested = format!("{}x{}", "${a:-".repeat(DEPTH), "}".repeat(DEPTH));
    // Through the parser: ENV and ARG keep values raw, RUN's line is
    // lexed for heredoc markers.
    let src = [
        "FROM alpine\n".to_string(),
        continued(&format!("ENV A={nested}"), 60_000),
        continued(&format!("ARG B={nested}"), 60_000),
        continued(&format!("RUN echo {nested} <<EOF"), 60_000),
    ]
    .concat();
    let value = nested.clone();
    let n = small_stack(move || {
        let (_, stages) = parse_stages(src.as_bytes()).unwrap();
        let cmds = &stages.stages[0].commands;
        let kiln_parser::Command::Env(env) = &cmds[0].command else {
            panic!("not ENV")
        };
        assert_eq!(env[0].value, value);
        cmds.len()
    });
    assert_eq!(n, 3);
    // Through expansion: refused with a clear error, never a crash.
    let word = nested.clone();
    let err = small_stack(move || {
        Lexer::new('\\')
            .process_word(&word, &HashMap::<String, String>::new())
            .unwrap_err()
    });
    assert!(matches!(err, ShellError::TooDeep { .. }), "{err}");
    let err = small_stack(move || {
        Lexer::new('\\')
            .skip_unset_env(true)
            .process_words(&nested, &HashMap::<String, String>::new())
            .unwrap_err()
    });
    assert!(matches!(err, ShellError::TooDeep { .. }), "{err}");
}

#[test]
fn a_million_continuation_lines() {
    let mut src = String::from("FROM alpine\nRUN echo \\\n");
    for i in 0..1_000_000 {
        match i % 4 {
            0 => src.push_str("  # a comment inside\n"),
            1 => src.push('\n'),
            _ => src.push_str("  x \\\n"),
        }
    }
    src.push_str("  end\nUSER nobody\n");
    let (lines, warnings) = small_stack(move || {
        let (_, stages) = parse_stages(src.as_bytes()).unwrap();
        let run = &stages.stages[0].commands[0];
        (
            (run.location.start_line, run.location.end_line),
            stages.warnings.len(),
        )
    });
    assert_eq!(lines, (2, 1_000_003));
    assert_eq!(warnings, 1);
}

#[test]
fn onbuild_chains_stop_early() {
    // A million `ONBUILD` words on one logical line.
    let src = format!(
        "FROM alpine\n{}",
        continued(&"ONBUILD ".repeat(1_000_000), 60_000)
    );
    let ((kind, line), took) = err_kind_timed(src.into_bytes());
    assert_eq!(line, 2);
    assert!(
        kind.to_string().contains("Chaining ONBUILD"),
        "unexpected error: {kind}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    // The syntax layer alone refuses it too (BuildKit would recurse).
    let src = format!("FROM alpine\n{}RUN x\n", "ONBUILD ".repeat(8_000));
    let e = small_stack(move || parse(src.as_bytes()).map(|_| ()).unwrap_err());
    assert!(e.to_string().contains("Chaining ONBUILD"), "{e}");
}

#[test]
fn deeply_nested_json() {
    // Deeper than Go's 10,000 levels: not JSON, so shell form.
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let src = format!("FROM alpine\nRUN {}\n", deep(30_000));
    let json = small_stack(move || parse(src.as_bytes()).unwrap().nodes[1].json);
    assert!(!json);
    // Within it: JSON, with an array where a string must be.
    let src = format!("FROM alpine\nCMD {}\n", deep(10_000));
    assert_eq!(err_kind(src.into_bytes()), (ErrorKind::JsonNotStrings, 2));
    // A million open brackets over many lines.
    let src = format!(
        "FROM alpine\n{}",
        continued(&format!("RUN {}", "[".repeat(1_000_000)), 60_000)
    );
    let json = small_stack(move || parse(src.as_bytes()).unwrap().nodes[1].json);
    assert!(!json);
}

#[test]
fn many_heredocs_and_words_on_one_instruction() {
    // 200,000 heredoc sources on one COPY: looking bodies up must not be
    // quadratic.
    const N: usize = 200_000;
    let markers: String = (0..N).map(|i| format!("<<H{i} ")).collect();
    let mut src = format!(
        "FROM alpine\n{}",
        continued(&format!("COPY {markers}/dst/"), 60_000)
    );
    for i in 0..N {
        src.push_str(&format!("body {i}\nH{i}\n"));
    }
    let (contents, took) = small_stack(move || {
        timed(|| {
            let (_, stages) = parse_stages(src.as_bytes()).unwrap();
            match &stages.stages[0].commands[0].command {
                kiln_parser::Command::Copy(c) => c.contents.len(),
                _ => 0,
            }
        })
    });
    assert_eq!(contents, N);
    assert!(took < Duration::from_secs(20), "{took:?}");
    // A line of 64 KiB holding thousands of words, each with a span.
    let pairs: String = (0..6_000).map(|i| format!("k{i}=é ")).collect();
    let src = format!("FROM alpine\nLABEL {}\n", pairs.trim_end());
    assert!(src.len() < 65_000);
    let labels = small_stack(move || {
        let (_, stages) = parse_stages(src.as_bytes()).unwrap();
        match &stages.stages[0].commands[0].command {
            kiln_parser::Command::Label(l) => l.last().map(|kv| kv.span.start.column),
            _ => None,
        }
    });
    assert!(labels.is_some_and(|c| c > 40_000), "{labels:?}");
}

#[test]
fn binary_garbage_is_refused_clearly() {
    let mut src = b"FROM alpine\nRUN ".to_vec();
    src.extend((0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let (kind, _) = err_kind(src);
    assert!(
        matches!(kind, ErrorKind::NotUtf8 | ErrorKind::LineTooLong),
        "{kind}"
    );
}
