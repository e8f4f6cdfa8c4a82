//! The shell pattern matcher behind `${v#p}`, `${v%p}` and `${v/p/r}`.
//!
//! BuildKit turns these patterns into Go regular expressions: `*` becomes
//! `.*` (or `.*?`), `?` becomes `.`, a backslash escapes `*`, `?` and
//! itself, and every other character (brackets included) is literal. Go's
//! `.` does not match a newline, so neither `*` nor `?` does here.
//!
//! Instead of backtracking, the matcher runs the pattern as a
//! position-set automaton in bit-parallel form: one pass over the text
//! costs `O(len(text) * len(pattern) / 64)` whatever the pattern holds.
//! For the leftmost-first semantics of Go's engine the match a lazy pattern
//! picks is the shortest one and a greedy pattern's is the longest one
//! (with the leftmost start when unanchored), which is what the set of
//! reachable end positions gives directly.

use std::collections::HashMap;

/// One element of a parsed pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// Exactly this character.
    Lit(char),
    /// Any one character but a newline (`?`).
    Any,
    /// Any run of characters without a newline (`*`).
    Star,
}

/// Parses a pattern the way BuildKit's `convertShellPatternToRegex` reads
/// it. The error text is BuildKit's (`invalid escape '\x'`).
fn parse(pattern: &str) -> Result<Vec<Tok>, String> {
    // Go's text/scanner drops a byte order mark that opens its input.
    let pattern = pattern.strip_prefix('\u{FEFF}').unwrap_or(pattern);
    let mut toks = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let tok = match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => {
                // `}` and `/` are escaped only to get them past the `${}`
                // reader; the backslash is not part of the pattern.
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(e @ ('*' | '?' | '\\')) => Tok::Lit(e),
                    Some(e) => return Err(format!("invalid escape '\\{e}'")),
                    None => return Err("invalid escape '\\\u{FFFD}'".to_owned()),
                }
            }
            other => Tok::Lit(other),
        };
        // A run of stars matches what one star matches; keeping one lets the
        // automaton close over a star with a single shift.
        if tok == Tok::Star && toks.last() == Some(&Tok::Star) {
            continue;
        }
        toks.push(tok);
    }
    Ok(toks)
}

/// Reverses a pattern keeping each backslash pair in order (`a\*c` becomes
/// `c\*a`), as BuildKit does before matching a suffix; errors then name
/// the reversed pattern, as BuildKit's do.
fn reverse_pattern(pattern: &str) -> String {
    let mut units: Vec<&str> = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        let mut len = c.len_utf8();
        if c == '\\'
            && let Some(next) = rest[len..].chars().next()
        {
            len += next.len_utf8();
        }
        units.push(&rest[..len]);
        rest = &rest[len..];
    }
    units.iter().rev().copied().collect()
}

/// The positions holding one character, dense when it is common in the
/// pattern (one AND per word), as a list when rare (bounded memory).
enum LitIndex {
    Dense(Vec<u64>),
    Sparse(Vec<usize>),
}

/// A compiled pattern: state `i` means "the first `i` tokens matched",
/// state `len` accepts.
struct Matcher {
    /// Number of tokens; also the accepting state.
    len: usize,
    /// Words in a state set.
    words: usize,
    star: Vec<u64>,
    any: Vec<u64>,
    lits: HashMap<char, LitIndex>,
    /// The start set: state 0 and what a leading star reaches.
    initial: Vec<u64>,
}

fn bit(set: &[u64], i: usize) -> bool {
    set[i / 64] >> (i % 64) & 1 == 1
}

fn set_bit(set: &mut [u64], i: usize) {
    set[i / 64] |= 1 << (i % 64);
}

