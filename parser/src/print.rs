//! The pretty-printer: a parsed [`Dockerfile`] back to canonical text.
//!
//! Canonical means: parser directives first (`# name=value`), then a blank
//! line; each instruction on one line with its keyword in upper case, one
//! space between keyword, flags and arguments, exec-form arguments as
//! `["a", "b"]`; the comments right above an instruction as `# text`;
//! heredoc bodies verbatim, each followed by its terminator. Blank lines,
//! line continuations, comments inside continued lines, a byte order mark
//! and CRLF line ends (outside heredoc bodies) are dropped.
//!
//! Printing keeps meaning: parsing the output gives the same syntax tree
//! (the same [`Dockerfile::dump`] and the same heredocs and comments), and
//! printing that again gives the same text. The argument text after the
//! flags is kept as written, since shell-form whitespace and quoting are
//! the command's own; so is each flag word.
//!
//! Two cases cannot be put on one line: an instruction whose line would pass
//! BuildKit's 64 KiB line limit (it was long and continued), and one whose
//! keyword is empty (a continued line of blanks). Those are printed as they
//! were written, piece by piece, with the escape character joining the
//! pieces, which reparses to the same line.

use crate::ast::{Dockerfile, Node};
use crate::directive::DirectiveScanner;
use crate::line::{MAX_LINE, trim_continuation};
use crate::split::is_go_space;

