//! `.dockerignore` and `COPY --exclude` patterns with BuildKit's exact semantics.
//!
//! BuildKit reads the ignore file with `moby/patternmatcher/ignorefile` and matches with
//! `moby/patternmatcher`, whose patterns are *not* gitignore patterns: they are anchored at the
//! context root, `**` may appear anywhere, a trailing `/` is cleaned away, `!` can re-include
//! files inside an excluded directory and the last matching rule wins. patternmatcher turns each
//! glob into a Go regular expression, and several quirks (`[!a]` is a class of `!` and `a`, a `*`
//! inside brackets expands into regex text, `\` escapes reach the regex engine, and `|`, `{`, `}`
//! are meant to be escaped but are not, so they act as alternation and repetition) only make
//! sense at that level. So this module does the same: it builds the Go regex text exactly as
//! patternmatcher does, then parses that text with Go's RE2 rules and re-emits it as an
//! equivalent pattern for the `regex` crate, whose matching is linear in the input.
//!
//! Two matching modes exist because BuildKit uses both:
//! - [`Patterns::excluded`] is `MatchesOrParentMatches` (a path is excluded when it or any parent
//!   directory matches a rule, the last matching rule winning). BuildKit's `CopyIgnoredFile`
//!   lint and fsutil's `Open` use it.
//! - [`Patterns::walk_match`] is `MatchesUsingParentResults` plus fsutil's directory-skip rule,
//!   which is what BuildKit's context walker (`fsutil.NewFilterFS`) and `COPY --exclude`
//!   (`fsutil/copy`) use. It threads per-rule state from a directory to its children and differs
//!   from `excluded` in rare orderings, e.g. `a/b` then `!a` excludes `a/b` in a walk.
//!
//! Known divergence: patternmatcher compiles a rule's regex lazily and fails the match (so the
//! build) only when the rule is first evaluated; a rule Go's regexp rejects (`[z-a]`,
//! `[Local-Only]`) fails here when the patterns are compiled.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

/// Longest ignore-file line, in bytes without its `\n`, that Go's `bufio.Scanner` accepts.
const MAX_LINE: usize = 64 * 1024 - 1;

/// A regex item that matches no character (an empty class).
const NEVER: &str = r"[^\x{0}-\x{D7FF}\x{E000}-\x{10FFFF}]";
/// A regex item that matches any character.
const ANY: &str = r"[\x{0}-\x{D7FF}\x{E000}-\x{10FFFF}]";

/// Why a pattern list or an ignore file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An exception marker `!` with no pattern after it.
    #[error("{}illegal exclusion pattern \"!\"", line_prefix(.line))]
    LoneExclamation {
        /// 1-based line of the ignore file, when the pattern came from one.
        line: Option<usize>,
    },
    /// A pattern that Go's `filepath.Match` or `regexp` rejects.
    #[error("{}syntax error in pattern {pattern:?}: {reason}", line_prefix(.line))]
    BadPattern {
        /// The cleaned pattern, with its `!` when it is an exception.
        pattern: String,
        /// What is wrong with it.
        reason: String,
        /// 1-based line of the ignore file, when the pattern came from one.
        line: Option<usize>,
    },
    /// An ignore-file line longer than BuildKit's reader accepts.
    #[error("line {line}: ignore file line is longer than {MAX_LINE} bytes")]
    LineTooLong {
        /// 1-based line of the ignore file.
        line: usize,
    },
}

fn line_prefix(line: &Option<usize>) -> String {
    match line {
        Some(n) => format!("line {n}: "),
        None => String::new(),
    }
}

/// A compiled list of `.dockerignore` rules.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    rules: Vec<Rule>,
    has_exceptions: bool,
    /// fsutil's `onlyPrefixExcludeExceptions`: no exception has glob characters once a trailing
    /// `/**` or `/*` is dropped, so a plain prefix test tells whether one can reach into a dir.
    literal_exceptions: bool,
    /// For each exception, its text without a trailing `/**` or `/*`, plus `/`.
    exception_dirs: Vec<String>,
}

/// Per-rule results for a directory, passed to [`Patterns::walk_match`] for its children
/// (patternmatcher's `MatchInfo`). The default value means "no information about the parent",
/// which makes `walk_match` test every parent directory itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// The result of [`Patterns::walk_match`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkMatch {
    /// The path is excluded.
    pub excluded: bool,
    /// For a directory: it is excluded and BuildKit's context walker skips it whole (no
    /// exception, or only literal exceptions none of which lies below it). When false for an
    /// excluded directory the walker descends, hides the directory itself and reports only the
    /// re-included entries below it (with their parent directories). BuildKit's `COPY --exclude`
    /// copier has a simpler rule: it skips an excluded directory only when
    /// [`Patterns::has_exceptions`] is false.
    pub skip_dir: bool,
    /// The state to pass when matching this directory's children.
    pub info: MatchInfo,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The cleaned pattern without its `!`.
    text: String,
    exception: bool,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// The path equals the pattern.
    Exact,
    /// The path starts with the pattern minus its trailing `**`.
    Prefix,
    /// The path ends with the pattern minus its leading `**`.
    Suffix,
    /// A regex on the whole path, and how to test "the path or one of its parents".
    Regex { path: Regex, tree: Tree },
}

#[derive(Debug, Clone)]
enum Tree {
    /// The path regex has no end anchor (`$`, `\z`): a parent can only match if the path does.
    SameAsPath,
    /// The path regex with its final `$` replaced by "end, or `/` and anything".
    Regex(Regex),
    /// The regex uses `\z` or a top-level `|`, which a combined regex cannot express: test each
    /// parent.
    EachParent,
}

impl Patterns {
    /// Parses the content of a .dockerignore file.
    ///
    /// Like BuildKit: a UTF-8 BOM is dropped, a line is a comment only when `#` is in column 0,
    /// lines are trimmed and blank ones skipped, `!` (optionally followed by spaces) marks an
    /// exception, and each pattern is path-cleaned with one leading `/` dropped.
    pub fn from_ignore_file(content: &str) -> Result<Patterns, Error> {
        let lines = read_ignore_file(content)?;
        Self::compile(lines.into_iter().map(|(n, p)| (Some(n), p)))
    }

    /// From a list of patterns (COPY --exclude).
    ///
    /// Like patternmatcher's `New`: each pattern is trimmed and path-cleaned (a leading `/` is
    /// kept), blank ones are skipped and a leading `!` marks an exception.
    pub fn new(patterns: &[String]) -> Result<Patterns, Error> {
        Self::compile(patterns.iter().map(|p| (None, p.clone())))
    }

    fn compile(patterns: impl Iterator<Item = (Option<usize>, String)>) -> Result<Patterns, Error> {
        let mut out = Patterns {
            literal_exceptions: true,
            ..Patterns::default()
        };
        for (line, raw) in patterns {
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = go_clean(trimmed);
            let (exception, text) = match cleaned.strip_prefix('!') {
                Some("") => return Err(Error::LoneExclamation { line }),
                Some(rest) => (true, rest),
                None => (false, &*cleaned),
            };
            let bad = |reason: String| Error::BadPattern {
                pattern: cleaned.to_string(),
                reason,
                line,
            };
            check_glob(text).map_err(|r| bad(r.to_string()))?;
            let matcher = Matcher::compile(text).map_err(bad)?;
            if exception {
                out.has_exceptions = true;
                let base = without_trailing_glob(text);
                if base.contains(['*', '[', ']', '?', '^', '\\']) {
                    out.literal_exceptions = false;
                }
                out.exception_dirs.push(format!("{base}/"));
            }
            out.rules.push(Rule {
                text: text.to_string(),
                exception,
                matcher,
            });
        }
        Ok(out)
    }

