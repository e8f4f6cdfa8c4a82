//! The word reader: walks one word character by character, expanding
//! `$` forms and removing quotes and escapes, the way BuildKit's
//! `shellWord` does.
//!
//! BuildKit reads nested forms (`${a:-"${b:-c}"}`) by recursion. Here the
//! same reading runs on an explicit stack of [`Frame`]s, so hostile nesting
//! costs heap, not call stack (a recursive reader needs kilobytes of stack
//! per level in debug builds); the depth is still capped at [`MAX_DEPTH`]
//! because rebuilding `${...}` text for unset variables is quadratic in it.

use std::collections::BTreeSet;

use super::glob::{self, GlobError};
use super::unicode::{is_digit, is_name_char};
use super::{Env, Error, Expansion, Lexer, MAX_DEPTH, WORK_FACTOR};

const MISSING_BRACE: &str = "syntax error: missing '}'";
const MISSING_SLASH: &str = "syntax error: missing '/' in ${}";
const BAD_SUBSTITUTION: &str = "syntax error: bad substitution";
/// Go prints the end-of-input rune `-1` as U+FFFD in modifier messages.
const END: char = '\u{FFFD}';

/// `process_word`: the expanded text and the names looked up.
pub(crate) fn expand(lexer: &Lexer, word: &str, env: &dyn Env) -> Result<Expansion, Error> {
    let mut reader = Reader::new(lexer, word, env);
    let value = reader.run(&mut Words::off())?;
    Ok(Expansion {
        value,
        used: reader.used,
        unset: reader.unset,
    })
}

/// `process_words`: the expanded text split on unquoted whitespace.
pub(crate) fn split(lexer: &Lexer, word: &str, env: &dyn Env) -> Result<Vec<String>, Error> {
    let mut reader = Reader::new(lexer, word, env);
    let mut words = Words::on();
    reader.run(&mut words)?;
    Ok(words.finish())
}

fn syntax(offset: usize, message: &str) -> Error {
    Error::Syntax {
        offset,
        message: message.to_owned(),
    }
}

/// Go's `unicode.IsSpace` agrees with Rust's White_Space test.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// The special parameters (`$@`, `$#`, ...), which are never set.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// Splits the result into words as it is built: text from `$` expansions
/// splits on whitespace, quoted text and escaped characters do not.
struct Words {
    enabled: bool,
    words: Vec<String>,
    buf: String,
    in_word: bool,
}

impl Words {
    fn on() -> Self {
        Words {
            enabled: true,
            words: Vec::new(),
            buf: String::new(),
            in_word: false,
        }
    }

    fn off() -> Self {
        Words {
            enabled: false,
            ..Words::on()
        }
    }