/// Prints `df` as canonical Dockerfile text (see the module doc).
///
/// ```
/// let df = kiln_parser::parse(b"from alpine\nrun   echo \\\n  hi\ncmd [ \"sh\" ]\n").unwrap();
/// assert_eq!(kiln_parser::print(&df), "FROM alpine\nRUN echo   hi\nCMD [\"sh\"]\n");
/// ```
pub fn print(df: &Dockerfile) -> String {
    let mut out = String::new();
    for d in &df.directives {
        comment_line(&mut out, &format!("{}={}", d.name, d.value));
    }
    let first_comment = df.nodes.first().and_then(|n| n.comments.first());
    // A comment right at the top that reads as a directive would become one;
    // so would any after the directives. A blank line ends directives.
    let looks_like_directive = first_comment.is_some_and(|c| {
        let mut scanner = DirectiveScanner::default();
        !matches!(scanner.scan(&format!("# {c}")), Ok(None))
    });
    if !df.directives.is_empty() || looks_like_directive {
        out.push('\n');
    }
    for node in &df.nodes {
        for c in &node.comments {
            comment_line(&mut out, c);
        }
        match one_line(node, df.escape) {
            Some(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            None => verbatim(&mut out, node, df.escape),
        }
        for h in &node.heredocs {
            out.push_str(&h.content);
            out.push_str(&h.name);
            out.push('\n');
        }
    }
    // An instruction word that starts with U+FEFF would read as a byte
    // order mark at the very start of the text.
    if out.starts_with('\u{feff}') {
        out.insert(0, '\n');
    }
    out
}

/// `# text`, or `#text` when the space would pass the line limit.
fn comment_line(out: &mut String, text: &str) {
    if text.len() + 3 <= MAX_LINE {
        out.push_str("# ");
    } else {
        out.push('#');
    }
    out.push_str(text);
    out.push('\n');
}

/// Whether the parser would join the next line to `line`.
fn continues(line: &str, escape: char) -> bool {
    !trim_continuation(line, escape).1
}

/// The line to print for `node`, if it fits on one.
fn one_line(node: &Node, escape: char) -> Option<String> {
    let mut line = canonical(node)?;
    if continues(&line, escape) {
        // Trimming bared an escape at the end that the blanks after it
        // (say a vertical tab) kept from continuing the line: keep them.
        let original = node.original.as_str();
        line.push_str(&original[original.trim_end_matches(is_go_space).len()..]);
        if continues(&line, escape) {
            // The instruction ran into the end of the file with its line
            // still continued; only the pieces can say that.
            return None;
        }
    }
    (line.len() < MAX_LINE).then_some(line)
}

/// The one-line canonical form of `node`; `None` when it has none.
fn canonical(node: &Node) -> Option<String> {
    let original = node.original.as_str();
    let keyword = original.get(node.keyword_range.clone())?;
    if keyword.is_empty() {
        return None;
    }
    let mut line = keyword.to_ascii_uppercase();
    for f in &node.flags {
        line.push(' ');
        line.push_str(original.get(f.range.clone())?);
    }
    let rest = match &node.child {
        Some(child) => canonical(child)?,
        None => {
            let start = node
                .flags
                .last()
                .map_or(node.keyword_range.end, |f| f.range.end);
            let rest = original.get(start..)?.trim_matches(is_go_space);
            if node.json {
                json_form(node)?
            } else {
                rest.to_string()
            }
        }
    };
    if !rest.is_empty() {
        line.push(' ');
        line.push_str(&rest);
    }
    Some(line)
}

/// Exec-form arguments as a JSON array with `", "` between the strings;
/// HEALTHCHECK keeps its type word in front.
fn json_form(node: &Node) -> Option<String> {
    let (prefix, values) = if node.name() == "healthcheck" {
        let (typ, values) = node.args.split_first()?;
        let typ = node.original.get(typ.range.clone())?;
        (format!("{typ} "), values)
    } else {
        (String::new(), node.args.as_slice())
    };
    let mut items = Vec::with_capacity(values.len());
    for w in values {
        items.push(serde_json::to_string(&w.value).ok()?);
    }
    Some(format!("{prefix}[{}]", items.join(", ")))
}

/// The instruction as written: its pieces joined by the escape character,
/// one per line, as the parser joined them. An instruction whose line was
/// still continued at the end of the file (its text, or its keyword, left
/// blank by that) keeps the escape after its last piece too.
fn verbatim(out: &mut String, node: &Node, escape: char) {
    let line = node.original.as_str();
    let open_at_end = continues(line, escape) || node.keyword.is_empty();
    let mut starts: Vec<usize> = node.map.logical_starts().collect();
    starts.push(line.len());
    let pieces = starts.len() - 1;
    for (i, w) in starts.windows(2).enumerate() {
        out.push_str(line.get(w[0]..w[1]).unwrap_or(""));
        if i + 1 < pieces || open_at_end {
            out.push(escape);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse;

    fn reprint(src: &str) -> String {
        print(&parse(src.as_bytes()).unwrap())
    }

    #[test]
    fn canonical_lines() {
        assert_eq!(
            reprint("# Syntax = docker/dockerfile:1\nfrom\t--platform=$P  a AS b\n"),
            "# syntax=docker/dockerfile:1\n\nFROM --platform=$P a AS b\n"
        );
        assert_eq!(
            reprint("FROM a\n  # note\nonbuild   run [ \"a\",\"b\" ]\n"),
            "FROM a\n# # note\nONBUILD RUN [\"a\", \"b\"]\n"
        );
        assert_eq!(
            reprint("FROM a\nHEALTHCHECK --retries=3 CMD [\"a\"]\n"),
            "FROM a\nHEALTHCHECK --retries=3 CMD [\"a\"]\n"
        );
        assert_eq!(
            reprint("FROM a\nCOPY --chown=\"a b\"   x y\n"),
            "FROM a\nCOPY --chown=\"a b\" x y\n"
        );
    }

    #[test]
    fn heredocs_follow_their_line() {
        assert_eq!(
            reprint("FROM a\r\nRUN <<A cat <<-'B'\r\nx\r\nA\r\n\ty\r\n\tB\r\nUSER u\r\n"),
            "FROM a\nRUN <<A cat <<-'B'\nx\r\nA\n\ty\r\nB\nUSER u\n"
        );
    }

    #[test]
    fn directive_like_comment_stays_a_comment() {
        let src = "\n# escape=`\nFROM a\n";
        let df = parse(src.as_bytes()).unwrap();
        assert_eq!(df.escape, '\\');
        let printed = print(&df);
        assert_eq!(printed, "\n# escape=`\nFROM a\n");
        assert_eq!(parse(printed.as_bytes()).unwrap().escape, '\\');
    }

    /// Prints `src`, checks the text reparses to the same tree and prints
    /// the same again, and returns it.
    fn stable(src: &str) -> String {
        let df = parse(src.as_bytes()).unwrap();
        let printed = print(&df);
        let again = parse(printed.as_bytes()).unwrap();
        assert_eq!(again.dump(), df.dump(), "{printed:?}");
        assert_eq!(print(&again), printed);
        printed
    }

    #[test]
    fn lines_still_continued_at_the_end_of_the_file() {
        // A lone escape at the end continues into nothing: an instruction
        // with no keyword, which only the escape itself can reproduce.
        assert_eq!(stable("FROM a\n\\"), "FROM a\n\\\n");
        // The text ends in an escape and a blank, left by the escape that
        // continued the line.
        assert_eq!(
            stable("FROM a\nRUN something \\ \\"),
            "FROM a\nRUN something \\ \\\n"
        );
    }

    #[test]
    fn blanks_that_stop_a_continuation_are_kept() {
        // A vertical tab after the escape keeps the line from continuing.
        assert_eq!(stable("FROM a\nRUN a \\\x0b\n"), "FROM a\nRUN a \\\x0b\n");
    }

    #[test]
    fn a_keyword_that_starts_with_a_byte_order_mark() {
        assert_eq!(stable("FROM a\n\u{feff}X\n"), "FROM a\n\u{feff}X\n");
        assert_eq!(stable("\n\u{feff}X\n"), "\n\u{feff}X\n");
    }

    #[test]
    fn long_continued_lines_are_printed_as_written() {
        let piece = "x".repeat(40_000);
        let src = format!("FROM a\nRUN {piece} \\\n  {piece}\n");
        let df = parse(src.as_bytes()).unwrap();
        let printed = print(&df);
        assert_eq!(printed, src);
        let again = parse(printed.as_bytes()).unwrap();
        assert_eq!(again.dump(), df.dump());
    }
}