impl Matcher {
    fn new(toks: &[Tok]) -> Self {
        let len = toks.len();
        let words = len / 64 + 1;
        let mut star = vec![0; words];
        let mut any = vec![0; words];
        let mut positions: HashMap<char, Vec<usize>> = HashMap::new();
        for (i, tok) in toks.iter().enumerate() {
            match tok {
                Tok::Star => set_bit(&mut star, i),
                Tok::Any => set_bit(&mut any, i),
                Tok::Lit(c) => positions.entry(*c).or_default().push(i),
            }
        }
        let lits = positions
            .into_iter()
            .map(|(c, pos)| {
                let index = if pos.len() > words {
                    let mut mask = vec![0; words];
                    for i in pos {
                        set_bit(&mut mask, i);
                    }
                    LitIndex::Dense(mask)
                } else {
                    LitIndex::Sparse(pos)
                };
                (c, index)
            })
            .collect();
        let mut matcher = Matcher {
            len,
            words,
            star,
            any,
            lits,
            initial: vec![0; words],
        };
        let mut initial = vec![0; words];
        set_bit(&mut initial, 0);
        matcher.close(&mut initial);
        matcher.initial = initial;
        matcher
    }

    fn empty(&self) -> Vec<u64> {
        vec![0; self.words]
    }

    fn accepts(&self, set: &[u64]) -> bool {
        bit(set, self.len)
    }

    /// Adds the state after each star that is in the set (a star may match
    /// nothing). Stars never follow stars, so one shift is enough.
    fn close(&self, set: &mut [u64]) {
        let mut carry = 0;
        for (w, star) in set.iter_mut().zip(&self.star) {
            let s = *w & star;
            *w |= (s << 1) | carry;
            carry = s >> 63;
        }
    }

    /// Moves every state of `cur` over `c` into `next`; returns whether
    /// any state is left.
    fn step(&self, cur: &[u64], c: char, next: &mut [u64]) -> bool {
        let newline = c == '\n';
        let dense = match self.lits.get(&c) {
            Some(LitIndex::Dense(mask)) => Some(mask),
            _ => None,
        };
        let mut carry = 0;
        for w in 0..self.words {
            let mut adv = 0;
            let mut stay = 0;
            if !newline {
                adv = cur[w] & self.any[w];
                stay = cur[w] & self.star[w];
            }
            if let Some(mask) = dense {
                adv |= cur[w] & mask[w];
            }
            next[w] = (adv << 1) | carry | stay;
            carry = adv >> 63;
        }
        if let Some(LitIndex::Sparse(pos)) = self.lits.get(&c) {
            for &i in pos {
                if bit(cur, i) {
                    set_bit(next, i + 1);
                }
            }
        }
        self.close(next);
        next.iter().any(|&w| w != 0)
    }

    /// The end of the shortest (lazy) or longest (greedy) match that
    /// starts at `start`, if any.
    fn match_end(&self, text: &[char], start: usize, greedy: bool) -> Option<usize> {
        let mut cur = self.initial.clone();
        let mut next = self.empty();
        let mut best = self.accepts(&cur).then_some(start);
        if best.is_some() && !greedy {
            return best;
        }
        for (k, &c) in text.iter().enumerate().skip(start) {
            let alive = self.step(&cur, c, &mut next);
            std::mem::swap(&mut cur, &mut next);
            if !alive {
                break;
            }
            if self.accepts(&cur) {
                best = Some(k + 1);
                if !greedy {
                    break;
                }
            }
        }
        best
    }
}

/// For each position `0..=len(text)`, whether some match of `toks` starts
/// there: the reversed pattern is run once over the reversed text, seeded
/// at every position.
fn match_starts(toks: &[Tok], text: &[char]) -> Vec<bool> {
    let reversed: Vec<Tok> = toks.iter().rev().copied().collect();
    let matcher = Matcher::new(&reversed);
    let n = text.len();
    let mut starts = vec![false; n + 1];
    let mut cur = matcher.empty();
    let mut next = matcher.empty();
    for r in 0..=n {
        for (w, i) in cur.iter_mut().zip(&matcher.initial) {
            *w |= i;
        }
        if matcher.accepts(&cur) {
            starts[n - r] = true;
        }
        if r < n {
            matcher.step(&cur, text[n - 1 - r], &mut next);
            std::mem::swap(&mut cur, &mut next);
        }
    }
    starts
}

/// Why a pattern operation failed.
#[derive(Debug)]
pub(crate) enum GlobError {
    /// The pattern does not parse; `pattern` is the text BuildKit names.
    Pattern { pattern: String, message: String },
    /// The result would pass the output limit.
    TooLong,
}

