//! Heredoc markers (`<<EOF`, `<<-EOF`, `3<<"EOF"`) on RUN, COPY and ADD
//! lines, found the way BuildKit finds them: split the line into raw shell
//! words and look for words shaped like a marker.

use std::collections::BTreeMap;

use nom::bytes::complete::{tag, take_while};
use nom::character::complete::digit0;
use nom::combinator::{opt, rest};
use nom::{IResult, Parser};

use crate::ast::Heredoc;
use crate::error::ErrorKind;
use crate::shell::Lexer;

fn is_re2_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `^(\d*)<<(-?)\s*([^<]*)$`
fn marker(input: &str) -> IResult<&str, (&str, bool, &str)> {
    let (input, (fd, _, dash, _, name)) = (
        digit0,
        tag("<<"),
        opt(tag("-")),
        take_while(is_re2_space),
        rest,
    )
        .parse(input)?;
    if name.contains('<') {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        )));
    }
    Ok((input, (fd, dash.is_some(), name)))
}

/// Parses one word as a heredoc marker; `None` if it is not one.
pub fn parse_marker(word: &str) -> Result<Option<Heredoc>, ErrorKind> {
    let Ok((_, (fd, chomp, name))) = marker(word) else {
        return Ok(None);
    };
    if name.is_empty() {
        return Ok(None);
    }
    let env = BTreeMap::<String, String>::new();
    let plain = Lexer::new('\\').skip_unset_env(true);
    let words = plain
        .process_words(name, &env)
        .map_err(|e| ErrorKind::Heredoc(e.to_string()))?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = plain.clone().raw_quotes(true);
    let raw_words = raw
        .process_words(name, &env)
        .map_err(|e| ErrorKind::Heredoc(e.to_string()))?;
    if raw_words.len() != words.len() {
        return Err(ErrorKind::Heredoc(format!(
            "internal lexing of heredoc produced inconsistent results: {name}"
        )));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    // Quoting any part of the terminator shows up as a difference between
    // the two lexings, and turns expansion off.
    let expand = quotes(&words[0]) == quotes(&raw_words[0]);
    Ok(Some(Heredoc {
        name: words[0].clone(),
        fd: fd.parse().unwrap_or(0),
        expand,
        chomp,
        content: String::new(),
    }))
}

/// All heredoc markers on a logical line, in order.
pub(crate) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ErrorKind> {
    let env = BTreeMap::<String, String>::new();
    let lexer = Lexer::new('\\')
        .raw_quotes(true)
        .raw_escapes(true)
        .skip_unset_env(true);
    // BuildKit ignores lexing errors here: such a line has no heredocs.
    let Ok(words) = lexer.process_words(line, &env) else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for w in words {
        if let Some(doc) = parse_marker(&w)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Removes leading tabs from every line of a `<<-` body.
pub fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let d = parse_marker("<<EOF").unwrap().unwrap();
        assert_eq!(
            (d.name.as_str(), d.expand, d.chomp, d.fd),
            ("EOF", true, false, 0)
        );
        let d = parse_marker("3<<-'EOF'").unwrap().unwrap();
        assert_eq!(
            (d.name.as_str(), d.expand, d.chomp, d.fd),
            ("EOF", false, true, 3)
        );
        let d = parse_marker("<<E\"O\"F").unwrap().unwrap();
        assert_eq!((d.name.as_str(), d.expand), ("EOF", false));
        assert_eq!(parse_marker("<<").unwrap(), None);
        assert_eq!(parse_marker("a<<b").unwrap(), None);
        assert_eq!(parse_marker("<<a<b").unwrap(), None);
    }

    #[test]
    fn chomps_leading_tabs() {
        assert_eq!(chomp("\t\ta\n\tb\n  c"), "a\nb\n  c");
    }
}