    /// True when the context-relative path (no leading slash, `/`-separated) is excluded,
    /// following patternmatcher's MatchesOrParentMatches semantics (a path is excluded when it or
    /// a parent directory matches, the last matching rule winning).
    ///
    /// The path is cleaned first (leading slashes dropped); the context root (`""`, `.`) is never
    /// excluded.
    pub fn excluded(&self, path: &str) -> bool {
        match clean_relative(path) {
            Some(path) => self.excluded_clean(&path),
            None => false,
        }
    }

    /// MatchesOrParentMatches on a path used as given.
    fn excluded_clean(&self, path: &str) -> bool {
        let mut matched = false;
        for rule in &self.rules {
            // Evaluating a rule that cannot change the outcome is skipped, as patternmatcher does.
            if rule.exception != matched {
                continue;
            }
            if rule.matches_tree(path) {
                matched = !rule.exception;
            }
        }
        matched
    }

    /// True when an excluded directory may be skipped whole because no exception pattern could
    /// re-include anything below it (patternmatcher's `Exclusions()`/ dir-skip logic as BuildKit's
    /// fsutil walker uses it).
    ///
    /// False when `dir` is not excluded (by [`Patterns::excluded`]). A walker that threads
    /// [`MatchInfo`] should use [`WalkMatch::skip_dir`] instead.
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        match clean_relative(dir) {
            Some(dir) => self.excluded_clean(&dir) && self.walker_skips(&dir),
            None => false,
        }
    }

    /// fsutil's rule for an excluded directory: skip unless some exception may apply below it.
    fn walker_skips(&self, dir: &str) -> bool {
        if !self.has_exceptions {
            return true;
        }
        if !self.literal_exceptions {
            return false;
        }
        !self
            .exception_dirs
            .iter()
            .any(|e| e.len() > dir.len() && e.starts_with(dir) && e.as_bytes()[dir.len()] == b'/')
    }

    /// Matches one walked path as BuildKit's walkers do (patternmatcher's
    /// MatchesUsingParentResults): `parent` is the [`WalkMatch::info`] of the path's directory,
    /// or `MatchInfo::default()` for a top-level entry (or when unknown).
    ///
    /// The path is cleaned first; the context root is never excluded.
    pub fn walk_match(&self, path: &str, parent: &MatchInfo) -> WalkMatch {
        match clean_relative(path) {
            Some(path) => self.walk_match_clean(&path, parent),
            None => WalkMatch {
                excluded: false,
                skip_dir: false,
                info: MatchInfo::default(),
            },
        }
    }

    fn walk_match_clean(&self, path: &str, parent: &MatchInfo) -> WalkMatch {
        // patternmatcher rejects a state of the wrong length; it can only come from another
        // `Patterns`, and treating it as unknown stays correct.
        let parent = (!parent.parent_matched.is_empty()
            && parent.parent_matched.len() == self.rules.len())
        .then_some(&parent.parent_matched);
        let mut info = vec![false; self.rules.len()];
        let mut matched = false;
        for (i, rule) in self.rules.iter().enumerate() {
            let mut hit = parent.is_some_and(|p| p[i]);
            if !hit {
                if rule.exception != matched {
                    continue;
                }
                hit = match parent {
                    Some(_) => rule.matches(path),
                    None => rule.matches_tree(path),
                };
            }
            info[i] = hit;
            if hit {
                matched = !rule.exception;
            }
        }
        WalkMatch {
            excluded: matched,
            skip_dir: matched && self.walker_skips(path),
            info: MatchInfo {
                parent_matched: info,
            },
        }
    }

    /// True when there are no rules (a missing or blank ignore file).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when some rule is an exception (`!`), patternmatcher's `Exclusions()`. BuildKit's
    /// `COPY --exclude` copier skips an excluded directory only when this is false, and its
    /// `CopyIgnoredFile` lint stays silent when it is true.
    pub fn has_exceptions(&self) -> bool {
        self.has_exceptions
    }
}

impl Rule {
    /// patternmatcher's `Pattern.match`: the path itself matches.
    fn matches(&self, path: &str) -> bool {
        let p = path.as_bytes();
        let t = self.text.as_bytes();
        match &self.matcher {
            Matcher::Exact => p == t,
            // Byte slices: Go slices the string by bytes, even inside a leading BOM.
            Matcher::Prefix => p.starts_with(&t[..t.len().saturating_sub(2)]),
            Matcher::Suffix => suffix_matches(p, t.get(2..).unwrap_or_default()),
            Matcher::Regex { path: re, .. } => re.is_match(path),
        }
    }

    /// The path or one of its parent directories matches.
    fn matches_tree(&self, path: &str) -> bool {
        let p = path.as_bytes();
        let t = self.text.as_bytes();
        match &self.matcher {
            Matcher::Exact => p.starts_with(t) && (p.len() == t.len() || p[t.len()] == b'/'),
            // A parent is a prefix of the path, so it starts with the prefix only if the path does.
            Matcher::Prefix => self.matches(path),
            Matcher::Suffix => {
                let s = t.get(2..).unwrap_or_default();
                suffix_matches(p, s) || parents(p).any(|d| suffix_matches(d, s))
            }
            Matcher::Regex { path: re, tree } => match tree {
                Tree::SameAsPath => re.is_match(path),
                Tree::Regex(tree) => tree.is_match(path),
                Tree::EachParent => {
                    re.is_match(path) || slash_positions(p).any(|j| re.is_match(&path[..j]))
                }
            },
        }
    }
}

fn suffix_matches(path: &[u8], suffix: &[u8]) -> bool {
    path.ends_with(suffix) || (suffix.first() == Some(&b'/') && path == &suffix[1..])
}

fn slash_positions(p: &[u8]) -> impl Iterator<Item = usize> + '_ {
    p.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(|(j, _)| j)
}

/// The parent directories of a clean path, shortest first.
fn parents(p: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    slash_positions(p).map(move |j| &p[..j])
}

/// Strips leading slashes and cleans; `None` for the context root.
fn clean_relative(path: &str) -> Option<Cow<'_, str>> {
    let path = path.trim_start_matches('/');
    let cleaned = go_clean(path);
    (cleaned != ".").then_some(cleaned)
}

fn without_trailing_glob(text: &str) -> &str {
    let t = text.strip_suffix("/**").unwrap_or(text);
    t.strip_suffix("/*").unwrap_or(t)
}

/// Reads an ignore file as `ignorefile.ReadAll` does: (line number, pattern) pairs.
fn read_ignore_file(content: &str) -> Result<Vec<(usize, String)>, Error> {
    let mut out = Vec::new();
    let mut rest = content;
    let mut number = 0;
    while !rest.is_empty() {
        let (raw, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = next;
        number += 1;
        if raw.len() > MAX_LINE {
            return Err(Error::LineTooLong { line: number });
        }
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if number == 1 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let exception = match pattern.strip_prefix('!') {
            Some(p) => {
                pattern = p.trim();
                true
            }
            None => false,
        };
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            let c = go_clean(pattern);
            let c = match c.strip_prefix('/') {
                Some(stripped) if c.len() > 1 => stripped,
                _ => &c,
            };
            cleaned.push_str(c);
        }
        if exception {
            cleaned.insert(0, '!');
        }
        out.push((number, cleaned));
    }
    Ok(out)
}