/// `${v#p}` (`greedy` false) and `${v##p}` (`greedy` true): drops the
/// shortest or longest prefix of `value` that `pattern` matches.
pub(crate) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, GlobError> {
    let toks = parse(pattern).map_err(|message| GlobError::Pattern {
        pattern: pattern.to_owned(),
        message,
    })?;
    let text: Vec<char> = value.chars().collect();
    let end = Matcher::new(&toks).match_end(&text, 0, greedy).unwrap_or(0);
    Ok(text[end..].iter().collect())
}

/// `${v%p}` and `${v%%p}`: drops the shortest or longest suffix that
/// `pattern` matches, by matching the reversed pattern as a prefix of the
/// reversed value.
pub(crate) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, GlobError> {
    let reversed = reverse_pattern(pattern);
    let toks = parse(&reversed).map_err(|message| GlobError::Pattern {
        pattern: reversed.clone(),
        message,
    })?;
    let text: Vec<char> = value.chars().rev().collect();
    let end = Matcher::new(&toks).match_end(&text, 0, greedy).unwrap_or(0);
    Ok(text[end..].iter().rev().collect())
}

/// `${v/p/r}` (`all` false) and `${v//p/r}` (`all` true). A single
/// replacement inserts `replacement` as it is; replacing all goes through
/// Go's `ReplaceAllString`, which expands `$0` and `${0}` to the match,
/// `$$` to `$`, and other `$name` references to nothing.
pub(crate) fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
    limit: usize,
) -> Result<String, GlobError> {
    let toks = parse(pattern).map_err(|message| GlobError::Pattern {
        pattern: pattern.to_owned(),
        message,
    })?;
    let text: Vec<char> = value.chars().collect();
    let starts = match_starts(&toks, &text);
    let matcher = Matcher::new(&toks);
    let mut out = String::with_capacity(value.len().min(limit));
    let first_start_from = |from: usize| (from..=text.len()).find(|&s| starts[s]);
    if !all {
        let Some(start) = first_start_from(0) else {
            return Ok(value.to_owned());
        };
        let end = matcher.match_end(&text, start, true).unwrap_or(start);
        out.extend(&text[..start]);
        out.push_str(replacement);
        out.extend(&text[end..]);
        return check(out, limit);
    }
    // Mirrors Go's replaceAll loop, including how it skips an empty match
    // right after another match and always advances by a character.
    let mut search = 0;
    let mut last_end = 0;
    while search <= text.len() {
        let Some(start) = first_start_from(search) else {
            break;
        };
        let end = matcher.match_end(&text, start, true).unwrap_or(start);
        out.extend(&text[last_end..start]);
        if end > last_end || start == 0 {
            expand_template(replacement, &text[start..end], &mut out);
        }
        if out.len() > limit {
            return Err(GlobError::TooLong);
        }
        last_end = end;
        if search >= end {
            search += 1;
        } else {
            search = end;
        }
    }
    out.extend(&text[last_end..]);
    check(out, limit)
}

fn check(out: String, limit: usize) -> Result<String, GlobError> {
    if out.len() > limit {
        Err(GlobError::TooLong)
    } else {
        Ok(out)
    }
}

/// Appends `template` with Go's `Regexp.Expand` rules for a pattern that
/// has no capture groups: only group 0 (the whole match) has a value.
fn expand_template(template: &str, matched: &[char], out: &mut String) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = template_name(rest) else {
            // Not a reference: the `$` stays as text.
            out.push('$');
            continue;
        };
        if name == "0" {
            out.extend(matched);
        }
        rest = after;
    }
    out.push_str(rest);
}

