//! Splitting a logical line into keyword, leading `--flags` and the rest,
//! as BuildKit's `split_command.go` does.

use std::ops::Range;

use crate::ast::Word;

/// Go's `unicode.IsSpace`, which is Unicode White_Space: the same set as
/// Rust's `char::is_whitespace`.
pub(crate) fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `strings.ToLower`: simple case mapping, one character to one, so
/// `İ` (U+0130) becomes `i` where Rust's full mapping gives `i̇`.
pub(crate) fn go_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| match c {
            '\u{130}' => 'i',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

/// Go's `strings.ToUpper`: simple case mapping, so `ß` stays `ß` where
/// Rust's full mapping gives `SS`.
pub(crate) fn go_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// BuildKit's `reWhitespace`: `[\t\v\f\r ]`.
pub(crate) fn is_word_sep(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// The parts of an instruction line.
#[derive(Debug)]
pub(crate) struct Split {
    pub(crate) keyword: Range<usize>,
    pub(crate) flags: Vec<Word>,
    /// The arguments after the flags, trimmed, as a range of the line.
    pub(crate) rest: Range<usize>,
}

/// Splits `line` into keyword, flags and the remaining arguments.
pub(crate) fn split_command(line: &str, escape: char) -> Split {
    let trimmed_start = line.len() - line.trim_start_matches(is_go_space).len();
    let trimmed_end = line.trim_end_matches(is_go_space).len().max(trimmed_start);
    let body = &line[trimmed_start..trimmed_end];
    let kw_len = body.find(is_word_sep).unwrap_or(body.len());
    let keyword = trimmed_start..trimmed_start + kw_len;
    let after_kw = &body[kw_len..];
    if after_kw.is_empty() {
        return Split {
            keyword,
            flags: Vec::new(),
            rest: trimmed_end..trimmed_end,
        };
    }
    let sep_len = after_kw.len() - after_kw.trim_start_matches(is_word_sep).len();
    let args_start = keyword.end + sep_len;
    let (rest_rel, flags) = extract_flags(&line[args_start..trimmed_end], escape);
    let flags = flags
        .into_iter()
        .map(|w| Word {
            value: w.value,
            range: w.range.start + args_start..w.range.end + args_start,
        })
        .collect();
    let rest_start = args_start + rest_rel;
    let rest = &line[rest_start..trimmed_end];
    let lead = rest.len() - rest.trim_start_matches(is_go_space).len();
    let trail = rest.trim_end_matches(is_go_space).len();
    Split {
        keyword,
        flags,
        rest: rest_start + lead..(rest_start + trail).max(rest_start + lead),
    }
}

#[derive(PartialEq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Takes the leading words that start with `--`; a bare `--` ends them.
/// Returns the offset where the arguments start, and the flags with quotes
/// removed and escapes applied.
///
/// BuildKit scans bytes, so non-ASCII flag values come out re-encoded as
/// Latin-1 there; kiln keeps them as written.
fn extract_flags(line: &str, escape: char) -> (usize, Vec<Word>) {
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut current = String::new();
    let mut start = 0;
    let mut blank_ok = false;
    let mut chars = line.char_indices().peekable();
    while let Some((pos, ch)) = chars.next() {
        match phase {
            Phase::Spaces => {
                if is_go_space(ch) {
                    continue;
                }
                let next_is_dash = chars.peek().is_some_and(|&(_, c)| c == '-');
                if ch != '-' || !next_is_dash {
                    return (pos, words);
                }
                phase = Phase::Word;
                start = pos;
                current.push(ch);
            }
            Phase::Word => {
                if is_go_space(ch) {
                    phase = Phase::Spaces;
                    if current == "--" {
                        return (pos, words);
                    }
                    if blank_ok || !current.is_empty() {
                        words.push(Word {
                            value: std::mem::take(&mut current),
                            range: start..pos,
                        });
                    }
                    current.clear();
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    continue;
                }
                if ch == escape {
                    match chars.next() {
                        Some((_, c)) => current.push(c),
                        None => continue,
                    }
                    continue;
                }
                current.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                    continue;
                }
                if ch == escape {
                    match chars.next() {
                        Some((_, c)) => current.push(c),
                        None => phase = Phase::Word,
                    }
                    continue;
                }
                current.push(ch);
            }
        }
    }
    if phase != Phase::Spaces && current != "--" && (blank_ok || !current.is_empty()) {
        words.push(Word {
            value: current,
            range: start..line.len(),
        });
    }
    (line.len(), words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Vec<String>, String) {
        let s = split_command(line, '\\');
        (
            line[s.keyword].to_string(),
            s.flags.into_iter().map(|w| w.value).collect(),
            line[s.rest].to_string(),
        )
    }

    #[test]
    fn go_case_mapping() {
        assert_eq!(go_lower("ONBU\u{130}LD"), "onbuild");
        assert_eq!(go_lower("R\u{212a}N"), "rkn");
        assert_eq!(go_upper("stra\u{df}e"), "STRA\u{df}E");
        assert_eq!(go_upper("cmd"), "CMD");
    }

    #[test]
    fn keyword_flags_rest() {
        assert_eq!(
            split("  COPY --from=a --chown=\"x y\" src dst "),
            (
                "COPY".into(),
                vec!["--from=a".into(), "--chown=x y".into()],
                "src dst".into()
            )
        );
        assert_eq!(split("RUN"), ("RUN".into(), vec![], "".into()));
        assert_eq!(
            split("RUN -- --x"),
            ("RUN".into(), vec![], "--x".into()),
            "a bare -- ends the flags"
        );
        assert_eq!(
            split("RUN --a=\\\"b echo"),
            ("RUN".into(), vec!["--a=\"b".into()], "echo".into())
        );
        assert_eq!(
            split("RUN --a"),
            ("RUN".into(), vec!["--a".into()], "".into())
        );
    }
}