/// Go's `path.Clean`: the shortest equivalent path.
fn go_clean(p: &str) -> Cow<'_, str> {
    if p.is_empty() {
        return Cow::Borrowed(".");
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|s| *s != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(p.len());
    if rooted {
        out.push('/');
    }
    out.push_str(&parts.join("/"));
    if out.is_empty() {
        out.push('.');
    }
    if out == p {
        Cow::Borrowed(p)
    } else {
        Cow::Owned(out)
    }
}

/// The syntax check patternmatcher gets from `filepath.Match(pattern, ".")`.
fn check_glob(pattern: &str) -> Result<(), &'static str> {
    let mut rest = pattern;
    while !rest.is_empty() {
        rest = rest.trim_start_matches('*');
        let b = rest.as_bytes();
        let mut in_range = false;
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() => i += 1,
                b'[' => in_range = true,
                b']' => in_range = false,
                b'*' if !in_range => break,
                _ => {}
            }
            i += 1;
        }
        // A chunk ends at an ASCII `*` or at the end, so `end` is a char boundary already; the
        // loop only guards the slicing.
        let mut end = i.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        check_chunk(&rest[..end])?;
        rest = &rest[end..];
    }
    Ok(())
}

fn check_chunk(mut c: &str) -> Result<(), &'static str> {
    while let Some(ch) = c.chars().next() {
        c = &c[ch.len_utf8()..];
        match ch {
            '[' => {
                if let Some(r) = c.strip_prefix('^') {
                    c = r;
                }
                let mut ranges = 0;
                loop {
                    if ranges > 0
                        && let Some(r) = c.strip_prefix(']')
                    {
                        c = r;
                        break;
                    }
                    c = glob_class_char(c)?;
                    if let Some(r) = c.strip_prefix('-') {
                        c = glob_class_char(r)?;
                    }
                    ranges += 1;
                }
            }
            '\\' => match c.chars().next() {
                Some(n) => c = &c[n.len_utf8()..],
                None => return Err("trailing backslash"),
            },
            _ => {}
        }
    }
    Ok(())
}

/// Go's `getEsc`: one class character, which must be followed by more pattern.
fn glob_class_char(c: &str) -> Result<&str, &'static str> {
    let c = match c.chars().next() {
        None => return Err("unterminated character class"),
        Some('-') | Some(']') => return Err("misplaced '-' or ']' in character class"),
        Some('\\') => &c[1..],
        Some(_) => c,
    };
    let Some(ch) = c.chars().next() else {
        return Err("unterminated character class");
    };
    let rest = &c[ch.len_utf8()..];
    if rest.is_empty() {
        return Err("unterminated character class");
    }
    Ok(rest)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// patternmatcher's `compile`: the match kind and the Go regex text (used for `Regex` only).
fn go_regex(pattern: &str) -> (Kind, String) {
    // Go's text/scanner skips a BOM at the very start.
    let body = pattern.strip_prefix('\u{feff}').unwrap_or(pattern);
    let mut re = String::with_capacity(body.len() * 2 + 2);
    re.push('^');
    let mut kind = Kind::Exact;
    let mut chars = body.chars().peekable();
    let mut first = true;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            // patternmatcher means to escape `.+()|{}$`, but its bitmap loses every byte >= 64,
            // so `|`, `{` and `}` reach the regex as alternation and repetition.
            '.' | '+' | '(' | ')' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    kind = Kind::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(ch);
                kind = Kind::Regex;
            }
            _ => re.push(ch),
        }
        first = false;
    }
    if kind == Kind::Regex {
        re.push('$');
    }
    (kind, re)
}

impl Matcher {
    fn compile(text: &str) -> Result<Matcher, String> {
        let (kind, go) = go_regex(text);
        Ok(match kind {
            Kind::Exact => Matcher::Exact,
            Kind::Prefix => Matcher::Prefix,
            Kind::Suffix => Matcher::Suffix,
            Kind::Regex => {
                let t = translate(&go)?;
                let path = build_regex(&t.rust)?;
                // Only `$` and `\z` see where a parent ends: `\b` and `\B` see the `/` that
                // follows it in the path as the non-word "end of text" Go sees there.
                let tree = match t.end_anchor_at {
                    None if !t.has_end_text => Tree::SameAsPath,
                    Some(at) if !t.has_end_text && !t.has_alternation => {
                        let src = format!("{}(?:/(?s:.*))?$", &t.rust[..at]);
                        Tree::Regex(build_regex(&src)?)
                    }
                    _ => Tree::EachParent,
                };
                Matcher::Regex { path, tree }
            }
        })
    }
}

fn build_regex(src: &str) -> Result<Regex, String> {
    RegexBuilder::new(src).build().map_err(|e| match e {
        regex::Error::CompiledTooBig(_) => "pattern is too large".to_string(),
        other => format!("internal regex error: {other}"),
    })
}

/// A Go regex re-emitted for the `regex` crate.
struct Translated {
    rust: String,
    /// Byte offset in `rust` of a final top-level `$`.
    end_anchor_at: Option<usize>,
    /// The regex uses `\z`.
    has_end_text: bool,
    /// The regex has a top-level `|`, so its anchors bind single alternatives.
    has_alternation: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of the regex or of a group: a repetition here has no operand.
    Nothing,
    Operand,
    Repetition,
}

