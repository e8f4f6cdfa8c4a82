//! Shell word expansion as BuildKit's `shell` package does it.
//!
//! A [`Lexer`] expands one Dockerfile word against an [`Env`]: `$v` and
//! `${v}`, the `${v:-w}` `${v-w}` `${v:+w}` `${v+w}` `${v:?m}` `${v?m}`
//! forms, the pattern forms `${v#p}` `${v##p}` `${v%p}` `${v%%p}`
//! `${v/p/r}` `${v//p/r}`, single and double quotes, and the escape
//! character (`\` or a backtick). [`Lexer::process_words`] also splits the
//! result on unquoted whitespace.
//!
//! The behaviour, quirks included, is BuildKit's (`frontend/dockerfile/
//! shell/lex.go`) so that a Dockerfile means the same thing under kiln.
//! The deliberate differences are limits: nesting deeper than
//! [`MAX_DEPTH`] levels, results longer than [`Lexer::max_len`] and words
//! whose expansion builds or scans more than [`WORK_FACTOR`] times that
//! much text are errors rather than a stack overflow, an unbounded
//! allocation or unbounded time; and in [`Lexer::process_words`] a nested
//! `${...}` does not drop the text before it in the same word (BuildKit's
//! shared word buffer does).
//!
//! ```
//! use std::collections::HashMap;
//! use kiln_parser::shell::Lexer;
//!
//! let env = HashMap::from([("NAME".to_owned(), "app.tar.gz".to_owned())]);
//! let lexer = Lexer::new('\\');
//! let out = lexer.process_word("${NAME%%.*}-${VERSION:-dev}", &env).unwrap();
//! assert_eq!(out.value, "app-dev");
//! assert!(out.used.contains("NAME") && out.unset.contains("VERSION"));
//! ```

mod glob;
mod lex;
#[cfg(test)]
mod tests;
mod unicode;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

/// The deepest `${...}` nesting a word may have; one more level is
/// [`Error::TooDeep`].
pub const MAX_DEPTH: usize = 1000;

/// The default for [`Lexer::max_len`]: 16 MiB.
pub const DEFAULT_MAX_LEN: usize = 16 << 20;

/// Expanding one word may copy or scan at most this many times
/// [`Lexer::max_len`] bytes of values in all; more is
/// [`Error::TooMuchWork`].
pub const WORK_FACTOR: usize = 4;

/// Variables a word is expanded against.
///
/// `None` means unset; `Some("")` means set and empty, which the `:`
/// forms (`${v:-w}`, `${v:?m}`, ...) treat like unset and the others do not.
pub trait Env {
    /// The value of `name`, if it is set.
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// `KEY=value` entries, as in an image config; the last entry for a key
/// wins, and an entry without `=` sets its key to the empty string (as
/// BuildKit's `EnvsFromSlice`).
impl Env for [String] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find_map(|entry| match entry.split_once('=') {
                Some((key, value)) if key == name => Some(value),
                None if entry == name => Some(""),
                _ => None,
            })
    }
}

/// The same as the slice form.
impl Env for Vec<String> {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

/// The result of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded text, quotes and escapes removed (unless the lexer keeps
    /// them).
    pub value: String,
    /// Variables the word referenced that were set (even to empty).
    pub used: BTreeSet<String>,
    /// Variables the word referenced that were not set. Positional and
    /// special parameters (`$1`, `$@`, ...) count as names here, as in
    /// BuildKit.
    pub unset: BTreeSet<String>,
}

