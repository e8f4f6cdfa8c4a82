//! Parse speed, measured against reading the file: `cargo bench -p
//! kiln-parser`.
//!
//! A generated 10,000-instruction Dockerfile (every instruction kind, flags,
//! continuation lines with comments, heredocs, exec and shell forms) is
//! written to a temporary file, then `std::fs::read`, `kiln_parser::parse`,
//! `parse_stages` and `print` are each timed over many runs; the table gives
//! the median, the fastest run and the ratio to the read. The largest file
//! kiln accepts (16 MiB; bigger ones are refused at once) is then parsed a
//! few times, to measure the "no input takes more than a second" claim in an
//! optimised build.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

const INSTRUCTIONS: usize = 10_000;
const RUNS: usize = 51;

/// One instruction of the mix; `i` makes each one different.
fn instruction(i: usize, out: &mut String) {
    let s = match i % 20 {
        0 => format!("FROM --platform=$BUILDPLATFORM golang:1.{i} AS stage{i}\n"),
        1 => format!("ARG VERSION_{i}=1.{i}.0 OTHER_{i}\n"),
        2 => format!("ENV PATH=/opt/{i}/bin:$PATH GOFLAGS=\"-mod=vendor -trimpath\" N={i}\n"),
        3 => format!(
            "RUN --mount=type=cache,target=/root/.cache/go-build \\\n    # build step {i}\n    go build -o /out/app{i} ./cmd/{i} \\\n    && strip /out/app{i}\n"
        ),
        4 => format!("COPY --from=stage{i} --chown=1000:1000 --chmod=0755 --link /out/ /usr/local/bin/\n"),
        5 => format!("RUN <<EOF\nset -eux\napk add --no-cache curl-{i}\necho done {i}\nEOF\n"),
        6 => format!("LABEL org.opencontainers.image.version=\"{i}\" com.example.build=\"b{i}\"\n"),
        7 => format!("WORKDIR /src/module{i}\n"),
        8 => format!("ADD --checksum=sha256:{:064x} https://example.com/f{i}.tar.gz /tmp/\n", i),
        9 => format!("COPY --exclude=*.md --exclude=*.txt --parents ./a{i}/ ./b{i}/ /dst/\n"),
        10 => format!("EXPOSE {} {}/udp\n", 8000 + i % 1000, 9000 + i % 1000),
        11 => format!("USER app{i}:app\n"),
        12 => "HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -f http://localhost/ || exit 1\n".to_string(),
        13 => format!("CMD [\"/usr/local/bin/app{i}\", \"--port\", \"8080\"]\n"),
        14 => format!("ENTRYPOINT [\"/entry{i}.sh\"]\n"),
        15 => "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n".to_string(),
        16 => format!("VOLUME [\"/data{i}\", \"/cache{i}\"]\n"),
        17 => format!("COPY <<-'CONF' /etc/app{i}.conf\n\tkey={i}\n\tmode=fast\n\tCONF\n"),
        18 => format!("ONBUILD RUN echo trigger {i}\n"),
        _ => format!("RUN apt-get update && apt-get install -y --no-install-recommends pkg{i} && rm -rf /var/lib/apt/lists/*\n"),
    };
    out.push_str(&s);
}

/// The first `instructions` instructions of the mix, or as many as fit in
/// `max_bytes`.
fn dockerfile(instructions: usize, max_bytes: usize) -> (String, usize) {
    let mut s = String::from("# syntax=docker/dockerfile:1\nFROM alpine AS base\n");
    let mut i = 1;
    while i < instructions && s.len() < max_bytes {
        if i % 50 == 0 {
            s.push_str(&format!("\n# section {i}\n"));
        }
        instruction(i, &mut s);
        i += 1;
    }
    (s, i)
}

/// Median and fastest of `runs` timings of `f`.
fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}

fn row(name: &str, (median, min): (Duration, Duration), read: Duration) {
    println!(
        "{name:<28} {:>12.3?} {:>12.3?} {:>10.1}x",
        median,
        min,
        median.as_secs_f64() / read.as_secs_f64()
    );
}

fn main() {
    let (text, _) = dockerfile(INSTRUCTIONS, usize::MAX);
    let path = std::env::temp_dir().join(format!("kiln-bench-{}.Dockerfile", std::process::id()));
    std::fs::write(&path, &text).expect("write the benchmark Dockerfile");
    let bytes = std::fs::read(&path).expect("read it back");
    let (df, stages) = kiln_parser::parse_stages(&bytes).expect("the benchmark Dockerfile parses");
    let count = stages.global_args.len()
        + stages
            .stages
            .iter()
            .map(|s| s.commands.len() + 1)
            .sum::<usize>();
    assert_eq!(
        count, INSTRUCTIONS,
        "instruction count of the generated file"
    );
    let lines = text.lines().count();

    println!(
        "kiln-parser: {INSTRUCTIONS} instructions, {lines} lines, {} bytes; median of {RUNS} runs",
        bytes.len()
    );
    println!(
        "{:<28} {:>12} {:>12} {:>11}",
        "step", "median", "fastest", "vs read"
    );
    let read = measure(RUNS, || std::fs::read(&path).expect("read"));
    row("std::fs::read", read, read.0);
    row(
        "kiln_parser::parse",
        measure(RUNS, || kiln_parser::parse(&bytes).expect("parse")),
        read.0,
    );
    row(
        "kiln_parser::parse_stages",
        measure(RUNS, || kiln_parser::parse_stages(&bytes).expect("parse")),
        read.0,
    );
    row(
        "kiln_parser::print",
        measure(RUNS, || kiln_parser::print(&df)),
        read.0,
    );
    let _ = std::fs::remove_file(&path);

    // The hostile case: the largest accepted file of the same mix, parsed
    // whole, then once more step by step to show where the time goes.
    let (big, n) = dockerfile(usize::MAX, kiln_parser::MAX_FILE - 4096);
    let big = big.as_bytes();
    let (median, min) = measure(5, || kiln_parser::parse_stages(big).expect("parse"));
    println!(
        "parse_stages of {:.1} MB ({n} instructions): median {median:.3?}, fastest {min:.3?}, {:.0} MB/s",
        big.len() as f64 / 1e6,
        big.len() as f64 / 1e6 / median.as_secs_f64()
    );
    let start = Instant::now();
    let df = kiln_parser::parse(big).expect("parse");
    let syntax = start.elapsed();
    let start = Instant::now();
    let stages = kiln_parser::instruction::to_stages(&df).expect("stages");
    let typed = start.elapsed();
    let start = Instant::now();
    drop(stages);
    drop(df);
    let freed = start.elapsed();
    println!("  of which: syntax tree {syntax:.3?}, instructions {typed:.3?}, freeing {freed:.3?}");
}