/// Parses Go regex syntax (the `Perl` flags that `regexp.Compile` uses: one-line, Perl classes,
/// Unicode groups, ASCII `\b`, no case folding, `.` not matching `\n`) and emits an equivalent
/// pattern for the `regex` crate. Only the constructs patternmatcher can produce are accepted;
/// anything else is an error rather than a guess.
fn translate(go: &str) -> Result<Translated, String> {
    let s: Vec<char> = go.chars().collect();
    let n = s.len();
    // Go looks for a POSIX class end `:]` anywhere after `[:`; knowing every position keeps that
    // search linear overall.
    let colons: Vec<usize> = (0..n.saturating_sub(1))
        .filter(|&k| s[k] == ':' && s[k + 1] == ']')
        .collect();
    let mut out = String::with_capacity(go.len() * 2);
    let mut i = 0;
    let mut depth = 0usize;
    let mut prev = Prev::Nothing;
    let mut end_anchor_at = None;
    let mut has_end_text = false;
    let mut has_alternation = false;
    while i < n {
        end_anchor_at = None;
        let c = s[i];
        match c {
            '(' => {
                if s.get(i + 1) == Some(&'?') {
                    return Err("unsupported regexp group".into());
                }
                out.push_str("(?:");
                depth += 1;
                prev = Prev::Nothing;
                i += 1;
            }
            ')' => {
                if depth == 0 {
                    return Err("unexpected )".into());
                }
                depth -= 1;
                out.push(')');
                prev = Prev::Operand;
                i += 1;
            }
            '|' => {
                if depth == 0 {
                    has_alternation = true;
                }
                out.push('|');
                prev = Prev::Nothing;
                i += 1;
            }
            '{' => match parse_repeat(&s, i) {
                // Not a repetition: Go takes `{` literally.
                None => {
                    push_literal(&mut out, '{' as u32);
                    prev = Prev::Operand;
                    i += 1;
                }
                Some((min, max, next)) => {
                    let text: String = s[i..next].iter().collect();
                    let too_big = |v: u32| v > 1000;
                    if too_big(min) || max.is_some_and(|m| m.is_some_and(|m| too_big(m) || m < min))
                    {
                        return Err(format!("invalid repeat count {text}"));
                    }
                    match prev {
                        Prev::Nothing => {
                            return Err("missing argument to repetition operator".into());
                        }
                        Prev::Repetition => {
                            return Err("invalid nested repetition operator".into());
                        }
                        Prev::Operand => {}
                    }
                    match max {
                        None => out.push_str(&format!("{{{min}}}")),
                        Some(None) => out.push_str(&format!("{{{min},}}")),
                        Some(Some(m)) => out.push_str(&format!("{{{min},{m}}}")),
                    }
                    i = next;
                    if s.get(i) == Some(&'?') {
                        out.push('?');
                        i += 1;
                    }
                    prev = Prev::Repetition;
                }
            },
            '^' | '.' => {
                out.push(c);
                prev = Prev::Operand;
                i += 1;
            }
            '$' => {
                if depth == 0 {
                    end_anchor_at = Some(out.len());
                }
                out.push('$');
                prev = Prev::Operand;
                i += 1;
            }
            '[' => {
                let (class, next) = parse_class(&s, i, &colons)?;
                out.push_str(&class);
                prev = Prev::Operand;
                i = next;
            }
            '*' | '+' | '?' => {
                match prev {
                    Prev::Nothing => return Err("missing argument to repetition operator".into()),
                    Prev::Repetition => return Err("invalid nested repetition operator".into()),
                    Prev::Operand => {}
                }
                out.push(c);
                i += 1;
                if s.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
                prev = Prev::Repetition;
            }
            '\\' => {
                let Some(&e) = s.get(i + 1) else {
                    return Err("trailing backslash".into());
                };
                match e {
                    'A' => out.push_str(r"\A"),
                    'b' => out.push_str(r"(?-u:\b)"),
                    'B' => out.push_str(r"(?-u:\B)"),
                    'z' => {
                        out.push_str(r"\z");
                        has_end_text = true;
                    }
                    'C' => return Err(r"invalid escape \C".into()),
                    'Q' => {
                        let start = i + 2;
                        let end =
                            (start..n.saturating_sub(1)).find(|&k| s[k] == '\\' && s[k + 1] == 'E');
                        let lit_end = end.unwrap_or(n);
                        for &ch in &s[start..lit_end] {
                            push_literal(&mut out, ch as u32);
                            prev = Prev::Operand;
                        }
                        i = end.map_or(n, |k| k + 2);
                        continue;
                    }
                    'p' | 'P' => {
                        let (item, next) = unicode_class(&s, i)?;
                        out.push_str(&item);
                        prev = Prev::Operand;
                        i = next;
                        continue;
                    }
                    _ => {
                        if let Some(ranges) = perl_class(e) {
                            let mut body = String::new();
                            push_ranges(&mut body, &ranges);
                            out.push_str(&bracket(&body, false));
                            i += 2;
                        } else {
                            let (r, next) = parse_escape(&s, i)?;
                            push_literal(&mut out, r);
                            i = next;
                        }
                        prev = Prev::Operand;
                        continue;
                    }
                }
                prev = Prev::Operand;
                i += 2;
            }
            _ => {
                push_literal(&mut out, c as u32);
                prev = Prev::Operand;
                i += 1;
            }
        }
    }
    if depth != 0 {
        return Err("missing closing )".into());
    }
    Ok(Translated {
        rust: out,
        end_anchor_at,
        has_end_text,
        has_alternation,
    })
}

/// Go's `parseRepeat` at the `{` at `i`: `(min, max, next)` where `max` is `None` for `{n}` and
/// `Some(None)` for `{n,}`; `None` when the text is not a repetition. Counts too large to parse
/// come back as `u32::MAX` so the caller reports them.
fn parse_repeat(s: &[char], i: usize) -> Option<(u32, Option<Option<u32>>, usize)> {
    let mut j = i + 1;
    let min = parse_count(s, &mut j)?;
    let max = match s.get(j)? {
        ',' => {
            j += 1;
            if *s.get(j)? == '}' {
                Some(None)
            } else {
                Some(Some(parse_count(s, &mut j)?))
            }
        }
        _ => None,
    };
    (*s.get(j)? == '}').then_some((min, max, j + 1))
}

/// Go's `parseInt`: decimal digits without a leading zero (a lone `0` is fine).
fn parse_count(s: &[char], j: &mut usize) -> Option<u32> {
    let start = *j;
    while s.get(*j).is_some_and(char::is_ascii_digit) {
        *j += 1;
    }
    let digits = &s[start..*j];
    if digits.is_empty() || (digits.len() >= 2 && digits[0] == '0') {
        return None;
    }
    // Go reports any count above 1000 later, whatever its size.
    if digits.len() > 9 {
        return Some(u32::MAX);
    }
    Some(
        digits
            .iter()
            .fold(0, |acc, d| acc * 10 + (*d as u32 - '0' as u32)),
    )
}

/// Go's `parseClass` from the `[` at `i`; returns the emitted class and the index after `]`.
fn parse_class(s: &[char], i: usize, colons: &[usize]) -> Result<(String, usize), String> {
    let n = s.len();
    let mut j = i + 1;
    let negated = s.get(j) == Some(&'^');
    if negated {
        j += 1;
    }
    let mut body = String::new();
    let mut first = true;
    while j >= n || s[j] != ']' || first {
        first = false;
        if j + 2 < n && s[j] == '[' && s[j + 1] == ':' {
            let k = colons.partition_point(|&k| k < j + 2);
            if let Some(&end) = colons.get(k) {
                let name: String = s[j..end + 2].iter().collect();
                let Some(ranges) = posix_class(&name) else {
                    return Err(format!("invalid character class range {name}"));
                };
                push_ranges(&mut body, &ranges);
                j = end + 2;
                continue;
            }
        }
        if j + 1 < n && s[j] == '\\' {
            if s[j + 1] == 'p' || s[j + 1] == 'P' {
                let (item, next) = unicode_class(s, j)?;
                body.push_str(&item);
                j = next;
                continue;
            }
            if let Some(ranges) = perl_class(s[j + 1]) {
                push_ranges(&mut body, &ranges);
                j += 2;
                continue;
            }
        }
        let (lo, next) = class_char(s, j)?;
        j = next;
        let mut hi = lo;
        if j + 1 < n && s[j] == '-' && s[j + 1] != ']' {
            let (h, next) = class_char(s, j + 1)?;
            if h < lo {
                let show = |r: u32| char::from_u32(r).unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(format!(
                    "invalid character class range {}-{}",
                    show(lo),
                    show(h)
                ));
            }
            hi = h;
            j = next;
        }
        push_ranges(&mut body, &[(lo, hi)]);
    }
    Ok((bracket(&body, negated), j + 1))
}

/// A bracketed class around `body`; `regex` has no syntax for an empty one.
fn bracket(body: &str, negated: bool) -> String {
    match (body.is_empty(), negated) {
        (true, false) => NEVER.to_string(),
        (true, true) => ANY.to_string(),
        (false, _) => format!("[{}{body}]", if negated { "^" } else { "" }),
    }
}

fn class_char(s: &[char], j: usize) -> Result<(u32, usize), String> {
    match s.get(j) {
        None => Err("missing closing ]".into()),
        Some('\\') => parse_escape(s, j),
        Some(&c) => Ok((c as u32, j + 1)),
    }
}

