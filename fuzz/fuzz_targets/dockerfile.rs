//! Fuzz target for the whole Dockerfile front end: bytes → syntax tree →
//! dump and spans → typed stages → shell expansion of every word-like
//! value, against an environment built from the file's own ARG and ENV
//! lines the way a build would build it.
//!
//! Every step may return an error; none may panic, overflow the stack or
//! run away in time or memory (libFuzzer's `-timeout` and `-rss_limit_mb`
//! catch the last two).

#![no_main]

use std::collections::HashMap;

use kiln_parser::instruction::{Command, Copy, Stages};
use kiln_parser::shell::Lexer;
use kiln_parser::{Dockerfile, Node, Span};
use libfuzzer_sys::fuzz_target;

/// Expansion limit for one word. Smaller than the lexer's 16 MiB default
/// so that a file of many amplifying words (`${a//?/$a}` per line, which
/// BuildKit also allows) stays fast; the limit code runs the same either
/// way.
const WORD_LIMIT: usize = 64 << 10;

/// Total bytes of expansion output per input, for the same reason: the
/// cost of lowering a hostile file is the solver's to bound, this target
/// hunts crashes.
const BUDGET: usize = 8 << 20;

fuzz_target!(|data: &[u8]| {
    let df = match kiln_parser::parse(data) {
        Ok(df) => df,
        Err(e) => {
            check_span(&e.span);
            let _ = e.to_string();
            return;
        }
    };
    let _ = df.dump();
    let lines = df.source().lines().count().max(1) + 1;
    for node in &df.nodes {
        node_spans(&df, node, lines);
    }
    let mut x = Expander::new(df.escape);
    match kiln_parser::instruction::to_stages(&df) {
        Ok(stages) => x.stages(&stages),
        Err(e) => {
            check_span(&e.span);
            let _ = e.to_string();
            // Typed conversion failed: still expand the raw words, so the
            // lexer sees the words of files the typed layer refuses.
            for node in &df.nodes {
                x.node(node);
            }
        }
    }
});

fn check_span(span: &Span) {
    assert!(
        span.start <= span.end,
        "span ends before it starts: {span:?}"
    );
    assert!(span.start.line >= 1 && span.start.column >= 1, "{span:?}");
}

fn node_spans(df: &Dockerfile, node: &Node, lines: usize) {
    let mut spans = vec![df.keyword_span(node), df.node_span(node)];
    spans.extend(node.flags.iter().map(|w| df.word_span(node, w)));
    spans.extend(node.args.iter().map(|w| df.word_span(node, w)));
    for s in &spans {
        check_span(s);
        assert!(s.end.line <= lines, "span {s:?} past the last line {lines}");
    }
    let _ = node.arg_values();
    if let Some(child) = &node.child {
        node_spans(df, child, lines);
    }
}

struct Expander {
    lexer: Lexer,
    env: HashMap<String, String>,
    spent: usize,
}

impl Expander {
    fn new(escape: char) -> Self {
        Expander {
            lexer: Lexer::new(escape).max_len(WORD_LIMIT),
            env: HashMap::new(),
            spent: 0,
        }
    }

    /// Expands `word` both ways; gives `process_word`'s value.
    fn word(&mut self, word: &str) -> Option<String> {
        if self.spent > BUDGET {
            return None;
        }
        self.spent += word.len();
        let value = match self.lexer.process_word(word, &self.env) {
            Ok(e) => {
                self.spent += e.value.len();
                Some(e.value)
            }
            Err(e) => {
                assert!(
                    e.offset() <= word.len(),
                    "offset {} past {word:?}",
                    e.offset()
                );
                let _ = e.to_string();
                None
            }
        };
        if let Ok(words) = self.lexer.process_words(word, &self.env) {
            self.spent += words.iter().map(String::len).sum::<usize>();
        }
        value
    }

