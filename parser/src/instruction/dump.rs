//! A stable, line-oriented text dump of the typed instructions, for golden
//! tests and for people reviewing what the parser made of a Dockerfile.
//!
//! The format, one item per line, two spaces of indent per level:
//!
//! ```text
//! escape "\\"                                 the escape character
//! directive syntax "docker/dockerfile:1" line=1
//! global                                      ARGs before the first FROM
//!   ARG 1:1-1:4 lines=1 "ARG V=1"             keyword span, lines, text
//!     arg "V"="1" 1:5-1:8
//! stage 0                                     one per FROM
//!   FROM 2:1-2:5 lines=2 "FROM a AS b"
//!     base "a" 2:6-2:7
//!     name "b"
//!   RUN 3:1-3:4 lines=3-5 "RUN <<EOF"
//!     shell "<<EOF"
//!     heredoc "EOF" fd=0 expand=true chomp=false "echo hi\n"
//! warning NoEmptyContinuation line=9 "…"
//! ```
//!
//! Strings are Go-quoted (so a line never breaks), spans are
//! `line:column-line:column` with the end exclusive. Optional values that
//! are unset and booleans that are false are left out; everything else is
//! printed, in the field order of the types.

use std::fmt::Write as _;

use super::{
    ArgDecl, Command, CommandLine, Copy, Healthcheck, Instruction, KeyValue, Location, Run,
    Spanned, Stage, Stages,
};
use crate::ast::{Dockerfile, Heredoc};
use crate::quote::go_quote;
use crate::span::Span;

/// Dumps the directives of `df` and the typed instructions of `stages` in
/// the format of the module doc.
pub fn dump(df: &Dockerfile, stages: &Stages) -> String {
    let mut d = Dumper { out: String::new() };
    d.line(
        0,
        format_args!("escape {}", go_quote(&df.escape.to_string())),
    );
    for dir in &df.directives {
        d.line(
            0,
            format_args!(
                "directive {} {} line={}",
                dir.name,
                go_quote(&dir.value),
                dir.line
            ),
        );
    }
    if !stages.global_args.is_empty() {
        d.line(0, format_args!("global"));
        for ins in &stages.global_args {
            d.instruction(1, ins);
        }
    }
    for (i, stage) in stages.stages.iter().enumerate() {
        d.line(0, format_args!("stage {i}"));
        d.stage(stage);
        for ins in &stage.commands {
            d.instruction(1, ins);
        }
    }
    for w in &stages.warnings {
        d.line(
            0,
            format_args!(
                "warning {} line={} {}",
                w.rule,
                w.line,
                go_quote(&w.message)
            ),
        );
    }
    d.out
}

fn span(s: &Span) -> String {
    format!("{}-{}", s.start, s.end)
}

fn spanned(s: &Spanned<String>) -> String {
    format!("{} {}", go_quote(&s.value), span(&s.span))
}

fn quoted_list(v: &[String]) -> String {
    v.iter().map(|s| format!(" {}", go_quote(s))).collect()
}

struct Dumper {
    out: String,
}

impl Dumper {
    fn line(&mut self, indent: usize, args: std::fmt::Arguments<'_>) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        // Writing to a String cannot fail.
        let _ = self.out.write_fmt(args);
        self.out.push('\n');
    }

    fn location(&mut self, indent: usize, name: &str, loc: &Location) {
        let lines = if loc.start_line == loc.end_line {
            loc.start_line.to_string()
        } else {
            format!("{}-{}", loc.start_line, loc.end_line)
        };
        self.line(
            indent,
            format_args!(
                "{name} {} lines={lines} {}",
                span(&loc.keyword),
                go_quote(&loc.original)
            ),
        );
    }

    fn stage(&mut self, stage: &Stage) {
        self.location(1, "FROM", &stage.location);
        let from = &stage.from;
        self.line(2, format_args!("base {}", spanned(&from.base)));
        if let Some(name) = &from.name {
            self.line(2, format_args!("name {}", go_quote(name)));
        }
        if let Some(p) = &from.platform {
            self.line(2, format_args!("platform {}", spanned(p)));
        }
        for c in &stage.comments {
            self.line(2, format_args!("comment {}", go_quote(c)));
        }
    }

    fn instruction(&mut self, indent: usize, ins: &Instruction) {
        self.location(indent, ins.command.name(), &ins.location);
        let i = indent + 1;
        match &ins.command {
            Command::Arg(args) => args.iter().for_each(|a| self.arg(i, a)),
            Command::Env(kvs) | Command::Label(kvs) => kvs.iter().for_each(|kv| self.pair(i, kv)),
            Command::Maintainer(v) => self.line(i, format_args!("name {}", spanned(v))),
            Command::Run(run) => self.run(i, run),
            Command::Cmd(cl) | Command::Entrypoint(cl) => self.command_line(i, cl),
            Command::Shell(v) => self.line(i, format_args!("exec{}", quoted_list(v))),
            Command::Copy(c) | Command::Add(c) => self.copy(i, c),
            Command::Workdir(v) => self.line(i, format_args!("path {}", spanned(v))),
            Command::User(v) => self.line(i, format_args!("user {}", spanned(v))),
            Command::StopSignal(v) => self.line(i, format_args!("signal {}", spanned(v))),
            Command::Expose(ports) => {
                for p in ports {
                    self.line(i, format_args!("port {}", spanned(p)));
                }
            }
            Command::Volume(paths) => {
                for p in paths {
                    self.line(i, format_args!("path {}", spanned(p)));
                }
            }
            Command::Healthcheck(h) => self.healthcheck(i, h),
            Command::Onbuild(t) => self.line(i, format_args!("trigger {}", go_quote(t))),
        }
    }

