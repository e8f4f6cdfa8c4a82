//! The exec-form test: is an argument text a JSON array of strings, exactly
//! as Go's `encoding/json` decides it for BuildKit's `parseJSON`.
//!
//! serde_json and Go disagree at the edges that matter here: Go accepts
//! arrays nested up to 10,000 deep (serde_json stops at 128), replaces a
//! lone UTF-16 surrogate escape with U+FFFD (serde_json refuses the text),
//! and fails the whole decode when a number overflows a float64. This
//! reader follows Go, runs in one pass without recursion, and so costs no
//! stack however deep the input nests.

/// Go's `maxNestingDepth`: one more level is a syntax error.
const MAX_DEPTH: usize = 10_000;

/// What the argument text is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A JSON array whose elements are all strings: exec form.
    Strings(Vec<String>),
    /// A JSON array with an element that is not a string: an error.
    NotStrings,
    /// Not JSON at all (or JSON Go refuses to decode): shell form.
    NotJson,
}

/// Classifies `text`, which the caller has trimmed of leading white space
/// and checked to start with `[`.
pub(crate) fn classify(text: &str) -> Shape {
    let mut r = Reader {
        s: text.as_bytes(),
        pos: 0,
    };
    match r.document() {
        Some(Some(strings)) => Shape::Strings(strings),
        Some(None) => Shape::NotStrings,
        None => Shape::NotJson,
    }
}

/// One open container while scanning.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Array,
    Object,
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The whole text: `None` if Go would fail to decode it, `Some(None)`
    /// for a valid array with a non-string element, the strings otherwise.
    fn document(&mut self) -> Option<Option<Vec<String>>> {
        self.skip_ws();
        if !self.eat(b'[') {
            return None;
        }
        let mut strings = Some(Vec::new());
        self.skip_ws();
        if !self.eat(b']') {
            loop {
                self.skip_ws();
                if self.peek() == Some(b'"') {
                    let s = self.string()?;
                    if let Some(v) = strings.as_mut() {
                        v.push(s);
                    }
                } else {
                    self.value()?;
                    strings = None;
                }
                self.skip_ws();
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b']') {
                    break;
                }
                return None;
            }
        }
        self.skip_ws();
        if self.pos != self.s.len() {
            return None;
        }
        Some(strings)
    }

    /// Skips one value of any kind, nested containers included, with an
    /// explicit stack. The outer array counts as one level.
    fn value(&mut self) -> Option<()> {
        let mut stack: Vec<Open> = Vec::new();
        loop {
            // Read one value, or open a container.
            self.skip_ws();
            match self.peek()? {
                b'[' => {
                    self.pos += 1;
                    if stack.len() + 2 > MAX_DEPTH {
                        return None;
                    }
                    stack.push(Open::Array);
                    self.skip_ws();
                    if self.eat(b']') {
                        stack.pop();
                    } else {
                        continue;
                    }
                }
                b'{' => {
                    self.pos += 1;
                    if stack.len() + 2 > MAX_DEPTH {
                        return None;
                    }
                    stack.push(Open::Object);
                    self.skip_ws();
                    if self.eat(b'}') {
                        stack.pop();
                    } else {
                        self.key()?;
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // A value is done: close containers or move to the next item.
            loop {
                let Some(&top) = stack.last() else {
                    return Some(());
                };
                self.skip_ws();
                if self.eat(b',') {
                    if top == Open::Object {
                        self.skip_ws();
                        self.key()?;
                    }
                    break;
                }
                let close = if top == Open::Array { b']' } else { b'}' };
                if !self.eat(close) {
                    return None;
                }
                stack.pop();
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> Option<()> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.string()?;
        self.skip_ws();
        self.eat(b':').then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.s.get(self.pos..self.pos + word.len())? == word {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, which must also fit
    /// a float64: Go stores numbers in `any` as float64 and fails the decode
    /// when one overflows.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).ok()?;
        text.parse::<f64>().ok().filter(|f| f.is_finite())?;
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let mut v = 0u32;
        for &b in h {
            v = v * 16 + char::from(b).to_digit(16)?;
        }
        self.pos += 4;
        Some(v)
    }

    /// A string, decoded as Go decodes it.
    fn string(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return None,
                _ => out.push(b),
            }
        }
        // The input is a `str` and escapes add whole characters, so this
        // cannot fail; treat a failure as not JSON rather than panic.
        String::from_utf8(out).ok()
    }

    /// After `\u`: a character, a surrogate pair, or U+FFFD for a surrogate
    /// without its partner (the escape after it is then read on its own).
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xE000).contains(&first) {
            return char::from_u32(first);
        }
        if (0xD800..0xDC00).contains(&first) && self.s.get(self.pos..self.pos + 2) == Some(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            if let Some(second) = self.hex4()
                && (0xDC00..0xE000).contains(&second)
            {
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return char::from_u32(c);
            }
            self.pos = save;
        }
        Some('\u{FFFD}')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Shape {
        Shape::Strings(v.iter().map(|s| (*s).to_string()).collect())
    }

    #[test]
    fn string_arrays() {
        assert_eq!(classify(r#"["a", "b"]"#), strings(&["a", "b"]));
        assert_eq!(classify("[]"), strings(&[]));
        assert_eq!(classify(" [ \"a\" ] \r\n"), strings(&["a"]));
        assert_eq!(
            classify(r#"["\u00e9\n\/\"\\", "\ud83d\ude00"]"#),
            strings(&["é\n/\"\\", "😀"])
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(classify(r#"["\ud800"]"#), strings(&["\u{FFFD}"]));
        assert_eq!(classify(r#"["\ud800\u0041"]"#), strings(&["\u{FFFD}A"]));
        assert_eq!(
            classify(r#"["\udc00\ud800\udc00"]"#),
            strings(&["\u{FFFD}\u{10000}"])
        );
    }

    #[test]
    fn non_strings() {
        assert_eq!(classify(r#"["a", 1]"#), Shape::NotStrings);
        assert_eq!(classify(r#"[{"k": [true, null]}]"#), Shape::NotStrings);
        assert_eq!(classify("[[]]"), Shape::NotStrings);
    }

    #[test]
    fn not_json() {
        for t in [
            "[",
            "['a']",
            r#"["a",]"#,
            r#"["a"] x"#,
            r#"["a" "b"]"#,
            r#"["\x"]"#,
            "[\"a\tb\"]",
            "[01]",
            "[1.]",
            "[-]",
            "[1e400]",
            r#"[{"a" 1}]"#,
            r#"[{1: 2}]"#,
            "[tru]",
        ] {
            assert_eq!(classify(t), Shape::NotJson, "{t}");
        }
        assert_eq!(classify("[1e-400]"), Shape::NotStrings);
    }

    #[test]
    fn go_nesting_limit() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(classify(&deep(MAX_DEPTH)), Shape::NotStrings);
        assert_eq!(classify(&deep(MAX_DEPTH + 1)), Shape::NotJson);
        // Unterminated: not JSON however deep.
        assert_eq!(classify(&"[".repeat(200)), Shape::NotJson);
    }
}
