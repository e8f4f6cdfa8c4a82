//! Per-instruction argument shapes, as BuildKit's `line_parsers.go` makes
//! them: whitespace lists, one string, maybe-JSON, `k=v` triples, ARG's
//! quoted words, HEALTHCHECK's type word, ONBUILD's nested instruction.

use std::ops::Range;

use crate::ast::{Node, Word};
use crate::error::ErrorKind;
use crate::span::SourceMap;
use crate::split::{go_lower, is_go_space, is_word_sep, split_command};

/// What an argument parser produces.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) args: Vec<Word>,
    pub(crate) json: bool,
    pub(crate) child: Option<Box<Node>>,
}

/// How deep ONBUILD may nest in the syntax tree. BuildKit nests without
/// limit here and refuses any `ONBUILD ONBUILD` one layer up; a limit keeps
/// a line of a million `ONBUILD` words from costing a million stack frames
/// and a million copies of the line.
const MAX_ONBUILD_NESTING: usize = 8;

/// Builds the node for one logical line. `map` maps the line's offsets to
/// the file.
pub(crate) fn node_from_line(
    line: String,
    escape: char,
    comments: Vec<String>,
    map: SourceMap,
) -> Result<Node, (ErrorKind, Range<usize>)> {
    node_at_depth(line, escape, comments, map, 0)
}

/// The instruction names, lower case, for matching keywords without
/// allocating for each line.
const NAMES: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// The lower-case name of the instruction `keyword` is (as Go's
/// `strings.ToLower` sees it), or `""` for none.
pub(crate) fn instruction_name(keyword: &str) -> &'static str {
    if keyword.is_ascii() {
        return NAMES
            .iter()
            .find(|n| n.eq_ignore_ascii_case(keyword))
            .copied()
            .unwrap_or("");
    }
    let lower = go_lower(keyword);
    NAMES.iter().find(|n| **n == lower).copied().unwrap_or("")
}

fn node_at_depth(
    owned: String,
    escape: char,
    comments: Vec<String>,
    map: SourceMap,
    depth: usize,
) -> Result<Node, (ErrorKind, Range<usize>)> {
    let line = owned.as_str();
    let split = split_command(line, escape);
    let keyword = line[split.keyword.clone()].to_string();
    let rest = split.rest.clone();
    let parsed = match instruction_name(&keyword) {
        "add" | "copy" | "volume" => maybe_json_to_list(line, rest)?,
        "arg" => name_or_name_val(line, rest, escape),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(line, rest)?,
        "env" => name_val(line, rest, escape, "ENV")?,
        "label" => name_val(line, rest, escape, "LABEL")?,
        "expose" | "from" => whitespace_list(line, rest),
        "healthcheck" => health_config(line, rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => one_string(line, rest),
        "onbuild" if depth >= MAX_ONBUILD_NESTING => {
            return Err((
                ErrorKind::OnbuildTrigger(
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
                ),
                split.keyword,
            ));
        }
        "onbuild" => sub_command(line, rest, escape, &map, depth)?,
        // Unknown instructions keep one empty argument; the instruction
        // layer reports them, so the dump still matches BuildKit's.
        _ => Parsed {
            args: vec![Word {
                value: String::new(),
                range: rest,
            }],
            ..Parsed::default()
        },
    };
    Ok(Node {
        keyword,
        flags: split.flags,
        args: parsed.args,
        child: parsed.child,
        json: parsed.json,
        heredocs: Vec::new(),
        original: owned,
        start_line: 0,
        end_line: 0,
        comments,
        keyword_range: split.keyword,
        map,
    })
}

fn word(line: &str, r: Range<usize>) -> Word {
    Word {
        value: line[r.clone()].to_string(),
        range: r,
    }
}

/// `ONBUILD RUN x` nests the trigger as a child node.
fn sub_command(
    line: &str,
    rest: Range<usize>,
    escape: char,
    map: &SourceMap,
    depth: usize,
) -> Result<Parsed, (ErrorKind, Range<usize>)> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    let offset = rest.start;
    let child = node_at_depth(
        line[rest].to_string(),
        escape,
        Vec::new(),
        map.shifted(offset),
        depth + 1,
    )
    .map_err(|(k, r)| (k, r.start + offset..r.end + offset))?;
    Ok(Parsed {
        child: Some(Box::new(child)),
        ..Parsed::default()
    })
}