    /// A heredoc body, as COPY and ADD expand it (quotes kept).
    fn body(&mut self, body: &str) {
        if self.spent > BUDGET {
            return;
        }
        self.spent += body.len();
        let lexer = self.lexer.clone().raw_quotes(true);
        if let Ok(e) = lexer.process_word(body, &self.env) {
            self.spent += e.value.len();
        }
        let lexer = self.lexer.clone().skip_unset_env(true).raw_escapes(true);
        if let Ok(e) = lexer.process_word(body, &self.env) {
            self.spent += e.value.len();
        }
    }

    fn set(&mut self, key: &str, value: Option<&str>) {
        let key = self.word(key).unwrap_or_else(|| key.to_owned());
        let value = match value {
            Some(v) => self.word(v).unwrap_or_default(),
            None => String::new(),
        };
        self.env.insert(key, value);
    }

    fn stages(&mut self, stages: &Stages) {
        for ins in &stages.global_args {
            self.command(&ins.command);
        }
        let globals = self.env.clone();
        for stage in &stages.stages {
            self.env = globals.clone();
            self.word(&stage.from.base.value);
            if let Some(p) = &stage.from.platform {
                self.word(&p.value);
            }
            for ins in &stage.commands {
                self.command(&ins.command);
            }
        }
    }

    fn command(&mut self, command: &Command) {
        match command {
            Command::Arg(decls) => {
                for d in decls {
                    self.set(&d.key, d.value.as_deref());
                }
            }
            Command::Env(kvs) => {
                for kv in kvs {
                    self.set(&kv.key, Some(&kv.value));
                }
            }
            Command::Label(kvs) => {
                for kv in kvs {
                    self.word(&kv.key);
                    self.word(&kv.value);
                }
            }
            Command::Maintainer(s)
            | Command::Workdir(s)
            | Command::User(s)
            | Command::StopSignal(s) => {
                self.word(&s.value);
            }
            Command::Run(run) => {
                self.strings(&run.command.args);
                for h in &run.command.files {
                    self.body(&h.content);
                }
                for m in &run.mounts {
                    self.word(&m.value);
                }
                for s in run.network.iter().chain(&run.security) {
                    self.word(&s.value);
                }
            }
            Command::Cmd(cl) | Command::Entrypoint(cl) => {
                self.strings(&cl.args);
                for h in &cl.files {
                    self.body(&h.content);
                }
            }
            Command::Shell(args) => self.strings(args),
            Command::Copy(c) | Command::Add(c) => self.copy(c),
            Command::Expose(list) | Command::Volume(list) => {
                for s in list {
                    self.word(&s.value);
                }
            }
            Command::Healthcheck(h) => self.strings(&h.test),
            Command::Onbuild(expr) => {
                // The trigger is parsed again when a child image builds on
                // this one; one level only, ONBUILD ONBUILD is refused.
                if let Ok(df) = kiln_parser::parse(expr.as_bytes()) {
                    let _ = df.dump();
                    let _ = kiln_parser::instruction::to_stages(&df);
                }
            }
            _ => {}
        }
    }

    fn copy(&mut self, c: &Copy) {
        for s in c.sources.iter().chain(&c.excludes) {
            self.word(&s.value);
        }
        self.word(&c.dest.value);
        for s in [&c.from, &c.chown, &c.chmod, &c.checksum]
            .into_iter()
            .flatten()
        {
            self.word(&s.value);
        }
        for content in &c.contents {
            self.word(&content.path);
            if content.expand {
                self.body(&content.data);
            }
        }
    }

    fn strings(&mut self, list: &[String]) {
        for s in list {
            self.word(s);
        }
    }

    fn node(&mut self, node: &Node) {
        let name = node.name();
        let args: Vec<&str> = node.args.iter().map(|w| w.value.as_str()).collect();
        if name == "arg" {
            for a in &args {
                let (k, v) = match a.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (*a, None),
                };
                self.set(k, v);
            }
        } else if name == "env" {
            for kv in args.chunks(3) {
                if let [k, v, _] = kv {
                    self.set(k, Some(v));
                }
            }
        } else {
            for a in args {
                self.word(a);
            }
        }
        for f in &node.flags {
            self.word(&f.value);
        }
        for h in &node.heredocs {
            self.body(&h.content);
        }
        if let Some(child) = &node.child {
            self.node(child);
        }
    }
}
