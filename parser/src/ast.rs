//! The syntax tree: one [`Node`] per instruction, with its raw flags and
//! arguments exactly as BuildKit's parser shapes them, and the dump format
//! of BuildKit's `result` test files.

use std::ops::Range;

use crate::directive::Directive;
use crate::quote::{go_quote, go_quote_list};
use crate::span::{LineIndex, Position, SourceMap, Span};

/// A parsed Dockerfile: the instruction nodes and what the parser learned
/// on the way (directives, escape character, warnings).
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// One node per instruction, in file order.
    pub nodes: Vec<Node>,
    /// The escape character (`\` unless `# escape=` said otherwise).
    pub escape: char,
    /// Parser directives found at the top.
    pub directives: Vec<Directive>,
    /// Things worth telling the user that do not stop the build.
    pub warnings: Vec<Warning>,
    pub(crate) source: String,
    pub(crate) lines: LineIndex,
}

/// A word of an instruction: its value and where it sits in
/// [`Node::original`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text, shaped as the instruction's argument parser leaves it
    /// (flags have quotes removed; most arguments are raw).
    pub value: String,
    pub(crate) range: Range<usize>,
}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word, quotes removed.
    pub name: String,
    /// The file descriptor before `<<`, 0 if none.
    pub fd: u32,
    /// False when any part of the terminator was quoted: the body is then
    /// taken literally.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from body lines.
    pub chomp: bool,
    /// The body, line endings included, terminator excluded.
    pub content: String,
}

/// A parser warning (BuildKit lint rule name, message, line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The lint rule, e.g. `NoEmptyContinuation`.
    pub rule: &'static str,
    /// What to tell the user.
    pub message: String,
    /// 1-based line the warning is about.
    pub line: usize,
}

/// One instruction as the syntax layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction word as written (`RUN`, `run`, `Run`…).
    pub keyword: String,
    /// Leading `--flag[=value]` words, quotes removed.
    pub flags: Vec<Word>,
    /// Arguments, shaped per instruction (see BuildKit's `line_parsers.go`).
    pub args: Vec<Word>,
    /// ONBUILD's trigger instruction.
    pub child: Option<Box<Node>>,
    /// The arguments were a JSON string array (exec form).
    pub json: bool,
    /// Heredoc bodies, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
    /// The logical line: continuation lines joined, comments dropped.
    pub original: String,
    /// First line of the instruction, 1-based.
    pub start_line: usize,
    /// Last line (heredoc bodies included), 1-based.
    pub end_line: usize,
    /// Comment lines right above the instruction, `#` and blanks removed.
    pub comments: Vec<String>,
    pub(crate) keyword_range: Range<usize>,
    pub(crate) map: SourceMap,
}

impl Node {
    /// The keyword, lower-cased: the instruction's identity.
    pub fn name(&self) -> String {
        crate::split::go_lower(&self.keyword)
    }

    /// The argument values as BuildKit's `nodeArgs` lists them: ONBUILD
    /// gives the trigger keyword followed by the trigger's arguments.
    pub fn arg_values(&self) -> Vec<String> {
        match &self.child {
            Some(child) => {
                let mut v = vec![child.keyword.clone()];
                v.extend(child.arg_values());
                v
            }
            None => self.args.iter().map(|w| w.value.clone()).collect(),
        }
    }

    /// BuildKit's `Node.Dump` of this instruction (without the enclosing
    /// parentheses the root adds).
    pub fn dump(&self) -> String {
        let mut s = crate::split::go_lower(&self.keyword);
        if !self.flags.is_empty() {
            let flags: Vec<String> = self.flags.iter().map(|f| f.value.clone()).collect();
            s.push(' ');
            s.push_str(&go_quote_list(&flags));
        }
        if let Some(child) = &self.child {
            s.push_str(" (");
            s.push_str(&child.dump());
            s.push(')');
        }
        for a in &self.args {
            s.push(' ');
            s.push_str(&go_quote(&a.value));
        }
        s.trim().to_string()
    }

    /// The file byte range of a logical range of [`Node::original`].
    pub(crate) fn file_range(&self, r: &Range<usize>) -> Range<usize> {
        self.map.file_range(r)
    }
}

impl Dockerfile {
    /// BuildKit's `AST.Dump()` plus a final newline: the exact content of
    /// a conformance `result` file.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push('(');
            s.push_str(&n.dump());
            s.push_str(")\n");
        }
        let mut s = s.trim().to_string();
        s.push('\n');
        s
    }

    /// The source text the tree was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The position of a file byte offset.
    pub fn position(&self, offset: usize) -> Position {
        self.lines.position(&self.source, offset)
    }

    /// The span of a word of `node`.
    pub fn word_span(&self, node: &Node, word: &Word) -> Span {
        self.logical_span(node, &word.range)
    }

    /// The span of the keyword of `node`.
    pub fn keyword_span(&self, node: &Node) -> Span {
        self.logical_span(node, &node.keyword_range)
    }

    /// The span of a logical range of `node`.
    pub(crate) fn logical_span(&self, node: &Node, r: &Range<usize>) -> Span {
        let fr = node.file_range(r);
        // The text of a node lies on its lines; the end of a span may be
        // one past the last of them.
        let lines = (node.start_line, node.end_line.saturating_add(1));
        Span {
            start: self.lines.position_in(&self.source, fr.start, lines),
            end: self.lines.position_in(&self.source, fr.end, lines),
        }
    }

    /// The span of the whole first line of `node`, for errors about the
    /// instruction as a whole.
    pub fn node_span(&self, node: &Node) -> Span {
        self.logical_span(node, &(0..node.original.len()))
    }
}