/// Splits on runs of `[\t\v\f\r ]`, keeping empty leading or trailing
/// pieces as Go's `regexp.Split` does (the rest is trimmed, so there are
/// none in practice).
fn split_ws(line: &str, r: Range<usize>, limit: Option<usize>) -> Vec<Range<usize>> {
    let s = &line[r.clone()];
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if limit.is_some_and(|n| out.len() + 1 >= n) {
            break;
        }
        if is_word_sep(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if !is_word_sep(d) {
                    break;
                }
                end = j + d.len_utf8();
                iter.next();
            }
            out.push(r.start + start..r.start + i);
            start = end;
        }
    }
    out.push(r.start + start..r.end);
    out
}

fn whitespace_list(line: &str, rest: Range<usize>) -> Parsed {
    if rest.is_empty() {
        return Parsed::default();
    }
    Parsed {
        args: split_ws(line, rest, None)
            .into_iter()
            .map(|r| word(line, r))
            .collect(),
        ..Parsed::default()
    }
}

fn one_string(line: &str, rest: Range<usize>) -> Parsed {
    if rest.is_empty() {
        return Parsed::default();
    }
    Parsed {
        args: vec![word(line, rest)],
        ..Parsed::default()
    }
}

/// Outcome of trying the JSON form.
enum Json {
    Array(Vec<String>),
    NotJson,
}

fn parse_json(text: &str) -> Result<Json, ErrorKind> {
    let t = text.trim_start_matches(is_go_space);
    if !t.starts_with('[') {
        return Ok(Json::NotJson);
    }
    match crate::json::classify(t) {
        crate::json::Shape::Strings(items) => Ok(Json::Array(items)),
        crate::json::Shape::NotStrings => Err(ErrorKind::JsonNotStrings),
        crate::json::Shape::NotJson => Ok(Json::NotJson),
    }
}

/// A JSON array's strings as words; each points at the whole array, since
/// BuildKit's nodes keep no finer position.
fn json_words(items: Vec<String>, rest: Range<usize>) -> Parsed {
    Parsed {
        args: items
            .into_iter()
            .map(|value| Word {
                value,
                range: rest.clone(),
            })
            .collect(),
        json: true,
        child: None,
    }
}

fn maybe_json(line: &str, rest: Range<usize>) -> Result<Parsed, (ErrorKind, Range<usize>)> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    match parse_json(&line[rest.clone()]).map_err(|k| (k, rest.clone()))? {
        Json::Array(items) => Ok(json_words(items, rest)),
        Json::NotJson => Ok(one_string(line, rest)),
    }
}

fn maybe_json_to_list(line: &str, rest: Range<usize>) -> Result<Parsed, (ErrorKind, Range<usize>)> {
    match parse_json(&line[rest.clone()]).map_err(|k| (k, rest.clone()))? {
        Json::Array(items) => Ok(json_words(items, rest)),
        Json::NotJson => Ok(whitespace_list(line, rest)),
    }
}

/// Shell-like words with quotes and escapes kept (they are removed later,
/// at expansion).
pub(crate) fn parse_words(line: &str, r: Range<usize>, escape: char) -> Vec<Word> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let s = &line[r.clone()];
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut current = String::new();
    let mut blank_ok = false;
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    let push = |words: &mut Vec<Word>, value: String, start: usize, end: usize| {
        words.push(Word {
            value,
            range: r.start + start..r.start + end,
        });
    };
    while let Some((pos, ch)) = chars.next() {
        if phase == Phase::Spaces {
            if is_go_space(ch) {
                continue;
            }
            phase = Phase::Word;
            start = pos;
        }
        match phase {
            Phase::Word => {
                if is_go_space(ch) {
                    phase = Phase::Spaces;
                    if blank_ok || !current.is_empty() {
                        push(&mut words, std::mem::take(&mut current), start, pos);
                    }
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    match chars.next() {
                        // An escape at the very end is dropped.
                        None => continue,
                        // Outside quotes the escape and the next character
                        // are both kept, even a quote.
                        Some((_, next)) => {
                            current.push(ch);
                            current.push(next);
                            continue;
                        }
                    }
                }
                current.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                // Single quotes escape nothing.
                if ch == escape && q != '\'' {
                    match chars.next() {
                        None => {
                            phase = Phase::Word;
                            continue;
                        }
                        Some((_, next)) => {
                            current.push(ch);
                            current.push(next);
                            continue;
                        }
                    }
                }
                current.push(ch);
            }
            Phase::Spaces => {}
        }
    }
    if phase != Phase::Spaces && (blank_ok || !current.is_empty()) {
        push(&mut words, current, start, s.len());
    }
    words
}

