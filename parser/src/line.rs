//! From text to nodes: physical lines, parser directives, comments, line
//! continuations and heredoc bodies, as BuildKit's `parser.Parse` reads
//! them.

use crate::args::node_from_line;
use crate::ast::{Dockerfile, Node, Warning};
use crate::directive::{Directive, DirectiveScanner, Duplicate};
use crate::error::{Error, ErrorKind};
use crate::heredoc::heredocs_from_line;
use crate::span::{LineIndex, Position, SourceMap, Span};
use crate::split::is_go_space;

/// The largest Dockerfile kiln reads (16 MiB): a hundred times the biggest
/// seen in the wild, and parsed in well under a second.
pub const MAX_FILE: usize = 16 << 20;

/// BuildKit's scanner refuses lines longer than this (newline included).
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// One physical line: where it starts in the file, and its text with the
/// line ending.
struct Physical<'a> {
    start: usize,
    text: &'a str,
}

fn physical_lines(src: &str, from: usize) -> Vec<Physical<'_>> {
    let mut out = Vec::new();
    let mut start = from;
    while start < src.len() {
        let end = src[start..].find('\n').map_or(src.len(), |i| start + i + 1);
        out.push(Physical {
            start,
            text: &src[start..end],
        });
        start = end;
    }
    out
}

/// Whether BuildKit's line scanner (a `bufio.Scanner` with a 64 KiB
/// buffer) fails on this line: a line with its newline may fill the buffer
/// exactly; the last line without a newline must leave room for one more
/// byte, as the scanner cannot know it has ended. `bom`: the line carries
/// the 3-byte byte order mark the scanner still sees.
fn line_too_long(text: &str, bom: bool) -> bool {
    let len = text.len() + if bom { 3 } else { 0 };
    if text.ends_with('\n') {
        len > MAX_LINE
    } else {
        len >= MAX_LINE
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(s: &str) -> bool {
    s.trim_start_matches(is_go_space).starts_with('#')
}

/// Strips a trailing escape character (and blanks after it) that continues
/// the line. Mirrors BuildKit's regexp, including its blind spot: an
/// escaped escape at the end (`foo \\`) does not continue.
pub(crate) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape)
        && (before.is_empty() || !before.ends_with(escape))
    {
        return (before, false);
    }
    (line, true)
}

/// The parser's running state: escape character and directive scanning.
struct State {
    escape: char,
    scanner: DirectiveScanner,
    directives: Vec<Directive>,
}

impl State {
    /// BuildKit's `processLine`: strip the newline (and leading blanks for
    /// the first line of an instruction), look for a directive, blank out
    /// comments. Returns the text and whether it was a directive.
    fn process<'a>(
        &mut self,
        raw: &'a str,
        strip_left: bool,
    ) -> Result<(&'a str, bool), ErrorKind> {
        let mut token = trim_newline(raw);
        if strip_left {
            token = token.trim_start_matches(is_go_space);
        }
        let found = match self.scanner.scan(token) {
            Ok(d) => d,
            Err(Duplicate(name)) => return Err(ErrorKind::DuplicateDirective(name)),
        };
        let is_directive = found.is_some();
        if let Some(d) = found {
            if d.name == "escape" {
                match d.value.as_str() {
                    "\\" => self.escape = '\\',
                    "`" => self.escape = '`',
                    other => return Err(ErrorKind::InvalidEscape(other.to_string())),
                }
            }
            self.directives.push(d);
        }
        if is_comment(token) {
            return Ok(("", is_directive));
        }
        Ok((token, is_directive))
    }
}

fn line_error(
    lines: &LineIndex,
    src: &str,
    kind: ErrorKind,
    start: usize,
    line: (usize, usize),
) -> Error {
    let p = lines.position(src, start);
    Error {
        kind,
        span: Span {
            start: p,
            end: Position {
                line: p.line,
                column: p.column + 1,
            },
        },
        lines: line,
    }
}

