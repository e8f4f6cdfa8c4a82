//! Go `filepath.Match` patterns for one path segment, as BuildKit uses
//! them for COPY sources (semantics.md CP-4).
//!
//! `*` matches any run of characters, `?` one character, `[...]` one
//! character of a class (ranges `a-z`, `^` negates, `\` escapes), and `\`
//! makes the next character literal. A segment never holds `/`, so `*` and
//! `?` cannot match across segments. Malformed patterns are errors, as
//! they are in BuildKit's cache-key computation.

/// One element of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    Any,
    /// A literal character.
    Lit(char),
    /// `[...]`: inclusive ranges, possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A parsed segment pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern(Vec<Token>);

/// Whether a segment holds an unescaped `*`, `?` or `[`, i.e. is matched
/// against directory entries rather than used as a name.
pub(crate) fn has_wildcard(seg: &[u8]) -> bool {
    let mut i = 0;
    while i < seg.len() {
        match seg[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

impl Pattern {
    /// Parses one segment; `None` if it is malformed (an unclosed or empty
    /// class, a range without an end, a trailing `\`).
    pub(crate) fn parse(seg: &str) -> Option<Pattern> {
        let mut tokens = Vec::new();
        let mut chars = seg.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '\\' => tokens.push(Token::Lit(chars.next()?)),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                            break;
                        }
                        let lo = class_char(&mut chars)?;
                        let hi = if chars.next_if_eq(&'-').is_some() {
                            class_char(&mut chars)?
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => tokens.push(Token::Lit(c)),
            }
        }
        Some(Pattern(tokens))
    }

    /// Whether the whole of `name` matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let tokens = &self.0;
        let (mut t, mut n) = (0, 0);
        // Where the last `*` was and how much of the name it has taken:
        // on a mismatch it takes one more character and matching resumes.
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t, n));
                    t += 1;
                    continue;
                }
                Some(tok) if one(tok, name[n]) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((st, sn)) => {
                    t = st + 1;
                    n = sn + 1;
                    star = Some((st, sn + 1));
                }
                None => return false,
            }
        }
        tokens[t.min(tokens.len())..]
            .iter()
            .all(|tok| *tok == Token::Star)
    }
}

/// One character of a class: not `-` or `]` unless escaped, and never the
/// end of the pattern.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    match chars.next()? {
        '-' | ']' => None,
        '\\' => chars.next(),
        c => Some(c),
    }
}

fn one(tok: &Token, c: char) -> bool {
    match tok {
        Token::Star => false,
        Token::Any => true,
        Token::Lit(l) => *l == c,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Pattern::parse(p).unwrap().matches(n)
    }

    /// Cases from Go's `path/filepath` match tests (segments only).
    #[test]
    fn go_match_cases() {
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*", "ab"));
        assert!(m("a*b*c*d*e*", "axbxcxdxe"));
        assert!(m("a*b*c*d*e*", "axbxcxdxexxx"));
        assert!(!m("a*b*c*d*e*", "axbxcxdx"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(!m("ab[^b-d]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(m("a[^a]b", "a☺b"));
        assert!(!m("a???b", "a☺b"));
        assert!(m("a[^a][^a][^a]b", "a☺☺☺b"));
        assert!(!m("a[^a][^a][^a]b", "a☺b"));
        assert!(m("[a-ζ]*", "α"));
        assert!(!m("*[a-ζ]", "A"));
        assert!(m("[\\-]", "-"));
        assert!(m("[x\\-]", "x"));
        assert!(m("[x\\-]", "-"));
        assert!(!m("[x\\-]", "z"));
        assert!(m("[\\-x]", "-"));
        assert!(!m("[\\-x]", "a"));
        assert!(m("*x", "xxx"));
        assert!(m("a*", "a"));
        assert!(!m("a?", "a"));
        assert!(m(".*", ".hidden"));
        assert!(m("*", ".hidden"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn bad_patterns() {
        for p in [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "[\\",
        ] {
            assert!(Pattern::parse(p).is_none(), "{p} should be malformed");
        }
        assert!(Pattern::parse("[a-b-]").is_none());
    }

    #[test]
    fn wildcards() {
        assert!(has_wildcard(b"*.txt"));
        assert!(has_wildcard(b"a[bc]"));
        assert!(has_wildcard(b"a?"));
        assert!(!has_wildcard(b"a\\*b"));
        assert!(!has_wildcard(b"plain"));
        assert!(has_wildcard(b"\\\\*"));
    }
}