    fn arg(&mut self, indent: usize, a: &ArgDecl) {
        let value = match &a.value {
            Some(v) => format!("={}", go_quote(v)),
            None => String::new(),
        };
        self.line(
            indent,
            format_args!("arg {}{value} {}", go_quote(&a.key), span(&a.span)),
        );
    }

    fn pair(&mut self, indent: usize, kv: &KeyValue) {
        self.line(
            indent,
            format_args!(
                "pair {}={}{} {}",
                go_quote(&kv.key),
                go_quote(&kv.value),
                if kv.legacy { " legacy" } else { "" },
                span(&kv.span)
            ),
        );
    }

    fn command_line(&mut self, indent: usize, cl: &CommandLine) {
        let form = if cl.prepend_shell { "shell" } else { "exec" };
        self.line(indent, format_args!("{form}{}", quoted_list(&cl.args)));
        for h in &cl.files {
            self.heredoc(indent, h);
        }
    }

    fn heredoc(&mut self, indent: usize, h: &Heredoc) {
        self.line(
            indent,
            format_args!(
                "heredoc {} fd={} expand={} chomp={} {}",
                go_quote(&h.name),
                h.fd,
                h.expand,
                h.chomp,
                go_quote(&h.content)
            ),
        );
    }

    fn run(&mut self, indent: usize, run: &Run) {
        self.command_line(indent, &run.command);
        for m in &run.mounts {
            self.line(indent, format_args!("mount {}", spanned(m)));
        }
        if let Some(n) = &run.network {
            self.line(indent, format_args!("network {}", spanned(n)));
        }
        if let Some(s) = &run.security {
            self.line(indent, format_args!("security {}", spanned(s)));
        }
    }

    fn copy(&mut self, i: usize, c: &Copy) {
        for s in &c.sources {
            self.line(i, format_args!("src {}", spanned(s)));
        }
        for s in &c.contents {
            self.line(
                i,
                format_args!(
                    "content {} expand={} {}",
                    go_quote(&s.path),
                    s.expand,
                    go_quote(&s.data)
                ),
            );
        }
        self.line(i, format_args!("dest {}", spanned(&c.dest)));
        let optional = [
            ("from", &c.from),
            ("chown", &c.chown),
            ("chmod", &c.chmod),
            ("checksum", &c.checksum),
        ];
        for (name, v) in optional {
            if let Some(v) = v {
                self.line(i, format_args!("{name} {}", spanned(v)));
            }
        }
        if c.link {
            self.line(i, format_args!("link"));
        }
        if c.parents {
            self.line(i, format_args!("parents"));
        }
        for e in &c.excludes {
            self.line(i, format_args!("exclude {}", spanned(e)));
        }
        if let Some(k) = c.keep_git_dir {
            self.line(i, format_args!("keep-git-dir={k}"));
        }
        if let Some(u) = c.unpack {
            self.line(i, format_args!("unpack={u}"));
        }
    }

    fn healthcheck(&mut self, i: usize, h: &Healthcheck) {
        self.line(i, format_args!("test{}", quoted_list(&h.test)));
        self.line(
            i,
            format_args!(
                "interval={:?} timeout={:?} start-period={:?} start-interval={:?} retries={}",
                h.interval, h.timeout, h.start_period, h.start_interval, h.retries
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_every_part() {
        let src = "# syntax=x\nARG V=1 W\nFROM --platform=p a:$V AS b\nRUN --network=none <<EOF\nhi\nEOF\nCOPY --link --exclude=*.md s d\n";
        let (df, stages) = crate::parse_stages(src.as_bytes()).unwrap();
        let expected = r#"escape "\\"
directive syntax "x" line=1
global
  ARG 2:1-2:4 lines=2 "ARG V=1 W"
    arg "V"="1" 2:5-2:8
    arg "W" 2:9-2:10
stage 0
  FROM 3:1-3:5 lines=3 "FROM --platform=p a:$V AS b"
    base "a:$V" 3:19-3:23
    name "b"
    platform "p" 3:6-3:18
  RUN 4:1-4:4 lines=4-6 "RUN --network=none <<EOF"
    shell "<<EOF"
    heredoc "EOF" fd=0 expand=true chomp=false "hi\n"
    network "none" 4:5-4:19
  COPY 7:1-7:5 lines=7 "COPY --link --exclude=*.md s d"
    src "s" 7:28-7:29
    dest "d" 7:30-7:31
    link
    exclude "*.md" 7:13-7:27
"#;
        assert_eq!(dump(&df, &stages), expected);
    }
}