fn name_val(
    line: &str,
    rest: Range<usize>,
    escape: char,
    key: &'static str,
) -> Result<Parsed, (ErrorKind, Range<usize>)> {
    let words = parse_words(line, rest.clone(), escape);
    let Some(first) = words.first() else {
        return Ok(Parsed::default());
    };
    let mut args = Vec::new();
    if !first.value.contains('=') {
        // Legacy `KEY name value`: the value is the raw rest of the line.
        let parts = split_ws(line, rest.clone(), Some(2));
        if parts.len() < 2 {
            return Err((ErrorKind::MissingValue(key), rest));
        }
        args.push(word(line, parts[0].clone()));
        args.push(word(line, parts[1].clone()));
        args.push(Word {
            value: String::new(),
            range: parts[1].end..parts[1].end,
        });
        return Ok(Parsed {
            args,
            ..Parsed::default()
        });
    }
    for w in words {
        let Some((k, v)) = w.value.split_once('=') else {
            return Err((
                ErrorKind::MissingEquals(crate::quote::go_quote(&w.value)),
                w.range,
            ));
        };
        args.push(Word {
            value: k.to_string(),
            range: w.range.clone(),
        });
        args.push(Word {
            value: v.to_string(),
            range: w.range.clone(),
        });
        args.push(Word {
            value: "=".to_string(),
            range: w.range.clone(),
        });
    }
    Ok(Parsed {
        args,
        ..Parsed::default()
    })
}

fn name_or_name_val(line: &str, rest: Range<usize>, escape: char) -> Parsed {
    Parsed {
        args: parse_words(line, rest, escape),
        ..Parsed::default()
    }
}

fn health_config(line: &str, rest: Range<usize>) -> Result<Parsed, (ErrorKind, Range<usize>)> {
    let s = &line[rest.clone()];
    // BuildKit looks at single bytes here; a multi-byte character is never
    // a space to it, which `is_ascii_whitespace` mirrors for ASCII bytes.
    let sep = s
        .char_indices()
        .find(|&(_, c)| c.is_ascii() && is_go_space(c))
        .map_or(s.len(), |(i, _)| i);
    if sep == 0 {
        return Ok(Parsed::default());
    }
    let next = s[sep..]
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii() && is_go_space(c)))
        .map_or(s.len(), |(i, _)| sep + i);
    let typ = word(line, rest.start..rest.start + sep);
    let cmd = maybe_json(line, rest.start + next..rest.end)?;
    let mut args = vec![typ];
    args.extend(cmd.args);
    Ok(Parsed {
        args,
        json: cmd.json,
        child: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: &Parsed) -> Vec<&str> {
        p.args.iter().map(|w| w.value.as_str()).collect()
    }

    #[test]
    fn words_keep_quotes() {
        let line = r#"abc="123 456" def \"x\ y 'a\b'"#;
        let w = parse_words(line, 0..line.len(), '\\');
        let v: Vec<&str> = w.iter().map(|w| w.value.as_str()).collect();
        assert_eq!(v, vec![r#"abc="123 456""#, "def", r#"\"x\ y"#, r"'a\b'"]);
        assert_eq!(&line[w[1].range.clone()], "def");
    }

    #[test]
    fn env_forms() {
        let line = "GOPATH /go  x";
        let p = name_val(line, 0..line.len(), '\\', "ENV").unwrap();
        assert_eq!(values(&p), vec!["GOPATH", "/go  x", ""]);
        let line = "a=1 b=\"2 3\"";
        let p = name_val(line, 0..line.len(), '\\', "ENV").unwrap();
        assert_eq!(values(&p), vec!["a", "1", "=", "b", "\"2 3\"", "="]);
        let line = "a=1 b";
        let e = name_val(line, 0..line.len(), '\\', "ENV").unwrap_err();
        assert_eq!(e.0, ErrorKind::MissingEquals("\"b\"".into()));
        let line = "onlykey";
        let e = name_val(line, 0..line.len(), '\\', "ENV").unwrap_err();
        assert_eq!(e.0, ErrorKind::MissingValue("ENV"));
    }

    #[test]
    fn json_or_shell() {
        let line = r#"["a", "b"]"#;
        let p = maybe_json(line, 0..line.len()).unwrap();
        assert!(p.json);
        assert_eq!(values(&p), vec!["a", "b"]);
        let line = "[\"a\", 'b']";
        let p = maybe_json(line, 0..line.len()).unwrap();
        assert!(!p.json);
        assert_eq!(values(&p), vec![line]);
        let line = r#"["a", 1]"#;
        assert!(maybe_json(line, 0..line.len()).is_err());
    }
}