/// Go's `parseEscape` from the `\` at `i`: one character.
fn parse_escape(s: &[char], i: usize) -> Result<(u32, usize), String> {
    let n = s.len();
    let Some(&c) = s.get(i + 1) else {
        return Err("trailing backslash".into());
    };
    let invalid = || {
        let end = (i + 2).min(n);
        Err(format!(
            "invalid escape {}",
            s[i..end].iter().collect::<String>()
        ))
    };
    let mut j = i + 2;
    let octal = |c: char| ('0'..='7').contains(&c);
    match c {
        '0'..='7' => {
            // A lone non-zero digit would be a backreference, which Go rejects.
            if c != '0' && !s.get(j).is_some_and(|&d| octal(d)) {
                return invalid();
            }
            let mut r = c as u32 - '0' as u32;
            for _ in 1..3 {
                match s.get(j) {
                    Some(&d) if octal(d) => {
                        r = r * 8 + (d as u32 - '0' as u32);
                        j += 1;
                    }
                    _ => break,
                }
            }
            Ok((r, j))
        }
        'x' => {
            let Some(&h) = s.get(j) else { return invalid() };
            j += 1;
            if h == '{' {
                let mut r: u32 = 0;
                let mut digits = 0;
                loop {
                    let Some(&d) = s.get(j) else { return invalid() };
                    j += 1;
                    if d == '}' {
                        break;
                    }
                    let Some(v) = d.to_digit(16) else {
                        return invalid();
                    };
                    r = r * 16 + v;
                    if r > 0x10FFFF {
                        return invalid();
                    }
                    digits += 1;
                }
                if digits == 0 {
                    return invalid();
                }
                Ok((r, j))
            } else {
                let hi = h.to_digit(16);
                let lo = s.get(j).and_then(|d| d.to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => Ok((hi * 16 + lo, j + 1)),
                    _ => invalid(),
                }
            }
        }
        'a' => Ok((7, j)),
        'f' => Ok((12, j)),
        'n' => Ok((10, j)),
        'r' => Ok((13, j)),
        't' => Ok((9, j)),
        'v' => Ok((11, j)),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c as u32, j)),
        _ => invalid(),
    }
}

/// Go's `parseUnicodeClass` from the `\` of `\p`/`\P` at `i`: a `regex` class item, valid both
/// inside and outside brackets.
fn unicode_class(s: &[char], i: usize) -> Result<(String, usize), String> {
    let mut positive = s[i + 1] == 'p';
    let (name, next): (String, usize) = match s.get(i + 2) {
        Some('{') => {
            let Some(end) = (i + 3..s.len()).find(|&k| s[k] == '}') else {
                return Err("invalid character class range (missing })".into());
            };
            (s[i + 3..end].iter().collect(), end + 1)
        }
        Some(&c) => (c.to_string(), i + 3),
        None => (String::new(), i + 2),
    };
    let name = match name.strip_prefix('^') {
        Some(rest) => {
            positive = !positive;
            rest.to_string()
        }
        None => name,
    };
    const CATEGORIES: &[&str] = &[
        "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
        "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
        "So", "Z", "Zl", "Zp", "Zs",
    ];
    let item = match name.as_str() {
        "Any" => (if positive { ANY } else { NEVER }).to_string(),
        // Go's `C` has no unassigned code points; the `regex` crate's does.
        "C" => format!(
            "[{}\\p{{Cc}}\\p{{Cf}}\\p{{Co}}]",
            if positive { "" } else { "^" }
        ),
        n if CATEGORIES.contains(&n) => {
            format!("\\{}{{{n}}}", if positive { 'p' } else { 'P' })
        }
        _ => {
            let text: String = s[i..next.min(s.len())].iter().collect();
            return Err(format!("invalid or unsupported character class {text}"));
        }
    };
    Ok((item, next))
}

fn perl_class(c: char) -> Option<Vec<(u32, u32)>> {
    let (ranges, negated): (&[(u32, u32)], bool) = match c {
        'd' => (&[(0x30, 0x39)], false),
        'D' => (&[(0x30, 0x39)], true),
        's' => (&[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)], false),
        'S' => (&[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)], true),
        'w' => (&WORD, false),
        'W' => (&WORD, true),
        _ => return None,
    };
    Some(if negated {
        complement(ranges)
    } else {
        ranges.to_vec()
    })
}

const WORD: [(u32, u32); 4] = [(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];

fn posix_class(name: &str) -> Option<Vec<(u32, u32)>> {
    let (negated, base) = match name.strip_prefix("[:^") {
        Some(rest) => (true, rest),
        None => (false, name.strip_prefix("[:")?),
    };
    let ranges: &[(u32, u32)] = match base.strip_suffix(":]")? {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5a), (0x61, 0x7a)],
        "alpha" => &[(0x41, 0x5a), (0x61, 0x7a)],
        "ascii" => &[(0x00, 0x7f)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1f), (0x7f, 0x7f)],
        "digit" => &[(0x30, 0x39)],
        "graph" => &[(0x21, 0x7e)],
        "lower" => &[(0x61, 0x7a)],
        "print" => &[(0x20, 0x7e)],
        "punct" => &[(0x21, 0x2f), (0x3a, 0x40), (0x5b, 0x60), (0x7b, 0x7e)],
        "space" => &[(0x09, 0x0d), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5a)],
        "word" => &WORD,
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    };
    Some(if negated {
        complement(ranges)
    } else {
        ranges.to_vec()
    })
}

/// The complement of sorted, disjoint ranges within all code points.
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= 0x10FFFF {
        out.push((next, 0x10FFFF));
    }
    out
}

/// Appends class ranges as `\x{..}` items, leaving out surrogates (no `&str` holds one, and the
/// `regex` crate rejects them).
fn push_ranges(out: &mut String, ranges: &[(u32, u32)]) {
    for &(lo, hi) in ranges {
        for (a, b) in [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi.min(0x10FFFF))] {
            if a > b {
                continue;
            }
            if a == b {
                out.push_str(&format!("\\x{{{a:X}}}"));
            } else {
                out.push_str(&format!("\\x{{{a:X}}}-\\x{{{b:X}}}"));
            }
        }
    }
}