/// Why a word cannot be expanded. Messages are BuildKit's; BuildKit
/// prefixes them with `failed to process "<word>": `, which callers that
/// report to users should do too.
///
/// `offset` is the byte offset in the word of the `$` or quote that opens
/// the construct in error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Broken syntax: a missing `}` or `/`, an unterminated quote, `${}`,
    /// `${:...}` or `${{`.
    #[error("{message}")]
    Syntax {
        /// Where the construct starts.
        offset: usize,
        /// BuildKit's text, such as `syntax error: missing '}'`.
        message: String,
    },
    /// An operator the lexer does not support, such as `${v:=w}`,
    /// `${v:#p}` or `${v.}`.
    #[error("unsupported modifier ({modifier}) in substitution")]
    Modifier {
        /// Where the `${` starts.
        offset: usize,
        /// The operator as read, such as `:=`.
        modifier: String,
    },
    /// A `#`, `%` or `/` pattern with a bad escape.
    #[error("invalid pattern ({pattern}) in substitution: {message}")]
    Pattern {
        /// Where the `${` starts.
        offset: usize,
        /// The pattern after expansion (reversed for `%`, as BuildKit shows
        /// it).
        pattern: String,
        /// What is wrong with it, such as `invalid escape '\x'`.
        message: String,
    },
    /// `${v?m}` with `v` unset, or `${v:?m}` with `v` unset or empty.
    #[error("{name}: {message}")]
    Required {
        /// Where the `${` starts.
        offset: usize,
        /// The variable.
        name: String,
        /// The expanded message, or BuildKit's `is not allowed to be unset`
        /// or `is not allowed to be empty` when it is empty.
        message: String,
    },
    /// `${...}` nested deeper than [`MAX_DEPTH`].
    #[error("variable substitution nested deeper than {limit} levels")]
    TooDeep {
        /// Where the `${` that is one level too deep starts.
        offset: usize,
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
    },
    /// The expanded word would be longer than [`Lexer::max_len`].
    #[error("expanded word longer than {limit} bytes")]
    TooLong {
        /// Where the expansion that passed the limit starts.
        offset: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The values built and scanned while expanding the word, discarded
    /// ones included, add up to more than [`WORK_FACTOR`] times
    /// [`Lexer::max_len`] bytes (`${x:+${a//?/$a}}` repeated builds large
    /// values only to drop them).
    #[error("expanding the word takes more than {limit} bytes of work")]
    TooMuchWork {
        /// Where the expansion that passed the budget starts.
        offset: usize,
        /// The budget in bytes.
        limit: usize,
    },
}

impl Error {
    /// The byte offset in the word of the construct in error.
    pub fn offset(&self) -> usize {
        match self {
            Error::Syntax { offset, .. }
            | Error::Modifier { offset, .. }
            | Error::Pattern { offset, .. }
            | Error::Required { offset, .. }
            | Error::TooDeep { offset, .. }
            | Error::TooLong { offset, .. }
            | Error::TooMuchWork { offset, .. } => *offset,
        }
    }
}

/// Expands Dockerfile words; BuildKit's `shell.Lex`.
///
/// Options are set builder-style and default to off:
///
/// ```
/// # use kiln_parser::shell::Lexer;
/// let heredoc_body = Lexer::new('\\').raw_quotes(true).skip_unset_env(true);
/// # let _ = heredoc_body;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_unset_env: bool,
    skip_process_quotes: bool,
    max_len: usize,
}

impl Lexer {
    /// A lexer whose escape character is `escape`: `\` by default, or a
    /// backtick after `# escape=``.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
            max_len: DEFAULT_MAX_LEN,
        }
    }

    /// Keeps quote characters in the result while still giving them their
    /// meaning (BuildKit's `RawQuotes`): used for COPY and ADD heredoc
    /// bodies, where `"${v}"` becomes `"value"`.
    pub fn raw_quotes(mut self, on: bool) -> Self {
        self.raw_quotes = on;
        self
    }

    /// Keeps escape characters in the result while still giving them their
    /// meaning (BuildKit's `RawEscapes`). The `${v:-w}`, `${v:+w}` and
    /// `${v:?m}` words are always read without it, and pattern words always
    /// with it, as in BuildKit.
    pub fn raw_escapes(mut self, on: bool) -> Self {
        self.raw_escapes = on;
        self
    }

    /// Leaves references to unset variables as they are written
    /// (BuildKit's `SkipUnsetEnv`): `$v` stays `$v` and `${v:-w}` stays
    /// `${v:-w}` with `w` expanded.
    pub fn skip_unset_env(mut self, on: bool) -> Self {
        self.skip_unset_env = on;
        self
    }

    /// Treats quote characters as plain text (BuildKit's
    /// `SkipProcessQuotes`, used for words whose quotes belong to a later
    /// stage).
    pub fn skip_process_quotes(mut self, on: bool) -> Self {
        self.skip_process_quotes = on;
        self
    }

    /// The longest expanded word accepted, in bytes; longer results are
    /// [`Error::TooLong`]. BuildKit has no such limit; this one stops
    /// doubling `ENV` chains and replacement bombs. Default
    /// [`DEFAULT_MAX_LEN`].
    pub fn max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands `word` against `env` (BuildKit's `ProcessWord`), reporting
    /// which variables it referenced.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<Expansion, Error> {
        lex::expand(self, word, env)
    }

    /// Expands `word` against `env`, then splits it on whitespace that was
    /// not quoted or escaped (BuildKit's `ProcessWords`). Empty quotes make
    /// no word.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, Error> {
        lex::split(self, word, env)
    }
}

impl Default for Lexer {
    /// A lexer with the backslash escape.
    fn default() -> Self {
        Lexer::new('\\')
    }
}
