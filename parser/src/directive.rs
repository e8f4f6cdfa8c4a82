//! Parser directives (`# syntax=`, `# escape=`, `# check=`): comment lines
//! at the very top of a Dockerfile that change how the rest is read.

use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::satisfy;
use nom::combinator::{recognize, rest};
use nom::{IResult, Parser};

/// A parser directive found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-cased name: `syntax`, `escape` or `check`.
    pub name: String,
    /// The value, trimmed.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Scans lines for directives until the first line that is not one; after
/// that it answers `None` for good, as BuildKit's `DirectiveParser` does.
#[derive(Debug, Default)]
pub(crate) struct DirectiveScanner {
    line: usize,
    done: bool,
    seen: Vec<String>,
}

/// Why a directive line is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Duplicate(pub(crate) String);

/// RE2's `\s`, which BuildKit's directive pattern uses (no vertical tab).
fn is_re2_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `name = value` after the `#`: a letter, then letters and digits, then
/// `=`; the value is everything after, less trailing blanks, non-empty.
fn key_value(input: &str) -> IResult<&str, (&str, &str)> {
    let name = recognize((
        satisfy(|c| c.is_ascii_alphabetic()),
        take_while(|c: char| c.is_ascii_alphanumeric()),
    ));
    let (_, (name, _, _, _, value)) = (
        name,
        take_while(is_re2_space),
        tag("="),
        take_while(is_re2_space),
        rest,
    )
        .parse(input)?;
    let value = value.trim_end_matches(is_re2_space);
    // `.+?` needs one character that is not a newline.
    let (_, value) = take_while1(|c| c != '\n').parse(value)?;
    Ok(("", (name, value)))
}

impl DirectiveScanner {
    /// Looks at one line (already stripped of leading blanks and newline).
    pub(crate) fn scan(&mut self, line: &str) -> Result<Option<Directive>, Duplicate> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(after) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(None);
        };
        let after = after.trim_start();
        let Ok((_, (name, value))) = key_value(after) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(Duplicate(name));
        }
        self.seen.push(name.clone());
        Ok(Some(Directive {
            name,
            value: value.to_string(),
            line: self.line,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_directives_until_something_else() {
        let mut s = DirectiveScanner::default();
        let d = s.scan("# Escape = `  ").unwrap().unwrap();
        assert_eq!(
            (d.name.as_str(), d.value.as_str(), d.line),
            ("escape", "`", 1)
        );
        assert_eq!(
            s.scan("#syntax=docker/dockerfile:1").unwrap().unwrap().name,
            "syntax"
        );
        assert_eq!(s.scan("# just a comment").unwrap(), None);
        assert_eq!(s.scan("# check=skip=all").unwrap(), None);
    }

    #[test]
    fn unknown_directive_ends_scanning() {
        let mut s = DirectiveScanner::default();
        assert_eq!(s.scan("# foo=bar").unwrap(), None);
        assert_eq!(s.scan("# escape=`").unwrap(), None);
    }

    #[test]
    fn repeated_directive_is_an_error() {
        let mut s = DirectiveScanner::default();
        s.scan("# escape=`").unwrap();
        assert_eq!(s.scan("# ESCAPE=\\"), Err(Duplicate("escape".into())));
    }

    #[test]
    fn empty_value_is_no_directive() {
        let mut s = DirectiveScanner::default();
        assert_eq!(s.scan("# escape=   ").unwrap(), None);
    }
}