/// Reads `name` or `{name}` at the start of `s` (letters, digits, `_`),
/// returning it and the text after it.
fn template_name(s: &str) -> Option<(&str, &str)> {
    let (body, braced) = match s.strip_prefix('{') {
        Some(body) => (body, true),
        None => (s, false),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !super::unicode::is_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        after.strip_prefix('}').map(|after| (name, after))
    } else {
        Some((name, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(pattern: &str, text: &str, greedy: bool) -> Option<usize> {
        let toks = parse(pattern).unwrap();
        let text: Vec<char> = text.chars().collect();
        Matcher::new(&toks).match_end(&text, 0, greedy)
    }

    #[test]
    fn parse_follows_buildkit() {
        assert_eq!(
            parse("a*?\\*\\?\\\\[]").unwrap(),
            vec![
                Tok::Lit('a'),
                Tok::Star,
                Tok::Any,
                Tok::Lit('*'),
                Tok::Lit('?'),
                Tok::Lit('\\'),
                Tok::Lit('['),
                Tok::Lit(']'),
            ]
        );
        assert_eq!(parse("\\}\\/").unwrap(), vec![Tok::Lit('}'), Tok::Lit('/')]);
        assert_eq!(parse("***").unwrap(), vec![Tok::Star]);
        assert_eq!(parse("\u{FEFF}a").unwrap(), vec![Tok::Lit('a')]);
        for bad in ["\\", "\\x", "\\\\\\"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("\\x").unwrap_err(), "invalid escape '\\x'");
    }

    #[test]
    fn reverse_pattern_keeps_escape_pairs() {
        for (from, to) in [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ] {
            assert_eq!(reverse_pattern(from), to);
        }
    }

    #[test]
    fn shortest_and_longest() {
        assert_eq!(ends("*x", "axbx", false), Some(2));
        assert_eq!(ends("*x", "axbx", true), Some(4));
        assert_eq!(ends("*", "abc", false), Some(0));
        assert_eq!(ends("*", "abc", true), Some(3));
        assert_eq!(ends("?", "", true), None);
        assert_eq!(ends("", "abc", true), Some(0));
        // `*` and `?` stop at a newline, as Go's `.` does.
        assert_eq!(ends("*", "ab\ncd", true), Some(2));
        assert_eq!(ends("a?c", "a\nc", true), None);
        assert_eq!(ends("a\nc", "a\nc", true), Some(3));
    }

    #[test]
    fn dense_and_sparse_literals_agree() {
        // 200 `a`s make `a` dense; `b` stays sparse.
        let pattern = format!("{}*b", "a".repeat(200));
        let text = format!("{}xxb", "a".repeat(200));
        assert_eq!(ends(&pattern, &text, true), Some(203));
        assert_eq!(ends(&pattern, &text[1..], true), None);
    }

    #[test]
    fn replace_matches_go() {
        let r = |p: &str, v: &str, rep: &str, all: bool| replace(p, v, rep, all, 1 << 20).unwrap();
        assert_eq!(r("o", "foo", "0", false), "f0o");
        assert_eq!(r("o", "foo", "0", true), "f00");
        assert_eq!(r("", "ab", "-", false), "-ab");
        assert_eq!(r("", "ab", "-", true), "-a-b-");
        assert_eq!(r("*", "ab", "-", true), "-");
        assert_eq!(r("x*", "abxcd", "-", true), "ab-");
        assert_eq!(r("o", "foo", "[$0]", true), "f[o][o]");
        assert_eq!(r("o", "foo", "[${0}$1$$]", true), "f[o$][o$]");
        assert_eq!(r("o", "foo", "[$0]", false), "f[$0]o");
        assert_eq!(r("o", "foo", "${0", true), "f${0${0");
        assert_eq!(r("o", "foo", "$", true), "f$$");
        assert_eq!(r("a*", "ab\nab", "-", true), "-\n-");
    }

    #[test]
    fn replace_respects_limit() {
        let err = replace("", &"x".repeat(1000), &"y".repeat(1000), true, 10_000);
        assert!(matches!(err, Err(GlobError::TooLong)));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = format!("{}b", "a*".repeat(5000));
        let text = "a".repeat(20_000);
        let started = std::time::Instant::now();
        assert_eq!(ends(&pattern, &text, true), None);
        let starts = match_starts(&parse(&pattern).unwrap(), &text.chars().collect::<Vec<_>>());
        assert!(starts.iter().all(|s| !s));
        assert!(started.elapsed().as_secs() < 5);
    }
}