    fn add_char(&mut self, c: char) {
        if !self.enabled {
            return;
        }
        if is_space(c) {
            // Empty quotes mark a word as started but add no word.
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        if self.enabled {
            self.buf.push(c);
            self.in_word = true;
        }
    }

    fn add_str(&mut self, s: &str) {
        if self.enabled {
            s.chars().for_each(|c| self.add_char(c));
        }
    }

    fn add_raw_str(&mut self, s: &str) {
        if self.enabled {
            self.buf.push_str(s);
            self.in_word = true;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

/// One open construct. The top of the stack is always `Text` or `Quote`;
/// `Modified` and `Replace` wait under the `Text` that reads their body.
enum Frame<'a> {
    /// Text up to the unescaped, unquoted `stop` (`None`: the end of the
    /// word); BuildKit's `processStopOn`.
    Text {
        stop: Option<char>,
        raw_escapes: bool,
        out: String,
    },
    /// Inside `"..."` opened at `start`; BuildKit's `processDoubleQuote`.
    Quote {
        start: usize,
        raw_escapes: bool,
        out: String,
    },
    /// `${name<op>word}` for `-`, `+`, `?`, `#` and `%`, waiting for `word`.
    Modified {
        start: usize,
        name: &'a str,
        op: Option<char>,
        modifier: String,
        null_is_unset: bool,
    },
    /// `${name/pattern/replacement}`, waiting for the pattern (`None`) and
    /// then the replacement.
    Replace {
        start: usize,
        name: &'a str,
        all: bool,
        pattern: Option<String>,
    },
}

/// What a `$` turned into.
enum Dollar<'a> {
    /// A finished value.
    Value(String),
    /// A body to read up to `stop`, then hand to `frame`.
    Body {
        frame: Frame<'a>,
        stop: char,
        raw_escapes: bool,
    },
}

struct Reader<'a> {
    lexer: &'a Lexer,
    env: &'a dyn Env,
    src: &'a str,
    pos: usize,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
    /// Body frames (`Modified`, `Replace`) on the stack.
    depth: usize,
    /// Bytes of values handed up and scanned so far, discarded ones
    /// included; see [`Reader::charge`].
    spent: usize,
}

impl<'a> Reader<'a> {
    fn new(lexer: &'a Lexer, word: &'a str, env: &'a dyn Env) -> Self {
        // Go's text/scanner skips a byte order mark that opens its input.
        let pos = if word.starts_with('\u{FEFF}') { 3 } else { 0 };
        Reader {
            lexer,
            env,
            src: word,
            pos,
            used: BTreeSet::new(),
            unset: BTreeSet::new(),
            depth: 0,
            spent: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn lookup(&mut self, name: &str) -> Option<&'a str> {
        let value = self.env.get(name);
        let seen = if value.is_some() {
            &mut self.used
        } else {
            &mut self.unset
        };
        if !seen.contains(name) {
            seen.insert(name.to_owned());
        }
        value
    }

    fn check_len(&self, text: &str, offset: usize) -> Result<(), Error> {
        if text.len() > self.lexer.max_len {
            return Err(Error::TooLong {
                offset,
                limit: self.lexer.max_len,
            });
        }
        Ok(())
    }

    /// Counts `bytes` of work against the word's budget. The length check
    /// alone bounds only what survives: `${x:+${a//?/$a}}` builds a large
    /// value and drops it, and a word can repeat that thousands of times.
    fn charge(&mut self, bytes: usize, offset: usize) -> Result<(), Error> {
        let limit = self.lexer.max_len.saturating_mul(WORK_FACTOR);
        self.spent = self.spent.saturating_add(bytes);
        if self.spent > limit {
            return Err(Error::TooMuchWork { offset, limit });
        }
        Ok(())
    }

    /// Reads the whole word.
    fn run(&mut self, words: &mut Words) -> Result<String, Error> {
        let mut stack = vec![Frame::Text {
            stop: None,
            raw_escapes: self.lexer.raw_escapes,
            out: String::new(),
        }];
        loop {
            match self.advance(&mut stack, words) {
                Ok(Some(out)) => return Ok(out),
                Ok(None) => {}
                Err(err) => return Err(self.unwind(err, &stack)),
            }
        }
    }

    /// BuildKit rewords any failure inside a `${...}` body that leaves the
    /// reader at the end of the word, each level in turn, so the outermost
    /// open body decides the message.
    fn unwind(&self, err: Error, stack: &[Frame<'a>]) -> Error {
        if !self.at_end() {
            return err;
        }
        for frame in stack {
            match frame {
                Frame::Modified { start, .. }
                | Frame::Replace {
                    start,
                    pattern: Some(_),
                    ..
                } => return syntax(*start, MISSING_BRACE),
                Frame::Replace {
                    start,
                    pattern: None,
                    ..
                } => return syntax(*start, MISSING_SLASH),
                Frame::Text { .. } | Frame::Quote { .. } => {}
            }
        }
        err
    }

    /// Reads one character or construct for the frame on top; returns the
    /// result once the word is done.
    fn advance(
        &mut self,
        stack: &mut Vec<Frame<'a>>,
        words: &mut Words,
    ) -> Result<Option<String>, Error> {
        let bottom = stack.len() == 1;
        match stack.last_mut() {
            Some(Frame::Text {
                stop,
                raw_escapes,
                out,
            }) => {
                let (stop, raw_escapes) = (*stop, *raw_escapes);
                let Some(c) = self.peek() else {
                    return match stop {
                        None => Ok(Some(std::mem::take(out))),
                        Some(stop) => Err(Error::Syntax {
                            offset: self.pos,
                            message: format!(
                                "unexpected end of statement while looking for matching {stop}"
                            ),
                        }),
                    };
                };
                if Some(c) == stop {
                    self.bump();
                    let body = std::mem::take(out);
                    stack.pop();
                    self.body_done(stack, body, words)?;
                    return Ok(None);
                }
                let start = self.pos;
                match c {
                    '$' => self.dollar(stack, words)?,
                    '"' if !self.lexer.skip_process_quotes => {
                        self.bump();
                        let mut out = String::new();
                        if self.lexer.raw_quotes {
                            out.push('"');
                        }
                        stack.push(Frame::Quote {
                            start,
                            raw_escapes,
                            out,
                        });
                    }
                    _ => {
                        let words = if bottom { Some(words) } else { None };
                        self.text_char(c, out, raw_escapes, words)?;
                    }
                }
                Ok(None)
            }
            Some(Frame::Quote {
                start,
                raw_escapes,
                out,
            }) => {
                let (start, raw_escapes) = (*start, *raw_escapes);
                let escape = self.lexer.escape;
                match self.peek() {
                    None => Err(syntax(
                        start,
                        "unexpected end of statement while looking for matching double-quote",
                    )),
                    Some('"') => {
                        self.bump();
                        if self.lexer.raw_quotes {
                            out.push('"');
                        }
                        let text = std::mem::take(out);
                        stack.pop();
                        self.deliver(stack, &text, start, true, words)?;
                        Ok(None)
                    }
                    Some('$') => {
                        self.dollar(stack, words)?;
                        Ok(None)
                    }
                    Some(mut c) => {
                        self.bump();
                        if c == escape {
                            if raw_escapes {
                                out.push(c);
                            }
                            match self.peek() {
                                // Left for the unterminated-quote error.
                                None => return Ok(None),
                                Some(next) if next == '"' || next == '$' || next == escape => {
                                    self.bump();
                                    c = next;
                                }
                                // Literal: with raw escapes BuildKit writes
                                // it twice, and so do we.
                                Some(_) => {}
                            }
                        }
                        out.push(c);
                        Ok(None)
                    }
                }
            }
            // Body frames always have a `Text` above them, so this arm is
            // never taken; ending the word keeps a bug from looping.
            Some(Frame::Modified { .. } | Frame::Replace { .. }) | None => Ok(Some(String::new())),
        }
    }

    /// One character of a `Text` frame other than its stop character, `$`
    /// and `"`; `words` when the frame is the whole word.
    fn text_char(
        &mut self,
        c: char,
        out: &mut String,
        raw_escapes: bool,
        mut words: Option<&mut Words>,
    ) -> Result<(), Error> {
        let escape = self.lexer.escape;
        let quotes = !self.lexer.skip_process_quotes;
        match c {
            '<' => {
                // A heredoc marker keeps the blanks after `<<` in its word,
                // so `<< EOF` stays one word.
                self.bump();
                let mut marker = String::from('<');
                if self.peek() == Some('<') {
                    self.bump();
                    marker.push('<');
                    while let Some(blank @ ('\t' | '\r' | ' ')) = self.peek() {
                        self.bump();
                        marker.push(blank);
                    }
                }
                out.push_str(&marker);
                if let Some(words) = words.as_mut() {
                    words.add_raw_str(&marker);
                }
            }
            '\'' if quotes => {
                let text = self.single_quote()?;
                out.push_str(&text);
                if let Some(words) = words.as_mut() {
                    words.add_raw_str(&text);
                }
            }
            _ => {
                self.bump();
                if c != escape {
                    out.push(c);
                    if let Some(words) = words.as_mut() {
                        words.add_char(c);
                    }
                    return Ok(());
                }
                if raw_escapes {
                    out.push(c);
                    if let Some(words) = words.as_mut() {
                        words.add_raw_char(c);
                    }
                }
                // An escape at the very end of the word is dropped.
                if let Some(escaped) = self.bump() {
                    out.push(escaped);
                    if let Some(words) = words.as_mut() {
                        words.add_raw_char(escaped);
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds a finished value to the frame on top. Text from a `$` splits
    /// into words; quoted text (`quoted`) does not.
    fn deliver(
        &mut self,
        stack: &mut [Frame<'a>],
        value: &str,
        start: usize,
        quoted: bool,
        words: &mut Words,
    ) -> Result<(), Error> {
        self.charge(value.len(), start)?;
        let bottom = stack.len() == 1;
        match stack.last_mut() {
            Some(Frame::Text { out, .. }) => {
                out.push_str(value);
                self.check_len(out, start)?;
                if bottom {
                    if quoted {
                        words.add_raw_str(value);
                    } else {
                        words.add_str(value);
                    }
                }
            }
            Some(Frame::Quote { out, .. }) => {
                out.push_str(value);
                self.check_len(out, start)?;
            }
            Some(Frame::Modified { .. } | Frame::Replace { .. }) | None => {}
        }
        Ok(())
    }

    /// A `$` form, the reader at the `$`: either its value goes to the
    /// frame on top, or frames are pushed to read its body.
    fn dollar(&mut self, stack: &mut Vec<Frame<'a>>, words: &mut Words) -> Result<(), Error> {
        let start = self.pos;
        match self.dollar_head()? {
            Dollar::Value(value) => self.deliver(stack, &value, start, false, words),
            Dollar::Body {
                frame,
                stop,
                raw_escapes,
            } => {
                self.depth += 1;
                stack.push(frame);
                stack.push(Frame::Text {
                    stop: Some(stop),
                    raw_escapes,
                    out: String::new(),
                });
                Ok(())
            }
        }
    }

    /// Reads a `$` form up to its operator; BuildKit's `processDollar`
    /// before it reads a body.
    fn dollar_head(&mut self) -> Result<Dollar<'a>, Error> {
        let start = self.pos;
        self.bump();
        let skip_unset = self.lexer.skip_unset_env;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok(Dollar::Value("$".to_owned()));
            }
            return Ok(Dollar::Value(match self.lookup(name) {
                Some(value) => value.to_owned(),
                None if skip_unset => format!("${name}"),
                None => String::new(),
            }));
        }
        self.bump();
        match self.peek() {
            None => return Err(syntax(start, MISSING_BRACE)),
            Some('{' | '}' | ':') => return Err(syntax(start, BAD_SUBSTITUTION)),
            Some(_) => {}
        }
        let name = self.name();
        let op = self.bump();
        let mut modifier = String::from(op.unwrap_or(END));
        let (op, null_is_unset) = match op {
            Some('}') => {
                return Ok(Dollar::Value(match self.lookup(name) {
                    Some(value) => value.to_owned(),
                    None if skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                }));
            }
            Some(':') => {
                let op = self.bump();
                modifier.push(op.unwrap_or(END));
                (op, true)
            }
            Some('+' | '-' | '?' | '#' | '%') => (op, false),
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.bump();
                }
                self.check_depth(start)?;
                return Ok(Dollar::Body {
                    frame: Frame::Replace {
                        start,
                        name,
                        all,
                        pattern: None,
                    },
                    stop: '/',
                    raw_escapes: true,
                });
            }
            _ => {
                return Err(Error::Modifier {
                    offset: start,
                    modifier,
                });
            }
        };
        let pattern_op = matches!(op, Some('#' | '%'));
        if null_is_unset && pattern_op {
            return Err(Error::Modifier {
                offset: start,
                modifier,
            });
        }
        self.check_depth(start)?;
        Ok(Dollar::Body {
            frame: Frame::Modified {
                start,
                name,
                op,
                modifier,
                null_is_unset,
            },
            stop: '}',
            raw_escapes: pattern_op,
        })
    }

    fn check_depth(&self, start: usize) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::TooDeep {
                offset: start,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    /// A body has been read; the frame it belongs to is on top.
    fn body_done(
        &mut self,
        stack: &mut Vec<Frame<'a>>,
        body: String,
        words: &mut Words,
    ) -> Result<(), Error> {
        match stack.pop() {
            Some(Frame::Modified {
                start,
                name,
                op,
                modifier,
                null_is_unset,
            }) => {
                self.depth -= 1;
                let value = self.modified(start, name, op, modifier, null_is_unset, body)?;
                self.deliver(stack, &value, start, false, words)
            }
            Some(Frame::Replace {
                start,
                name,
                all,
                pattern: None,
            }) => {
                stack.push(Frame::Replace {
                    start,
                    name,
                    all,
                    pattern: Some(body),
                });
                stack.push(Frame::Text {
                    stop: Some('}'),
                    raw_escapes: true,
                    out: String::new(),
                });
                Ok(())
            }
            Some(Frame::Replace {
                start,
                name,
                pattern: Some(pattern),
                all,
            }) => {
                self.depth -= 1;
                let value = self.replace(start, name, all, &pattern, &body)?;
                self.deliver(stack, &value, start, false, words)
            }
            Some(frame @ (Frame::Text { .. } | Frame::Quote { .. })) => {
                stack.push(frame);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The value of `${name<op>word}` once `word` is read.
    fn modified(
        &mut self,
        start: usize,
        name: &str,
        op: Option<char>,
        modifier: String,
        null_is_unset: bool,
        word: String,
    ) -> Result<String, Error> {
        let value = self.lookup(name);
        if self.lexer.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let set = value.is_some();
        let value = value.unwrap_or("");
        let missing = !set || (null_is_unset && value.is_empty());
        match op {
            Some('-') => Ok(if missing { word } else { value.to_owned() }),
            Some('+') => Ok(if missing { String::new() } else { word }),
            Some('?') if missing => {
                let message = if !word.is_empty() {
                    word
                } else if set {
                    "is not allowed to be empty".to_owned()
                } else {
                    "is not allowed to be unset".to_owned()
                };
                Err(Error::Required {
                    offset: start,
                    name: name.to_owned(),
                    message,
                })
            }
            Some('?') => Ok(value.to_owned()),
            Some(c @ ('#' | '%')) => {
                self.charge(value.len(), start)?;
                // A doubled operator (`##`, `%%`) asks for the longest match.
                let (pattern, greedy) = match word.strip_prefix(c) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                let trimmed = if c == '%' {
                    glob::trim_suffix(pattern, value, greedy)
                } else {
                    glob::trim_prefix(pattern, value, greedy)
                };
                trimmed.map_err(|err| self.glob_error(err, start))
            }
            _ => Err(Error::Modifier {
                offset: start,
                modifier,
            }),
        }
    }

    /// The value of `${name/pattern/replacement}` (`all`: `//`).
    fn replace(
        &mut self,
        start: usize,
        name: &str,
        all: bool,
        pattern: &str,
        replacement: &str,
    ) -> Result<String, Error> {
        let value = self.lookup(name);
        if self.lexer.skip_unset_env && value.is_none() {
            // BuildKit writes one `/` here even for `//`.
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        self.charge(value.map_or(0, str::len), start)?;
        glob::replace(
            pattern,
            value.unwrap_or(""),
            replacement,
            all,
            self.lexer.max_len,
        )
        .map_err(|err| self.glob_error(err, start))
    }

    /// `'...'`: everything literal, no escapes.
    fn single_quote(&mut self) -> Result<String, Error> {
        let start = self.pos;
        let raw = self.lexer.raw_quotes;
        self.bump();
        let mut out = String::new();
        if raw {
            out.push('\'');
        }
        loop {
            match self.bump() {
                None => {
                    return Err(syntax(
                        start,
                        "unexpected end of statement while looking for matching single-quote",
                    ));
                }
                Some('\'') => {
                    if raw {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// Reads a name after `$`: a run of digits, one special parameter, or
    /// letters, digits and `_`. Empty when none of those follows.
    fn name(&mut self) -> &'a str {
        let src = self.src;
        let start = self.pos;
        match self.peek() {
            Some(c) if is_digit(c) => {
                while self.peek().is_some_and(is_digit) {
                    self.bump();
                }
            }
            Some(c) if is_special_param(c) => {
                self.bump();
            }
            _ => {
                while self.peek().is_some_and(is_name_char) {
                    self.bump();
                }
            }
        }
        &src[start..self.pos]
    }

    fn glob_error(&self, err: GlobError, offset: usize) -> Error {
        match err {
            GlobError::Pattern { pattern, message } => Error::Pattern {
                offset,
                pattern,
                message,
            },
            GlobError::TooLong => Error::TooLong {
                offset,
                limit: self.lexer.max_len,
            },
        }
    }
}