/// Parses Dockerfile bytes into nodes.
pub fn parse(bytes: &[u8]) -> Result<Dockerfile, Error> {
    if bytes.len() > MAX_FILE {
        let start = crate::span::Position { line: 1, column: 1 };
        return Err(Error {
            kind: ErrorKind::TooLarge(MAX_FILE),
            span: Span { start, end: start },
            lines: (1, 1),
        });
    }
    let source = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(e) => {
            let src = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
            let lines = LineIndex::new(&src);
            let at = src.len();
            let line = lines.position(&src, at).line;
            return Err(line_error(
                &lines,
                &src,
                ErrorKind::NotUtf8,
                at,
                (line, line),
            ));
        }
    };
    let lines = LineIndex::new(&source);
    let fail = |kind: ErrorKind, at: usize, range: (usize, usize)| {
        line_error(&lines, &source, kind, at, range)
    };
    // BuildKit refuses only a file of no bytes at all as empty; blanks, a
    // lone byte order mark or comments are a file with no instructions.
    if bytes.is_empty() {
        return Err(fail(ErrorKind::Empty, 0, (1, 1)));
    }
    let body_start = if source.starts_with('\u{feff}') { 3 } else { 0 };
    let mut phys = physical_lines(&source, body_start);
    // BuildKit's scanner stops at the first line it cannot hold and
    // reports it after the lines before it are parsed, so errors there
    // come first; cut the lines there and report it at the end.
    let too_long = phys
        .iter()
        .enumerate()
        .find(|(_, p)| line_too_long(p.text, p.start == body_start && body_start > 0))
        .map(|(i, p)| (i, p.start));
    if let Some((i, _)) = too_long {
        phys.truncate(i);
    }

    let mut state = State {
        escape: '\\',
        scanner: DirectiveScanner::default(),
        directives: Vec::new(),
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut i = 0;
    while i < phys.len() {
        let p = &phys[i];
        let line_no = i + 1;
        if is_comment(p.text) {
            // BuildKit drops the first byte, whatever it is (`#` unless the
            // comment is indented), then trims.
            let c = p.text.get(1..).unwrap_or("").trim();
            if c.is_empty() {
                comments.clear();
            } else {
                comments.push(c.to_string());
            }
        }
        let (token, is_directive) = state
            .process(p.text, true)
            .map_err(|k| fail(k, p.start, (line_no, line_no)))?;
        if is_directive {
            comments.pop();
        }
        i += 1;
        let start_line = line_no;
        let (first, mut end_of_line) = trim_continuation(token, state.escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut map = SourceMap::default();
        // `token` is a suffix-trimmed slice of `p.text` minus leading blanks.
        let lead =
            trim_newline(p.text).len() - trim_newline(p.text).trim_start_matches(is_go_space).len();
        map.push(0, p.start + lead);
        let mut logical = first.to_string();
        let mut empty_continuation = false;
        while !end_of_line && i < phys.len() {
            let q = &phys[i];
            let (text, _) = state
                .process(q.text, false)
                .map_err(|k| fail(k, q.start, (i + 1, i + 1)))?;
            i += 1;
            if is_comment(q.text) {
                continue;
            }
            if trim_newline(text)
                .trim_start_matches(is_go_space)
                .is_empty()
            {
                empty_continuation = true;
                continue;
            }
            let (piece, eol) = trim_continuation(text, state.escape);
            end_of_line = eol;
            map.push(logical.len(), q.start);
            logical.push_str(piece);
        }
        if empty_continuation {
            warnings.push(Warning {
                rule: "NoEmptyContinuation",
                message: format!("Empty continuation line found in: {logical}"),
                line: i,
            });
        }
        let mut node = node_from_line(
            logical,
            state.escape,
            std::mem::take(&mut comments),
            map.clone(),
        )
        .map_err(|(kind, r)| {
            let fr = map.file_range(&r);
            Error {
                kind,
                span: Span {
                    start: lines.position(&source, fr.start),
                    end: lines.position(&source, fr.end.max(fr.start + 1)),
                },
                lines: (start_line, i),
            }
        })?;
        if node.original.contains("<<") && can_contain_heredoc(&node) {
            let docs = heredocs_from_line(&node.original)
                .map_err(|k| fail(k, p.start, (start_line, i)))?;
            for mut doc in docs {
                let mut terminated = false;
                let mut content = String::new();
                while i < phys.len() {
                    let body = phys[i].text;
                    i += 1;
                    let mut candidate = trim_newline(body);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(body);
                }
                if !terminated {
                    return Err(fail(
                        ErrorKind::UnterminatedHeredoc,
                        p.start,
                        (start_line, i),
                    ));
                }
                doc.content = content;
                node.heredocs.push(doc);
            }
        }
        node.start_line = start_line;
        node.end_line = i.max(start_line);
        nodes.push(node);
    }
    if let Some((i, start)) = too_long {
        return Err(fail(ErrorKind::LineTooLong, start, (i + 1, i + 1)));
    }
    if nodes.is_empty() {
        let last = phys.len().max(1);
        return Err(fail(ErrorKind::NoInstructions, body_start, (last, last)));
    }
    Ok(Dockerfile {
        nodes,
        escape: state.escape,
        directives: state.directives,
        warnings,
        source,
        lines,
    })
}

/// RUN, COPY and ADD (also as an ONBUILD trigger) may carry heredocs, but
/// not in JSON form.
fn can_contain_heredoc(node: &Node) -> bool {
    let n = match &node.child {
        Some(child) if node.name() == "onbuild" => child,
        _ => node,
    };
    matches!(n.name().as_str(), "run" | "copy" | "add") && !n.json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", false));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a", '\\'), ("a", true));
    }

    #[test]
    fn joins_lines_and_maps_positions() {
        let df = parse(b"FROM x\nRUN a \\\n  # c\n    b\n").unwrap();
        assert_eq!(df.nodes.len(), 2);
        let run = &df.nodes[1];
        assert_eq!(run.original, "RUN a     b");
        assert_eq!((run.start_line, run.end_line), (2, 4));
        // The `b` sits on line 4, column 5.
        let b = run.original.find('b').unwrap();
        let off = run.file_range(&(b..b + 1)).start;
        assert_eq!(df.position(off), Position { line: 4, column: 5 });
    }

    #[test]
    fn empty_and_comment_only_files_fail() {
        assert_eq!(parse(b"").unwrap_err().kind, ErrorKind::Empty);
        assert_eq!(
            parse(b"  \n\n").unwrap_err().kind,
            ErrorKind::NoInstructions
        );
        assert_eq!(
            parse(b"# hi\n").unwrap_err().kind,
            ErrorKind::NoInstructions
        );
    }

    #[test]
    fn escape_directive() {
        let df = parse(b"# escape=`\nRUN a `\n b\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.nodes[0].original, "RUN a  b");
        let e = parse(b"# escape=x\nRUN a\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidEscape("x".into()));
    }
}