fn push_literal(out: &mut String, r: u32) {
    match char::from_u32(r) {
        Some(c) if c.is_ascii_alphanumeric() || c == '/' || c == '_' => out.push(c),
        Some(_) => out.push_str(&format!("\\x{{{r:X}}}")),
        // A surrogate: Go keeps it as a literal no valid path contains.
        None => out.push_str(NEVER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pats(list: &[&str]) -> Patterns {
        let owned: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        Patterns::new(&owned).unwrap()
    }

    fn file(content: &str) -> Patterns {
        Patterns::from_ignore_file(content).unwrap()
    }

    /// Go's `filepath.Dir` on a slash path.
    fn go_dir(p: &str) -> String {
        match p.rfind('/') {
            Some(i) => go_clean(&p[..=i]).into_owned(),
            None => ".".to_string(),
        }
    }

    /// patternmatcher_test's `check`: walk the parents of `text` threading MatchInfo, then
    /// match `text`, all on raw (uncleaned) strings.
    fn walk_chain(p: &Patterns, text: &str) -> bool {
        let parent = go_dir(text);
        let mut info = MatchInfo::default();
        if parent != "." {
            let dirs: Vec<&str> = parent.split('/').collect();
            for i in 0..dirs.len() {
                info = p.walk_match_clean(&dirs[..=i].join("/"), &info).info;
            }
        }
        p.walk_match_clean(text, &info).excluded
    }

    /// The three ways patternmatcher_test's TestMatches checks one case.
    fn assert_all_modes(p: &Patterns, text: &str, want: bool, desc: &str) {
        assert_eq!(
            p.excluded_clean(text),
            want,
            "MatchesOrParentMatches {desc}"
        );
        assert_eq!(
            walk_chain(p, text),
            want,
            "MatchesUsingParentResults {desc}"
        );
        assert_eq!(
            p.walk_match_clean(text, &MatchInfo::default()).excluded,
            want,
            "MatchesUsingParentResultsNoContext {desc}"
        );
    }

    // patternmatcher_test.go TestMatches.
    const MATCHES: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\*b", "a*b", true),
    ];

    #[test]
    fn patternmatcher_matches_table() {
        for &(pattern, text, want) in MATCHES {
            let p = pats(&[pattern]);
            assert_all_modes(
                &p,
                text,
                want,
                &format!("pattern={pattern:?} text={text:?}"),
            );
        }
    }

    #[test]
    fn patternmatcher_multi_pattern_table() {
        let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
        let cases: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (
                &[
                    "**",
                    "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                ],
                whl,
                false,
            ),
            (&["**", "!dist/*.whl"], whl, false),
        ];
        for &(list, text, want) in cases {
            let p = pats(list);
            assert_all_modes(&p, text, want, &format!("patterns={list:?} text={text:?}"));
        }
    }

    // patternmatcher_test.go matchTests (Go's filepath.Match cases run through `Matches`).
    #[test]
    fn patternmatcher_filepath_match_table() {
        let ok: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", true),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "-", true),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
        ];
        for &(pattern, name, want) in ok {
            assert_eq!(
                pats(&[pattern]).excluded(name),
                want,
                "{pattern:?} {name:?}"
            );
        }
        let bad = [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[",
        ];
        for pattern in bad {
            let err = Patterns::new(&[pattern.to_string()]).unwrap_err();
            assert!(
                matches!(err, Error::BadPattern { .. }),
                "{pattern:?}: {err}"
            );
        }
    }

    // patternmatcher_test.go TestCompile: the match kind and the Go regex text.
    #[test]
    fn patternmatcher_compile_table() {
        use Kind::*;
        let cases: &[(&str, Kind, &str)] = &[
            ("*", Regex, "^[^/]*$"),
            ("file*", Regex, "^file[^/]*$"),
            ("*file", Regex, "^[^/]*file$"),
            ("a*/b", Regex, "^a[^/]*/b$"),
            ("**", Suffix, ""),
            ("**/**", Regex, "^(.*/)?.*$"),
            ("dir/**", Prefix, ""),
            ("**/dir", Suffix, ""),
            ("**/dir2/*", Regex, "^(.*/)?dir2/[^/]*$"),
            ("**/dir2/**", Regex, "^(.*/)?dir2/.*$"),
            ("**file", Suffix, ""),
            ("**/file*txt", Regex, "^(.*/)?file[^/]*txt$"),
            ("**/**/*.txt", Regex, r"^(.*/)?(.*/)?[^/]*\.txt$"),
            ("a[b-d]e", Regex, "^a[b-d]e$"),
            (".*", Regex, r"^\.[^/]*$"),
            ("abc.def", Exact, ""),
            ("abc?def", Regex, "^abc[^/]def$"),
            ("**/foo/bar", Suffix, ""),
            ("a(b)c/def", Exact, ""),
            ("a.|)$(}+{bc", Exact, ""),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                Exact,
                "",
            ),
        ];
        for &(pattern, kind, re) in cases {
            let (got_kind, got_re) = go_regex(&go_clean(pattern));
            assert_eq!(got_kind, kind, "{pattern:?}");
            if kind == Regex {
                assert_eq!(got_re, re, "{pattern:?}");
            }
            Matcher::compile(&go_clean(pattern)).unwrap();
        }
    }

    #[test]
    fn patternmatcher_small_tests() {
        // TestWildcardMatches, TestPatternMatches.
        assert!(pats(&["*"]).excluded("fileutils.go"));
        assert!(pats(&["*.go"]).excluded("fileutils.go"));
        // An exception followed by an inclusion: the inclusion wins.
        assert!(pats(&["!fileutils.go", "*.go"]).excluded("fileutils.go"));
        // A pattern followed by an exception.
        assert!(!pats(&["*.go", "!fileutils.go"]).excluded("fileutils.go"));
        // Folder patterns followed by an exception.
        for folder in ["docs", "docs/", "docs/*"] {
            let p = pats(&[folder, "!docs/README.md"]);
            assert!(!p.excluded("docs/README.md"), "{folder}");
            assert!(p.excluded("docs/other.md"), "{folder}");
        }
        // TestExclusionPatternMatchesWholeDirectory: the root is never excluded.
        assert!(!pats(&["*.go"]).excluded("."));
        assert!(!pats(&["**"]).excluded("."));
        assert!(!pats(&["**"]).excluded(""));
        // TestMatchesWithNoPatterns.
        assert!(!pats(&[]).excluded("/any/path/there"));
        assert!(pats(&[]).is_empty());
        // TestSingleExclamationError, TestMatchesWithMalformedPatterns.
        assert_eq!(
            Patterns::new(&["!".to_string()]).unwrap_err(),
            Error::LoneExclamation { line: None }
        );
        assert!(Patterns::new(&["[".to_string()]).is_err());
    }

    #[test]
    fn patternmatcher_clean_patterns() {
        // TestCleanPatterns*: blanks are dropped, `!` is seen after trimming.
        let p = pats(&["docs", "config", ""]);
        assert_eq!(p.rules.len(), 2);
        assert!(!p.has_exceptions());
        for list in [
            &["docs", "!docs/README.md"],
            &["docs", "  !docs/README.md"],
            &["docs", "!docs/README.md  "],
        ] {
            let p = pats(list);
            assert!(p.has_exceptions(), "{list:?}");
            assert!(!p.excluded("docs/README.md"), "{list:?}");
        }
    }

    // patternmatcher_test.go TestMatchesOrParentMatchesMalformedPatternDoesNotPanicOnRepeatedCall:
    // Go accepts `[Local-Only]/` and fails every match with a bad-pattern error (the range `l-O`
    // is reversed); here the error comes when the patterns are compiled.
    #[test]
    fn reversed_class_range_is_a_compile_error() {
        for pattern in ["[Local-Only]/", "[z-a]"] {
            let err = Patterns::new(&[pattern.to_string()]).unwrap_err();
            assert!(
                err.to_string().contains("invalid character class range"),
                "{err}"
            );
        }
    }

    // ignorefile_test.go TestReadAll.
    #[test]
    fn ignorefile_read_all() {
        assert!(read_ignore_file("").unwrap().is_empty());
        let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        let got: Vec<String> = read_ignore_file(content)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(
            got,
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
        assert_eq!(
            Patterns::from_ignore_file(content).unwrap_err(),
            Error::LoneExclamation { line: Some(8) }
        );
    }

    #[test]
    fn ignorefile_line_details() {
        // Line numbers count every line; CRLF and a leading BOM are handled like Go's reader.
        let lines = read_ignore_file("\u{feff}a\r\n# c\r\n\r\n  b  \r\n!  /c/./d/../e/\n").unwrap();
        assert_eq!(
            lines,
            [
                (1, "a".to_string()),
                (4, "b".to_string()),
                (5, "!c/e".to_string())
            ]
        );
        // `#` only in column 0; a BOM counts only on line 1.
        let lines = read_ignore_file(" #a\n\u{feff}#b").unwrap();
        assert_eq!(
            lines,
            [(1, "#a".to_string()), (2, "\u{feff}#b".to_string())]
        );
        // `/` keeps its slash, and `!/` cleans to a lone `!` in patternmatcher.
        assert_eq!(read_ignore_file("/\n").unwrap(), [(1, "/".to_string())]);
        assert_eq!(
            Patterns::from_ignore_file("a\n!/\n").unwrap_err(),
            Error::LoneExclamation { line: Some(2) }
        );
        // Go's bufio.Scanner refuses a line of 64 KiB or more.
        let ok = "a".repeat(MAX_LINE);
        assert_eq!(read_ignore_file(&ok).unwrap().len(), 1);
        let long = format!("x\n{}\n", "a".repeat(MAX_LINE + 1));
        assert_eq!(
            Patterns::from_ignore_file(&long).unwrap_err(),
            Error::LineTooLong { line: 2 }
        );
    }

    #[test]
    fn error_messages_name_the_pattern_and_line() {
        let err = Patterns::from_ignore_file("ok\n# c\nfoo/[\n").unwrap_err();
        assert_eq!(
            err,
            Error::BadPattern {
                pattern: "foo/[".into(),
                reason: "unterminated character class".into(),
                line: Some(3),
            }
        );
        assert_eq!(
            err.to_string(),
            "line 3: syntax error in pattern \"foo/[\": unterminated character class"
        );
        let err = Patterns::new(&["!a\\".to_string()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "syntax error in pattern \"!a\\\\\": trailing backslash"
        );
        assert_eq!(
            Patterns::from_ignore_file("!\n").unwrap_err().to_string(),
            "line 1: illegal exclusion pattern \"!\""
        );
    }

    #[test]
    fn go_clean_cases() {
        let cases = [
            ("", "."),
            (".", "."),
            ("./", "."),
            ("a/", "a"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("a/..", "."),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/", "/"),
            ("//", "/"),
            ("!./a", "!./a"),
            ("!/", "!"),
        ];
        for (input, want) in cases {
            assert_eq!(go_clean(input), want, "{input:?}");
        }
    }

    // BuildKit dockerfile_dockerignore_test.go testDockerignore (IGN-1).
    #[test]
    fn buildkit_test_dockerignore() {
        let p = file("\nba*\nDockerfile\n!bay\n.dockerignore\n");
        for (path, kept) in [
            ("Dockerfile", false),
            ("foo", true),
            ("bar", false),
            ("baz", false),
            ("bay", true),
            (".dockerignore", false),
        ] {
            assert_eq!(!p.excluded(path), kept, "{path}");
            assert_eq!(
                !p.walk_match(path, &MatchInfo::default()).excluded,
                kept,
                "{path}"
            );
        }
    }

    // testDockerignoreInvalid: a lone `!` fails the build.
    #[test]
    fn buildkit_test_dockerignore_invalid() {
        assert_eq!(
            Patterns::from_ignore_file("!\n").unwrap_err(),
            Error::LoneExclamation { line: Some(1) }
        );
    }

    // crates.md ".dockerignore is not gitignore", item 1.
    #[test]
    fn item1_anchored_at_context_root() {
        let p = file("foo\n*.md\n");
        assert!(p.excluded("foo"));
        assert!(p.excluded("foo/bar"));
        assert!(p.excluded("README.md"));
        assert!(!p.excluded("sub/foo"));
        assert!(!p.excluded("docs/README.md"));
        let p = file("**/foo\n");
        assert!(p.excluded("foo"));
        assert!(p.excluded("sub/deep/foo"));
    }

    // Item 2: a trailing `/` is cleaned away, so files match too.
    #[test]
    fn item2_trailing_slash_matches_files() {
        let p = file("build/\n");
        assert!(p.excluded("build"));
        assert!(p.excluded("build/x.o"));
        assert_eq!(p.rules[0].text, "build");
    }

    // Item 3: `!` re-includes inside an excluded directory; the walker must descend.
    #[test]
    fn item3_exception_inside_excluded_dir() {
        let p = file("docs\n!docs/keep.md\n");
        assert!(p.excluded("docs"));
        assert!(p.excluded("docs/other.md"));
        assert!(!p.excluded("docs/keep.md"));
        assert!(!p.can_skip_dir("docs"));
        let root = MatchInfo::default();
        let docs = p.walk_match("docs", &root);
        assert!(docs.excluded && !docs.skip_dir);
        assert!(!p.walk_match("docs/keep.md", &docs.info).excluded);
        assert!(p.walk_match("docs/other.md", &docs.info).excluded);
    }

    // Item 4: `**` anywhere.
    #[test]
    fn item4_double_star_anywhere() {
        // `a**b` is `a(.*/)?b`.
        let p = file("a**b\n");
        assert!(p.excluded("ab"));
        assert!(p.excluded("a/b"));
        assert!(p.excluded("a/x/y/b"));
        assert!(!p.excluded("axb"));
        assert!(!p.excluded("a/xb"));
        // A leading `**x` is a plain suffix test.
        let p = file("**foo\n");
        assert!(p.excluded("barfoo"));
        assert!(p.excluded("a/b/xfoo"));
        assert!(!p.excluded("foo.c"));
        // A trailing `x**` is a plain prefix test.
        let p = file("foo**\n");
        assert!(p.excluded("foobar/z"));
        assert!(p.excluded("foo"));
        assert!(!p.excluded("xfoo"));
    }

    // Item 5: `[!a]` is a Go regexp class of `!` and `a`; `{a,b}` is no alternation.
    #[test]
    fn item5_bracket_bang_and_braces() {
        let p = file("x[!a]\n");
        assert!(p.excluded("x!"));
        assert!(p.excluded("xa"));
        assert!(!p.excluded("xb"));
        let p = file("x[^a]\n");
        assert!(p.excluded("xb"));
        assert!(!p.excluded("xa"));
        let p = file("{a,b}\n");
        assert!(p.excluded("{a,b}"));
        assert!(!p.excluded("a"));
        assert!(!p.excluded("b"));
    }

    // Item 6: trimming, cleaning, leading `/`, comments, errors.
    #[test]
    fn item6_reading_rules() {
        let p = file("  ./a/../b//c/  \n/d\n#e\n #f\n");
        assert!(p.excluded("b/c"));
        assert!(p.excluded("d"));
        assert!(!p.excluded("#e"));
        assert!(p.excluded("#f"));
        assert!(matches!(
            Patterns::from_ignore_file("a\n!\n").unwrap_err(),
            Error::LoneExclamation { line: Some(2) }
        ));
        assert!(matches!(
            Patterns::from_ignore_file("a\n[\n").unwrap_err(),
            Error::BadPattern { line: Some(2), .. }
        ));
    }

    // Item 7: which file applies is the caller's business; a nested `.dockerignore` is an
    // ordinary path here.
    #[test]
    fn item7_nested_ignore_files_are_plain_paths() {
        let p = file("*.tmp\n");
        assert!(!p.excluded("sub/.dockerignore"));
        let p = file(".dockerignore\n");
        assert!(p.excluded(".dockerignore"));
        assert!(!p.excluded("sub/.dockerignore"));
    }

    // Item 8: the last matching rule wins.
    #[test]
    fn item8_last_match_wins() {
        let p = file("*.md\n!README.md\n");
        assert!(!p.excluded("README.md"));
        let p = file("!README.md\n*.md\n");
        assert!(p.excluded("README.md"));
        let p = file("*.md\n!README*\nREADME.secret.md\n");
        assert!(!p.excluded("README.md"));
        assert!(p.excluded("README.secret.md"));
    }

    // Behaviour that only makes sense at the Go regex level.
    #[test]
    fn go_regex_quirks() {
        // `|` is not escaped by patternmatcher: in a pattern without wildcards it is a literal
        // character, in a regex pattern it splits the regex, here into `^x[^/]*` and `y$`.
        let p = pats(&["a|b"]);
        assert!(p.excluded("a|b") && !p.excluded("a") && !p.excluded("b"));
        let p = pats(&["x*|y"]);
        assert!(p.excluded("x") && p.excluded("x|y") && p.excluded("xz/w"));
        assert!(p.excluded("zzy") && p.excluded("a/b/y") && p.excluded("a/by/c"));
        assert!(!p.excluded("z") && !p.excluded("yz"));
        // `{n}` repeats in a regex pattern.
        let p = pats(&["a{2}*"]);
        assert!(p.excluded("aa") && p.excluded("aaz"));
        assert!(!p.excluded("a{2}"));
        // `*` inside brackets expands into regex text: `[*]` is `^[[^/]*]$`.
        let p = pats(&["[*]"]);
        assert!(p.excluded("]") && p.excluded("[^/]") && p.excluded("//]"));
        assert!(!p.excluded("*") && !p.excluded("a]"));
        // Escapes reach the regex: `\d` is a digit.
        let p = pats(&["v\\d"]);
        assert!(p.excluded("v1") && !p.excluded("vd"));
        // POSIX classes.
        let p = pats(&["[[:digit:]x]"]);
        assert!(p.excluded("7") && p.excluded("x") && !p.excluded("y"));
        // An unterminated `\Q` makes the final `$` literal and the match unanchored at the end.
        let p = pats(&["a\\Qb"]);
        assert!(p.excluded("ab$") && p.excluded("ab$c") && !p.excluded("ab"));
        // `?` is one character, not one byte.
        let p = pats(&["a?b"]);
        assert!(p.excluded("aéb") && !p.excluded("a/b"));
        // `.` in `**` does not cross a newline, but `*` does.
        let p = pats(&["x**/y"]);
        assert!(p.excluded("x/a/y") && !p.excluded("x/a\nb/y"));
        assert!(pats(&["x*"]).excluded("x\n"));
    }

    #[test]
    fn can_skip_dir_follows_fsutil() {
        // No exception: any excluded directory is skipped; an included one never is.
        let p = file("node_modules\n");
        assert!(p.can_skip_dir("node_modules"));
        assert!(!p.can_skip_dir("src"));
        // Literal exceptions: only directories on the way to one are walked.
        let p = file("*\n!src/keep/**\n!other/*\n");
        assert!(!p.can_skip_dir("src"));
        assert!(p.can_skip_dir("target"));
        assert!(p.can_skip_dir("srcx"));
        assert!(!p.can_skip_dir("other"));
        // An exception with glob characters means every excluded directory is walked.
        let p = file("vendor\n!**/*.go\n");
        assert!(!p.can_skip_dir("vendor"));
        let w = p.walk_match("vendor", &MatchInfo::default());
        assert!(w.excluded && !w.skip_dir);
        assert!(!p.walk_match("vendor/x.go", &w.info).excluded);
        // The root cannot be skipped.
        assert!(!file("**\n").can_skip_dir(""));
    }

    // fsutil walks with MatchesUsingParentResults, which keeps no result for rules it skipped
    // in a parent, so `!a` after `a/b` does not re-include `a/b` in a walk.
    #[test]
    fn walk_semantics_differ_from_parent_matching() {
        let p = pats(&["a/b", "!a"]);
        assert!(!p.excluded("a/b"));
        let a = p.walk_match("a", &MatchInfo::default());
        assert!(!a.excluded);
        let ab = p.walk_match("a/b", &a.info);
        assert!(ab.excluded);
        assert!(ab.skip_dir);
        // Without parent state, walk_match checks the parents itself.
        assert!(!p.walk_match("a/b", &MatchInfo::default()).excluded);
    }

    #[test]
    fn paths_are_cleaned() {
        let p = file("a/b\n");
        assert!(p.excluded("/a/b"));
        assert!(p.excluded("a//b/"));
        assert!(p.excluded("./a/b/c"));
        assert!(!p.excluded("a/c/../../x"));
    }

    #[test]
    fn long_path_and_patterns_stay_fast() {
        let patterns: Vec<String> = [
            "**/x*y",
            "a*/b?/**/c",
            "[a-z]*/**",
            "**/z",
            "q**",
            "a*|b",
            "**/a/\\z",
            "a/*/b",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain((0..40).map(|i| format!("dir{i}/**/*.o")))
        .chain([format!("{}x", "*?".repeat(100))])
        .collect();
        let start = std::time::Instant::now();
        let p = Patterns::new(&patterns).unwrap();
        // 4000 levels, 12000 bytes: Go's parent loop would test every pattern on each of the
        // 4000 parents.
        let deep = vec!["aa"; 4000].join("/");
        let wide = format!("{}/{}", "y".repeat(4000), "b".repeat(255));
        for _ in 0..3 {
            assert!(p.excluded(&deep));
            assert!(p.excluded(&wide));
            p.walk_match(&deep, &MatchInfo::default());
        }
        // Generous for debug builds on a slow machine; a quadratic matcher takes minutes.
        assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
    }

    #[test]
    fn absurdly_large_pattern_is_rejected_not_hung() {
        let huge = format!("{}x", "*?".repeat(MAX_LINE / 4));
        let err = Patterns::new(&[huge]).unwrap_err();
        assert!(err.to_string().contains("pattern is too large"), "{err}");
    }

    /// Go's literal per-parent loop, as a reference for the one-pass parent matching.
    fn reference_tree(rule: &Rule, path: &str) -> bool {
        rule.matches(path) || slash_positions(path.as_bytes()).any(|j| rule.matches(&path[..j]))
    }

    fn glob_pattern() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "a", "b", "/", "*", "**", "?", "[a-b]", "[^a]", "[!a]", ".", "|", "{2}", "\\z", "\\b",
            "\\Q", "!", "é", "$", "^",
        ]);
        prop::collection::vec(token, 1..10).prop_map(|v| v.concat())
    }

    fn clean_path() -> impl Strategy<Value = String> {
        let seg = prop::sample::select(vec!["a", "b", "ab", "ba", "é", "a.b", "!", "|", "$"]);
        prop::collection::vec(seg, 1..8).prop_map(|v| v.join("/"))
    }

    proptest! {
        #[test]
        fn never_panics(patterns in prop::collection::vec(any::<String>(), 0..5), path in any::<String>()) {
            if let Ok(p) = Patterns::new(&patterns) {
                p.excluded(&path);
                p.can_skip_dir(&path);
                p.walk_match(&path, &MatchInfo::default());
            }
            let _ = Patterns::from_ignore_file(&patterns.join("\n"));
        }

        #[test]
        fn parent_matching_agrees_with_go_loop(pattern in glob_pattern(), path in clean_path()) {
            if let Ok(p) = Patterns::new(&[pattern]) {
                for rule in &p.rules {
                    prop_assert_eq!(rule.matches_tree(&path), reference_tree(rule, &path));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn long_inputs_match_quickly(
            pattern in prop::collection::vec(glob_pattern(), 1..30),
            path in prop::collection::vec(clean_path(), 1..200),
        ) {
            let pattern = pattern.concat();
            let path = path.join("/");
            if let Ok(p) = Patterns::new(&[pattern.clone(), format!("!{pattern}"), pattern]) {
                let start = std::time::Instant::now();
                p.excluded(&path);
                p.walk_match(&path, &MatchInfo::default());
                prop_assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
            }
        }
    }
}
